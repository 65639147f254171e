"""Generator throughput in torch eager mode on CPU, for bench/render_bench.ts
(--torch): the same config (and weights, with --checkpoint) as a pack's
generator.onnx. Prints one JSON line: {"images_per_s": ..., "threads": ...}.
Timing does not depend on the weight values. The vectors are random (no
prior), so the frame gate never fires and, as in generator.onnx, its frame
search and fill are skipped: only its decision is timed."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import inference_masks  # noqa: E402
from vec2face import CONFIGS, Vec2Face  # noqa: E402

parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
parser.add_argument("--config", default="small", choices=sorted(CONFIGS))
parser.add_argument("--checkpoint", help="train.py checkpoint (EMA weights)")
parser.add_argument("--frame-gate", help="frame_gate.py output, as the bundled pack's generator.onnx ends in it")
parser.add_argument("--images", type=int, default=64)
parser.add_argument("--batch", type=int, default=16)
parser.add_argument("--threads", type=int, default=os.cpu_count() or 2)
args = parser.parse_args()
torch.set_num_threads(args.threads)
model = Vec2Face(CONFIGS[args.config]).eval()
if args.checkpoint:
    model.load_state_dict(torch.load(args.checkpoint)["ema"])
if args.frame_gate:
    from frame_gate import GatedGenerator, load_gate

    model = GatedGenerator(model, load_gate(args.frame_gate)).eval()
vectors = torch.from_numpy(np.random.default_rng(1).standard_normal((args.images, 512)).astype(np.float32) * 0.15)
with torch.no_grad():
    model(vectors[: args.batch], *inference_masks(min(args.batch, args.images)))  # warm-up
    started = time.perf_counter()
    for start in range(0, args.images, args.batch):
        batch = vectors[start:start + args.batch]
        model(batch, *inference_masks(len(batch), seed=start))
    seconds = time.perf_counter() - started
print(json.dumps({"images_per_s": round(args.images / seconds, 1), "threads": args.threads}))
