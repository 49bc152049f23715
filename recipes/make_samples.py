"""Make the small sample files `make demo` reads: a text line, a paragraph image and a spoken sentence.

    python recipes/make_samples.py

Needs the Liberation fonts (Debian fonts-liberation) and espeak-ng; the committed samples were made with them.
"""

import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

ROOT = Path(__file__).resolve().parents[1]
FONT = Path("/usr/share/fonts/truetype/liberation/LiberationSerif-Regular.ttf")
LINE = "The quick brown fox paid $12.50 on 3 May 2024."
PARAGRAPH = [
    "Invoice No. 2024-0117",
    "Ship to: 42 Harbour Street, Leeds",
    "Total due: $1,249.99 (incl. VAT)",
    "Questions? Call +44 113 496 0000",
    "Thank you for your order!",
]
SPEECH = "hello world, this is a short test of the speech recognizer"


def render(lines, size=30, margin=24, spacing=14):
    font = ImageFont.truetype(str(FONT), size)
    widths = [int(font.getlength(line)) for line in lines]
    ascent, descent = font.getmetrics()
    height = len(lines) * (ascent + descent + spacing) + 2 * margin
    image = Image.new("L", (max(widths) + 2 * margin, height), 255)
    draw = ImageDraw.Draw(image)
    for i, line in enumerate(lines):
        draw.text((margin, margin + i * (ascent + descent + spacing)), line, font=font, fill=20)
    return image


def main():
    ocr_samples = ROOT / "ocr" / "samples"
    speech_samples = ROOT / "speech" / "samples"
    ocr_samples.mkdir(parents=True, exist_ok=True)
    speech_samples.mkdir(parents=True, exist_ok=True)
    render([LINE]).save(ocr_samples / "line.png", optimize=True)
    (ocr_samples / "line.gt.txt").write_text(LINE)
    render(PARAGRAPH).save(ocr_samples / "paragraph.png", optimize=True)
    (ocr_samples / "paragraph.gt.txt").write_text("\n".join(PARAGRAPH))
    if shutil.which("espeak-ng") is None:
        sys.exit("espeak-ng is needed for the speech sample: apt-get install espeak-ng")
    raw = speech_samples / "hello.raw.wav"
    subprocess.run(["espeak-ng", "-v", "en-us", "-s", "160", "-w", str(raw), SPEECH], check=True)
    import soundfile as sf
    import soxr

    audio, rate = sf.read(raw, dtype="float32")
    audio = soxr.resample(audio, rate, 16000)
    silence = np.zeros(4000, dtype=np.float32)
    sf.write(speech_samples / "hello.wav", np.concatenate([silence, audio, silence]), 16000, subtype="PCM_16")
    raw.unlink()
    (speech_samples / "hello.txt").write_text(SPEECH)


if __name__ == "__main__":
    main()
