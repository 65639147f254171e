"""Frozen torch module from the identity model's ONNX graph (faceplugin
``fr_feature.onnx``, a MobileFaceNet: only Conv, PRelu, Add and Reshape), so
that training can back-propagate an identity loss and feature-matching
(perceptual) terms through it. No third-party converter: ONNX nodes are
replayed in graph order.

    /usr/bin/python3 training/onnx_to_torch.py --onnx fr_feature.onnx --check OUT.json \
        [--pose-onnx fr_pose.onnx --check-pose POSE.json]

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

SUPPORTED = {"Conv", "PRelu", "Add", "Reshape", "Relu", "Gemm", "MaxPool", "Split", "Transpose", "Concat", "ReduceMean",
             "Constant"}


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
        self.output_names = [output.name for output in graph.output]
        self.nodes: List[dict] = []
        for node in graph.node:
            attrs = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
            if node.op_type == "Constant":
                # Constants become buffers too, so that .to(device) moves them.
                buffer = f"c{len(self.nodes)}"
                self.register_buffer(buffer, torch.from_numpy(onnx.numpy_helper.to_array(attrs["value"]).copy()))
                self._names[node.output[0]] = buffer
                continue
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
            elif op == "Relu":
                out = F.relu(env[ins[0]])
            elif op == "Gemm":
                a, b = self._value(ins[0], env), self._value(ins[1], env)
                if attrs.get("transA", 0):
                    a = a.t()
                if attrs.get("transB", 0):
                    b = b.t()
                out = attrs.get("alpha", 1.0) * (a @ b)
                if len(ins) > 2 and ins[2]:
                    out = out + attrs.get("beta", 1.0) * self._value(ins[2], env)
            elif op == "MaxPool":
                pads = attrs.get("pads", [0, 0, 0, 0])
                if pads[0] != pads[2] or pads[1] != pads[3]:
                    raise ValueError(f"Cannot convert asymmetric MaxPool pads: current value is {pads}")
                out = F.max_pool2d(env[ins[0]], tuple(attrs["kernel_shape"]), tuple(attrs.get("strides", [1, 1])),
                                   (pads[0], pads[1]), ceil_mode=bool(attrs.get("ceil_mode", 0)))
            elif op == "Split":
                sizes = attrs.get("split") or [int(v) for v in self._value(ins[1], env).tolist()]
                parts = torch.split(env[ins[0]], sizes, dim=attrs.get("axis", 0))
                for name, part in zip(node["outputs"], parts):
                    env[name] = part
                continue
            elif op == "Transpose":
                out = env[ins[0]].permute(*attrs["perm"])
            elif op == "Concat":
                out = torch.cat([self._value(name, env) for name in ins], dim=attrs["axis"])
            elif op == "ReduceMean":
                out = env[ins[0]].mean(dim=tuple(attrs["axes"]), keepdim=bool(attrs.get("keepdims", 1)))
            env[node["outputs"][0]] = out
        if len(self.output_names) > 1:
            return [env[name] for name in self.output_names]
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


# The pose estimator as src/estimators/pose.ts runs it: the box in aligned
# coordinates grown by a quarter on each side, stretched to 224x224 (bilinear,
# edge pixels repeated), ImageNet-normalised RGB, softmax expectation over 66
# bins of 3 degrees, then the linear calibration to the photo's pose.
ALIGNED_POSE_BOX = (20.37, 23.53, 91.43, 110.07)
YAW_CALIBRATION = (1.299, 0.0)
PITCH_CALIBRATION = (0.792, -1.98)


class PoseNet(nn.Module):
    """Differentiable head pose (yaw, pitch in degrees) of aligned 112x112
    faces in [-1, 1], from faceplugin ``fr_pose.onnx`` replayed in torch."""

    def __init__(self, path: str, size: int = 112):
        super().__init__()
        self.net = OnnxIdentityNet(onnx.load(path))
        x1, y1, x2, y2 = ALIGNED_POSE_BOX
        left, top = x1 - (x2 - x1) / 4, y1 - (y2 - y1) / 4
        steps = torch.arange(224, dtype=torch.float32)
        src_x = steps * ((x2 - x1) * 1.5 / 224) + left
        src_y = steps * ((y2 - y1) * 1.5 / 224) + top
        gx = (src_x / (size - 1) * 2 - 1).view(1, 224).expand(224, 224)
        gy = (src_y / (size - 1) * 2 - 1).view(224, 1).expand(224, 224)
        self.register_buffer("grid", torch.stack([gx, gy], -1)[None])
        self.register_buffer("mean", torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1) * 255)
        self.register_buffer("std", torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1) * 255)
        self.register_buffer("bins", torch.arange(66, dtype=torch.float32) * 3 - 99)
        self.requires_grad_(False)
        self.eval()

    def forward(self, images: torch.Tensor, round_crop: bool = False) -> torch.Tensor:
        """``round_crop`` rounds the crop to bytes as the runtime does (exact
        replay, no gradient); training leaves it off (up to ~1.2 degrees apart
        on real faces, 2.5 on the synthetic check images)."""
        pixels = (images + 1) * 127.5
        crop = F.grid_sample(pixels, self.grid.expand(len(images), -1, -1, -1), mode="bilinear",
                             padding_mode="border", align_corners=True)
        if round_crop:
            crop = crop.round()
        yaw_logits, pitch_logits, _ = self.net((crop - self.mean) / self.std)
        yaw = (yaw_logits.softmax(-1) * self.bins).sum(-1) * YAW_CALIBRATION[0] + YAW_CALIBRATION[1]
        pitch = (pitch_logits.softmax(-1) * self.bins).sum(-1) * PITCH_CALIBRATION[0] + PITCH_CALIBRATION[1]
        return torch.stack([yaw, pitch], -1)


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
    parser.add_argument("--pose-onnx", help="fr_pose.onnx: with --check-pose, the same for PoseNet")
    parser.add_argument("--check-pose", help="write PoseNet's yaw and pitch of check_inputs() here (JSON)")
    args = parser.parse_args()
    if args.check_pose:
        pose_net = PoseNet(args.pose_onnx)
        with torch.no_grad():
            poses = pose_net(torch.from_numpy(check_inputs(4) / 127.5 - 1.0), round_crop=True).numpy()
        with open(args.check_pose, "w") as f:
            json.dump({"description": "fr_pose.onnx replayed in torch (training/onnx_to_torch.py PoseNet) on "
                       "check_inputs(4) as aligned faces, crop rounded to bytes: calibrated yaw, pitch in degrees",
                       "poses": [[round(float(v), 4) for v in row] for row in poses]}, f)
        print(f"wrote {len(poses)} poses to {args.check_pose}: {poses.round(2).tolist()}")
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
