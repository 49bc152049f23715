"""A varied pool of text for synthetic training data: OCR lines and sentences for speech synthesis.

:class:`TextPool` mixes the kinds of text a recognizer meets in documents: prose sentences and fragments, names,
street addresses, numbers, prices, dates and times, codes and IDs, URLs and e-mail addresses, phone numbers,
capitalized variants and punctuation-heavy text. Everything is generated locally (``faker``'s ``en_US`` data and
a small grammar), and the same seed always gives the same text.

Example:
>>> pool = TextPool(seed=0)
>>> lines = pool.lines(3, seed=1, max_chars=40, charset=PRINTABLE_ASCII)
>>> len(lines), all(len(line) <= 40 for line in lines)
(3, True)
"""

import re
import unicodedata

import numpy as np

from common.errors import ConfigError

__all__ = ["TextPool", "PRINTABLE_ASCII", "KINDS", "DEFAULT_KIND_WEIGHTS", "TYPOGRAPHIC", "WIDE_GAP", "filter_charset"]

PRINTABLE_ASCII = "".join(chr(code) for code in range(32, 127))
"""The 95 printable ASCII characters, space included."""

KINDS = (
    "prose",
    "words",
    "name",
    "address",
    "number",
    "price",
    "date",
    "code",
    "web",
    "phone",
    "punctuation",
    "technical",
    "table",
)
"""The kinds of text :meth:`TextPool.line` mixes: ``technical`` is what people scan from manuals, listings and
mail (code calls, paths, URLs, e-mail headers, hashes, versions, shell commands, format strings, footnote markers,
look-alike characters in context), ``table`` rows of numbers with wide column gaps (:data:`WIDE_GAP`)."""

DEFAULT_KIND_WEIGHTS = {
    "prose": 26, "words": 8, "name": 7, "address": 7, "number": 9, "price": 6, "date": 8, "code": 8, "web": 6,
    "phone": 5, "punctuation": 10, "technical": 14, "table": 5,
}
"""Relative weights of the kinds in a mixed line (:class:`TextPool` takes others with ``kind_weights``)."""

WIDE_GAP = "\u2003"
"""An em space: the column gap of ``table`` lines. :func:`filter_charset` turns it into one space; a renderer may
draw it as several spaces (``ocr.synth`` does), so that a wide gap is read as one space."""

TYPOGRAPHIC = "\u2018\u2019\u201c\u201d\u2013\u2014\u2026\u00b9\u00b2\u00b3" + WIDE_GAP
"""Characters that look like (sequences of) printable ASCII and that :func:`filter_charset` maps onto it: curly
quotes, en and em dashes, the ellipsis, superscript 1-3 (footnote markers) and :data:`WIDE_GAP`. A renderer may
draw them and label the line with the mapped text."""

# Characters outside a charset are first replaced by these (then accents are stripped, then the rest dropped).
_FALLBACKS = {
    "\u2018": "'", "\u2019": "'", "\u201a": ",", "\u201c": '"', "\u201d": '"', "\u201e": '"',
    "\u2013": "-", "\u2014": "-", "\u2212": "-", "\u2026": "...", "\u00a0": " ", "\u00ab": '"', "\u00bb": '"',
    "\u20ac": "EUR", "\u00a3": "GBP", "\u00a5": "JPY", "\u00b0": " deg", "\u00d7": "x", "\u00b1": "+/-",
    "\u00df": "ss", "\u00e6": "ae", "\u00c6": "AE", "\u00f8": "o", "\u00d8": "O", "\u00bd": "1/2",
}

# --- vocabulary of the sentence grammar -------------------------------------------------------------------------
_NOUNS = (
    "apple bag bank book bottle box bridge building bus car chair child city coat company computer country cup "
    "day desk door dog doctor driver engine family farm field garden glass hand horse hotel house idea island job "
    "key kitchen lake letter library machine manager map market meeting message minute morning mountain neighbor "
    "newspaper office orange paper park party pencil phone picture plan plant report restaurant river road room "
    "school shop song station story street student table teacher ticket town train tree truck umbrella village "
    "window winter woman year"
).split()
_IRREGULAR_PLURALS = {"child": "children", "woman": "women", "man": "men", "person": "people"}
_VERBS = (  # base, past
    ("accept", "accepted"), ("answer", "answered"), ("build", "built"), ("buy", "bought"), ("carry", "carried"),
    ("check", "checked"), ("clean", "cleaned"), ("close", "closed"), ("count", "counted"), ("cover", "covered"),
    ("deliver", "delivered"), ("describe", "described"), ("draw", "drew"), ("find", "found"), ("fix", "fixed"),
    ("follow", "followed"), ("forget", "forgot"), ("hold", "held"), ("keep", "kept"), ("leave", "left"),
    ("lend", "lent"), ("lose", "lost"), ("move", "moved"), ("need", "needed"), ("open", "opened"),
    ("order", "ordered"), ("paint", "painted"), ("pick up", "picked up"), ("read", "read"), ("repair", "repaired"),
    ("return", "returned"), ("sell", "sold"), ("send", "sent"), ("share", "shared"), ("show", "showed"),
    ("sign", "signed"), ("take", "took"), ("visit", "visited"), ("want", "wanted"), ("wash", "washed"),
    ("watch", "watched"), ("write", "wrote"),
)
_INTRANSITIVE = (
    ("arrive", "arrived"), ("laugh", "laughed"), ("leave", "left"), ("rest", "rested"), ("sleep", "slept"),
    ("smile", "smiled"), ("stay", "stayed"), ("travel", "traveled"), ("wait", "waited"), ("work", "worked"),
)
_ADJECTIVES = (
    "old new small large quiet busy bright dark heavy light cold warm green blue red yellow white black empty "
    "full cheap expensive simple strange famous local early late happy tired careful wooden broken clean "
    "narrow wide short long round second final public private"
).split()
_ADVERBS = "quickly slowly carefully quietly early again together finally suddenly twice".split()
_PLACES = (
    "at the station", "at the office", "in the garden", "near the river", "at the market", "in the kitchen",
    "behind the library", "at home", "on the bus", "across the street", "in the park", "at school",
)
_TIMES = (
    "yesterday", "this morning", "last week", "on Monday", "on Friday", "after lunch", "before dinner",
    "last night", "in the afternoon", "next week", "every day", "this evening", "at noon", "tomorrow",
)
_PRONOUNS = ("I", "we", "they", "she", "he", "you")
_WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_MONTHS = (
    "January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
    "November", "December",
)
_UNITS = ("minutes", "hours", "days", "weeks", "kilometers", "miles", "meters", "pages", "people", "boxes")
_DURATIONS = ("minutes", "hours", "days", "weeks", "years")
_DISTANCES = ("kilometers", "miles", "meters", "blocks")
_PEOPLE = (
    "teacher", "manager", "driver", "doctor", "student", "child", "neighbor", "woman", "clerk", "nurse", "farmer",
    "pilot", "waiter", "engineer", "officer", "lawyer", "baker", "visitor", "artist", "old man",
)
_SHORT = (
    "Thank you very much.", "Good morning, everyone.", "See you tomorrow.", "Not yet, sorry.", "That is fine.",
    "Please wait here.", "Yes, of course.", "I agree completely.", "Come in, please.", "It is late.",
)
_JOINERS = ((",", "and"), (",", "but"), ("", "because"), (",", "so"), ("", "while"), ("", "after"))
_ACCENTED = ("José", "Zoë", "Renée", "Müller", "François", "Chloé", "Søren", "Núñez", "café", "naïve", "résumé")
_CODE_PATTERNS = (
    "LLL-DDDD", "LL-DDDDDD", "INV-DDDDD", "SN: XXXX-XXXX-XXXX", "LLDD LLL", "Order #DDDDDD", "Ref. LLDDDDDD/DD",
    "vD.D.D", "ISBN 978-D-DDD-DDDDD-D", "#HHHHHH", "Flight LLDDD", "Room DDDL", "Model LX-DDD", "ID: DDDDDDDD",
    "Lot DDDD-LL", "Serial No. XXXXXXXXXX", "HHHHHHHH-HHHH", "PO-DDDD-DDDD", "LLL/DDDD/DD", "DDDD LLLL DDDD",
    "Case No. DD-LL-DDDD", "Gate LDD", "Item DDD-DDD-DDD", "X-DDDD", "LDD-DDL",
)
_PUNCTUATION_TEMPLATES = (
    '"{W}," {P} said.', "({W}; {w})", "{W}! {W}? {W}...", "{W} & {W}", "{w}/{w}", "{W}: {w} - {w}",
    "#{w} @{w}", "{D}% off!!", "[{W}]", "{W}'s {w}", "e.g. {w}, {w}", "i.e., {w}", "{W} -- {w}", "*{W}*",
    "{D} + {D} = {D}", "<{w}>", "~{D}", "{w}_{w}", "{w}|{w}", "{W} (see p. {D})", "\"{W}\" vs. '{W}'",
    "C:\\{W}\\{w}.txt", "{w}^{D}", "`{w}`", "{{{w}}}", "Q&A: {W}?", "{W}; {w}: {w}!", "'{W}' - {P}", "{W}?!",
    "({D}) {W}, {W} & {W}", "{W} / {W} / {W}", "{w}-{w}-{w}", "Re: {W}", "N.B. {w}", "{W}... {w}.",
)

