"""Packs aligned faces (``tools/prepare_faces.ts`` output) into one small
file of WebP images, and unpacks it, to carry a training set to a GPU
machine (UTKFace: 850 MB of raw pixels, 38 MB as WebP quality 85).

    /usr/bin/python3 training/pack_faces.py pack --data $WORK/utk --out DIR/utk.webp.npz [--quality 85]
    python3 training/pack_faces.py unpack --pack DIR/utk.webp.npz --identity fr_feature.onnx \\
        --out /tmp/utk [--device cuda]

``unpack`` writes ``PREFIX.faces.npy`` and ``PREFIX.pose.npy`` (when packed),
and recomputes ``PREFIX.features.npy`` with the identity model replayed in
torch on the decoded faces, so that the vectors describe exactly the pixels
trained on. Row order, and so ``train.py``'s held-out split, is kept. The
pack holds research-licensed faces: it never enters the repository.
"""

from __future__ import annotations

import argparse
import io
import os
import sys
import time

import numpy as np


def encode(face: np.ndarray, quality: int) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(face).save(buffer, "WEBP", quality=quality, method=6)
    return buffer.getvalue()


def decode(data: bytes) -> np.ndarray:
    try:
        from PIL import Image

        return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))
    except Exception:  # a Pillow without WebP: OpenCV reads it too
        import cv2

        return cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)[:, :, ::-1]


def pack(args) -> None:
    faces = np.load(args.data + ".faces.npy", mmap_mode="r")
    blobs = [encode(np.asarray(face), args.quality) for face in faces]
    offsets = np.cumsum([0] + [len(b) for b in blobs]).astype(np.int64)
    extra = {}
    if os.path.exists(args.data + ".pose.npy"):
        extra["pose"] = np.load(args.data + ".pose.npy").astype(np.float32)
    np.savez(args.out, data=np.frombuffer(b"".join(blobs), np.uint8), offsets=offsets,
             shape=np.array(faces.shape[1:]), **extra)
    print(f"packed {len(blobs)} faces in {offsets[-1] / 1e6:.1f} MB (WebP quality {args.quality}) to {args.out}")


def unpack(args) -> None:
    from concurrent.futures import ThreadPoolExecutor

    import torch

    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from onnx_to_torch import load, normalise

    started = time.time()
    archive = np.load(args.pack)
    data, offsets = archive["data"].tobytes(), archive["offsets"]
    with ThreadPoolExecutor(os.cpu_count() or 2) as pool:
        faces = np.stack(list(pool.map(lambda i: decode(data[offsets[i]:offsets[i + 1]]), range(len(offsets) - 1))))
    np.save(args.out + ".faces.npy", faces)
    if "pose" in archive:
        np.save(args.out + ".pose.npy", archive["pose"])
    device = torch.device(args.device)
    net = load(args.identity).to(device)
    features = []
    with torch.no_grad():
        for start in range(0, len(faces), 512):
            batch = torch.from_numpy(faces[start:start + 512]).to(device).permute(0, 3, 1, 2).float() / 127.5 - 1
            features.append(net(normalise(batch)).cpu().numpy())
    np.save(args.out + ".features.npy", np.concatenate(features).astype(np.float32))
    print(f"unpacked {len(faces)} faces and their features to {args.out} in {time.time() - started:.1f} s", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    packing = commands.add_parser("pack")
    packing.add_argument("--data", required=True, help="prepare_faces.ts output prefix")
    packing.add_argument("--out", required=True)
    packing.add_argument("--quality", type=int, default=85)
    unpacking = commands.add_parser("unpack")
    unpacking.add_argument("--pack", required=True)
    unpacking.add_argument("--identity", required=True, help="fr_feature.onnx")
    unpacking.add_argument("--out", required=True, help="output prefix")
    unpacking.add_argument("--device", default="cpu")
    args = parser.parse_args()
    pack(args) if args.command == "pack" else unpack(args)


if __name__ == "__main__":
    main()
