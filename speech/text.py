"""Transcript normalization: the one spelling of text that speech models are trained on AND evaluated against.

:func:`normalize_transcript` applies these rules, in this order:

1. Unicode NFKC; typographic quotes and apostrophes become ``'``, dashes ``-``.
2. Amounts of money: ``$5`` -> "five dollars", ``$1`` -> "one dollar", ``$5.50`` -> "five dollars fifty cents",
   ``$0.99`` -> "ninety nine cents", ``$2.5 million`` -> "two point five million dollars"; likewise £ (pounds),
   € (euros), ¥ (yen).
3. Percentages: ``50%`` -> "fifty percent", ``3.5 %`` -> "three point five percent".
4. Times: ``10:30`` -> "ten thirty", ``3:05`` -> "three oh five", ``7:00`` -> "seven o'clock"
   (just "seven" before am/pm).
5. Ordinals: ``21st`` -> "twenty first", ``3rd`` -> "third".
6. Decades: ``1990s`` -> "nineteen nineties", ``'80s`` / ``80s`` -> "eighties".
7. Other numbers: integers 1100-1999 and 2010-2099 read as years (``1999`` -> "nineteen ninety nine",
   ``2019`` -> "twenty nineteen"; ``1500`` -> "fifteen hundred" either way); other integers as cardinals with
   num2words' British "and" (``105`` -> "one hundred and five", ``1,000,000`` -> "one million"); decimals digit by
   digit after "point" (``3.14`` -> "three point one four"); numbers with a leading zero, numbers of more than
   15 digits and stray digits (``1.2.3``) digit by digit (``007`` -> "zero zero seven"); a minus sign before a
   number -> "minus". Digits glued to letters are split from them first (``mp3`` -> "mp three", ``10am`` ->
   "ten am").
8. Symbols: ``&`` -> "and", ``@`` -> "at", ``+`` between numbers -> "plus"; a few titles: ``Mr.`` -> "mister",
   ``Mrs.`` -> "missus", ``Dr.`` -> "doctor".
9. Lowercase; accented letters folded to ASCII (``café`` -> "cafe", ``ß`` -> "ss", ``æ`` -> "ae").
10. Hyphens, slashes and every other character outside ``a-z``, apostrophe and space become spaces (so
    ``well-known`` -> "well known", ``U.S.A.`` -> "u s a", non-Latin scripts disappear); apostrophes are kept
    only inside words (``don't`` stays, ``'quoted'`` and ``students'`` lose theirs); whitespace collapsed and
    stripped.

The result uses only :data:`CHARACTERS`. :func:`spell_out` is steps 1-8 alone (case and punctuation kept), the text
to hand a speech synthesizer so that its audio says exactly the normalized words.

>>> normalize_transcript("On May 21st, 1999 it cost $5 -- 50% more!")
'on may twenty first nineteen ninety nine it cost five dollars fifty percent more'
"""

import re
import unicodedata

__all__ = ["CHARACTERS", "normalize_transcript", "spell_out"]

CHARACTERS = "abcdefghijklmnopqrstuvwxyz' "
"""The default speech alphabet: lowercase letters, apostrophe and space."""

_QUOTES = str.maketrans({
    "\u2018": "'", "\u2019": "'", "\u201b": "'", "\u02bc": "'", "\u2032": "'", "`": "'", "\u00b4": "'",
    "\u2010": "-", "\u2011": "-", "\u2012": "-", "\u2013": "-", "\u2014": "-", "\u2015": "-", "\u2212": "-",
    "\u00a0": " ",
})
_FOLD = {"ß": "ss", "æ": "ae", "Æ": "AE", "œ": "oe", "Œ": "OE", "ø": "o", "Ø": "O", "ł": "l", "Ł": "L",
         "đ": "d", "Đ": "D", "ð": "d", "Ð": "D", "þ": "th", "Þ": "TH", "ı": "i"}
_CURRENCIES = {"$": ("dollar", "dollars", "cent", "cents"), "£": ("pound", "pounds", "penny", "pence"),
               "€": ("euro", "euros", "cent", "cents"), "¥": ("yen", "yen", "sen", "sen")}
_SCALES = {"thousand": "thousand", "k": "thousand", "million": "million", "m": "million", "mn": "million",
           "billion": "billion", "b": "billion", "bn": "billion", "trillion": "trillion", "tn": "trillion"}
_TITLES = {"mr": "mister", "mrs": "missus", "dr": "doctor"}
_DIGITS = "zero one two three four five six seven eight nine".split()

_NUMBER = r"\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?|\.\d+"
_CURRENCY_RE = re.compile(r"(?P<sign>-)?(?P<symbol>[$£€¥])\s?(?P<number>" + _NUMBER + r")"
                          r"(?:\s?(?P<scale>thousand|million|billion|trillion|k|m|mn|b|bn|tn)\b)?", re.IGNORECASE)
_PERCENT_RE = re.compile(r"(?P<number>" + _NUMBER + r")\s?%")
_TIME_RE = re.compile(r"\b(?P<hour>[01]?\d|2[0-3]):(?P<minute>[0-5]\d)\b(?!:\d)(?P<after>\s*[ap]\.?m\b)?",
                      re.IGNORECASE)