# --- vocabulary of technical text ----------------------------------------------------------------------------------
_IDENTIFIER_WORDS = (
    "buf len size count index idx item items key value val name path file dir node list map set table row col "
    "data info config conf opts args argv env user host port addr url uri id uid pid tmp str num total offset "
    "start end begin next prev head tail left right min max sum avg mean result res ret err error status code "
    "msg text line lines word token cache queue stack tree parent child root self cls obj ptr ref handle fd "
    "stream reader writer parser lexer client server request response header body query param params flag "
    "flags mode level limit timeout retry delay width height depth scale ratio rate step epoch batch layer"
).split()
_FUNCTION_NAMES = (
    "substr strlen strcmp strcpy printf sprintf malloc free memcpy open close read write seek tell fopen fclose "
    "len range print format join split strip replace append extend insert remove sort sorted map filter reduce "
    "get set put post update delete find match search parse load dump loads dumps encode decode init run main "
    "exit assert isinstance getattr setattr hasattr toString valueOf indexOf charAt push pop shift splice slice "
    "getElementById addEventListener querySelector fetch resolve reject then catch sqrt abs floor ceil round "
    "exp log sin cos atan2 pow min max mean std argmax reshape transpose concat zeros ones"
).split()
_TYPES = ("int", "char", "void", "float", "double", "long", "size_t", "bool", "str", "dict", "list", "uint8_t",
          "const char *", "std::string", "String", "Optional[int]", "List[str]", "u32", "i64")
_SHELL_COMMANDS = (
    "ls -la {p}", "cd {p}", "grep -rn '{w}' {p}", "tar -xzf {w}-{v}.tar.gz", "chmod 755 {p}", "sudo apt-get install {w}",
    "git commit -m \"{W} {w}\"", "git checkout -b {w}/{w}", "pip install {w}=={v}", "make -j{d} {w}", "cat {p} | wc -l",
    "find . -name '*.{e}' -print", "ssh {w}@{h}", "curl -sSL https://{h}/{w}", "export {U}={p}", "echo ${U}",
    "rm -rf {p}", "cp {p} {p}", "mv {w}.{e} {w}.{e}.bak", "python3 -m {w} --{w}={d}", "docker run -p {d}:{d} {w}",
    "kill -9 {d}", "df -h {p}", "du -sh {p}/*", "sed -i 's/{w}/{w}/g' {p}", "awk -F: '{{print $1}}' {p}",
    "ps aux | grep {w}", "scp {p} {w}@{h}:{p}", "./configure --prefix={p}", "head -n {d} {p}",
)
_EXTENSIONS = ("c", "h", "py", "txt", "log", "conf", "json", "xml", "csv", "md", "sh", "cfg", "ini", "html", "js",
               "tex", "pdf", "png", "o", "so", "gz", "yaml", "toml", "rs", "go", "java", "cpp")
_FOLDERS = ("usr", "local", "bin", "lib", "etc", "var", "log", "home", "opt", "tmp", "src", "include", "share",
            "doc", "build", "dist", "data", "docs", "test", "tests", "config", "scripts", "www", "cache")
_MAIL_DATES_END = 1767225599
"""E-mail ``Date:`` headers fall between 1970 and this Unix time (2025-12-31 23:59:59 UTC), not "now": a seed always
gives the same text."""
_HEADERS = ("From", "To", "Cc", "Subject", "Date", "Reply-To", "Message-ID", "In-Reply-To", "X-Mailer",
            "Content-Type", "Received", "Return-Path", "References", "Sender")
_FORMAT_STRINGS = ("%s", "%d", "%5.2f", "%-10s", "%x", "%08X", "%c", "%u", "%ld", "%%", "%e", "%g", "%3d", "%p",
                   "{}", "{0}", "{1}", "{:>8}", "{:.2f}", "{name}", "{0:04d}", "{!r}", "${HOME}", "$1", "\\n", "\\t")
_LOOKALIKES = "lI1|O0o"
_CONFUSABLE_WORDS = (
    "Illinois", "illicit", "1llustrate", "O'Brien", "0xFF", "IO", "I/O", "l0g", "lOl", "Ill", "ll", "I1", "l1",
    "10l", "OO7", "O0O", "CO2", "H2O", "IIl", "Il1I", "all", "till", "Oslo", "1O1", "2OO1", "l-1", "I-l", "OI",
)


