"""Repeats issue 3's calibration of the ridge baseline on LFW, to tell which
ridge the issue's bar was measured with: a closed-form ridge from identity
features to aligned-face pixels, fitted on 7,000 LFW faces and measured on
500 faces of 400 people it never saw (the issue: L1 0.31, diversity 0.37,
identity fidelity 0.56).

    /usr/bin/python3 training/ridge_calibration.py --lfw $WORK/lfw --identity fr_feature.onnx [--seeds 0,1,2]

``$WORK/lfw`` is tools/prepare_faces.ts output (lfw.faces.npy, lfw.features.npy,
lfw.json: each face's file, its folder the person). Per seed, people are
shuffled; the first 400 are held out (one face each, then 100 more of their
faces), and 8,000 faces of the others are drawn: 7,000 to fit, the last 1,000
only to pick the tuned lambda (evaluate.fit_ridge). Prints one JSON line per
seed and ridge with evaluate.measure's numbers (L1, SSIM, diversity, fidelity,
perturbed fidelity)."""

from __future__ import annotations

import argparse
import json
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from evaluate import RIDGE_LAMBDAS, fit_ridge, load_identity, measure  # noqa: E402

HELD_PEOPLE, HELD_FACES, TRAIN_FACES, VALIDATION_FACES = 400, 500, 7000, 1000


def split(people: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Held-out rows (HELD_FACES faces of HELD_PEOPLE people) and training rows
    (TRAIN_FACES + VALIDATION_FACES faces of everyone else)."""
    rng = np.random.default_rng(seed)
    names = rng.permutation(np.unique(people))
    held_people = set(names[:HELD_PEOPLE])
    held_mask = np.array([person in held_people for person in people])
    first = {}
    for row in rng.permutation(np.flatnonzero(held_mask)):
        first.setdefault(people[row], row)
    firsts = np.array(sorted(first.values()))
    others = rng.permutation(np.setdiff1d(np.flatnonzero(held_mask), firsts))
    held = np.concatenate([firsts, others[:HELD_FACES - len(firsts)]])
    if len(held) != HELD_FACES:
        raise SystemExit(f"Cannot hold out {HELD_FACES} faces of {HELD_PEOPLE} people: current value is {len(held)} faces")
    pool = rng.permutation(np.flatnonzero(~held_mask))
    if len(pool) < TRAIN_FACES + VALIDATION_FACES:
        raise SystemExit(f"Cannot train on {TRAIN_FACES + VALIDATION_FACES} faces: current value is {len(pool)} faces "
                         "of the people not held out")
    return held, pool[:TRAIN_FACES + VALIDATION_FACES]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lfw", required=True, help="tools/prepare_faces.ts output prefix for LFW")
    parser.add_argument("--identity", required=True, help="fr_feature.onnx (replayed in torch for fidelity)")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 2)
    args = parser.parse_args()
    try:
        seeds = [int(seed) for seed in args.seeds.split(",")]
    except ValueError:
        raise SystemExit(f"Cannot read --seeds as comma-separated integers: current value is {args.seeds!r}")
    torch.set_num_threads(args.threads)
    faces = np.load(args.lfw + ".faces.npy", mmap_mode="r")
    features = np.load(args.lfw + ".features.npy")
    files = json.load(open(args.lfw + ".json"))["files"]
    if len(files) != len(faces):
        raise SystemExit(f"Cannot pair {args.lfw}.json's files with its faces: current value is {len(files)} files "
                         f"for {len(faces)} faces")
    people = np.array([file.split("/")[0] for file in files])
    identity_net = load_identity(args.identity)
    for seed in seeds:
        held, train = split(people, seed)
        # lambda 1 (sklearn's default) and 1e-3 fixed; the tuned one picked from evaluate's grid
        methods = fit_ridge(features, faces, train, RIDGE_LAMBDAS, fixed=(1.0, 1e-3))
        held_faces, held_features = np.asarray(faces[held]), features[held]
        for method, render in methods.items():
            result = measure(render, identity_net, held_faces, held_features)
            print(json.dumps({"seed": seed, "method": method, **result}), flush=True)


if __name__ == "__main__":
    main()
