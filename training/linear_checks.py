"""Can a linear path close the generator's gap to ridge? Two post-hoc checks on
a checkpoint, measured as evaluate.py measures (frame split included):

  * mix:   (1 - w) G(v) + w R(v), and G(v) + w (R(v) - R(mean v)), R = the ridge baseline;
  * fit:   the best linear correction, a ridge from v to the residual x - clamp(G(v))
           on --fit-faces training faces, lambda picked on the last 1,000
           training rows (as evaluate.py picks ridge's), then clamp(G(v)) + S(v).
           (The token masks depend on the batch size, as in evaluate.py: fit
           batches of 100 and 1,000, evaluation batches of 50.)

    /usr/bin/python3 training/linear_checks.py --train $WORK/utk --split split.json \
        --identity fr_feature.onnx --checkpoint training/checkpoints/vec2face-small.pt \
        --eval utk:$WORK/utk:holdout --eval lfw:$WORK/lfw:1000 [--fit-faces 8000] [--weights 0.3] [--diagnose]

--diagnose measures instead where the generator's diversity gap lies, on the
first 500 faces of each --eval set (face pixels only: the frame is zeroed):

  * scales: diversity of coarse (8x8 block means) and fine (the rest) detail,
    generator and ridge, as a fraction of the real faces';
  * parts: diversity of the generator's linear pixel path (pixel_skip) alone and of
    the rest (render - pixel path);
  * stretch: L1 and diversity when the pixel path's deviation from its output at
    the mean training vector is scaled by 1 (as trained), 1.1 and 1.2 (the trade a calibration buys);
  * domain: how well a logistic regression tells the set's vectors (all rows of its
    features file) from the training vectors, on a quarter held out.

Nothing here is bundled: training/README.md records what it measured.
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
from evaluate import (DEFAULT_RIDGE_LAMBDA, eval_set, fit_ridge, frame_mask, held_and_training_rows, load_generator,  # noqa: E402
                      mean_pairwise_l1, measure)
from onnx_to_torch import load as load_identity  # noqa: E402
from common import to_tensor  # noqa: E402

PIXELS = 112 * 112 * 3


def residual_ridge(generator, features: np.ndarray, faces: np.ndarray, rows: np.ndarray, count: int):
    """Ridge from v to x - clamp(G(v)) (HWC pixels, intercept), fitted on `count` rows
    spread over all but the last 1,000 training rows; lambda on those 1,000."""
    fit_rows = rows[:-1000][np.linspace(0, len(rows) - 1001, count).round().astype(int)]
    val_rows = rows[-1000:]

    def residual(chunk: np.ndarray) -> np.ndarray:
        real = to_tensor(np.asarray(faces[chunk]))
        rendered = generator(features[chunk]).clamp(-1, 1)
        return (real - rendered).permute(0, 2, 3, 1).reshape(len(chunk), -1).double().numpy()

    x = features[fit_rows].astype(np.float64)
    mean_x = x.mean(0)
    centred = x - mean_x
    cross, mean_y = np.zeros((x.shape[1], PIXELS)), np.zeros(PIXELS)
    for start in range(0, len(fit_rows), 100):
        r = residual(fit_rows[start:start + 100])
        cross += centred[start:start + 100].T @ r
        mean_y += r.sum(0)
    mean_y /= len(fit_rows)
    gram = centred.T @ centred
    val_residual = residual(val_rows)
    print(f"validation residual L1 without correction: {np.abs(val_residual).mean():.4f}", flush=True)
    best = None
    for lam in [10.0, 100.0, 1000.0, 10000.0]:
        weights = np.linalg.solve(gram + lam * np.eye(len(gram)), cross)
        l1 = np.abs(val_residual - ((features[val_rows] - mean_x) @ weights + mean_y)).mean()
        print(f"correction lambda {lam}: validation residual L1 {l1:.4f}", flush=True)
        if best is None or l1 < best[0]:
            best = (l1, weights)
    weights = best[1]

    def correction(vectors: np.ndarray) -> torch.Tensor:
        pixels = (vectors.astype(np.float64) - mean_x) @ weights + mean_y
        return torch.from_numpy(pixels.reshape(-1, 112, 112, 3).astype(np.float32)).permute(0, 3, 1, 2)

    return correction


def in_batches(fn, vectors: np.ndarray, batch: int = 50) -> torch.Tensor:
    """fn over batches of 50, as evaluate.py renders (the token masks depend on the batch size)."""
    with torch.no_grad():
        return torch.cat([fn(vectors[start:start + batch]) for start in range(0, len(vectors), batch)])


def diagnose(generator, ridge, train_features: np.ndarray, train_rows: np.ndarray, frame: torch.Tensor,
             specs: list[str], held: np.ndarray) -> None:
    """Where the diversity gap lies (the module docstring's --diagnose); one JSON line per set."""
    from sklearn.linear_model import LogisticRegression

    model = generator.model
    side = model.cfg.pixel_skip
    if not side:
        raise SystemExit("Cannot split the render into its parts as asked: the config has no pixel_skip path")
    skip_weight, skip_bias = model.pixel_skip.weight.data.clone(), model.pixel_skip.bias.data.clone()
    mean_vector = torch.from_numpy(train_features[train_rows].mean(0).astype(np.float32))
    face = (~frame).float()

    def pixel_path(vectors: np.ndarray) -> torch.Tensor:
        coarse = model.pixel_skip(torch.from_numpy(np.ascontiguousarray(vectors, dtype=np.float32)))
        return F.interpolate(coarse.reshape(-1, 3, side, side), size=(112, 112), mode="bilinear", align_corners=False)

    def diversity(images: torch.Tensor, real: torch.Tensor) -> float:  # unclamped: parts go beyond [-1, 1]
        return round(mean_pairwise_l1(images, clamp=False) / mean_pairwise_l1(real, clamp=False), 4)

    def coarse_fine(images: torch.Tensor):
        coarse = F.interpolate(F.avg_pool2d(images, 8), scale_factor=8, mode="nearest")
        return coarse, images - coarse

    rng = np.random.default_rng(0)
    for spec in specs:
        name, faces, features = eval_set(spec, held)
        count = min(500, len(faces))
        real, vectors = to_tensor(faces[:count]), features[:count]
        renders = {"generator": in_batches(generator, vectors), "ridge": in_batches(ridge, vectors)}
        out = {"set": name, "faces": count}
        real_coarse, real_fine = coarse_fine(real * face)
        for method, images in renders.items():
            coarse, fine = coarse_fine(images.clamp(-1, 1) * face)
            out[f"{method}_coarse_diversity"] = diversity(coarse, real_coarse)
            out[f"{method}_fine_diversity"] = diversity(fine, real_fine)
        path = in_batches(pixel_path, vectors)
        out["pixel_path_diversity"] = diversity(path * face, real * face)
        out["rest_diversity"] = diversity((renders["generator"] - path) * face, real * face)
        for scale in (1.0, 1.1, 1.2):
            model.pixel_skip.weight.data = scale * skip_weight
            model.pixel_skip.bias.data = skip_bias + (1 - scale) * (skip_weight @ mean_vector)
            stretched = in_batches(generator, vectors).clamp(-1, 1)
            out[f"stretch_{scale}"] = {"l1": round((stretched - real).abs().mean().item(), 4),
                                       "diversity": diversity(stretched, real)}
        model.pixel_skip.weight.data, model.pixel_skip.bias.data = skip_weight, skip_bias
        _, prefix, rows = spec.split(":")
        if rows != "holdout":
            # All the set's vectors against as many training vectors (at most 6,000 each), unit length.
            own = np.load(prefix + ".features.npy")
            size = min(6000, len(own))
            pair = np.concatenate([own[rng.permutation(len(own))[:size]],
                                   train_features[rng.permutation(train_rows)[:size]]]).astype(np.float64)
            pair /= np.linalg.norm(pair, axis=1, keepdims=True)
            labels = np.r_[np.ones(size), np.zeros(size)]
            order = rng.permutation(2 * size)
            fit, test = order[:3 * size // 2], order[3 * size // 2:]
            probe = LogisticRegression(C=1.0, max_iter=2000).fit(pair[fit], labels[fit])
            out["domain_probe_accuracy"] = round(float((probe.predict(pair[test]) == labels[test]).mean()), 4)
        print(json.dumps(out), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--train", required=True)
    parser.add_argument("--split", required=True)
    parser.add_argument("--identity", required=True)
    parser.add_argument("--checkpoint", required=True)
    parser.add_argument("--eval", action="append", required=True, help="NAME:PREFIX:ROWS as in evaluate.py")
    parser.add_argument("--weights", default="0.3", help="comma-separated w for the mixes")
    parser.add_argument("--fit-faces", type=int, default=8000)
    parser.add_argument("--diagnose", action="store_true", help="where the diversity gap lies (see above), no mixes")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    identity_net = load_identity(args.identity)
    train_faces = np.load(args.train + ".faces.npy", mmap_mode="r")
    train_features = np.load(args.train + ".features.npy")
    held, train_rows = held_and_training_rows(args.split)
    frame = frame_mask(train_faces, train_rows)
    # lambda 1: the ridge these checks were measured against (training/README.md); the tuned one is not a renderer
    ridge = next(iter(fit_ridge(train_features, train_faces, train_rows, lambdas=(DEFAULT_RIDGE_LAMBDA,), fixed=()).values()))
    generator, _ = load_generator(args.checkpoint)
    if args.diagnose:
        diagnose(generator, ridge, train_features, train_rows, frame, args.eval, held)
        return

    ridge_of_mean = ridge(train_features[train_rows].mean(0, keepdims=True))
    correction = residual_ridge(generator, train_features, train_faces, train_rows, args.fit_faces)
    methods = {}
    for w in [float(x) for x in args.weights.split(",")]:
        methods[f"mix {w}"] = lambda v, w=w: (1 - w) * generator(v) + w * ridge(v)
        methods[f"deviation {w}"] = lambda v, w=w: generator(v) + w * (ridge(v) - ridge_of_mean)
    # The correction was fitted to x - clamp(G(v)): apply it to the clamped render too.
    methods["linear correction"] = lambda v: generator(v).clamp(-1, 1) + correction(v)
    for spec in args.eval:
        name, faces, features = eval_set(spec, held)
        for method, fn in methods.items():
            result = measure(fn, identity_net, faces, features, frame=frame)
            print(f"{name} / {method}: {json.dumps(result)}", flush=True)


if __name__ == "__main__":
    main()