def filter_charset(text, charset):
    """Rewrite ``text`` with characters from ``charset`` only.

    Typographic characters get ASCII stand-ins (curly quotes -> straight, dashes -> ``-``, ``€`` -> ``EUR``,
    ...), accented letters lose their accents when the plain letter is allowed, anything else is dropped; runs of
    spaces are then collapsed.

    Parameters
    ----------
    text : str
    charset : str or container of str
        The allowed characters (anything that supports ``in``, e.g. a string, a set or an alphabet).

    Returns
    -------
    str
        NFC-normalized, stripped.
    """
    allowed = set(charset) if isinstance(charset, str) else charset
    pieces = []
    for char in unicodedata.normalize("NFC", text):
        if char in allowed:
            pieces.append(char)
            continue
        fallback = _FALLBACKS.get(char)
        if fallback is not None and all(c in allowed for c in fallback):
            pieces.append(fallback)
            continue
        base = "".join(c for c in unicodedata.normalize("NFKD", char) if not unicodedata.combining(c))
        if base and all(c in allowed for c in base):
            pieces.append(base)
        elif char.isspace() and " " in allowed:
            pieces.append(" ")
    text = "".join(pieces)
    return _collapse_spaces(text) if WIDE_GAP in allowed else " ".join(text.split())


def _collapse_spaces(text):
    """Whitespace runs to one space, except :data:`WIDE_GAP` runs (column gaps), which stay; stripped."""
    return re.sub(r"[^\S\u2003]+", " ", text).strip(" \t\n\r\u2003")


def _typographic(text, rng):
    """``text`` as a word processor sets it: curly quotes and apostrophes, en or em dashes for ``-``/``--``."""
    text = re.sub(r"(?<=\w)'(?=\w)", "\u2019", text)
    text = re.sub(r"(^|(?<=[\s(\[]))'", "\u2018", text).replace("'", "\u2019")
    text = re.sub(r'(^|(?<=[\s(\[]))"', "\u201c", text).replace('"', "\u201d")
    dash = "\u2014" if rng.random() < 0.5 else "\u2013"
    text = text.replace(" -- ", f" {dash} ").replace("--", "\u2014").replace(" - ", f" {dash} ")
    if rng.random() < 0.3:
        text = text.replace("...", "\u2026")
    return text


def _plural(noun):
    if noun in _IRREGULAR_PLURALS:
        return _IRREGULAR_PLURALS[noun]
    if noun.endswith("y") and noun[-2] not in "aeiou":
        return noun[:-1] + "ies"
    if noun.endswith(("s", "x", "ch", "sh")):
        return noun + "es"
    return noun + "s"


def _article(word):
    return "an" if word[0] in "aeiou" else "a"


def _capitalize(text):
    return text[:1].upper() + text[1:]


