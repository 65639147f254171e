"""Check that config `base` of training/vec2face.py has exactly the parameter
names and shapes of the official Vec2Face checkpoint.

Usage: python3 training/check_keys.py [path/to/official-vec2face-base.keys.tsv]
(default: training/official-vec2face-base.keys.tsv; check_keys_test.ts runs it)
Prints OK (exit 0) or the differences (exit 1).
"""

import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from vec2face import build, count_parameters  # noqa: E402

# a copy of the project reference (names and shapes only, no weights), so that a fresh clone can run the check
DEFAULT_TSV = os.path.join(os.path.dirname(os.path.abspath(__file__)), "official-vec2face-base.keys.tsv")


def read_tsv(path):
    out = {}
    with open(path) as f:
        for line in f:
            line = line.rstrip("\n")
            if not line or line.startswith("#"):
                continue
            name, shape = line.split("\t")
            dims = tuple(int(s) for s in shape.strip("()").split(",") if s.strip())
            out[name] = dims
    return out


def main():
    tsv = sys.argv[1] if len(sys.argv) > 1 else DEFAULT_TSV
    want = read_tsv(tsv)
    model = build("base")
    have = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    problems = []
    for k in sorted(set(want) - set(have)):
        problems.append(f"missing in model: {k} {want[k]}")
    for k in sorted(set(have) - set(want)):
        problems.append(f"extra in model:   {k} {have[k]}")
    for k in sorted(set(want) & set(have)):
        if want[k] != have[k]:
            problems.append(f"shape differs:    {k} tsv {want[k]} model {have[k]}")
    if not problems:
        # strict load of a zero state dict built from the tsv
        sd = {}
        ref = model.state_dict()
        for k, shape in want.items():
            sd[k] = torch.zeros(shape, dtype=ref[k].dtype)
        res = model.load_state_dict(sd, strict=True)
        if res.missing_keys or res.unexpected_keys:
            problems.append(f"strict load: {res}")
    if problems:
        print("\n".join(problems))
        sys.exit(1)
    print(f"OK {len(want)} tensors, {count_parameters(model) / 1e6:.1f}M parameters")


if __name__ == "__main__":
    main()