_ORDINAL_RE = re.compile(r"\b(?P<number>\d{1,3}(?:,\d{3})+|\d+)(?P<suffix>st|nd|rd|th)\b", re.IGNORECASE)
_DECADE_RE = re.compile(r"(?<![\w'])'?(?P<number>(?:1[1-9]|20)?\d0)s\b")
_GLUED_RE = re.compile(r"(?<=[^\W\d_])(?=\d)|(?<=\d)(?=[^\W\d_])")
_PLUS_RE = re.compile(r"(?<=\d)\s*\+\s*(?=\d)")
_SIGNED_RE = re.compile(r"(?:(?<=^)|(?<=[\s(\[]))-(?=(?:\d|\.\d))")
_PLAIN_RE = re.compile(r"(?<![\d.,])(?:" + _NUMBER + r")(?![\d])")
_TITLE_RE = re.compile(r"\b(?P<title>mrs|mr|dr)\.(?=\s|$)", re.IGNORECASE)


def _num2words(value, **kwargs):
    from num2words import num2words

    return num2words(value, lang="en", **kwargs)


def _digits(text):
    return " ".join(_DIGITS[int(d)] for d in text if d.isdigit())


def _cardinal(text):
    """Words for a non-negative number written with optional thousands commas and decimals."""
    text = text.replace(",", "")
    whole, _, fraction = text.partition(".")
    if len(whole) > 1 and whole.startswith("0") or len(whole) > 15:
        words = _digits(whole)
    elif whole == "":
        words = "zero" if fraction else ""
    else:
        number = int(whole)
        words = _num2words(number, to="year") if not fraction and _is_year(whole) else _num2words(number)
    if fraction:
        words += " point " + _digits(fraction)
    return words


def _is_year(whole):
    return len(whole) == 4 and (1100 <= int(whole) <= 1999 or 2010 <= int(whole) <= 2099)


def _money(match):
    singular, plural, cent, cents = _CURRENCIES[match["symbol"]]
    number = match["number"].replace(",", "")
    sign = "minus " if match["sign"] else ""
    if match["scale"]:
        return f" {sign}{_cardinal(number)} {_SCALES[match['scale'].lower()]} {plural} "
    whole, _, fraction = number.partition(".")
    units = int(whole or 0)
    subunits = int((fraction + "00")[:2]) if fraction else 0
    if fraction and len(fraction) > 2:  # $1.255: not a price, read as a number
        return f" {sign}{_cardinal(number)} {plural} "
    parts = []
    if units or not subunits:
        parts.append(f"{_num2words(units)} {singular if units == 1 else plural}")
    if subunits:
        parts.append(f"{_num2words(subunits)} {cent if subunits == 1 else cents}")
    return f" {sign}{' '.join(parts)} "


def _time(match):
    hour, minute = int(match["hour"]), int(match["minute"])
    after = match["after"] or ""
    if minute == 0:
        spoken = _num2words(hour) + ("" if after else " o'clock")
    elif minute < 10:
        spoken = f"{_num2words(hour)} oh {_num2words(minute)}"
    else:
        spoken = f"{_num2words(hour)} {_num2words(minute)}"
    return f" {spoken}{after} "


def _decade(match):
    number = match["number"]
    if len(number) == 2:
        words = _num2words(int(number))
    elif number.endswith("00"):
        words = _num2words(int(number), to="year") if _is_year(number) or number == "2000" else _num2words(
            int(number))
    else:
        words = _num2words(int(number), to="year")
    words = words[:-1] + "ies" if words.endswith("y") else words + "s"
    return f" {words} "


def spell_out(text):
    """Expand numbers, amounts, times and symbols into words; keep case and punctuation.

    Rules 1-8 of this module's docstring; ``normalize_transcript(spell_out(t)) == normalize_transcript(t)``.

    Parameters
    ----------
    text : str

    Returns
    -------
    spoken : str
    """
    text = unicodedata.normalize("NFKC", str(text)).translate(_QUOTES)
    text = _CURRENCY_RE.sub(_money, text)
    text = _PERCENT_RE.sub(lambda m: f" {_cardinal(m['number'])} percent ", text)
    text = _TIME_RE.sub(_time, text)
    text = _ORDINAL_RE.sub(lambda m: f" {_num2words(int(m['number'].replace(',', '')), to='ordinal')} ", text)
    text = _DECADE_RE.sub(_decade, text)
    text = _GLUED_RE.sub(" ", text)
    text = _PLUS_RE.sub(" plus ", text)
    text = _SIGNED_RE.sub("minus ", text)
    text = _PLAIN_RE.sub(lambda m: f" {_cardinal(m.group())} ", text)
    text = re.sub(r"\d+", lambda m: f" {_digits(m.group())} ", text)  # what is left, e.g. in "1.2.3"
    text = _TITLE_RE.sub(lambda m: _TITLES[m["title"].lower()], text)
    text = text.replace("&", " and ").replace("@", " at ").replace("%", " percent ")
    text = re.sub(r"[ \t]+", " ", text)
    return re.sub(r" (?=[,.;:!?)\]])", "", text).strip()


def _fold(text):
    text = "".join(_FOLD.get(c, c) for c in text)
    return "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))


def normalize_transcript(text):
    """The normalized form of a transcript (see this module's docstring for the rules).

    Parameters
    ----------
    text : str
        Any text (a transcript, a reference, a model's output).

    Returns
    -------
    normalized : str
        Only characters of :data:`CHARACTERS`: lowercase words separated by single spaces, numbers spelled out.

    Examples
    --------
    >>> normalize_transcript("The 2nd café’s menu: $3.50 & up (10% off).")
    "the second cafe's menu three dollars fifty cents and up ten percent off"
    """
    text = _fold(spell_out(text)).lower()
    text = re.sub(r"[^a-z' ]+", " ", text)
    text = re.sub(r"(?<![a-z])'+|'+(?![a-z])", " ", text)  # apostrophes only inside words
    return " ".join(text.split())
