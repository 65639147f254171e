"""Held-out quality of a generator against the ridge baseline: reconstruction
(L1, SSIM), diversity and identity fidelity, on aligned faces x with
v = embed(x) (``tools/prepare_faces.ts`` output).

    /usr/bin/python3 training/evaluate.py --train /path/utk --split runs/small/split.json \
        --identity fr_feature.onnx --checkpoint runs/small/last.pt \
        --eval utk:/path/utk:holdout --eval lfw:/path/lfw:1000 [--json OUT.json]

The ridge baselines (closed form, from identity features to aligned-face
pixels, with intercept) are fitted on the same training rows as the
generator: one at lambda 1 (sklearn's default, the baseline the issue
calibrated), one with lambda picked on a validation slice of the training rows
(--ridge-lambdas). --eval NAME:PREFIX:ROWS with ROWS ``holdout`` (the split's
held-out rows), a count N (N rows spread evenly over the file: e.g. LFW people
never trained on) or N@OFFSET (the same spread shifted: a second sample).

Metrics, images in [-1, 1]:
  * l1: mean |render(v) - x|; ssim: mean SSIM (11x11 Gaussian window, sigma 1.5,
    on luma in [0, 1]);
  * diversity: mean pairwise L1 between renders of different faces divided by
    the same for the real faces (a collapsed generator scores near 0);
  * fidelity: cosine(embed(render(v)), v), mean and 5th percentile;
  * perturbed_fidelity: the same for render(perturb(v)) (sigma 0.079, the
    pack's middle sigma) on 300 faces: what a dataset's variations keep.

--regions also splits L1 and diversity between the face and the frame: the
pixels that are black in most training faces (UTKFace's tight crops leave
about a third of each aligned face outside the photo, padded black; LFW's
aligned faces have real background there, which no model trained on UTKFace
can predict from an identity vector).

--frame-gate GATE.npz (training/frame_gate.py) also measures the generator
followed by its frame gate, and reports the share of each set it fired on.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from onnx_to_torch import load as load_identity, normalise  # noqa: E402
from vec2face import CONFIGS, Vec2Face  # noqa: E402
from common import INFERENCE_RATIO, inference_masks, ssim, to_tensor  # noqa: E402
from frame_gate import load_gate  # noqa: E402


RIDGE_LAMBDAS = (1e-8, 1e-6, 1e-4, 1e-2, 1.0, 100.0)
# sklearn's Ridge default (alpha 1): the ridge the issue calibrated its bar with.
DEFAULT_RIDGE_LAMBDA = 1.0


def fit_ridge(features: np.ndarray, faces: np.ndarray, rows: np.ndarray,
              lambdas: tuple[float, ...] = RIDGE_LAMBDAS, fixed: tuple[float, ...] = (DEFAULT_RIDGE_LAMBDA,)) -> dict:
    """Closed-form ridges x ~ W v + b (float64, with intercept), fitted on all
    but the last 1,000 training rows: {"ridge (lambda L, tuned)": render} with
    L the best of ``lambdas`` on those 1,000, plus {"ridge (lambda F)": render}
    for each F of ``fixed``.

    The tuned lambda is tiny: fr_feature's identity vectors keep image detail
    (light, background, crop) in directions of near-zero variance (Gram
    eigenvalues down to 1e-7 against a median of 6e-3), which a barely
    regularised linear map reads back. The same map turns the method's own
    perturbation (noise on each element, the pack's sigmas 0.047-0.11) into
    saturated noise: see ``perturbed_fidelity`` in :func:`measure`."""
    fit_rows, val_rows = rows[:-1000], rows[-1000:]
    x = features[fit_rows].astype(np.float64)
    mean_x = x.mean(0)
    xc = x - mean_x
    gram = xc.T @ xc
    cross = np.zeros((x.shape[1], 112 * 112 * 3))
    mean_y = np.zeros(112 * 112 * 3)
    for start in range(0, len(fit_rows), 2000):
        chunk = np.asarray(faces[fit_rows[start:start + 2000]]).reshape(-1, 112 * 112 * 3).astype(np.float64) / 127.5 - 1
        cross += xc[start:start + 2000].T @ chunk
        mean_y += chunk.sum(0)
    mean_y /= len(fit_rows)
    real = np.asarray(faces[val_rows]).reshape(len(val_rows), -1).astype(np.float64) / 127.5 - 1
    # Keep only the weights that are returned (each is 512 x 37,632 float64, 154 MB).
    kept, best = {}, None
    for lam in sorted(set(lambdas) | set(fixed)):
        weights = np.linalg.solve(gram + lam * np.eye(len(gram)), cross)
        pred = (features[val_rows] - mean_x) @ weights + mean_y
        l1 = np.abs(np.clip(pred, -1, 1) - real).mean()
        print(f"ridge lambda {lam:g}: validation L1 {l1:.5f}", flush=True)
        if lam in fixed:
            kept[lam] = weights
        if lam in lambdas and (best is None or l1 < best[0]):
            best = (l1, lam, weights)
    print(f"ridge: lambda {best[1]:g} is the best on validation", flush=True)

    def renderer(weights: np.ndarray):
        def render(vectors: np.ndarray) -> torch.Tensor:
            pixels = (vectors.astype(np.float64) - mean_x) @ weights + mean_y
            return torch.from_numpy(pixels.reshape(-1, 112, 112, 3).astype(np.float32)).permute(0, 3, 1, 2)
        return render

    methods = {f"ridge (lambda {lam:g})": renderer(weights) for lam, weights in kept.items()}
    methods[f"ridge (lambda {best[1]:g}, tuned)"] = renderer(best[2])
    return methods


def mean_pairwise_l1(images: torch.Tensor, clamp: bool = True) -> float:
    flat = (images.clamp(-1, 1) if clamp else images).flatten(1)
    distances = torch.cdist(flat, flat, p=1) / flat.shape[1]
    n = len(flat)
    return (distances.sum() / (n * (n - 1))).item()


def frame_mask(faces: np.ndarray, rows: np.ndarray, sample: int = 4000) -> torch.Tensor:
    """[112, 112] bool: pixels black (every channel < 8) in more than half of
    the training faces, i.e. the alignment's padding rather than the photo."""
    chosen = rows[np.linspace(0, len(rows) - 1, min(sample, len(rows))).round().astype(int)]
    black = np.zeros((112, 112))
    for start in range(0, len(chosen), 500):
        black += (np.asarray(faces[chosen[start:start + 500]]).max(-1) < 8).sum(0)
    return torch.from_numpy(black / len(chosen) > 0.5)


def region_measures(renders: torch.Tensor, real: torch.Tensor, frame: torch.Tensor) -> dict:
    """L1 and diversity on the face and on the frame pixels separately, and the
    mean value of render and real face in the frame (black is -1)."""
    out = {"frame_share": round(frame.float().mean().item(), 4)}
    if not frame.any():  # no padded pixels in the training faces: only the face region exists
        return out
    error = (renders - real).abs().mean(1)
    renders_hwc, real_hwc = renders.permute(0, 2, 3, 1), real.permute(0, 2, 3, 1)
    subset = slice(0, min(500, len(renders)))
    for region, pixels in [("face", ~frame), ("frame", frame)]:
        out[f"{region}_l1"] = round(error[:, pixels].mean().item(), 4)
        out[f"{region}_diversity"] = round(
            mean_pairwise_l1(renders_hwc[subset][:, pixels]) / mean_pairwise_l1(real_hwc[subset][:, pixels]), 4)
    out["frame_mean_render"] = round(renders_hwc[:, frame].mean().item(), 4)
    out["frame_mean_real"] = round(real_hwc[:, frame].mean().item(), 4)
    return out


# The pack's middle perturbation sigma (manifest "sigmas"; Vec2Face's 0.5 in fr_feature units).
PERTURB_SIGMA = 0.079


def perturbed(vectors: np.ndarray, sigma: float = PERTURB_SIGMA, seed: int = 0) -> np.ndarray:
    """The runtime's perturb: N(0, sigma^2) on each element, rescaled to the original norm."""
    noise = np.random.default_rng(seed).standard_normal(vectors.shape)
    out = vectors.astype(np.float64) + sigma * noise
    return (out * (np.linalg.norm(vectors, axis=1, keepdims=True) / np.linalg.norm(out, axis=1, keepdims=True))).astype(
        np.float32)


def identity_cosine(identity_net, images: torch.Tensor, vectors: np.ndarray) -> torch.Tensor:
    """cosine(embed(images), vectors) per image; images in [-1, 1]."""
    return F.cosine_similarity(identity_net(normalise(images)), torch.from_numpy(np.asarray(vectors, dtype=np.float32)))


def measure(render_fn, identity_net, faces: np.ndarray, features: np.ndarray, batch: int = 50,
            frame: torch.Tensor | None = None, perturb_count: int = 300) -> dict:
    """Reconstruction, diversity and fidelity of render_fn on (faces, features);
    perturbed_fidelity: mean cosine(embed(render(perturb(v))), v) over the first
    ``perturb_count`` faces, as a dataset renders its intra-class variation (a
    renderer that reads detail out of near-null feature directions fails it)."""
    renders, fidelity, l1, structural = [], [], [], []
    with torch.no_grad():
        for start in range(0, len(faces), batch):
            x = to_tensor(faces[start:start + batch])
            v = torch.from_numpy(features[start:start + batch].astype(np.float32))
            r = render_fn(v.numpy()).clamp(-1, 1)
            l1.append((r - x).abs().flatten(1).mean(1))
            structural.append(ssim(r, x))
            fidelity.append(identity_cosine(identity_net, r, v.numpy()))
            renders.append(r)
        renders = torch.cat(renders)
        real = to_tensor(faces)
        fid = torch.cat(fidelity).numpy()
        subset = slice(0, min(500, len(renders)))
        regions = {} if frame is None else region_measures(renders, real, frame)
        clean = np.asarray(features[:perturb_count])
        noisy = perturbed(clean)
        perturbed_fid = torch.cat([
            identity_cosine(identity_net, render_fn(noisy[start:start + batch]).clamp(-1, 1), clean[start:start + batch])
            for start in range(0, len(noisy), batch)])
        return {
            "faces": len(faces),
            "l1": round(torch.cat(l1).mean().item(), 5),  # 5 digits: models differ by 1e-4
            "ssim": round(torch.cat(structural).mean().item(), 4),
            "diversity": round(mean_pairwise_l1(renders[subset]) / mean_pairwise_l1(real[subset]), 4),
            "fidelity_mean": round(float(fid.mean()), 4),
            "fidelity_p5": round(float(np.percentile(fid, 5)), 4),
            "perturbed_fidelity": round(perturbed_fid.mean().item(), 4),
            **regions,
        }


def held_and_training_rows(split_path: str):
    """The held-out rows of a training run's split.json and the rows it trained on."""
    split = json.load(open(split_path))
    held = np.array(split["holdout"])
    return held, np.setdiff1d(np.arange(split["count"]), held)


def load_generator(checkpoint: str, mask_ratio: tuple[float, float, float, float] = INFERENCE_RATIO):
    """The EMA weights of a train.py checkpoint as render(vectors [N, 512]) ->
    [N, 3, 112, 112] (no gradient), with the runtime's inference masks seeded
    by the batch size (or masks of another ratio distribution: truncnorm min,
    mu, std, max); and the checkpoint's step."""
    state = torch.load(checkpoint, map_location="cpu")
    model = Vec2Face(CONFIGS[state["config"]])
    model.load_state_dict(state["ema"])
    model.eval()

    def generator(vectors: np.ndarray) -> torch.Tensor:
        with torch.no_grad():
            v = torch.from_numpy(np.ascontiguousarray(vectors, dtype=np.float32))
            return model(v, *inference_masks(len(v), seed=len(v), ratio=mask_ratio))

    generator.model = model  # for checks that look inside (linear_checks.py --diagnose)
    return generator, state["step"]


def eval_set(spec: str, held: np.ndarray):
    """--eval NAME:PREFIX:ROWS -> NAME, faces, features (ROWS: ``holdout``; N spread evenly over the file;
    or N@OFFSET, the same spread shifted by OFFSET rows (wrapping), disjoint from N when 2 <= OFFSET < file / N)."""
    try:
        name, prefix, rows = spec.split(":")
        count, _, offset = rows.partition("@")
        if rows != "holdout" and (int(count) < 1 or int(offset or 0) < 0):
            raise ValueError
    except ValueError:
        raise SystemExit(f"Cannot read --eval as NAME:PREFIX:ROWS (ROWS: holdout, N or N@OFFSET): current value is {spec!r}")
    faces = np.load(prefix + ".faces.npy", mmap_mode="r")
    features = np.load(prefix + ".features.npy")
    if rows == "holdout":
        index = held
    else:
        index = (np.linspace(0, len(faces) - 1, int(count)).round().astype(int) + int(offset or 0)) % len(faces)
    return name, np.asarray(faces[index]), features[index]


def ridge_lambdas(text: str | None) -> tuple[float, ...]:
    """--ridge-lambdas L1,L2,... -> a tuple of positive lambdas (None: RIDGE_LAMBDAS)."""
    if text is None:
        return RIDGE_LAMBDAS
    try:
        values = tuple(float(part) for part in text.split(","))
    except ValueError:
        values = ()
    if not values or not all(value > 0 and np.isfinite(value) for value in values):
        raise SystemExit(f"Cannot read --ridge-lambdas as comma-separated positive numbers: current value is {text!r}")
    return values


def mask_ratio(text: str | None):
    """--mask-ratio MIN,MU,STD,MAX -> a tuple, checked (None: the runtime's)."""
    if text is None:
        return INFERENCE_RATIO
    try:
        low, mu, std, high = (float(part) for part in text.split(","))
    except ValueError:
        raise SystemExit(f"Cannot read --mask-ratio as MIN,MU,STD,MAX: current value is {text!r}")
    if not (0.1 <= low <= mu <= high <= 1 and std > 0):
        raise SystemExit(f"Cannot draw token masks as --mask-ratio asks (0.1 <= MIN <= MU <= MAX <= 1, STD > 0): "
                         f"current value is {text!r}")
    return low, mu, std, high


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--train", required=True, help="training data prefix (ridge fit)")
    parser.add_argument("--split", required=True, help="split.json of the training run")
    parser.add_argument("--identity", required=True)
    parser.add_argument("--checkpoint", help="train.py checkpoint (EMA weights are evaluated)")
    parser.add_argument("--eval", action="append", required=True, help="NAME:PREFIX:ROWS (ROWS: holdout, N or N@OFFSET)")
    parser.add_argument("--no-ridge", action="store_true", help="skip the baseline (e.g. already measured)")
    parser.add_argument("--ridge-lambdas", help="comma-separated grid the tuned ridge picks from on validation "
                        f"(default {','.join(f'{lam:g}' for lam in RIDGE_LAMBDAS)}); lambda 1 is always reported too")
    parser.add_argument("--regions", action="store_true", help="also L1 and diversity of face and frame pixels")
    parser.add_argument("--mask-ratio", help="MIN,MU,STD,MAX: token-mask ratios from this truncated normal instead of "
                        "the runtime's (0.1,0.15,0.25,1); MIN >= 0.1 (5 masked tokens are dropped)")
    parser.add_argument("--frame-gate", help="frame_gate.py output: also measures the generator followed by its frame "
                        "gate (as export_onnx.py --frame-gate bundles it)")
    parser.add_argument("--json")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 2)
    args = parser.parse_args()
    lambdas, ratio = ridge_lambdas(args.ridge_lambdas), mask_ratio(args.mask_ratio)  # bad flags fail before loading
    if args.frame_gate and not args.checkpoint:
        raise SystemExit(f"Cannot measure the frame gate {args.frame_gate} without a generator: current value of "
                         "--checkpoint is none")
    gate = load_gate(args.frame_gate) if args.frame_gate else None  # a missing file fails before loading data
    torch.set_num_threads(args.threads)

    identity_net = load_identity(args.identity)
    train_faces = np.load(args.train + ".faces.npy", mmap_mode="r")
    train_features = np.load(args.train + ".features.npy")
    held, train_rows = held_and_training_rows(args.split)
    frame = frame_mask(train_faces, train_rows) if args.regions else None
    methods = {} if args.no_ridge else fit_ridge(train_features, train_faces, train_rows, lambdas)
    if args.checkpoint:
        generator, step = load_generator(args.checkpoint, ratio)
        methods[f"generator (step {step})"] = generator
        if gate is not None:
            def gated(vectors: np.ndarray, generator=generator) -> torch.Tensor:
                with torch.no_grad():
                    return gate(torch.from_numpy(np.ascontiguousarray(vectors, dtype=np.float32)), generator(vectors))

            methods[f"generator (step {step}) + frame gate"] = gated

    results = {}
    for spec in args.eval:
        name, faces, features = eval_set(spec, held)
        for method, fn in methods.items():
            results[f"{name} / {method}"] = measure(fn, identity_net, faces, features, frame=frame)
            if method.endswith("+ frame gate"):  # how many of the set's faces got a background
                with torch.no_grad():
                    fires = gate.fires(torch.from_numpy(np.ascontiguousarray(features, dtype=np.float32)))
                results[f"{name} / {method}"]["gate_fire_rate"] = round(fires.float().mean().item(), 4)
            print(f"{name} / {method}: {json.dumps(results[f'{name} / {method}'])}", flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=2)


if __name__ == "__main__":
    main()
