"""Renders of the lambda-1 ridge baseline for held-out faces, written as uint8
arrays, so that ``bench/judge_reconstruction.ts`` can read them with the
independent judge (which runs in onnxruntime, never in training code).

    /usr/bin/python3 training/ridge_renders.py --train $WORK/utk \
        --eval utk:$WORK/utk:holdout --eval lfw:$WORK/lfw:1000 --out $WORK/recon

The ridge (closed form, identity features -> aligned-face pixels, with
intercept) is fitted on the generator's training rows (``train.py``'s split:
seed 0, the same 1,000 held-out rows every run), as ``evaluate.py`` fits it.
For each --eval NAME:PREFIX:ROWS (ROWS as in ``evaluate.py``) it writes
OUT.NAME.faces.npy (the real aligned faces x, uint8 [N, 112, 112, 3]),
OUT.NAME.features.npy (v = embed(x), float32 [N, 512]) and
OUT.NAME.ridge.npy (ridge(v), uint8 [N, 112, 112, 3]).
"""

from __future__ import annotations

import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(__file__))
from evaluate import DEFAULT_RIDGE_LAMBDA, eval_set, fit_ridge  # noqa: E402
from train import split_rows  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--train", required=True, help="training data prefix (tools/prepare_faces.ts output)")
    parser.add_argument("--eval", action="append", required=True, help="NAME:PREFIX:ROWS (ROWS: holdout, N or N@OFFSET)")
    parser.add_argument("--out", required=True, help="output prefix")
    args = parser.parse_args()

    faces = np.load(args.train + ".faces.npy", mmap_mode="r")
    features = np.load(args.train + ".features.npy")
    train_rows, held_rows = split_rows(len(faces))
    # Only the fixed lambda is wanted; the tuned one is picked from the same single value.
    renderers = fit_ridge(features, faces, train_rows, lambdas=(DEFAULT_RIDGE_LAMBDA,))
    ridge = renderers[f"ridge (lambda {DEFAULT_RIDGE_LAMBDA:g})"]
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    for spec in args.eval:
        name, real, vectors = eval_set(spec, held_rows)
        pixels = ridge(vectors).permute(0, 2, 3, 1).numpy()
        renders = np.clip(np.round((pixels + 1) * 127.5), 0, 255).astype(np.uint8)
        np.save(f"{args.out}.{name}.faces.npy", real.astype(np.uint8))
        np.save(f"{args.out}.{name}.features.npy", vectors.astype(np.float32))
        np.save(f"{args.out}.{name}.ridge.npy", renders)
        print(f"{name}: {len(real)} faces, ridge renders -> {args.out}.{name}.ridge.npy", flush=True)


if __name__ == "__main__":
    main()
