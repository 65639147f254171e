"""Weighted average of the EMA weights of train.py snapshots of one run lineage.

A fine-tune that moves along one trade-off (here: the backdrop share lightens
or darkens the frame, trading UTKFace L1 for LFW L1) can be stopped part-way
without retraining: snapshots warm-started from each other sit in one basin,
so their weight average behaves like a point between them ("model soup",
Wortsman et al. 2022). Weights need not sum to 1; they are normalised.

    python3 training/average_checkpoints.py --out soup.pt A.pt:0.15 B.pt:0.85

The output is a train.py snapshot (fp16 EMA weights, config, step of the
heaviest input, sources) that evaluate.py and export_onnx.py read as any other.
"""

import argparse
import json
import os

import torch


def parse_source(text: str) -> tuple[str, float]:
    """PATH:WEIGHT -> (path, weight), weight > 0."""
    path, sep, weight_text = text.rpartition(":")
    try:
        weight = float(weight_text) if sep else float("nan")
    except ValueError:
        weight = float("nan")
    if not sep or not path or not weight > 0:
        raise SystemExit(f"Cannot read a source as PATH:WEIGHT with WEIGHT > 0: current value is {text!r}")
    return path, weight


def average(sources: list[tuple[str, float]]) -> dict:
    """The normalised weighted mean of the sources' EMA weights (fp32 sums, fp16 result)."""
    for path, _ in sources:
        if not os.path.isfile(path):
            raise SystemExit(f"Cannot average {path} as a source: current value is not a file")
    total = sum(weight for _, weight in sources)
    states = [(torch.load(path, map_location="cpu"), path, weight / total) for path, weight in sources]
    config = states[0][0]["config"]
    keys = set(states[0][0]["ema"])
    for state, path, _ in states[1:]:
        if state["config"] != config or set(state["ema"]) != keys:
            raise SystemExit(f"Cannot average {path} with {states[0][1]}: config or parameter names differ "
                             f"(current config is {state['config']!r}, first is {config!r})")
    mean = {}
    for key, first in states[0][0]["ema"].items():
        if not first.is_floating_point():
            mean[key] = first
            continue
        acc = sum(state["ema"][key].float() * share for state, _, share in states)
        mean[key] = acc.half()
    heaviest = max(states, key=lambda item: item[2])
    # sources as JSON text: train.py loads snapshots with weights_only=True, whose unpickler (torch 1.13) rejects floats
    sources_json = json.dumps([{"path": path, "share": round(share, 6), "step": state["step"]} for state, path, share in states])
    return {"ema": mean, "step": heaviest[0]["step"], "config": config, "sources": sources_json}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", required=True)
    parser.add_argument("sources", nargs="+", help="PATH:WEIGHT of train.py snapshots (weights are normalised)")
    args = parser.parse_args()
    sources = [parse_source(text) for text in args.sources]
    soup = average(sources)
    torch.save(soup, args.out)
    print(f"wrote {args.out}: " + ", ".join(f"{s['path']} x {s['share']}" for s in json.loads(soup["sources"])))


if __name__ == "__main__":
    main()
