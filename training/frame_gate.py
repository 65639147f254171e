"""The frame gate: renders a background where the photo behind an identity
vector had one, and the black frame where it had none.

UTKFace's faces are tight crops: aligning them to 112x112 pads a third of
every image with black (``train.padding_masks``), so the generator learnt to
paint that frame black. Photos with a background there (LFW's, most of the
world's) then get a black frame too. Whether the photo had a background is
in the identity vector, but not where its variance is: fr_feature keeps
image detail in directions of almost no variance (eigenvalues down to 1e-11
of the largest). Whitened, a linear probe tells a padded UTKFace face from
the same face with a synthetic background 94 % of the time (a first
experiment: torch replay of fr_feature, 3,000 training faces, a quarter held
out).

The gate is that probe, fitted on training faces only (padded against the
same faces with textured random backgrounds, every vector recomputed from
the changed pixels; its accuracy on held-out pairs is in fit()'s report). Where it fires, the frame (dark pixels connected to the
border of the render, grown by two pixels) is filled from the rendered face by
push-pull interpolation: a smooth extension of the nearest rendered pixels.
Two guards keep it off where the near-null directions cannot be trusted:
a decision threshold set so that it fires on at most 0.5 % of 2,000 padded
training faces that neither the probe nor the whitening saw, and an energy
limit: a vector whose near-null part is far larger than any of theirs (a perturbed one:
the method's per-element noise is ~10^4 times those directions' spread)
keeps its black frame. So dataset generation, which renders perturbed
vectors, is unchanged; reconstructions of real photos get their background.

    /usr/bin/python3 training/frame_gate.py --data $WORK/utk --split $WORK/runs/small/split.json \\
        --identity fr_feature.onnx --out training/checkpoints/frame_gate.npz      # ~3 min on 2 cores

``export_onnx.py --frame-gate`` and ``evaluate.py --frame-gate`` take the
result; the gate becomes part of generator.onnx, so every backend runs it.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

DARK = -0.85  # a rendered frame pixel: every channel below this ([-1, 1]; the bundled frame averages -0.99)
BORDER_STEPS = 56  # 3x3 growth steps from the border: any pixel of a 112x112 image, through dark paths of at most 56
# steps (a full flood fill gave the same region on 600 bundled renders of LFW and UTKFace vectors)
GROW = 2  # pixels the frame region is grown by: the render's soft edge between face and frame (1 left a dark line)
WHITEN_FLOOR = 1e-9  # eigenvalues below this share of the largest are floored before whitening
NULL_SHARE = 1e-6  # eigen-directions below this share of the largest make up the near-null part
FALSE_FILL_RATE = 0.005  # the gate's decision threshold: fires on at most this share of padded training faces
ENERGY_MARGIN = 10.0  # the energy limit: this many times the largest near-null energy of the check faces; real
# photos of other collections sit higher than UTKFace's (LFW: median 3.1 against 0.95), noise far higher (~2e8 sigma^2)


def border_pixels(size: int = 112) -> torch.Tensor:
    """[1, 1, size, size]: 1 on the outermost ring of pixels, 0 inside."""
    border = torch.ones(1, 1, size, size)
    border[..., 1:-1, 1:-1] = 0
    return border


def frame_region(image: torch.Tensor, border: torch.Tensor | None = None) -> torch.Tensor:
    """bool [B, 112, 112]: pixels of a render [B, 3, 112, 112] that are dark
    in every channel and connected (8-neighbours) to the border through dark
    pixels, grown by GROW pixels (the frame's soft edge). Fixed step count, so
    that it exports to ONNX."""
    dark = (image.amax(1, keepdim=True) < DARK).to(image.dtype)
    reached = dark * (border_pixels(image.shape[-1]) if border is None else border)
    for _ in range(BORDER_STEPS):
        reached = F.max_pool2d(reached, 3, stride=1, padding=1) * dark
    return F.max_pool2d(reached, 2 * GROW + 1, stride=1, padding=GROW)[:, 0] > 0.5


def push_pull_fill(image: torch.Tensor, hole: torch.Tensor) -> torch.Tensor:
    """image [B, C, H, W] with the ``hole`` pixels [B, H, W] replaced by a
    smooth extension of the others: masked averages down a pyramid of 2x
    poolings to 7x7 (the image mean where a coarse cell is all hole), then
    back up, each level's known average blended with the coarser estimate by
    its coverage."""
    valid = (~hole).to(image.dtype)[:, None]
    levels = [(image * valid, valid)]
    while levels[-1][0].shape[-1] > 7:
        total, coverage = levels[-1]
        levels.append((F.avg_pool2d(total, 2), F.avg_pool2d(coverage, 2)))
    total, coverage = levels[-1]
    image_mean = total.sum((2, 3), keepdim=True) / coverage.sum((2, 3), keepdim=True).clamp_min(1e-6)
    estimate = torch.where(coverage > 0, total / coverage.clamp_min(1e-6), image_mean)
    for total, coverage in reversed(levels[:-1]):
        up = F.interpolate(estimate, size=total.shape[-2:], mode="bilinear", align_corners=False)
        estimate = total + (1 - coverage) * up  # total = coverage x known mean
    return torch.where(hole[:, None], estimate, image)


# what frame_gate.npz holds: vectors and matrices, then scalars
GATE_ARRAYS = ("mean", "direction", "null_basis")
GATE_SCALARS = ("intercept", "logit_threshold", "energy_limit")


class FrameGate(nn.Module):
    """gate(identity [B, 512], image [B, 3, 112, 112]) -> image with its frame
    filled where the identity vector says the photo had a background."""

    def __init__(self, params: dict):
        super().__init__()
        for name in GATE_ARRAYS:
            self.register_buffer(name, torch.as_tensor(np.asarray(params[name], np.float32)))
        for name in GATE_SCALARS:
            self.register_buffer(name, torch.tensor(float(params[name]), dtype=torch.float32))
        self.register_buffer("border", border_pixels(), persistent=False)

    def fires(self, identity: torch.Tensor) -> torch.Tensor:
        """bool [B]: the probe's score is over the threshold and the near-null
        part is within the training vectors' range."""
        centred = identity - self.mean
        score = centred @ self.direction + self.intercept
        energy = (centred @ self.null_basis).square().mean(1)
        return (score > self.logit_threshold) & (energy < self.energy_limit)

    def forward(self, identity: torch.Tensor, image: torch.Tensor) -> torch.Tensor:
        fill = self.fires(identity)[:, None, None] & frame_region(image, self.border)
        return push_pull_fill(image, fill)  # unchanged outside the fill


class GateFires(nn.Module):
    """fires(identity [B, 512]) -> bool scalar: does the gate fire on any
    vector of the batch (export_onnx.py's ``If`` condition)."""

    def __init__(self, gate: FrameGate):
        super().__init__()
        self.gate = gate

    def forward(self, identity: torch.Tensor) -> torch.Tensor:
        return self.gate.fires(identity).any()


class GateFill(nn.Module):
    """The gate as a module of its own (export_onnx.py's ``If`` branch)."""

    def __init__(self, gate: FrameGate):
        super().__init__()
        self.gate = gate

    def forward(self, identity: torch.Tensor, image: torch.Tensor) -> torch.Tensor:
        return self.gate(identity, image)


class GatedGenerator(nn.Module):
    """A Vec2Face generator followed by its frame gate; same inputs and
    output as the generator (``cfg`` too, for export_onnx.reference)."""

    def __init__(self, generator: nn.Module, gate: FrameGate):
        super().__init__()
        self.generator, self.gate, self.cfg = generator, gate, generator.cfg

    def forward(self, identity, masked, kept, pose=None):
        if torch.jit.is_tracing():  # the skip below would be traced as taken or not, for every batch
            raise RuntimeError("Cannot trace GatedGenerator: export_onnx.export_gated exports its parts")
        args = (identity, masked, kept) if pose is None else (identity, masked, kept, pose)
        image = self.generator(*args)
        if not bool(self.gate.fires(identity).any()):  # as generator.onnx's If: the gate would change nothing
            return image
        return self.gate(identity, image)


def load_gate(path: str) -> FrameGate:
    if not os.path.exists(path):
        raise SystemExit(f"Cannot load the frame gate as {path}: no such file (training/frame_gate.py writes it)")
    try:
        with np.load(path) as params:
            params = dict(params)
    except (OSError, ValueError) as error:
        raise SystemExit(f"Cannot load the frame gate as {path}: not an .npz file ({error})")
    missing = [key for key in GATE_ARRAYS + GATE_SCALARS if key not in params]
    if missing:
        raise SystemExit(f"Cannot load the frame gate as {path}: it lacks {', '.join(missing)}")
    return FrameGate(params).eval()


def textured_backdrops(count: int, generator: torch.Generator) -> torch.Tensor:
    """[count, 3, 112, 112] in [-1, 1]: train.random_backdrops (a muted colour
    with smooth brightness and colour fields) plus value noise at 8x8, 16x16
    and 56x56 (amplitudes 0.25, 0.15, 0.08): cluttered, out-of-focus scenes.
    Their vectors move along the same near-null directions as LFW's photos
    more often than smooth backgrounds', and with fewer false fills (probes
    firing above probability 0.95: 32 % of 1,000 LFW faces and 0.2 % of
    held-out UTKFace, against 24 % and 1.4 %; measured once)."""
    from train import random_backdrops

    backdrop = random_backdrops(count, generator, "cpu")
    for size, amplitude in [(8, 0.25), (16, 0.15), (56, 0.08)]:
        noise = (torch.rand(count, 1, size, size, generator=generator) - 0.5) * 2 * amplitude
        backdrop = backdrop + F.interpolate(noise, size=(112, 112), mode="bilinear", align_corners=False)
    return backdrop.clamp(-1, 1)


def fit(args) -> None:
    from sklearn.linear_model import LogisticRegression

    from onnx_to_torch import load as load_identity, normalise
    from common import to_tensor
    from train import padding_masks

    torch.set_num_threads(args.threads)
    faces = np.load(args.data + ".faces.npy", mmap_mode="r")
    features = np.load(args.data + ".features.npy").astype(np.float64)
    split = json.load(open(args.split))
    if split["count"] != len(faces):
        raise SystemExit(f"Cannot use {args.split} for {args.data}: it splits {split['count']} faces, the data has {len(faces)}")
    train_rows = np.setdiff1d(np.arange(len(faces)), np.array(split["holdout"]))
    if len(train_rows) < args.fit_faces + args.check_faces:
        raise SystemExit(f"Cannot fit on {args.fit_faces} + {args.check_faces} faces: the training split has {len(train_rows)}")
    rng = np.random.default_rng(args.seed)
    drawn = rng.permutation(train_rows)
    fit_rows, check_rows = np.sort(drawn[:args.fit_faces]), np.sort(drawn[args.fit_faces:args.fit_faces + args.check_faces])

    # the decomposition export_onnx.fit_prior makes, in float64 and without the check rows: the threshold and
    # the energy limit are set on vectors the whitening has not seen, as it will not have seen a user's
    whiten_rows = np.setdiff1d(train_rows, check_rows)
    mean = features[whiten_rows].mean(0)
    values, vectors = np.linalg.eigh(np.cov(features[whiten_rows] - mean, rowvar=False))
    scale = 1 / np.sqrt(np.maximum(values, WHITEN_FLOOR * values.max()))
    whitening = vectors * scale  # x -> (x - mean) @ whitening

    # padded faces and the same faces with a backdrop, both through the torch replay of fr_feature
    net = load_identity(args.identity).eval()
    generator = torch.Generator().manual_seed(args.seed)
    padded_vectors, backdrop_vectors = [], []
    with torch.no_grad():
        for start in range(0, len(fit_rows), 100):
            chunk = np.asarray(faces[fit_rows[start:start + 100]])
            x = to_tensor(chunk)
            padding = torch.from_numpy(padding_masks(chunk))[:, None]
            with_backdrop = torch.where(padding, textured_backdrops(len(x), generator), x)
            with_backdrop = torch.round((with_backdrop + 1) * 127.5).clamp(0, 255) / 127.5 - 1  # as a uint8 photo
            padded_vectors.append(net(normalise(x)).double().numpy())
            backdrop_vectors.append(net(normalise(with_backdrop)).double().numpy())
    padded_vectors, backdrop_vectors = np.concatenate(padded_vectors), np.concatenate(backdrop_vectors)
    replay_error = np.abs(padded_vectors - features[fit_rows]).max()

    inputs = np.concatenate([padded_vectors, backdrop_vectors]) - mean
    labels = np.r_[np.zeros(len(padded_vectors)), np.ones(len(backdrop_vectors))]
    # accuracy on held-out pairs first (a quarter of the faces, both their vectors), then the probe on all of them
    quarter = np.isin(np.r_[fit_rows, fit_rows], fit_rows[::4])
    trial = LogisticRegression(C=0.1, max_iter=5000).fit(inputs[~quarter] @ whitening, labels[~quarter])
    held_out_accuracy = float((trial.predict(inputs[quarter] @ whitening) == labels[quarter]).mean())
    probe = LogisticRegression(C=0.1, max_iter=5000).fit(inputs @ whitening, labels)
    direction = whitening @ probe.coef_[0]
    intercept = float(probe.intercept_[0])
    fit_accuracy = float(((inputs @ direction + intercept > 0) == labels).mean())

    # threshold: at most FALSE_FILL_RATE of other padded training faces (their runtime features) fire
    check_scores = (features[check_rows] - mean) @ direction + intercept
    logit_threshold = max(0.0, float(np.quantile(check_scores, 1 - FALSE_FILL_RATE)))
    null = values < NULL_SHARE * values.max()
    null_basis = whitening[:, null]
    def energy(vectors: np.ndarray) -> np.ndarray:
        return (((vectors - mean) @ null_basis) ** 2).mean(1)

    energies = energy(features[check_rows])
    energy_limit = ENERGY_MARGIN * float(energies.max())
    backdrop_fires = ((backdrop_vectors - mean) @ direction + intercept > logit_threshold) & (
        energy(backdrop_vectors) < energy_limit)
    params = {
        "mean": mean.astype(np.float32), "direction": direction.astype(np.float32), "intercept": np.float32(intercept),
        "null_basis": null_basis.astype(np.float32), "logit_threshold": np.float32(logit_threshold),
        "energy_limit": np.float32(energy_limit),
    }
    # the float32 module must decide as the float64 fit does
    gate = FrameGate(params)
    with torch.no_grad():
        fires32 = gate.fires(torch.from_numpy(features[check_rows].astype(np.float32))).numpy()
    fires64 = (check_scores > logit_threshold) & (energies < energy_limit)
    report = {
        "fit_faces": len(fit_rows), "check_faces": len(check_rows), "torch_replay_max_abs_error": float(replay_error),
        "held_out_accuracy": round(held_out_accuracy, 4), "fit_accuracy": round(fit_accuracy, 4),
        "logit_threshold": round(logit_threshold, 3),
        "check_fire_rate": round(float(fires64.mean()), 4),
        "backdrop_fire_rate": round(float(backdrop_fires.mean()), 4),
        "null_directions": int(null.sum()), "energy_limit": round(energy_limit, 3),
        "energy_check_median": round(float(np.median(energies)), 3),
        "energy_whitened_rows_max": round(float(energy(features[whiten_rows]).max()), 3),
        "float32_disagreements": int((fires32 != fires64).sum()),
    }
    np.savez(args.out, **params)
    print(json.dumps(report))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", required=True, help="prepare_faces.ts output prefix (the generator's training faces)")
    parser.add_argument("--split", required=True, help="the training run's split.json (only its training rows are used)")
    parser.add_argument("--identity", required=True, help="fr_feature.onnx")
    parser.add_argument("--out", required=True, help="where the gate goes (.npz)")
    parser.add_argument("--fit-faces", type=int, default=3000, help="faces the probe is fitted on (each twice)")
    parser.add_argument("--check-faces", type=int, default=2000, help="other training faces that set the threshold")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 2)
    args = parser.parse_args()
    if args.fit_faces < 100 or args.check_faces < 200:
        raise SystemExit(f"Cannot fit the gate on --fit-faces and --check-faces as at least 100 and 200: current values "
                         f"are {args.fit_faces} and {args.check_faces}")
    fit(args)


if __name__ == "__main__":
    main()
