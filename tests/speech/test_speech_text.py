import pytest

from speech.text import CHARACTERS, normalize_transcript, spell_out

CASES = [
    ("Hello, World!", "hello world"),
    ("On May 21st, 1999 it cost $5.", "on may twenty first nineteen ninety nine it cost five dollars"),
    ("$1 and $0.99 and $5.50", "one dollar and ninety nine cents and five dollars fifty cents"),
    ("$2.5 million", "two point five million dollars"),
    ("50% of 3.5%", "fifty percent of three point five percent"),
    ("in 2019, 2005 and 1500", "in twenty nineteen two thousand and five and fifteen hundred"),
    ("1,000,000 people", "one million people"),
    ("3.14", "three point one four"),
    ("007", "zero zero seven"),
    ("the 1990s and '80s", "the nineteen nineties and eighties"),
    ("1st 2nd 3rd 4th 101st", "first second third fourth one hundred and first"),
    ("at 3:05 pm or 7:00", "at three oh five pm or seven o'clock"),
    ("Tom & Jerry", "tom and jerry"),
    ("well-known and/or self–made", "well known and or self made"),
    ("Don’t say 'no' to the students' café", "don't say no to the students cafe"),
    ("Straße Ærø naïve Łódź", "strasse aero naive lodz"),
    ("U.S.A. MP3 COVID-19", "u s a mp three covid nineteen"),
    ("Mr. Smith met Dr. Jones", "mister smith met doctor jones"),
    ("-5 degrees", "minus five degrees"),
    ("  lots \n of\t space  ", "lots of space"),
    ("Привет", ""),
    ("", ""),
]


@pytest.mark.parametrize("text,expected", CASES)
def test_normalize(text, expected):
    assert normalize_transcript(text) == expected


@pytest.mark.parametrize("text", [c[0] for c in CASES])
def test_alphabet_and_idempotence(text):
    normalized = normalize_transcript(text)
    assert set(normalized) <= set(CHARACTERS)
    assert normalize_transcript(normalized) == normalized
    assert normalize_transcript(spell_out(text)) == normalized


def test_spell_out_keeps_case_and_punctuation():
    assert spell_out("It's 5 o'clock, Dr. Who.") == "It's five o'clock, doctor Who."
