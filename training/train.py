"""Trains a Vec2Face generator config on aligned faces and their identity
features (``tools/prepare_faces.ts`` output), on CPU, resumable.

    /usr/bin/python3 training/train.py --data /path/utk --identity fr_feature.onnx \
        --config small --out runs/small [--minutes 120] [--batch 16]

Writes ``OUT/last.pt`` (model, EMA, optimiser, step) every few minutes and
at the end, ``OUT/split.json`` (held-out rows: the same every run, seed 0),
and ``OUT/log.jsonl`` (losses, images/s, held-out metrics). Run it again
with the same --out to continue.

Losses (weights by flag):
  * L1 between the render and the aligned face (main term);
  * feature matching: L1 between the identity network's intermediate maps of
    render and face at several depths (a perceptual term without VGG weights);
  * identity: 1 - cosine(identity(render), v), small weight (a large one
    teaches the generator patterns that fool the identity model).
Masks at training time are Vec2Face's: ratio ~ truncnorm(min 0.5, mu 0.75,
std 0.25, max 1), ceil(49 * ratio) tokens masked, 5 of them dropped.
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import os
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from onnx_to_torch import load as load_identity, normalise  # noqa: E402
from vec2face import NUM_FEATURE_TOKENS, NUM_KEPT, CONFIGS, Vec2Face, count_parameters  # noqa: E402

HOLDOUT = 1000


def truncnorm(rng: np.random.Generator, low: float, mu: float, std: float, high: float, size: int) -> np.ndarray:
    out = np.empty(size)
    for i in range(size):
        while True:
            value = rng.normal(mu, std)
            if low <= value <= high:
                out[i] = value
                break
    return out


def training_masks(rng: np.random.Generator, batch: int, ratio=(0.5, 0.75, 0.25, 1.0)):
    """masked f32 [B,50], kept i64 [B,45] as in Vec2Face training (ratio is
    truncnorm min, mu, std, max; inference_masks uses the sampling ratio)."""
    ratios = truncnorm(rng, *ratio, batch)
    masked = np.zeros((batch, NUM_FEATURE_TOKENS + 1), np.float32)
    kept = np.zeros((batch, NUM_KEPT), np.int64)
    for b, ratio in enumerate(ratios):
        count = int(math.ceil(NUM_FEATURE_TOKENS * ratio))
        order = rng.permutation(NUM_FEATURE_TOKENS) + 1
        chosen = order[:count]
        masked[b, chosen] = 1.0
        dropped = set(chosen[:5].tolist())
        kept[b] = [p for p in range(NUM_FEATURE_TOKENS + 1) if p not in dropped]
    return torch.from_numpy(masked), torch.from_numpy(kept)


def inference_masks(batch: int, seed: int = 0):
    """Masks as the runtime draws them (ratio truncnorm min 0.1, mu 0.15, std
    0.25, max 1), from a fixed seed: evaluation sees what users render."""
    return training_masks(np.random.default_rng(seed), batch, (0.1, 0.15, 0.25, 1.0))


def split_rows(count: int):
    order = np.random.default_rng(0).permutation(count)
    return np.sort(order[HOLDOUT:]), np.sort(order[:HOLDOUT])


def to_tensor(faces: np.ndarray) -> torch.Tensor:
    """uint8 [B,112,112,3] -> float [B,3,112,112] in [-1, 1]."""
    return torch.from_numpy(faces.astype(np.float32)).permute(0, 3, 1, 2) / 127.5 - 1.0


def ridge_init(model: Vec2Face, faces, features: np.ndarray, rows: np.ndarray, lam: float = 10.0) -> None:
    """pixel_skip := ridge regression from identity vectors to the faces'
    box-downsampled pixels, centred: the decoder keeps supplying the mean face."""
    side = model.cfg.pixel_skip
    factor = 112 // side
    x = features[rows].astype(np.float64)
    x_mean = x.mean(0)
    xc = x - x_mean
    targets = np.zeros((len(rows), 3 * side * side))
    for start in range(0, len(rows), 2000):
        chunk = np.asarray(faces[rows[start:start + 2000]]).astype(np.float64) / 127.5 - 1
        chunk = chunk.reshape(-1, side, factor, side, factor, 3).mean((2, 4)).transpose(0, 3, 1, 2)
        targets[start:start + 2000] = chunk.reshape(len(chunk), -1)
    targets -= targets.mean(0)
    weights = np.linalg.solve(xc.T @ xc + lam * np.eye(x.shape[1]), xc.T @ targets)  # [512, 3*s*s]
    with torch.no_grad():
        model.pixel_skip.weight.copy_(torch.from_numpy(weights.T.astype(np.float32)))
        model.pixel_skip.bias.copy_(torch.from_numpy((-x_mean @ weights).astype(np.float32)))
    residual = np.abs(targets - xc @ weights).mean()
    print(f"ridge init of pixel_skip ({side}x{side}, lambda {lam}): training L1 of the centred fit {residual:.4f}",
          flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", required=True, help="prepare_faces.ts output prefix")
    parser.add_argument("--identity", required=True, help="fr_feature.onnx (the pack's identity model)")
    parser.add_argument("--config", default="small", choices=sorted(CONFIGS))
    parser.add_argument("--out", required=True)
    parser.add_argument("--minutes", type=float, default=120.0)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--lr", type=float, default=5e-4)
    parser.add_argument("--fm-weight", type=float, default=0.5)
    parser.add_argument("--id-weight", type=float, default=0.1)
    parser.add_argument("--loss-every", type=int, default=1, help="identity/FM terms every k steps")
    parser.add_argument("--loss-share", type=int, default=8, help="images of a batch that get the identity/FM terms")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--checkpoint-minutes", type=float, default=5.0)
    parser.add_argument("--init", help="warm start from another run's checkpoint (missing layers keep their init)")
    parser.add_argument("--pose", help="head-pose labels [N,3] (tools/label_poses.ts) for configs with pose inputs; "
                        "default PREFIX.pose.npy")
    parser.add_argument("--pose-balance", type=float, default=0.5,
                        help="share of each batch drawn evenly over |yaw| bins of 5 degrees (rare poses oversampled)")
    parser.add_argument("--flip", type=float, default=0.5,
                        help="probability of mirroring a face (yaw negated, identity vector re-embedded)")
    parser.add_argument("--pose-lr-scale", type=float, default=10.0, help="learning-rate factor of the pose layers")
    parser.add_argument("--ssim-weight", type=float, default=0.0, help="weight of a 1 - SSIM term")
    parser.add_argument("--ridge-init", action="store_true",
                        help="set the pixel_skip layer to the closed-form ridge from identity to downsampled faces")
    args = parser.parse_args()

    from evaluate import ssim  # here: evaluate imports this module

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    os.makedirs(args.out, exist_ok=True)
    faces = np.load(args.data + ".faces.npy", mmap_mode="r")
    features = np.load(args.data + ".features.npy").astype(np.float32)
    train_rows, held_rows = split_rows(len(faces))
    with open(os.path.join(args.out, "split.json"), "w") as f:
        json.dump({"data": os.path.abspath(args.data), "count": len(faces), "holdout": held_rows.tolist()}, f)

    model = Vec2Face(CONFIGS[args.config])
    poses = None
    if model.cfg.pose_inputs:
        poses = np.load(args.pose or args.data + ".pose.npy").astype(np.float32)
        if len(poses) != len(faces):
            raise SystemExit(f"Cannot train with {len(poses)} pose labels for {len(faces)} faces")
        # Row weights: half uniform, half even over |yaw| bins, so that turned faces (2 % beyond 30 degrees) are seen.
        bins = np.minimum((np.abs(poses[train_rows, 0]) // 5).astype(int), 12)
        counts = np.bincount(bins, minlength=13).astype(np.float64)
        even = 1.0 / (np.maximum(counts[bins], 20) * np.count_nonzero(counts))
        row_weights = (1 - args.pose_balance) / len(train_rows) + args.pose_balance * even / even.sum()
        row_weights /= row_weights.sum()
    ema = copy.deepcopy(model).requires_grad_(False)
    identity_net = load_identity(args.identity)
    # New pose layers start at zero on a trained model: let them move faster than the rest.
    pose_params = [p for name, p in model.named_parameters() if name.startswith("pose_")]
    other_params = [p for name, p in model.named_parameters() if not name.startswith("pose_")]
    groups = [{"params": other_params}]
    if pose_params:
        groups.append({"params": pose_params, "lr": args.lr * args.pose_lr_scale})
    optimiser = torch.optim.AdamW(groups, lr=args.lr, betas=(0.9, 0.99), weight_decay=0.01)
    step = 0
    last = os.path.join(args.out, "last.pt")
    if os.path.exists(last):
        state = torch.load(last)
        model.load_state_dict(state["model"])
        ema.load_state_dict(state["ema"])
        optimiser.load_state_dict(state["optimiser"])
        step = state["step"]
        print(f"resumed at step {step}", flush=True)
    else:
        if args.init:
            state = torch.load(args.init)
            weights = {k: v.float() if v.is_floating_point() else v for k, v in state["ema"].items()}
            missing, unexpected = model.load_state_dict(weights, strict=False)
            if unexpected:
                raise SystemExit(f"Cannot warm start from {args.init}: unexpected layers {unexpected}")
            print(f"warm start from {args.init} (step {state['step']}); new layers: {missing}", flush=True)
        if args.ridge_init:
            ridge_init(model, faces, features, train_rows)
        ema.load_state_dict(model.state_dict())
    print(f"config {args.config}: {count_parameters(model) / 1e6:.2f}M parameters; "
          f"{len(train_rows)} training faces, {len(held_rows)} held out", flush=True)

    taps = identity_net.conv_outputs[2:40:6]  # feature maps at several depths
    rng = np.random.default_rng(step + 1)
    held = held_rows[:64]
    held_faces = to_tensor(np.asarray(faces[held]))
    held_features = torch.from_numpy(features[held])

    def save() -> None:
        torch.save({"model": model.state_dict(), "ema": ema.state_dict(), "optimiser": optimiser.state_dict(),
                    "step": step, "config": args.config}, last + ".tmp")
        os.replace(last + ".tmp", last)

    def evaluate() -> dict:
        with torch.no_grad():
            render = ema(held_features, *inference_masks(len(held)))
            l1 = (render - held_faces).abs().mean().item()
            fidelity = F.cosine_similarity(identity_net(normalise(render.clamp(-1, 1))), held_features).mean().item()
            flat = render.flatten(1)
            diversity = torch.cdist(flat, flat, p=1).mean().item() / flat.shape[1]
        return {"held_l1": round(l1, 4), "held_fidelity": round(fidelity, 4), "held_diversity": round(diversity, 4)}

    log = open(os.path.join(args.out, "log.jsonl"), "a")
    started = time.time()
    last_save = started
    window = {"l1": 0.0, "fm": 0.0, "id": 0.0, "n": 0, "images": 0, "t": time.time()}
    model.train()
    while time.time() - started < args.minutes * 60:
        pose = None
        if poses is None:
            rows = np.sort(rng.choice(train_rows, args.batch, replace=False))
        else:
            rows = rng.choice(train_rows, args.batch, replace=True, p=row_weights)
        target = to_tensor(np.asarray(faces[rows]))
        vectors = torch.from_numpy(features[rows])
        if poses is not None:
            pose = torch.from_numpy(poses[rows, :2].copy())
            flip = torch.from_numpy(rng.random(args.batch) < args.flip)
            if flip.any():
                target[flip] = target[flip].flip(-1)
                pose[flip, 0] = -pose[flip, 0]
                with torch.no_grad():
                    vectors = vectors.clone()
                    vectors[flip] = identity_net(normalise(target[flip]))
        masked, kept = training_masks(rng, args.batch)
        render = model(vectors, masked, kept, pose)
        l1 = (render - target).abs().mean()
        loss = l1
        if args.ssim_weight:
            loss = loss + args.ssim_weight * (1 - ssim(render, target)).mean()
        fm_value = id_value = 0.0
        if args.fm_weight + args.id_weight > 0 and step % args.loss_every == 0:
            share = min(args.loss_share, args.batch)
            fake_out, fake_maps = identity_net(normalise(render[:share]), taps)
            with torch.no_grad():
                _, real_maps = identity_net(normalise(target[:share]), taps)
            fm = sum((a - b).abs().mean() / (b.abs().mean() + 1e-6) for a, b in zip(fake_maps, real_maps)) / len(taps)
            identity_term = (1 - F.cosine_similarity(fake_out, vectors[:share])).mean()
            loss = loss + args.fm_weight * fm + args.id_weight * identity_term
            fm_value, id_value = fm.item(), identity_term.item()
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimiser.step()
        step += 1
        with torch.no_grad():
            decay = min(0.999, (1 + step) / (10 + step))
            for p_ema, p in zip(ema.parameters(), model.parameters()):
                p_ema.mul_(decay).add_(p.detach(), alpha=1 - decay)
        window["l1"] += l1.item()
        window["fm"] += fm_value
        window["id"] += id_value
        window["n"] += 1
        window["images"] += args.batch
        if step % 50 == 0:
            now = time.time()
            record = {"step": step, "minutes": round((now - started) / 60, 2),
                      "l1": round(window["l1"] / window["n"], 4), "fm": round(window["fm"] / window["n"], 4),
                      "id": round(window["id"] / window["n"], 4),
                      "images_per_s": round(window["images"] / (now - window["t"]), 2)}
            if step % 500 == 0:
                record.update(evaluate())
            print(json.dumps(record), flush=True)
            log.write(json.dumps(record) + "\n")
            log.flush()
            window = {"l1": 0.0, "fm": 0.0, "id": 0.0, "n": 0, "images": 0, "t": time.time()}
        if time.time() - last_save > args.checkpoint_minutes * 60:
            save()
            last_save = time.time()
    save()
    print(json.dumps({"done": step, **evaluate()}), flush=True)


if __name__ == "__main__":
    main()
