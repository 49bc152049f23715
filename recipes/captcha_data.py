"""Write a captcha data set in the folder layout ``ocr train --data`` reads: ``NAME.png`` + ``NAME.gt.txt``.

    python recipes/captcha_data.py --out data/captcha/train -n 1000 --seed 1
    python recipes/captcha_data.py --out data/captcha/test -n 200 --seed 2

The images are drawn by the ``captcha`` package (PyPI ``captcha``, ``pip install 'ctc-toolkit[notebooks]'``):
``ImageCaptcha``, 160 x 60 pixels by default, colored text with noise dots and a curve, each character rotated
and warped, as in the keras.io OCR example. Texts are 4 to 6 characters drawn uniformly from lowercase letters
and digits. The same seed gives the same texts and images (``captcha`` 0.7 draws with the unseedable ``secrets``
module; this script swaps in a seeded generator for the drawing); use different seeds for training and test sets.
"""

import argparse
import random
import string
import sys
from pathlib import Path

import numpy as np

__all__ = ["CHARACTERS", "write_captchas"]

CHARACTERS = string.ascii_lowercase + string.digits
"""The characters captcha texts are drawn from."""


class _SeededSecrets:
    """The three functions of the ``secrets`` module that ``captcha.image`` calls, drawn from a seeded generator."""

    def __init__(self, seed):
        self._random = random.Random(seed)

    def randbelow(self, n):
        return self._random.randrange(n)

    def choice(self, sequence):
        return self._random.choice(sequence)

    def randbits(self, k):
        return self._random.getrandbits(k)


def write_captchas(out_dir, num_images, *, seed=0, min_chars=4, max_chars=6, width=160, height=60):
    """Write ``num_images`` captchas into ``out_dir`` as ``captcha-000000.png`` + ``captcha-000000.gt.txt``.

    Parameters
    ----------
    out_dir : str or os.PathLike
        Created if missing; must not hold captchas already (pick a new folder per set).
    num_images : int > 0
    seed : int
        Seeds both the texts and the drawing (colors, noise, rotations, warps).
    min_chars, max_chars : int
        Length range of the texts (inclusive).
    width, height : int
        Image size in pixels.

    Returns
    -------
    out_dir : Path
    """
    import captcha.image
    from captcha.image import ImageCaptcha

    if num_images < 1 or not 1 <= min_chars <= max_chars:
        raise ValueError(f"Expected num_images >= 1 and 1 <= min_chars <= max_chars. Received: "
                         f"num_images={num_images}, min_chars={min_chars}, max_chars={max_chars}")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    if any(out_dir.glob("captcha-*.gt.txt")):
        raise ValueError(f"{out_dir} already holds captchas; pick a new folder. Received: out_dir={str(out_dir)!r}")
    rng = np.random.default_rng(seed)
    generator = ImageCaptcha(width=width, height=height)
    saved = getattr(captcha.image, "secrets", None)
    captcha.image.secrets = _SeededSecrets(seed)
    try:
        for index in range(num_images):
            length = int(rng.integers(min_chars, max_chars + 1))
            text = "".join(CHARACTERS[i] for i in rng.integers(len(CHARACTERS), size=length))
            name = out_dir / f"captcha-{index:06d}"
            generator.generate_image(text).save(name.with_suffix(".png"))
            name.with_suffix(".gt.txt").write_text(text + "\n", encoding="utf-8")
    finally:
        captcha.image.secrets = saved
    return out_dir


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", required=True, help="output folder")
    parser.add_argument("-n", "--num-images", type=int, required=True)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--min-chars", type=int, default=4)
    parser.add_argument("--max-chars", type=int, default=6)
    parser.add_argument("--width", type=int, default=160)
    parser.add_argument("--height", type=int, default=60)
    args = parser.parse_args(argv)
    print(write_captchas(args.out, args.num_images, seed=args.seed, min_chars=args.min_chars,
                         max_chars=args.max_chars, width=args.width, height=args.height))
    return 0


if __name__ == "__main__":
    sys.exit(main())
