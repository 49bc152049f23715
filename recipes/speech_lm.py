"""Recipe of the shipped English language model for speech (``speech/models/english.lm`` + ``.json`` + words).

    python recipes/speech_lm.py --work /work/data/speech_lm --kenlm-bin /path/to/kenlm/build/bin

1. Text (``recipes/english_text.py``): every sentence of the State of the Union addresses and Debian ``fortunes``,
   and the plain-English sentences of technical manuals: the Linux, POSIX and git man pages (``manpages``) and GNU
   manuals in Info form (``gnu_manuals``), 4.1M words in all; never Moby-Dick, the held-out evaluation source, and
   never license texts, package descriptions, changelogs, Perl documentation or docstrings (the manuals' sentences
   that also appear in one of those are dropped), normalized exactly as transcripts are
   (``speech.text.normalize_transcript``). The manuals need their Debian packages: ``recipes/system_packages.sh``.
2. ``lmplz -o 4 --prune 0 1 1 1`` (modified Kneser-Ney; bigrams and longer seen once are pruned), then
   ``build_binary -q 8 -b 8 trie`` (8-bit quantised probabilities and backoffs): about 7 MB.
3. The vocabulary the decoder treats as known words: the LM's unigrams plus Debian ``wamerican``'s word list
   (``/usr/share/dict/american-english``, normalized the same way), gzipped beside the LM. Words outside it can
   still be written (open vocabulary) at a penalty.
4. ``english.lm.json``: decoding settings (``alpha``, ``beta``, ``beam_width``, ``unk_offset``), untouched if the
   file exists (``recipes/speech_lm_tune.py`` writes the tuned values there), and how the LM was built.

KenLM's ``lmplz`` and ``build_binary`` build from the PyPI ``kenlm`` sdist's C++ source (a few minutes;
``--no-build-isolation`` keeps pip from building the sdist's build requirement, CMake, from source first)::

    apt-get install libboost-program-options-dev libboost-system-dev libboost-thread-dev libboost-test-dev \\
        zlib1g-dev libbz2-dev liblzma-dev cmake g++
    pip download --no-deps --no-build-isolation --no-binary :all: kenlm==0.3.0 && tar xzf kenlm-0.3.0.tar.gz
    cd kenlm-0.3.0 && mkdir build && cd build && cmake .. -DCMAKE_BUILD_TYPE=Release && make -j2 lmplz build_binary
"""

import argparse
import dataclasses
import gzip
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "recipes"))

from english_text import DEFAULT_CACHE, WORD_LIST, documents, split_sentences  # noqa: E402

SHIP = ROOT / "speech" / "models" / "english.lm"
SOURCES = ("sotu", "fortunes", "manpages", "gnu_manuals")
MAX_SHIPPED_MB = 25


def corpus_lines(sources=SOURCES, *, cache_dir=DEFAULT_CACHE):
    """Normalized sentences (str) of the training sources, in a fixed order."""
    from speech.text import normalize_transcript

    assert "moby_dick" not in sources, "Moby-Dick is held out for evaluation"
    for source in sources:
        for document in documents(source, cache_dir=cache_dir):
            for sentence in split_sentences(document):
                line = normalize_transcript(sentence)
                if line:
                    yield line


def find_tool(name, kenlm_bin):
    for folder in ([Path(kenlm_bin)] if kenlm_bin else []):
        if (folder / name).is_file():
            return str(folder / name)
    found = shutil.which(name)
    if not found:
        sys.exit(f"{name} not found: pass --kenlm-bin (see this recipe's docstring for how to build it)")
    return found


