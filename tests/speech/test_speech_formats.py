import json
import re

from speech.formats import Segment, Word, format_timestamp, to_json, to_srt, to_txt, to_vtt

SRT_CUE = re.compile(r"(\d+)\n(\d\d):(\d\d):(\d\d),(\d{3}) --> (\d\d):(\d\d):(\d\d),(\d{3})\n((?:.+\n?)+)")
VTT_CUE = re.compile(r"(\d\d):(\d\d):(\d\d)\.(\d{3}) --> (\d\d):(\d\d):(\d\d)\.(\d{3})\n((?:.+\n?)+)")


def seconds(h, m, s, ms):
    return int(h) * 3600 + int(m) * 60 + int(s) + int(ms) / 1000


def long_segment():
    words = [Word(f"word{i}", 100 + i * 0.6, 100 + i * 0.6 + 0.5, 0.9) for i in range(40)]
    return Segment(100.0, 124.0, " ".join(w.text for w in words), words, 0.8)


def segments():
    return [Segment(0.5, 2.0, "hello world", [Word("hello", 0.5, 1.0), Word("world", 1.2, 2.0)]),
            long_segment(),
            Segment(3700.25, 3720.0, "no word times in this rather long segment " * 3)]


def cues(text, pattern, numbered):
    blocks = text.strip("\n").split("\n\n")
    parsed = []
    for block in blocks:
        match = pattern.fullmatch(block)
        assert match, block
        groups = match.groups()[1:] if numbered else match.groups()
        parsed.append((seconds(*groups[0:4]), seconds(*groups[4:8]), groups[8].split("\n")))
    return parsed


def check_cues(parsed):
    previous_end = 0.0
    for start, end, lines in parsed:
        assert previous_end <= start < end and end - start <= 7.0 + 1e-6
        assert 1 <= len(lines) <= 2 and all(0 < len(line) <= 42 for line in lines)
        previous_end = end


def test_srt_well_formed():
    text = to_srt(segments())
    parsed = cues(text, SRT_CUE, numbered=True)
    assert [int(b.split("\n")[0]) for b in text.strip().split("\n\n")] == list(range(1, len(parsed) + 1))
    check_cues(parsed)
    assert parsed[0] == (0.5, 2.0, ["hello world"])
    assert parsed[1][0] == 100.0 and len(parsed) > 5
    words = " ".join(" ".join(lines) for _, _, lines in parsed).split()
    assert words == " ".join(s.text for s in segments()).split()  # nothing lost or repeated
    assert to_srt([]) == ""


def test_vtt_well_formed():
    text = to_vtt(segments() + [Segment(4000, 4001, "a <b> & c")])
    assert text.startswith("WEBVTT\n\n")
    parsed = cues(text[len("WEBVTT\n\n"):], VTT_CUE, numbered=False)
    check_cues(parsed)
    assert parsed[-1][2] == ["a &lt;b&gt; &amp; c"]
    assert to_vtt([]) == "WEBVTT\n"


def test_txt_json_and_timestamps():
    assert to_txt(segments()[:1]) == "hello world\n"
    data = json.loads(to_json({"path": "a.wav", "segments": segments()[:1]}))
    assert data["segments"][0]["words"][1] == {"text": "world", "start": 1.2, "end": 2.0, "confidence": 1.0}
    assert json.loads(to_json(segments()[:1]))["segments"][0]["text"] == "hello world"
    assert format_timestamp(3723.4567) == "01:02:03,457"
    assert format_timestamp(-1, separator=".") == "00:00:00.000"
