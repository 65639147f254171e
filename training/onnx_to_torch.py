"""Frozen torch module from the identity model's ONNX graph (faceplugin
``fr_feature.onnx``, a MobileFaceNet: only Conv, PRelu, Add and Reshape), so
that training can back-propagate an identity loss and feature-matching
(perceptual) terms through it. No third-party converter: ONNX nodes are
replayed in graph order.

    /usr/bin/python3 training/onnx_to_torch.py --onnx fr_feature.onnx --check OUT.json

``--check`` runs the module on deterministic inputs and writes them with the
outputs to OUT.json; ``src/estimators/identity_torch_test.ts`` runs the same
inputs through onnxruntime and compares (the weights themselves never enter
the repo).
"""

from __future__ import annotations

import argparse
import json
from typing import Dict, List, Sequence

import numpy as np
import onnx
import onnx.numpy_helper
import torch
import torch.nn as nn
import torch.nn.functional as F

SUPPORTED = {"Conv", "PRelu", "Add", "Reshape"}


class OnnxIdentityNet(nn.Module):
    """Replays a Conv/PRelu/Add/Reshape ONNX graph with frozen weights.

    ``forward(x, taps=())`` takes the model's own input (NCHW float, already
    normalised as the model expects) and returns the output, plus the listed
    intermediate tensors when ``taps`` names node outputs.
    """

    def __init__(self, model: onnx.ModelProto):
        super().__init__()
        graph = model.graph
        ops = {node.op_type for node in graph.node}
        if not ops <= SUPPORTED:
            raise ValueError(f"Cannot convert ops {sorted(ops - SUPPORTED)}: only {sorted(SUPPORTED)} are supported")
        self._names: Dict[str, str] = {}
        for index, init in enumerate(graph.initializer):
            array = onnx.numpy_helper.to_array(init).copy()
            buffer = f"w{index}"
            self.register_buffer(buffer, torch.from_numpy(array))
            self._names[init.name] = buffer
        self.input_name = graph.input[0].name
        self.output_name = graph.output[0].name
        self.nodes: List[dict] = []
        for node in graph.node:
            attrs = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
            self.nodes.append({"op": node.op_type, "inputs": list(node.input), "outputs": list(node.output), "attrs": attrs})
        self.conv_outputs = [n["outputs"][0] for n in self.nodes if n["op"] == "Conv"]
        self.requires_grad_(False)
        self.eval()

    def _value(self, name: str, env: Dict[str, torch.Tensor]) -> torch.Tensor:
        if name in env:
            return env[name]
        return getattr(self, self._names[name])

    def forward(self, x: torch.Tensor, taps: Sequence[str] = ()):
        env: Dict[str, torch.Tensor] = {self.input_name: x}
        for node in self.nodes:
            op, ins, attrs = node["op"], node["inputs"], node["attrs"]
            if op == "Conv":
                weight = self._value(ins[1], env)
                bias = self._value(ins[2], env) if len(ins) > 2 and ins[2] else None
                pads = attrs.get("pads", [0, 0, 0, 0])
                if pads[0] != pads[2] or pads[1] != pads[3]:
                    raise ValueError(f"Cannot convert asymmetric Conv pads: current value is {pads}")
                out = F.conv2d(
                    env[ins[0]], weight, bias,
                    stride=tuple(attrs.get("strides", [1, 1])),
                    padding=(pads[0], pads[1]),
                    dilation=tuple(attrs.get("dilations", [1, 1])),
                    groups=attrs.get("group", 1),
                )
            elif op == "PRelu":
                slope = self._value(ins[1], env)
                data = env[ins[0]]
                # Slopes are [C, 1, 1]: broadcast over NCHW as ONNX does.
                out = torch.where(data >= 0, data, data * slope)
            elif op == "Add":
                out = self._value(ins[0], env) + self._value(ins[1], env)
            elif op == "Reshape":
                shape = [int(v) for v in self._value(ins[1], env).tolist()]
                # The exported graph fixes batch 1; keep the batch dynamic.
                out = env[ins[0]].reshape(env[ins[0]].shape[0], *shape[1:])
            env[node["outputs"][0]] = out
        result = env[self.output_name]
        if taps:
            return result, [env[name] for name in taps]
        return result


def load(path: str) -> OnnxIdentityNet:
    return OnnxIdentityNet(onnx.load(path))


def normalise(images: torch.Tensor) -> torch.Tensor:
    """Images in [-1, 1] (generator range) -> the identity model's input
    ((pixel - 127) / 128 with pixel = (x + 1) * 127.5)."""
    return ((images + 1.0) * 127.5 - 127.0) / 128.0


def check_inputs(count: int = 3) -> np.ndarray:
    """Deterministic smooth test images, pixel values 0..255 as float32."""
    y, x = np.mgrid[0:112, 0:112].astype(np.float32) / 111.0
    images = []
    for k in range(count):
        channels = [
            127.5 + 120.0 * np.sin(2.0 * np.pi * (x * (k + 1) + y * c * 0.5 + 0.1 * c))
            for c in range(3)
        ]
        images.append(np.stack(channels))
    return np.round(np.stack(images)).astype(np.float32)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--onnx", required=True)
    parser.add_argument("--check", help="write inputs and torch outputs here (JSON)")
    args = parser.parse_args()
    net = load(args.onnx)
    if args.check:
        pixels = check_inputs()
        with torch.no_grad():
            features = net(torch.from_numpy((pixels - 127.0) / 128.0)).numpy()
        with open(args.check, "w") as f:
            json.dump(
                {
                    "description": "fr_feature.onnx replayed in torch (training/onnx_to_torch.py) on check_inputs(); "
                    "input pixel p -> (p - 127) / 128, RGB planes",
                    "inputs": "check_inputs",
                    "features": [[round(float(v), 6) for v in row] for row in features],
                },
                f,
            )
        print(f"wrote {len(features)} features to {args.check}; norms {np.linalg.norm(features, axis=1).round(3).tolist()}")


if __name__ == "__main__":
    main()
