#!/usr/bin/env bash
# The Debian packages the recipes and benchmarks read (fonts, rasterisers, voices, text, real recordings, Tesseract),
# as the shipped models were made. The toolkit itself needs none of them: `make demo` and `make test` run without.
#
#     sudo bash recipes/system_packages.sh            # everything
#     sudo bash recipes/system_packages.sh ocr        # fonts, rasterisers, Tesseract, text
#     sudo bash recipes/system_packages.sh speech     # voices, real recordings, audio tools, text
#
# The font list decides which fonts the OCR recipes train on and which they hold out (MODELS.md): installing more
# changes the training mix. Left out on purpose: fonts-croscore (Tinos and Arimo are the designs behind the held-out
# Liberation Serif) and fonts-adf-switzera (a Helvetica-like design, as the held-out Nimbus Sans). MBROLA voices and
# SVOX Pico live in Debian's contrib and non-free components, which this script enables.
set -euo pipefail
what=${1:-all}

TEXT="fortunes dict-gcide wamerican man-db manpages manpages-dev manpages-posix manpages-posix-dev git-man
 gawk-doc bash-doc make-doc autoconf-doc gdb-doc glibc-doc-reference emacs-common-non-dfsg"
command -v npm >/dev/null || TEXT="$TEXT npm"  # a Node.js install that ships its own npm conflicts with Debian's
FONTS="fonts-dejavu-core fonts-dejavu-extra fonts-liberation fonts-freefont-ttf fonts-urw-base35 fonts-noto-core
 fonts-crosextra-carlito fonts-crosextra-caladea fonts-linuxlibertine fonts-ebgaramond fonts-roboto fonts-open-sans
 fonts-lato fonts-texgyre fonts-ibm-plex fonts-hack fonts-inconsolata fonts-go fonts-cantarell fonts-oldstandard
 fonts-sil-gentium fonts-sil-charis fonts-anonymous-pro fonts-courier-prime fonts-jetbrains-mono fonts-junicode
 fonts-adf-accanthis fonts-adf-baskervald fonts-adf-berenis fonts-adf-gillius fonts-adf-ikarius fonts-adf-irianis
 fonts-adf-libris fonts-adf-mekanus fonts-adf-oldania fonts-adf-romande fonts-adf-tribun fonts-adf-universalis
 fonts-adf-verana fonts-paratype fonts-cmu fonts-stix fonts-cabin fonts-ubuntu fonts-inter fonts-firacode
 fonts-quattrocento fonts-fanwood fonts-goudybookletter fonts-sil-andika fonts-mononoki fonts-hermit
 fonts-league-spartan fonts-vollkorn fonts-tuffy fonts-clear-sans fonts-dosis fonts-comfortaa fonts-jura
 fonts-manrope fonts-karla fonts-gfs-didot fonts-averia-serif-gwf fonts-yrsa-rasa fonts-oxygen fonts-b612
 fonts-junction fonts-prociono fonts-sil-doulos"
OCR_TOOLS="pango1.0-tools imagemagick ghostscript tesseract-ocr tesseract-ocr-eng libtesseract-dev libleptonica-dev
 pkg-config"
VOICES="espeak-ng flite festival festvox-kallpc16k festvox-kdlpc16k festvox-rablpc16k festvox-don festvox-us-slt-hts
 mbrola mbrola-us1 mbrola-us2 mbrola-us3 mbrola-en1 libttspico-utils rhvoice rhvoice-english"
RECORDINGS="asterisk-core-sounds-en-wav asterisk-core-sounds-en qabcs-data ktuberling-data klettres-data
 tuxpaint-stamps-default pocketsphinx-testdata alsa-utils"
AUDIO_TOOLS="sox libsox-fmt-all ffmpeg"

case "$what" in
    ocr) packages="$TEXT $FONTS $OCR_TOOLS" ;;
    speech) packages="$TEXT $VOICES $RECORDINGS $AUDIO_TOOLS" ;;
    all) packages="$TEXT $FONTS $OCR_TOOLS $VOICES $RECORDINGS $AUDIO_TOOLS" ;;
    *) echo "usage: $0 [all|ocr|speech]" >&2; exit 2 ;;
esac

sources=/etc/apt/sources.list.d/contrib-non-free.sources
if [ "$what" != ocr ] && [ ! -e "$sources" ]; then
    . /etc/os-release
    printf 'Types: deb\nURIs: http://deb.debian.org/debian\nSuites: %s\nComponents: contrib non-free\nSigned-By: %s\n' \
        "$VERSION_CODENAME" /usr/share/keyrings/debian-archive-keyring.gpg > "$sources"
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# shellcheck disable=SC2086  # the lists are meant to split into words
apt-get install -y -qq --no-install-recommends $packages >/dev/null
echo "installed: $(echo $packages | wc -w) packages ($what)"