def _check_lengths(min_chars, max_chars):
    for name, value in (("min_chars", min_chars), ("max_chars", max_chars)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise ConfigError(
                f"Received an invalid value for `{name}`, expected a positive integer. Received: {name}={value!r}"
            )
    if min_chars > max_chars:
        raise ConfigError(
            f"`min_chars` must not exceed `max_chars`. Received: min_chars={min_chars}, max_chars={max_chars}"
        )


def _check_count(n):
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 0:
        raise ConfigError(f"Received an invalid value for `n`, expected a non-negative integer. Received: n={n!r}")


class TextPool:
    """Generator of varied text lines (for OCR) and sentences (for speech), deterministic for a seed.

    Args:
        seed: seeds the pool's own random generator, used when a method gets no ``rng`` or ``seed``.
        prose: optional sentences or passages of real English (e.g. ``recipes/english_text.py``'s); when given,
            three ``prose`` lines in four are word windows of them instead of grammar sentences.
        kind_weights: optional ``{kind: weight}`` for mixed lines; kinds not named are not drawn. Default:
            :data:`DEFAULT_KIND_WEIGHTS`.

    Example:
    >>> pool = TextPool(seed=0)
    >>> pool.lines(2, seed=0) == TextPool(seed=5).lines(2, seed=0)
    True
    """

    def __init__(self, seed=0, *, prose=None, kind_weights=None):
        from faker import Faker
        from faker.providers.lorem.en_US import Provider as LoremProvider

        weights = dict(DEFAULT_KIND_WEIGHTS if kind_weights is None else kind_weights)
        unknown = sorted(set(weights) - set(KINDS))
        if unknown:
            raise ConfigError(f"Unknown kind of text in `kind_weights`; expected some of {', '.join(KINDS)}. "
                              f"Received: kind_weights={kind_weights!r}")
        values = np.array([float(weights.get(kind, 0.0)) for kind in KINDS])
        if not np.all(np.isfinite(values)) or (values < 0).any() or values.sum() <= 0:
            raise ConfigError("`kind_weights` must be non-negative numbers, at least one of them positive. "
                              f"Received: kind_weights={kind_weights!r}")
        self._kind_p = values / values.sum()
        self._prose_texts = None
        if prose is not None:
            self._prose_texts = tuple(t for t in (" ".join(str(p).split()) for p in prose) if t)
            if not self._prose_texts:
                raise ConfigError("`prose` holds no text (only empty strings). Received: prose=[]")
        self.seed = seed
        self._rng = np.random.default_rng(seed)
        self._faker = Faker("en_US")
        self._words = tuple(LoremProvider.word_list)
        self._generators = {
            "prose": self._prose,
            "words": self._word_run,
            "name": self._name,
            "address": self._address,
            "number": self._number,
            "price": self._price,
            "date": self._date_or_time,
            "code": self._code,
            "web": self._web,
            "phone": self._phone,
            "punctuation": self._punctuation,
            "technical": self._technical,
            "table": self._table,
        }

    # --- small helpers -----------------------------------------------------------------------------------------
    @staticmethod
    def _pick(rng, options):
        return options[int(rng.integers(len(options)))]

    def _fake(self, rng):
        self._faker.seed_instance(int(rng.integers(2**31)))
        return self._faker

    def _word(self, rng):
        return self._pick(rng, self._words)

    def _integer(self, rng, *, digits=None):
        digits = digits or int(rng.choice([1, 1, 2, 2, 2, 3, 3, 4, 5, 6, 7]))
        return int(rng.integers(10 ** (digits - 1) if digits > 1 else 0, 10**digits))

    # --- kinds -------------------------------------------------------------------------------------------------
    def _prose(self, rng):
        if self._prose_texts is not None and rng.random() < 0.75:
            words = self._pick(rng, self._prose_texts).split(" ")
            start = 0 if len(words) < 8 or rng.random() < 0.4 else int(rng.integers(len(words) - 4))
            return " ".join(words[start:])
        roll = rng.random()
        if roll < 0.7:
            return self._grammar_sentence(rng, int(rng.integers(4, 18)), spell_numbers=False)
        fake = self._fake(rng)
        if roll < 0.8:
            return fake.catch_phrase()
        if roll < 0.88:
            return _capitalize(fake.bs())
        if roll < 0.94:
            return f"{fake.company()}, {fake.job()}"
        return _capitalize(" ".join(self._word(rng) for _ in range(int(rng.integers(2, 9))))) + "."

    def _word_run(self, rng):
        words = [self._word(rng) for _ in range(int(rng.integers(1, 7)))]
        if rng.random() < 0.05:
            words[int(rng.integers(len(words)))] = self._pick(rng, _ACCENTED)
        style = rng.random()
        if style < 0.3:
            words = [w.capitalize() for w in words]
        elif style < 0.4:
            words = [w.upper() for w in words]
        separator = self._pick(rng, (" ", " ", " ", ", ", " - ", " / ", "; "))
        return separator.join(words)

    def _name(self, rng):
        fake = self._fake(rng)
        roll = rng.random()
        if roll < 0.35:
            return fake.name()
        if roll < 0.5:
            return f"{fake.last_name()}, {fake.first_name()}"
        if roll < 0.62:
            return f"{fake.prefix()} {fake.first_name()[0]}. {fake.last_name()}"
        if roll < 0.72:
            return f"{fake.first_name()[0]}.{fake.first_name()[0]}. {fake.last_name()}"
        if roll < 0.8:
            return f"{fake.first_name()} {fake.last_name()} {fake.suffix()}"
        if roll < 0.86:
            return f"{self._pick(rng, _ACCENTED[:8])} {fake.last_name()}"
        if roll < 0.93:
            return f"{fake.first_name()} {fake.last_name()}-{fake.last_name()}"
        return f"{fake.first_name()} O'{fake.last_name()}"

    def _address(self, rng):
        fake = self._fake(rng)
        roll = rng.random()
        if roll < 0.35:
            return fake.street_address()
        if roll < 0.6:
            return f"{fake.city()}, {fake.state_abbr()} {fake.zipcode()}"
        if roll < 0.8:
            return fake.address().replace("\n", ", ")
        if roll < 0.9:
            return f"P.O. Box {self._integer(rng, digits=int(rng.integers(2, 5)))}, {fake.city()}"
        apartment = f"{self._integer(rng, digits=2)}{self._pick(rng, 'ABCD')}"
        return f"{fake.building_number()} {fake.street_name()}, Apt. {apartment}"

    def _number(self, rng):
        roll = rng.random()
        value = self._integer(rng)
        if roll < 0.2:
            return str(value)
        if roll < 0.35:
            return f"{value:,}"
        if roll < 0.5:
            return f"{value + rng.random():.{int(rng.integers(1, 4))}f}"
        if roll < 0.6:
            return f"-{self._integer(rng, digits=int(rng.integers(1, 5))) + rng.random():.2f}"
        if roll < 0.7:
            return f"{rng.random() * 100:.{int(rng.integers(0, 3))}f}%"
        if roll < 0.76:
            n = int(rng.integers(1, 40))
            suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
            return f"{n}{suffix}"
        if roll < 0.82:
            low = self._integer(rng, digits=int(rng.integers(1, 4)))
            return f"{low}-{low + int(rng.integers(1, 100))}"
        if roll < 0.86:
            return f"{int(rng.integers(1, 10))}/{int(rng.integers(2, 17))}"
        if roll < 0.9:
            return f"{rng.random() * 10:.2f}e{int(rng.integers(-9, 10))}"
        if roll < 0.95:
            return f"No. {value}"
        return f"{value:,} {self._pick(rng, _UNITS)}"

    def _price(self, rng):
        whole = self._integer(rng, digits=int(rng.choice([1, 1, 2, 2, 3, 4, 5])))
        cents = int(rng.integers(100))
        roll = rng.random()
        if roll < 0.4:
            return f"${whole:,}.{cents:02d}"
        if roll < 0.55:
            return f"\u20ac{whole:,}.{cents:02d}"
        if roll < 0.65:
            return f"\u00a3{whole:,}.{cents:02d}"
        if roll < 0.72:
            return f"{whole},{cents:02d} \u20ac"
        if roll < 0.8:
            return f"-${whole}.{cents:02d}"
        if roll < 0.87:
            return f"{self._pick(rng, ('USD', 'EUR', 'GBP', 'CAD'))} {whole:,}.{cents:02d}"
        if roll < 0.94:
            return f"${whole}.{cents:02d}/{self._pick(rng, ('mo', 'yr', 'kg', 'lb', 'hr'))}"
        return f"${whole}"

    def _date_or_time(self, rng):
        year = int(rng.integers(1900, 2041))
        month = int(rng.integers(1, 13))
        day = int(rng.integers(1, 29))
        hour, minute, second = int(rng.integers(24)), int(rng.integers(60)), int(rng.integers(60))
        hour12 = hour % 12 or 12
        ampm = "AM" if hour < 12 else "PM"
        name = _MONTHS[month - 1]
        formats = (
            f"{year}-{month:02d}-{day:02d}",
            f"{month:02d}/{day:02d}/{year}",
            f"{month}/{day}/{year % 100:02d}",
            f"{day:02d}.{month:02d}.{year}",
            f"{name} {day}, {year}",
            f"{day} {name[:3]} {year}",
            f"{_WEEKDAYS[int(rng.integers(7))]}, {name} {day}",
            f"{name[:3].upper()} {day:02d} {year}",
            f"{hour:02d}:{minute:02d}",
            f"{hour12}:{minute:02d} {ampm}",
            f"{hour12}:{minute:02d} {ampm.lower()[0]}.m.",
            f"{hour:02d}:{minute:02d}:{second:02d}",
            f"{hour12}{ampm.lower()}",
            f"{year}-{month:02d}-{day:02d}T{hour:02d}:{minute:02d}:{second:02d}Z",
            f"{month}/{day}/{year} {hour12}:{minute:02d} {ampm}",
            f"Q{int(rng.integers(1, 5))} {year}",
            f"{name} {year}",
            f"{hour:02d}:{minute:02d} UTC",
        )
        return self._pick(rng, formats)

    def _code(self, rng):
        pattern = self._pick(rng, _CODE_PATTERNS)
        letters, hexdigits = "ABCDEFGHJKLMNPQRSTUVWXYZ", "0123456789ABCDEF"
        out = []
        for char in pattern:
            if char == "L":
                out.append(letters[int(rng.integers(len(letters)))])
            elif char == "D":
                out.append(str(int(rng.integers(10))))
            elif char == "X":
                out.append((letters + "0123456789")[int(rng.integers(34))])
            elif char == "H":
                out.append(hexdigits[int(rng.integers(16))])
            else:
                out.append(char)
        return "".join(out)

    def _web(self, rng):
        fake = self._fake(rng)
        roll = rng.random()
        if roll < 0.3:
            return fake.url()
        if roll < 0.55:
            return fake.email()
        if roll < 0.7:
            return fake.uri()
        if roll < 0.8:
            return f"www.{fake.domain_name()}"
        if roll < 0.9:
            return f"https://{fake.domain_name()}/{self._word(rng)}?id={self._integer(rng)}&ref={self._word(rng)}"
        return f"@{fake.user_name()}"

    def _phone(self, rng):
        fake = self._fake(rng)
        roll = rng.random()
        digits = lambda n: "".join(str(int(d)) for d in rng.integers(0, 10, n))  # noqa: E731
        if roll < 0.5:
            return fake.phone_number()
        if roll < 0.65:
            return f"+44 20 {digits(4)} {digits(4)}"
        if roll < 0.75:
            return f"+49 {digits(2)} {digits(8)}"
        if roll < 0.85:
            return f"Tel: ({digits(3)}) {digits(3)}-{digits(4)}"
        return f"{digits(3)}.{digits(3)}.{digits(4)} ext. {digits(3)}"

    def _punctuation(self, rng):
        template = self._pick(rng, _PUNCTUATION_TEMPLATES)
        out, i = [], 0
        while i < len(template):
            if template.startswith("{{", i):
                out.append("{")
                i += 2
            elif template.startswith("}}", i):
                out.append("}")
                i += 2
            elif template[i] == "{":
                field = template[i + 1]
                if field == "W":
                    out.append(self._word(rng).capitalize())
                elif field == "w":
                    out.append(self._word(rng))
                elif field == "D":
                    out.append(str(self._integer(rng, digits=int(rng.integers(1, 4)))))
                else:  # P: a speaker
                    out.append(self._pick(rng, ("he", "she", "they", "Anna", "the clerk", "Dr. Lee")))
                i += 3
            else:
                out.append(template[i])
                i += 1
        text = "".join(out)
        if rng.random() < 0.1:  # typographic quotes and dashes
            text = text.replace(" -- ", " \u2014 ").replace("...", "\u2026")
            text = text.replace('"', "\u201c", 1).replace('"', "\u201d", 1)
        return text


    # --- technical text ------------------------------------------------------------------------------------------
    def _identifier(self, rng):
        words = [self._pick(rng, _IDENTIFIER_WORDS) for _ in range(int(rng.choice([1, 1, 2, 2, 3])))]
        style = rng.random()
        if style < 0.4:
            name = "_".join(words)
        elif style < 0.65:
            name = words[0] + "".join(w.capitalize() for w in words[1:])
        elif style < 0.75:
            name = "".join(w.capitalize() for w in words)
        elif style < 0.85:
            name = "_".join(words).upper()
        else:
            name = self._pick(rng, ("i", "j", "k", "n", "x", "y", "s", "p", "l", "I", "O", "a", "b", "c", "_"))
        if rng.random() < 0.15:
            name += str(int(rng.integers(0, 20)))
        return name

    def _argument(self, rng):
        roll = rng.random()
        if roll < 0.45:
            return self._identifier(rng)
        if roll < 0.65:
            return str(self._integer(rng, digits=int(rng.integers(1, 4))))
        if roll < 0.8:
            quote = '"' if rng.random() < 0.6 else "'"
            return f"{quote}{self._pick(rng, _FORMAT_STRINGS) if rng.random() < 0.3 else self._word(rng)}{quote}"
        if roll < 0.9:
            return f"{self._identifier(rng)}[{self._identifier(rng) if rng.random() < 0.5 else int(rng.integers(10))}]"
        return self._pick(rng, ("NULL", "None", "null", "true", "false", "True", "0", "-1", "nullptr", "&buf", "*p"))

    def _call(self, rng):
        name = self._pick(rng, _FUNCTION_NAMES) if rng.random() < 0.6 else self._identifier(rng)
        if rng.random() < 0.3:
            name = f"{self._identifier(rng)}{self._pick(rng, ('.', '.', '->', '::'))}{name}"
        arguments = ", ".join(self._argument(rng) for _ in range(int(rng.choice([0, 1, 1, 2, 2, 3]))))
        return f"{name}({arguments})"

    def _statement(self, rng):
        roll = rng.random()
        var, call = self._identifier(rng), self._call(rng)
        if roll < 0.2:
            return f"{var} = {call}" + (";" if rng.random() < 0.5 else "")
        if roll < 0.3:
            return f"{self._pick(rng, _TYPES)} {var} = {call};"
        if roll < 0.4:
            op = self._pick(rng, ("==", "!=", "<=", ">=", "<", ">", "&&", "||", "is", "in"))
            return f"if ({var} {op} {self._argument(rng)}) {{"
        if roll < 0.5:
            return f"for (i = 0; i < {self._identifier(rng)}; i++) {{"
        if roll < 0.58:
            return f"return {self._argument(rng)};"
        if roll < 0.66:
            return f"{var}[{self._argument(rng)}] = {self._argument(rng)};"
        if roll < 0.74:
            return f"def {self._identifier(rng)}({', '.join(self._identifier(rng) for _ in range(int(rng.integers(0, 3))))}):"
        if roll < 0.8:
            return f"#include <{self._word(rng)}.h>"
        if roll < 0.86:
            return f"{var} += {self._argument(rng)}  # {self._word(rng)} {self._word(rng)}"
        if roll < 0.92:
            return f"// {self._fake(rng).sentence(nb_words=int(rng.integers(3, 8)))}"
        return call

    def _path(self, rng):
        parts = [self._pick(rng, _FOLDERS) for _ in range(int(rng.integers(1, 5)))]
        leaf = f"{self._identifier(rng)}.{self._pick(rng, _EXTENSIONS)}"
        roll = rng.random()
        if roll < 0.5:
            path = "/" + "/".join(parts + [leaf])
        elif roll < 0.65:
            path = "~/" + "/".join(parts[1:] + [leaf])
        elif roll < 0.75:
            path = "../" + "/".join(parts + [leaf])
        else:
            path = "C:\\" + "\\".join([p.capitalize() for p in parts] + [leaf])
        if rng.random() < 0.15:
            path += f":{int(rng.integers(1, 2000))}"
        return path

    def _hex(self, rng, digits, upper=False):
        text = "".join("0123456789abcdef"[int(d)] for d in rng.integers(0, 16, digits))
        return text.upper() if upper else text

    def _hash_or_hex(self, rng):
        roll = rng.random()
        if roll < 0.2:
            return self._hex(rng, 8)
        if roll < 0.35:
            return f"commit {self._hex(rng, 40 if rng.random() < 0.3 else 12)}"
        if roll < 0.45:
            return f"0x{self._hex(rng, int(rng.choice([2, 4, 8, 12])), upper=rng.random() < 0.3)}"
        if roll < 0.55:
            return f"{self._pick(rng, ('sha256', 'SHA1', 'md5', 'MD5 checksum'))}: {self._hex(rng, 32)}"
        if roll < 0.65:
            return "-".join(self._hex(rng, n) for n in (8, 4, 4, 4, 12))
        if roll < 0.72:
            return ":".join(self._hex(rng, 2, upper=rng.random() < 0.5) for _ in range(6))
        if roll < 0.82:
            return " ".join(self._hex(rng, 2) for _ in range(int(rng.integers(4, 13))))
        if roll < 0.9:
            return f"{self._hex(rng, 8)}  {self._hex(rng, 4)} {self._hex(rng, 4)}"
        return f"{self._hex(rng, 7)} {self._fake(rng).sentence(nb_words=int(rng.integers(2, 6)))}"

    def _version(self, rng):
        v = f"{int(rng.integers(0, 13))}.{int(rng.integers(0, 30))}"
        if rng.random() < 0.7:
            v += f".{int(rng.integers(0, 120))}"
        roll = rng.random()
        if roll < 0.15:
            v += self._pick(rng, ("-rc1", "-rc.2", "b3", "a1", "-beta", ".dev0", "+git20240311", "-1", "-2ubuntu1"))
        if roll < 0.4:
            return "v" + v
        if roll < 0.6:
            return f"{self._pick(rng, _FUNCTION_NAMES + _IDENTIFIER_WORDS)} {v}"
        if roll < 0.75:
            return f"Version {v} ({self._date_or_time(rng)})"
        if roll < 0.85:
            return f"{self._word(rng)}-{v}.tar.gz"
        return f"{self._word(rng)}>={v},<{int(rng.integers(1, 14))}.0"

    def _mail_header(self, rng):
        fake = self._fake(rng)
        header = self._pick(rng, _HEADERS)
        if header in ("From", "To", "Cc", "Reply-To", "Sender", "Return-Path"):
            value = f"{fake.name()} <{fake.email()}>" if rng.random() < 0.6 else fake.email()
        elif header == "Subject":
            value = self._pick(rng, ("", "Re: ", "Fwd: ", "RE: ", "[PATCH] ")) + fake.sentence(nb_words=5)[:-1]
        elif header == "Date":
            value = (fake.date_time(end_datetime=_MAIL_DATES_END).strftime("%a, %d %b %Y %H:%M:%S ")
                     + self._pick(rng, ("+0000", "-0500", "+0100")))
        elif header in ("Message-ID", "In-Reply-To", "References"):
            value = f"<{self._hex(rng, 12)}.{self._integer(rng)}@{fake.domain_name()}>"
        elif header == "Content-Type":
            value = self._pick(rng, ("text/plain; charset=UTF-8", "multipart/mixed; boundary=\"--=_{h}\"",
                                     "text/html; charset=\"iso-8859-1\"")).replace("{h}", self._hex(rng, 6))
        else:
            value = f"from {fake.domain_name()} ([{fake.ipv4()}]) by {fake.hostname()}"
        return f"{header}: {value}"

    def _shell(self, rng):
        fake = self._fake(rng)
        template = self._pick(rng, _SHELL_COMMANDS)
        fields = {"p": lambda: self._path(rng).split(":")[0] if rng.random() < 0.8 else self._pick(rng, _FOLDERS),
                  "w": lambda: self._identifier(rng).lower(), "W": lambda: self._word(rng).capitalize(),
                  "v": lambda: f"{int(rng.integers(0, 10))}.{int(rng.integers(0, 20))}.{int(rng.integers(0, 9))}",
                  "d": lambda: str(self._integer(rng, digits=int(rng.integers(1, 5)))), "h": fake.domain_name,
                  "e": lambda: self._pick(rng, _EXTENSIONS), "U": lambda: self._identifier(rng).upper()}
        command = re.sub(r"\{([a-zA-Z])\}", lambda m: fields[m.group(1)](), template).replace("{{", "{").replace("}}", "}")
        prompt = self._pick(rng, ("$ ", "$ ", "# ", "", f"{fake.user_name()}@{fake.hostname()}:~$ ", "> ", "% "))
        return prompt + command

    def _format_string(self, rng):
        pieces = [self._pick(rng, _FORMAT_STRINGS) if rng.random() < 0.5 else self._word(rng)
                  for _ in range(int(rng.integers(2, 6)))]
        text = self._pick(rng, (" ", ": ", ", ", "=", " - ", "/")).join(pieces)
        args = ", ".join(self._identifier(rng) for _ in range(int(rng.integers(1, 4))))
        roll = rng.random()
        if roll < 0.35:
            return f'printf("{text}\\n", {args});'
        if roll < 0.6:
            return f'"{text}".format({args})'
        if roll < 0.75:
            return f"'{text}' % ({args})"
        if roll < 0.85:
            return f'f"{{{self._identifier(rng)}}} {text}"'
        return f'log.{self._pick(rng, ("info", "debug", "warn", "error"))}("{text}", {args})'

    def _footnote(self, rng):
        sentence = self._fake(rng).sentence(nb_words=int(rng.integers(3, 10)))[:-1]
        number = int(rng.integers(1, 40))
        marker = self._pick(rng, (f"[{number}]", f"({number})", "*", "**", f"^{number}", f"{number}",
                                  "\u00b9", "\u00b2", "\u00b3", f" [{number}]", f" ({self._pick(rng, 'abcdef')})"))
        if rng.random() < 0.3:
            return f"{marker.strip()} {sentence}."
        return f"{sentence}{marker}."

    def _confusable(self, rng):
        roll = rng.random()
        if roll < 0.35:
            chars = [self._pick(rng, _LOOKALIKES + "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ") for _ in range(int(rng.integers(4, 11)))]
            return self._pick(rng, ("ID ", "S/N ", "Key: ", "Code ", "#", "", "Ref ")) + "".join(chars)
        if roll < 0.6:
            return f"{self._pick(rng, ('l', 'I', 'O', 'o', 'l1', 'I0', 'lO', 'Il'))} = {self._pick(rng, ('1', '0', 'l', 'I', 'O', 'l + 1', 'O - 0', '10', '01'))}"
        words = [self._word(rng) for _ in range(int(rng.integers(2, 6)))]
        words.insert(int(rng.integers(len(words) + 1)), self._pick(rng, _CONFUSABLE_WORDS))
        return _capitalize(" ".join(words)) + self._pick(rng, (".", "", ",", ";"))

    def _technical(self, rng):
        roll = rng.random()
        if roll < 0.18:
            return self._statement(rng)
        if roll < 0.28:
            return self._call(rng)
        if roll < 0.38:
            return self._path(rng)
        if roll < 0.48:
            return self._hash_or_hex(rng)
        if roll < 0.56:
            return self._version(rng)
        if roll < 0.65:
            return self._mail_header(rng)
        if roll < 0.74:
            return self._shell(rng)
        if roll < 0.82:
            return self._format_string(rng)
        if roll < 0.88:
            return self._footnote(rng)
        if roll < 0.95:
            return self._confusable(rng)
        return self._web(rng)

    def _table(self, rng):
        """A row of a table: numbers (and sometimes a label first) separated by wide gaps (:data:`WIDE_GAP`)."""
        columns = int(rng.integers(2, 7))
        style = int(rng.integers(4))
        cells = []
        for _ in range(columns):
            if style == 0:
                cells.append(f"{self._integer(rng, digits=int(rng.integers(1, 6))):,}")
            elif style == 1:
                cells.append(f"{(rng.random() - 0.3) * 10 ** int(rng.integers(0, 4)):.{int(rng.integers(1, 4))}f}")
            elif style == 2:
                cells.append(f"{rng.random() * 100:.1f}%")
            else:
                cells.append(self._pick(rng, (str(self._integer(rng)), f"{rng.random():.3f}", "-", "n/a", "0",
                                              f"({self._integer(rng, digits=2)})", f"{rng.normal():+.2f}")))
        if rng.random() < 0.5:
            label = self._pick(rng, ("Total", "Mean", "Q1", "Q2", "2019", "2020", "Item", "Row")) if rng.random() < 0.4 \
                else _capitalize(self._word(rng))
            cells.insert(0, label)
        gap = WIDE_GAP * int(rng.integers(1, 4))
        return gap.join(cells)

    # --- sentence grammar --------------------------------------------------------------------------------------
    def _spoken_number(self, rng, spell):
        """A phrase with a number, in digits or (``spell``) in words."""
        from num2words import num2words

        roll = rng.random()
        if roll < 0.35:
            count = int(rng.choice([2, 3, 4, 5, 6, 7, 8, 10, 12, 15, 20, 25, 40, 90, 100, 250, 1200]))
            amount = num2words(count) if spell else str(count)
            if rng.random() < 0.6:
                return f"for {amount} {self._pick(rng, _DURATIONS)}"
            return f"about {amount} {self._pick(rng, _DISTANCES)} away"
        if roll < 0.55:
            year = int(rng.integers(1950, 2031))
            return f"in {num2words(year, to='year') if spell else year}"
        if roll < 0.7:
            day = int(rng.integers(1, 29))
            month = self._pick(rng, _MONTHS)
            return f"on {month} {num2words(day, to='ordinal') if spell else day}"
        if roll < 0.85:
            hour, minute = int(rng.integers(1, 13)), int(rng.choice([0, 15, 30, 45, 5, 20]))
            if not spell:
                return f"at {hour}:{minute:02d}"
            if minute == 0:
                return f"at {num2words(hour)} o'clock"
            return f"at {num2words(hour)} {'' if minute >= 10 else 'oh '}{num2words(minute)}"
        dollars = int(rng.choice([3, 5, 12, 20, 45, 99, 150, 300]))
        return f"for {num2words(dollars)} dollars" if spell else f"for ${dollars}"

    def _noun_phrase(self, rng, *, numbers, spell):
        roll = rng.random()
        noun = self._pick(rng, _NOUNS)
        adjective = self._pick(rng, _ADJECTIVES) + " " if rng.random() < 0.45 else ""
        if numbers and roll < 0.15:
            from num2words import num2words

            count = int(rng.integers(2, 13))
            return f"{num2words(count) if spell else count} {adjective}{_plural(noun)}"
        if roll < 0.55:
            return f"the {adjective}{noun}"
        if roll < 0.8:
            word = adjective or noun
            return f"{_article(word)} {adjective}{noun}"
        return f"{self._pick(rng, ('her', 'his', 'their', 'our', 'my'))} {adjective}{noun}"

    def _subject(self, rng):
        roll = rng.random()
        if roll < 0.3:
            return self._fake(rng).first_name()
        if roll < 0.6:
            return self._pick(rng, _PRONOUNS)
        person = self._pick(rng, _PEOPLE)
        return self._pick(rng, ("the", "the", _article(person), "my", "our")) + " " + person

    def _modifier(self, rng, *, numbers, spell, used):
        """An adverbial phrase of a category not in ``used`` (which it updates), or None when all are used."""
        categories = ["place", "time", "city", "company", "adverb"] + (["number"] if numbers else [])
        categories = [c for c in categories if c not in used]
        if not categories:
            return None
        category = self._pick(rng, categories)
        used.add(category)
        if category == "number":
            return self._spoken_number(rng, spell)
        if category == "place":
            return self._pick(rng, _PLACES)
        if category == "time":
            return self._pick(rng, _TIMES)
        if category == "city":
            return f"in {self._fake(rng).city()}"
        if category == "company":
            return f"with {self._fake(rng).first_name()}"
        return self._pick(rng, _ADVERBS)

    def _clause(self, rng, *, numbers, spell):
        subject = self._subject(rng)
        if rng.random() < 0.25:
            return [subject, self._pick(rng, _INTRANSITIVE)[1]]
        return [subject, self._pick(rng, _VERBS)[1], self._noun_phrase(rng, numbers=numbers, spell=spell)]

    def _grammar_sentence(self, rng, target_words, *, spell_numbers, numbers=True, max_words=None):
        """A grammatical sentence of about ``target_words`` words (at least 3, at most ``max_words`` if it can)."""
        if target_words <= 3 and rng.random() < 0.5:
            return self._pick(rng, _SHORT)
        max_words = max(target_words, max_words or target_words + 2)
        noun_phrase = lambda: self._noun_phrase(rng, numbers=numbers, spell=spell_numbers)  # noqa: E731
        roll = rng.random()
        ending = "."
        if roll < 0.12:
            parts = ["did", self._subject(rng), self._pick(rng, _VERBS)[0], noun_phrase()]
            ending = "?"
        elif roll < 0.2:
            question = self._pick(rng, ("where", "when", "why", "how"))
            parts = [question, "did", self._subject(rng), self._pick(rng, _VERBS)[0], noun_phrase()]
            ending = "?"
        elif roll < 0.28:
            parts = ["please", self._pick(rng, _VERBS)[0], noun_phrase()]
        elif roll < 0.36:
            parts = [self._noun_phrase(rng, numbers=False, spell=spell_numbers), "was", self._pick(rng, _ADJECTIVES)]
        elif roll < 0.44:
            parts = [self._subject(rng), "will", self._pick(rng, _VERBS)[0], noun_phrase()]
        else:
            parts = self._clause(rng, numbers=numbers, spell=spell_numbers)
        words = " ".join(parts).split()
        used = set()
        for _ in range(12):
            if len(words) >= target_words:
                break
            room = max_words - len(words)
            if room >= 6 and (rng.random() < 0.3 or len(used) >= 3):
                comma, joiner = self._pick(rng, _JOINERS)
                extra = [joiner] + " ".join(self._clause(rng, numbers=numbers, spell=spell_numbers)).split()
                if len(extra) <= room:
                    words[-1] += comma
                    words.extend(extra)
                    used = set()
                continue
            extra = self._modifier(rng, numbers=numbers, spell=spell_numbers, used=used)
            if extra is not None and len(extra.split()) <= room:
                words.extend(extra.split())
        while len(words) < 3:
            words.append(self._pick(rng, ("again", "today", "here", "now")))
        if ending == "." and rng.random() < 0.04:
            ending = "!"
        return _capitalize(" ".join(words)) + ending

    # --- public API --------------------------------------------------------------------------------------------
    def _piece(self, rng, kind):
        return self._generators[kind](rng)

    def line(self, rng=None, *, min_chars=1, max_chars=60, charset=None, kind=None):
        """One line of text of a randomly chosen kind (see :data:`KINDS`).

        Parameters
        ----------
        rng : np.random.Generator, optional
            Source of randomness; the pool's own generator when None.
        min_chars, max_chars : int > 0
            Length bounds in characters. Most lengths are drawn uniformly between them, some are short.
        charset : str or container of str, optional
            Allowed characters; others are replaced or dropped (see :func:`filter_charset`), e.g.
            :data:`PRINTABLE_ASCII`.
        kind : str, optional
            Draw this kind of text only (one of :data:`KINDS`), instead of a random mix.

        Returns
        -------
        str
            NFC-normalized, without leading, trailing or doubled spaces.
        """
        _check_lengths(min_chars, max_chars)
        if kind is not None and kind not in KINDS:
            raise ConfigError(f"Unknown kind of text; expected one of {', '.join(KINDS)}. Received: kind={kind!r}")
        rng = self._rng if rng is None else rng
        for _ in range(50):
            text = self._draw_line(rng, min_chars, max_chars, kind)
            if charset is not None:
                text = filter_charset(text, charset)
            if min_chars <= len(text) <= max_chars:
                return text
        # Pathological charsets (e.g. digits only) can defeat the kinds; pad with what is allowed.
        allowed = sorted(set(getattr(charset, "characters", charset)) - {" "}) if charset is not None else ["a"]
        if not allowed:
            raise ConfigError(f"The charset holds no usable characters. Received: charset={charset!r}")
        size = int(rng.integers(min_chars, max_chars + 1))
        return "".join(allowed[int(i)] for i in rng.integers(0, len(allowed), size))

    def _draw_line(self, rng, min_chars, max_chars, only_kind=None):
        if rng.random() < 0.15:
            target = int(rng.integers(min_chars, min(max_chars, min_chars + 12) + 1))
        else:
            target = int(rng.integers(min_chars, max_chars + 1))
        kind = only_kind or KINDS[int(rng.choice(len(KINDS), p=self._kind_p))]
        text = self._piece(rng, kind)
        for _ in range(8):
            if len(text) >= target:
                break
            mixed = only_kind is None and rng.random() >= 0.5
            other = KINDS[int(rng.choice(len(KINDS), p=self._kind_p))] if mixed else kind
            separator = self._pick(rng, (" ", " ", " ", " ", ", ", " - ", "; ", " | ", ": ", " / "))
            if text.endswith((".", "!", "?", ",", ";", ":")):
                separator = " "
            text = text + separator + self._piece(rng, other)
        text = _collapse_spaces(text)
        if len(text) > target:
            cut = max(text.rfind(" ", 0, target + 1), text.rfind(WIDE_GAP, 0, target + 1))
            if cut < min_chars:  # the first word is longer than the target: keep it whole if it fits
                cut = min((i for i in (text.find(" ", target), text.find(WIDE_GAP, target)) if i >= 0), default=-1)
                cut = cut if min_chars <= cut <= max_chars else (len(text) if len(text) <= max_chars else max_chars)
            text = text[:cut].rstrip()
            while text.endswith((" /", " |", " -", " \u2014")):
                text = text[:-2].rstrip()
        roll = rng.random()
        if roll < 0.07:
            text = text.upper()
        elif roll < 0.13:  # Title Case by words ("32nd" stays, unlike str.title's "32Nd")
            text = " ".join(word[:1].upper() + word[1:] for word in text.split(" "))
        elif roll < 0.16:
            text = text.lower()
        if rng.random() < 0.12:
            text = _typographic(text, rng)
        return unicodedata.normalize("NFC", text)

    def lines(self, n, *, seed=None, min_chars=1, max_chars=60, charset=None):
        """``n`` lines of mixed kinds (see :meth:`line`).

        Parameters
        ----------
        n : int >= 0
            Number of lines.
        seed : int, optional
            Makes the result depend on this seed only; the pool's own generator when None.
        min_chars, max_chars : int > 0
            Length bounds in characters.
        charset : str or container of str, optional
            Allowed characters; others are replaced or dropped.

        Returns
        -------
        list of str
        """
        _check_count(n)
        _check_lengths(min_chars, max_chars)
        rng = self._rng if seed is None else np.random.default_rng(seed)
        return [self.line(rng, min_chars=min_chars, max_chars=max_chars, charset=charset) for _ in range(n)]

    def sentences(self, n, *, seed=None, min_words=3, max_words=25, numbers=0.25, spell_numbers=False):
        """``n`` natural-sounding prose sentences for speech synthesis.

        Parameters
        ----------
        n : int >= 0
            Number of sentences.
        seed : int, optional
            Makes the result depend on this seed only; the pool's own generator when None.
        min_words, max_words : int > 0
            Word-count bounds (lengths are spread over the whole range; ``min_words`` is at least 3).
        numbers : float in [0, 1]
            Fraction of sentences that may contain numbers (counts, years, dates, times, prices).
        spell_numbers : bool
            Write those numbers as words ("twenty-five minutes", "in nineteen ninety-eight"), as a speech
            transcript spells what is said.

        Returns
        -------
        list of str
            Each starts with a capital letter and ends with ``.``, ``?`` or ``!``.
        """
        _check_count(n)
        for name, value in (("min_words", min_words), ("max_words", max_words)):
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
                raise ConfigError(
                    f"Received an invalid value for `{name}`, expected a positive integer. Received: {name}={value!r}"
                )
        if min_words > max_words:
            raise ConfigError(
                f"`min_words` must not exceed `max_words`. Received: min_words={min_words}, max_words={max_words}"
            )
        if not 0.0 <= float(numbers) <= 1.0:
            raise ConfigError(f"`numbers` is a fraction in [0, 1]. Received: numbers={numbers!r}")
        if max_words < 3:
            raise ConfigError(f"Sentences have at least 3 words; raise `max_words`. Received: max_words={max_words}")
        rng = self._rng if seed is None else np.random.default_rng(seed)
        result = []
        for _ in range(100 * n + 100):
            if len(result) == n:
                break
            target = int(rng.integers(max(3, min_words), max_words + 1))
            with_numbers = bool(rng.random() < numbers)
            sentence = self._grammar_sentence(
                rng, target, spell_numbers=spell_numbers, numbers=with_numbers, max_words=max_words
            )
            if min_words <= len(sentence.split()) <= max_words:
                result.append(sentence)
        if len(result) < n:
            raise ConfigError(
                "Could not make sentences of the requested length; widen the range between `min_words` and "
                f"`max_words`. Received: min_words={min_words}, max_words={max_words}"
            )
        return result
