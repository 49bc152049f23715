"""Pack speech corpora for training on a GPU machine that has JAX but no TensorFlow.

The toolkit's one trainer (``speech train``, :func:`common.training.train`) runs there on Keras' JAX backend
(``CTC_TOOLKIT_BACKEND=jax``, see :mod:`common`), with the same model code, loss, features, augmentation,
schedule, checkpoints and ``--resume`` as here. This recipe does what only the trip there needs: it re-encodes
training and validation corpora (any layout ``speech.data.load_speech_dataset`` reads) as 16 kHz OGG/Opus files
with JSONL manifests (``train.jsonl``, ``val.jsonl``), small enough to carry. Training utterances whose text is
also a validation text are left out::

    python recipes/speech_gpu.py --train runs/speech_default/train runs/speech_gpu/train_extra \
        --val runs/speech_default/val --out .gpu_data

There (Python with jax, keras, librosa, soundfile, soxr, rapidfuzz; this repository's code)::

    CTC_TOOLKIT_BACKEND=jax python -m speech train --data .gpu_data/train.jsonl --val .gpu_data/val.jsonl \
        --from speech/models/default.keras --out "$OUT/best.keras" --max-minutes 9 --batch-size 128 \
        --lr 1e-3 --workers 8 --quiet

``--max-minutes`` is a time budget: the learning rate warms up, then follows a cosine down to 1e-5 over it, and
the best model by validation WER is at ``--out`` when it ends; ``--resume`` continues a run from its run folder
(optimizer state included). ``--workers`` threads compute the next batches' features while the GPU trains.

Where what travels to the GPU machine is limited by size and counts whole disk blocks per file, carry the packed
folder as one stored zip (``cd .gpu_data && zip -0 -r ../data.zip train.jsonl val.jsonl train val``) and unpack it
there with ``python3 -m zipfile -e data.zip /tmp/gpu_data``.

Evaluate the result with the normal toolkit afterwards: ``python -m speech eval --data VAL --model best.keras``.
"""

import argparse
import json
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

def _encode(job):
    import soundfile

    from speech.audio import SAMPLE_RATE, load_audio

    source, target, level = job
    target = Path(target)
    if not target.is_file():  # a file is complete once it has its name: packing resumes where it stopped
        audio = load_audio(source)
        partial = target.with_name(target.name + ".partial")
        soundfile.write(partial, audio, SAMPLE_RATE, format="OGG", subtype="OPUS", compression_level=level)
        partial.replace(target)
    return target.stat().st_size, soundfile.info(target).duration


def pack(args):
    import concurrent.futures

    from speech.data import load_speech_dataset
    from speech.text import normalize_transcript

    out = Path(args.out)
    val = [(u.audio, normalize_transcript(u.text)) for path in args.val for u in load_speech_dataset(path)]
    val_texts = {text for _, text in val}
    train, dropped = [], 0
    for path in args.train:
        for u in load_speech_dataset(path):
            text = normalize_transcript(u.text)
            if text in val_texts:
                dropped += 1
            else:
                train.append((u.audio, text))
    print(f"{len(train)} training utterances ({dropped} left out: their text is a validation text), "
          f"{len(val)} validation utterances", flush=True)
    for name, rows in (("val", val), ("train", train)):
        folder = out / name
        folder.mkdir(parents=True, exist_ok=True)
        jobs, lines = [], []
        for n, (audio, text) in enumerate(rows):
            relative = f"{name}/{n:06d}.ogg"
            jobs.append((str(audio), str(out / relative), args.compression_level))
            lines.append(json.dumps({"audio": relative, "text": text, "source": Path(audio).name}) + "\n")
        with concurrent.futures.ProcessPoolExecutor(args.workers) as pool:
            results = list(pool.map(_encode, jobs, chunksize=8))
        (out / f"{name}.jsonl").write_text("".join(lines), encoding="utf-8")  # written once every file is there
        size, seconds = sum(r[0] for r in results), sum(r[1] for r in results)
        print(f"{name}: {len(rows)} files, {seconds / 3600:.2f} h, {size / 2**20:.1f} MiB "
              f"({size * 8 / seconds / 1000:.1f} kbit/s)", flush=True)
    return 0


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--train", nargs="+", required=True, help="training corpora (folders or manifests)")
    parser.add_argument("--val", nargs="+", required=True, help="validation corpora")
    parser.add_argument("--out", required=True, help="new folder for train/, val/, train.jsonl, val.jsonl")
    parser.add_argument("--compression-level", type=float, default=0.98,
                        help="libsndfile's Opus compression level in [0, 1]; 0.98 is about 13 kbit/s at 16 kHz")
    parser.add_argument("--workers", type=int, default=os.cpu_count())
    return pack(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