def arpa_unigrams(path):
    sys.path.insert(0, str(ROOT))
    from common.lm import _arpa_unigrams

    return _arpa_unigrams(path)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work", default="/work/data/speech_lm")
    parser.add_argument("--ship", default=str(SHIP))
    parser.add_argument("--kenlm-bin", help="folder with lmplz and build_binary (default: PATH)")
    parser.add_argument("--order", type=int, default=4)
    parser.add_argument("--prune", default="0 1 1 1", help="lmplz --prune thresholds per order")
    parser.add_argument("--quantize", type=int, default=8, help="build_binary -q/-b bits (0: no quantisation)")
    parser.add_argument("--sources", default=",".join(SOURCES),
                        help=f"english_text sources of the LM's text, comma-separated (default {','.join(SOURCES)}; "
                             f"gcide adds dictionary definitions)")
    args = parser.parse_args()
    sources = tuple(name.strip() for name in args.sources.split(",") if name.strip())
    if "moby_dick" in sources:
        sys.exit("moby_dick is held out for evaluation: it never goes into the LM")

    from common.lm import LMSettings
    from speech.text import normalize_transcript

    work, ship = Path(args.work), Path(args.ship)
    work.mkdir(parents=True, exist_ok=True)
    corpus = work / "corpus.txt"
    started = time.perf_counter()
    num_lines = num_words = 0
    with open(corpus, "w", encoding="utf-8") as out:
        for line in corpus_lines(sources):
            out.write(line + "\n")
            num_lines += 1
            num_words += line.count(" ") + 1
    print(f"corpus: {num_lines:,} sentences, {num_words:,} words ({time.perf_counter() - started:.0f} s)", flush=True)

    arpa = work / "lm.arpa"
    lmplz = [find_tool("lmplz", args.kenlm_bin), "-o", str(args.order), "--prune", *args.prune.split(),
             "--discount_fallback", "-S", "20%", "-T", str(work)]
    with open(corpus, "rb") as stdin, open(arpa, "wb") as stdout:
        subprocess.run(lmplz, stdin=stdin, stdout=stdout, check=True, stderr=subprocess.DEVNULL)
    binary = work / "english.lm"
    quantize = ["-q", str(args.quantize), "-b", str(args.quantize)] if args.quantize else []
    subprocess.run([find_tool("build_binary", args.kenlm_bin), "-s", *quantize, "trie", str(arpa), str(binary)],
                   check=True, stdout=subprocess.DEVNULL)

    words = set(arpa_unigrams(arpa))
    num_lm_words = len(words)
    if WORD_LIST.is_file():
        for entry in WORD_LIST.read_text(encoding="utf-8", errors="replace").split():
            words.update(normalize_transcript(entry).split())
    words_file = ship.name + ".words.gz"
    with gzip.open(work / words_file, "wt", encoding="utf-8") as out:
        out.write("\n".join(sorted(words)) + "\n")

    sidecar = Path(str(ship) + ".json")
    settings = dataclasses.asdict(LMSettings())
    if sidecar.is_file():
        settings.update(json.loads(sidecar.read_text(encoding="utf-8")).get("settings", {}))
    info = {"settings": settings, "words_file": words_file,
            "built_by": "recipes/speech_lm.py: " + " ".join(Path(a).name if "/" in a else a for a in lmplz),
            "sources": list(sources) + (["wamerican word list (vocabulary only)"] if WORD_LIST.is_file() else []),
            "corpus": {"sentences": num_lines, "words": num_words}, "order": args.order,
            "vocabulary": {"lm": num_lm_words, "with_word_list": len(words)}}
    ship.parent.mkdir(parents=True, exist_ok=True)
    for source, target in ((binary, ship), (work / words_file, ship.parent / words_file)):
        size_mb = source.stat().st_size / 2**20
        if size_mb > MAX_SHIPPED_MB:
            sys.exit(f"{source} is {size_mb:.1f} MB, over the {MAX_SHIPPED_MB} MB budget: prune harder (--prune)")
        shutil.copyfile(source, str(target) + ".partial")
        Path(str(target) + ".partial").replace(target)
    sidecar_partial = Path(str(sidecar) + ".partial")
    sidecar_partial.write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")
    sidecar_partial.replace(sidecar)
    print(f"shipped {ship} ({ship.stat().st_size / 2**20:.1f} MB), {words_file} ({len(words):,} words), "
          f"{sidecar.name} ({time.perf_counter() - started:.0f} s in all)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
