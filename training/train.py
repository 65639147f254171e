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
  * adversarial (``--adv-weight``, issue 20's v2 recipe, ``adversarial.py``): a
    PatchGAN discriminator trained from scratch alongside (hinge loss), plus
    discriminator feature matching (``--dfm-weight``); alignment padding is
    masked out of the real patches, and with ``--mask-padding`` out of the
    pixel terms too. ``--id-augment`` computes the identity and feature-
    matching terms on random views of render and face.
Masks at training time are Vec2Face's: ratio ~ truncnorm(min 0.5, mu 0.75,
std 0.25, max 1), ceil(49 * ratio) tokens masked, 5 of them dropped.
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import os
import pickle
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from onnx_to_torch import load as load_identity, normalise  # noqa: E402
from pose_warp import turn_faces  # noqa: E402
from vec2face import NUM_FEATURE_TOKENS, NUM_KEPT, CONFIGS, Vec2Face, count_parameters  # noqa: E402
from common import inference_masks, ssim, to_tensor  # noqa: E402
from adversarial import (PatchDiscriminator, ViewParams, discriminator_loss, feature_matching,  # noqa: E402
                         generator_loss, patch_weights, random_views)

HOLDOUT = 1000

FRONTAL_YAW = 10.0  # --turn-share turns only faces labelled within this of frontal (degrees)


def training_masks_torch(generator: torch.Generator, batch: int, device, ratio=(0.5, 0.75, 0.25, 1.0)):
    """common.training_masks drawn with torch on the training device (same
    distribution, another random stream): no Python loop per image."""
    low, mu, std, high = ratio
    ratios = torch.empty(0, device=device)
    while len(ratios) < batch:
        draws = torch.randn(4 * batch, generator=generator, device=device) * std + mu
        ratios = torch.cat([ratios, draws[(draws >= low) & (draws <= high)]])
    counts = torch.ceil(NUM_FEATURE_TOKENS * ratios[:batch] - 1e-6).long()
    order = torch.argsort(torch.rand(batch, NUM_FEATURE_TOKENS, generator=generator, device=device), 1) + 1
    chosen = torch.arange(NUM_FEATURE_TOKENS, device=device)[None] < counts[:, None]
    masked = torch.zeros(batch, NUM_FEATURE_TOKENS + 1, device=device)
    masked.scatter_(1, order, chosen.float())
    keep = torch.ones(batch, NUM_FEATURE_TOKENS + 1, dtype=torch.bool, device=device)
    keep.scatter_(1, order[:, :5], False)
    kept = keep.nonzero()[:, 1].view(batch, NUM_KEPT)
    return masked, kept


def torch_load(path: str, device) -> dict:
    """Our own checkpoints (tensors, ints, strings); torch >= 2.6 loads
    weights only by default, torch 1.13 knows the flag too, but its weights-only
    unpickler has no floats (an optimiser's learning rate): there, and only
    for these files, this falls back to a full load."""
    try:
        return torch.load(path, map_location=device, weights_only=True)
    except pickle.UnpicklingError:
        if int(torch.__version__.split(".")[0]) >= 2:
            raise
        return torch.load(path, map_location=device)


def split_rows(count: int):
    order = np.random.default_rng(0).permutation(count)
    return np.sort(order[HOLDOUT:]), np.sort(order[:HOLDOUT])


def padding_masks(faces, device=torch.device("cpu"), chunk: int = 2000) -> np.ndarray:
    """bool [N, 112, 112]: where the alignment padded each face, i.e. pixels
    black in every channel (< 8) connected (8-neighbours) to the image
    border; dark hair inside the face stays face. SciPy's labelling on a CPU
    (UTKFace: ~20 s), a flood fill (``border_connected``) on a GPU."""
    if device.type == "cpu":
        from scipy import ndimage
    out = np.zeros(faces.shape[:3], bool)
    for start in range(0, len(faces), chunk):
        dark = np.asarray(faces[start:start + chunk]).max(-1) < 8
        if device.type != "cpu":
            out[start:start + chunk] = border_connected(torch.from_numpy(dark).to(device)).cpu().numpy()
            continue
        for i, image in enumerate(dark):
            labels, count = ndimage.label(image, structure=np.ones((3, 3)))
            if count:
                edge = np.unique(np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]]))
                out[start + i] = np.isin(labels, edge[edge > 0])
    return out


def border_connected(dark: torch.Tensor) -> torch.Tensor:
    """bool [N, H, W]: the pixels of ``dark`` reachable from the image border
    through dark pixels (8-neighbours), by repeated 3x3 max-pooling."""
    dark_f = dark[:, None].float()
    reached = torch.zeros_like(dark_f)
    reached[..., 0, :], reached[..., -1, :] = dark_f[..., 0, :], dark_f[..., -1, :]
    reached[..., :, 0], reached[..., :, -1] = dark_f[..., :, 0], dark_f[..., :, -1]
    while True:
        grown = F.max_pool2d(reached, 3, stride=1, padding=1) * dark_f
        if torch.equal(grown, reached):
            return reached[:, 0].bool()
        reached = grown


def random_backdrops(count: int, generator: torch.Generator, device) -> torch.Tensor:
    """[count, 3, 112, 112] in [-1, 1]: smooth random backgrounds, like an
    out-of-focus scene behind a head: a muted colour per image (pulled 70 %
    to grey) plus 4x4 fields of brightness (amplitude 0.3) and colour
    (0.08), upsampled."""
    base = torch.rand(count, 3, 1, 1, generator=generator, device=device)
    base = 0.3 * base + 0.7 * base.mean(1, keepdim=True)
    brightness = (torch.rand(count, 1, 4, 4, generator=generator, device=device) - 0.5) * 0.6
    colour = (torch.rand(count, 3, 4, 4, generator=generator, device=device) - 0.5) * 0.16
    field = F.interpolate(brightness + colour, size=(112, 112), mode="bicubic", align_corners=False)
    return (base + field).clamp(0, 1) * 2 - 1


def recoloured(images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Photometric changes of [B,3,H,W] faces in [-1, 1], one draw per face:
    gamma exp(U(-0.35, 0.35)), saturation U(0.3, 1.4) (towards grey), colour
    gains U(0.88, 1.12) per channel, contrast U(0.7, 1.3) about the face's
    mean, brightness U(-0.12, 0.12). Geometry is untouched, so the alignment
    holds; the caller recomputes the identity vector of the result."""

    def uniform(low: float, high: float, *shape: int) -> torch.Tensor:
        draw = torch.rand(len(images), *shape, generator=generator, device=images.device)
        return (low + (high - low) * draw).view(len(images), -1, 1, 1)

    x = ((images + 1) / 2).clamp(0, 1) ** torch.exp(uniform(-0.35, 0.35, 1))
    grey = (x * torch.tensor([0.299, 0.587, 0.114], device=x.device).view(1, 3, 1, 1)).sum(1, keepdim=True)
    x = grey + uniform(0.3, 1.4, 1) * (x - grey)
    x = x * uniform(0.88, 1.12, 3)
    mean = x.mean((1, 2, 3), keepdim=True)
    x = mean + uniform(0.7, 1.3, 1) * (x - mean) + uniform(-0.12, 0.12, 1)
    return x.clamp(0, 1) * 2 - 1


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
    parser.add_argument("--flip", type=float, default=None,
                        help="probability of mirroring a face (yaw negated, identity vector re-embedded); default "
                        "0.5 for configs with pose inputs, 0 otherwise")
    parser.add_argument("--turn-share", type=float, default=0.0,
                        help="probability of turning a near-frontal face (|yaw| < 10) by a synthetic head turn "
                        "(pose_warp.py; its yaw label moves by the turn, its identity vector stays): dense pose "
                        "supervision UTKFace lacks. For configs without pose inputs the turned face's identity "
                        "vector is recomputed instead (pose labels are still read, to find near-frontal faces)")
    parser.add_argument("--turn-range", type=float, default=30.0,
                        help="synthetic turns uniform in +-this (degrees; the warp reads true to about 30)")
    parser.add_argument("--pose-lr-scale", type=float, default=10.0, help="learning-rate factor of the pose layers")
    parser.add_argument("--ssim-weight", type=float, default=0.0, help="weight of a 1 - SSIM term")
    parser.add_argument("--device", default="cpu", help="torch device: cpu, or cuda on a GPU machine")
    parser.add_argument("--cosine", action="store_true",
                        help="learning rate: 200 warm-up steps, then cosine over --minutes down to 10 %%")
    parser.add_argument("--snapshots", default="",
                        help="comma-separated minutes at which to write OUT/ema_mMINUTES.pt (EMA, fp16: the "
                        "format of training/checkpoints/, for --init and export_onnx.py)")
    parser.add_argument("--snapshot-dir", help="where snapshots go (default OUT)")
    parser.add_argument("--pose-estimator", help="fr_pose.onnx: adds a pose loss (configs with pose inputs)")
    parser.add_argument("--pose-weight", type=float, default=0.0,
                        help="weight of the pose loss: images rendered at random target poses, their pose read "
                        "by fr_pose replayed in torch (smooth L1 in units of 10 degrees)")
    parser.add_argument("--pose-share", type=int, default=32, help="images of a batch rendered at random poses")
    parser.add_argument("--pose-range", type=float, default=60.0, help="target yaw uniform in +-this (degrees)")
    parser.add_argument("--spread-weight", type=float, default=0.0,
                        help="weight of a spread term: mean |D(render) - D(face)| over the batch's pairwise mean "
                        "absolute pixel distances (an L1-trained generator shrinks towards the mean face)")
    parser.add_argument("--augment", type=float, default=0.0,
                        help="share of each batch recoloured (gamma, saturation, colour cast, contrast, brightness) "
                             "with its identity vector recomputed from the recoloured face: more of the identity "
                             "model's feature space is seen with its pixels")
    parser.add_argument("--backdrop", type=float, default=0.0,
                        help="share of each batch whose padding (the black frame where the photo ended) gets a "
                             "smooth random background, identity vector recomputed: photos that had a background "
                             "there (LFW's do) should not render a black frame")
    parser.add_argument("--extra-data", action="append", default=[],
                        help="another prepare_faces.ts / pack_faces.py output prefix (e.g. CelebA) whose faces are "
                        "all training rows, appended after --data's; the held-out split stays --data's (repeatable)")
    parser.add_argument("--extra-share", type=float, default=None,
                        help="share of each batch drawn from the --extra-data rows (default: in proportion)")
    parser.add_argument("--mask-padding", action="store_true",
                        help="leave alignment padding (black pixels connected to the border, padding_masks) out of "
                        "the pixel terms (L1, SSIM, spread, feature matching): the render's frame is not taught "
                        "UTKFace's black band")
    parser.add_argument("--adv-weight", type=float, default=0.0,
                        help="weight of the adversarial term (hinge) of a PatchGAN discriminator trained alongside "
                        "on renders against the batch's faces; padded pixels are masked out of the real patches")
    parser.add_argument("--dfm-weight", type=float, default=0.0,
                        help="weight of discriminator feature matching (render against its own face, padding "
                        "masked; needs --adv-weight)")
    parser.add_argument("--d-lr", type=float, default=2e-4, help="discriminator learning rate (Adam, betas 0.5/0.99)")
    parser.add_argument("--adv-start-step", type=int, default=0,
                        help="the discriminator trains from step 0; the generator gets the adversarial and "
                        "discriminator feature-matching terms from this step on (a warm-started generator "
                        "against an untrained discriminator learns nothing useful)")
    parser.add_argument("--id-augment", type=float, default=0.0,
                        help="probability per image that the identity and feature-matching terms see render and "
                        "face through the same random differentiable view (shift +-4 px, scale 0.9-1.1, flip, "
                        "blur sigma 0-1, brightness/contrast/saturation +-10 %%); the identity target stays the "
                        "face's precomputed vector. Fragile pixel patterns that one model reads do not pay")
    parser.add_argument("--log-every", type=int, default=50)
    parser.add_argument("--ridge-init", action="store_true",
                        help="set the pixel_skip layer to the closed-form ridge from identity to downsampled faces")
    args = parser.parse_args()
    if not 0 <= args.turn_share <= 1:
        raise SystemExit(f"Cannot turn a share of the faces as {args.turn_share}: it must be in [0, 1]")
    if not 0 <= args.augment <= 1:
        raise SystemExit(f"Cannot recolour a share of the faces as {args.augment}: it must be in [0, 1]")
    if not 0 <= args.backdrop <= 1:
        raise SystemExit(f"Cannot give a backdrop to a share of the faces as {args.backdrop}: it must be in [0, 1]")
    if not 0 <= args.id_augment <= 1:
        raise SystemExit(f"Cannot augment a share of the identity views as {args.id_augment}: it must be in [0, 1]")
    if args.flip is not None and not 0 <= args.flip <= 1:
        raise SystemExit(f"Cannot mirror a share of the faces as {args.flip}: it must be in [0, 1]")
    if args.dfm_weight > 0 and args.adv_weight <= 0:
        raise SystemExit("Cannot add discriminator feature matching without a discriminator: give --adv-weight too")
    if args.extra_share is not None and (not args.extra_data or not 0 < args.extra_share < 1):
        raise SystemExit(f"Cannot draw a share {args.extra_share} of each batch from extra data: it needs "
                         "--extra-data and a share in (0, 1)")

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    device = torch.device(args.device)
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
        torch.backends.cudnn.benchmark = True
    os.makedirs(args.out, exist_ok=True)
    faces = np.load(args.data + ".faces.npy", mmap_mode="r")
    features = np.load(args.data + ".features.npy").astype(np.float32)
    main_count = len(faces)
    train_rows, held_rows = split_rows(main_count)
    with open(os.path.join(args.out, "split.json"), "w") as f:
        json.dump({"data": os.path.abspath(args.data), "count": main_count, "holdout": held_rows.tolist()}, f)
    extra_rows = np.zeros(0, np.int64)
    if args.extra_data:  # appended after --data's rows, all for training; loaded into memory
        extra_faces = [np.load(prefix + ".faces.npy") for prefix in args.extra_data]
        extra_features = [np.load(prefix + ".features.npy").astype(np.float32) for prefix in args.extra_data]
        for prefix, more, vectors in zip(args.extra_data, extra_faces, extra_features):
            if more.shape[1:] != faces.shape[1:] or len(vectors) != len(more):
                raise SystemExit(f"Cannot add {prefix}: {more.shape} faces and {vectors.shape} features against "
                                 f"{faces.shape[1:]} faces")
        faces = np.concatenate([np.asarray(faces)] + extra_faces)
        features = np.concatenate([features] + extra_features)
        extra_rows = np.arange(main_count, len(faces))
        train_rows = np.concatenate([train_rows, extra_rows])
        print(f"extra data: {len(extra_rows)} faces from {', '.join(args.extra_data)}", flush=True)

    model = Vec2Face(CONFIGS[args.config]).to(device)
    pose_inputs = model.cfg.pose_inputs
    flip_share = args.flip if args.flip is not None else (0.5 if pose_inputs else 0.0)
    poses = None
    if pose_inputs or args.turn_share > 0:  # labels: pose inputs, or which faces are near-frontal to turn
        poses = np.load(args.pose or args.data + ".pose.npy").astype(np.float32)
        if len(poses) != main_count:
            raise SystemExit(f"Cannot train with {len(poses)} pose labels for {main_count} faces")
        for prefix in args.extra_data:
            if os.path.exists(prefix + ".pose.npy"):
                more = np.load(prefix + ".pose.npy").astype(np.float32)
            elif pose_inputs:
                raise SystemExit(f"Cannot train {args.config} on {prefix}: it has no pose labels ({prefix}.pose.npy)")
            else:  # unlabelled faces are never turned
                more = np.full((len(np.load(prefix + ".features.npy", mmap_mode="r")), poses.shape[1]), np.nan,
                               np.float32)
            poses = np.concatenate([poses, more])
    if pose_inputs:
        # Row weights: half uniform, half even over |yaw| bins, so that turned faces (2 % beyond 30 degrees) are seen.
        bins = np.minimum((np.abs(poses[train_rows, 0]) // 5).astype(int), 12)
        counts = np.bincount(bins, minlength=13).astype(np.float64)
        even = 1.0 / (np.maximum(counts[bins], 20) * np.count_nonzero(counts))
        row_weights = (1 - args.pose_balance) / len(train_rows) + args.pose_balance * even / even.sum()
        row_weights /= row_weights.sum()
    ema = copy.deepcopy(model).requires_grad_(False)
    identity_net = load_identity(args.identity).to(device)
    pose_net = None
    if args.pose_weight > 0:
        if poses is None or not args.pose_estimator:
            raise SystemExit("Cannot add a pose loss as asked: it needs a config with pose inputs and --pose-estimator")
        from onnx_to_torch import PoseNet
        pose_net = PoseNet(args.pose_estimator).to(device)
    # New pose layers start at zero on a trained model: let them move faster than the rest.
    pose_params = [p for name, p in model.named_parameters() if name.startswith("pose_")]
    other_params = [p for name, p in model.named_parameters() if not name.startswith("pose_")]
    groups = [{"params": other_params}]
    if pose_params:
        groups.append({"params": pose_params, "lr": args.lr * args.pose_lr_scale})
    optimiser = torch.optim.AdamW(groups, lr=args.lr, betas=(0.9, 0.99), weight_decay=0.01)
    # Taken before a resumed optimiser's state overwrites the groups' rates with the last scheduled ones.
    base_rates = [group["lr"] for group in optimiser.param_groups]
    step = 0
    last = os.path.join(args.out, "last.pt")
    if os.path.exists(last):
        state = torch_load(last, device)
        model.load_state_dict(state["model"])
        ema.load_state_dict(state["ema"])
        optimiser.load_state_dict(state["optimiser"])
        step = state["step"]
        print(f"resumed at step {step}", flush=True)
    else:
        if args.init:
            state = torch_load(args.init, device)
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
    held_faces = to_tensor(np.asarray(faces[held])).to(device)
    held_features = torch.from_numpy(features[held]).to(device)
    # On a GPU every face and feature sits in device memory (UTKFace: 0.9 GB as uint8).
    faces_on_device = torch.from_numpy(np.asarray(faces)).to(device) if device.type == "cuda" else None
    features_on_device = torch.from_numpy(features).to(device)
    poses_on_device = torch.from_numpy(poses[:, :2].copy()).to(device) if poses is not None else None
    generator = torch.Generator(device=device).manual_seed(step + 1)
    needs_padding = args.backdrop > 0 or args.mask_padding or args.adv_weight > 0
    padding_on_device = torch.from_numpy(padding_masks(faces, device)).to(device) if needs_padding else None
    discriminator = d_optimiser = None
    if args.adv_weight > 0:
        discriminator = PatchDiscriminator().to(device)
        d_optimiser = torch.optim.Adam(discriminator.parameters(), lr=args.d_lr, betas=(0.5, 0.99))
        if os.path.exists(last) and "discriminator" in state:
            discriminator.load_state_dict(state["discriminator"])
            d_optimiser.load_state_dict(state["d_optimiser"])
            print(f"resumed the discriminator at step {step}", flush=True)
        else:
            print(f"discriminator: new, {sum(p.numel() for p in discriminator.parameters()) / 1e6:.2f}M parameters",
                  flush=True)
    snapshots = sorted(float(m) for m in args.snapshots.split(",") if m)

    def batch_faces(rows: np.ndarray) -> torch.Tensor:
        if faces_on_device is None:
            return to_tensor(np.asarray(faces[rows])).to(device)
        picked = faces_on_device[torch.from_numpy(rows).to(device)]
        return picked.permute(0, 3, 1, 2).float() / 127.5 - 1.0

    def learning_rate_factor(elapsed: float) -> float:
        if not args.cosine:
            return 1.0
        warm = min(1.0, (step + 1) / 200)
        fraction = min(1.0, elapsed / (args.minutes * 60))
        return warm * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * fraction)))

    def save() -> None:
        extra = {}
        if discriminator is not None:
            extra = {"discriminator": discriminator.state_dict(), "d_optimiser": d_optimiser.state_dict()}
        torch.save({"model": model.state_dict(), "ema": ema.state_dict(), "optimiser": optimiser.state_dict(),
                    "step": step, "config": args.config, **extra}, last + ".tmp")
        os.replace(last + ".tmp", last)

    def snapshot(minutes: float) -> None:
        half = {k: (v.half() if v.is_floating_point() else v).cpu() for k, v in ema.state_dict().items()}
        os.makedirs(args.snapshot_dir or args.out, exist_ok=True)
        path = os.path.join(args.snapshot_dir or args.out, f"ema_m{minutes:g}.pt")
        torch.save({"ema": half, "step": step, "config": args.config}, path + ".tmp")
        os.replace(path + ".tmp", path)
        print(json.dumps({"snapshot": path, "step": step, **evaluate()}), flush=True)

    def evaluate() -> dict:
        with torch.no_grad():
            masked, kept = inference_masks(len(held))
            render = ema(held_features, masked.to(device), kept.to(device))
            l1 = (render - held_faces).abs().mean().item()
            fidelity = F.cosine_similarity(identity_net(normalise(render.clamp(-1, 1))), held_features).mean().item()
            flat = render.flatten(1)
            diversity = torch.cdist(flat, flat, p=1).mean().item() / flat.shape[1]
        return {"held_l1": round(l1, 4), "held_fidelity": round(fidelity, 4), "held_diversity": round(diversity, 4)}

    log = open(os.path.join(args.out, "log.jsonl"), "a")
    started = time.time()
    last_save = started
    zero = torch.zeros((), device=device)
    logged = ["l1", "fm", "id", "pose"] + (["adv", "dfm", "d", "d_real", "d_fake"] if discriminator is not None else [])

    def new_window() -> dict:
        return {**{k: zero for k in logged}, "n": 0, "images": 0, "t": time.time()}

    window = new_window()
    model.train()
    while time.time() - started < args.minutes * 60:
        elapsed = time.time() - started
        while snapshots and elapsed >= snapshots[0] * 60:
            snapshot(snapshots.pop(0))
        for group, rate in zip(optimiser.param_groups, base_rates):
            group["lr"] = rate * learning_rate_factor(elapsed)
        pose = None
        if pose_inputs:
            rows = rng.choice(train_rows, args.batch, replace=True, p=row_weights)
        elif args.extra_share is not None:
            from_extra = int(round(args.batch * args.extra_share))
            rows = np.sort(np.concatenate([
                rng.choice(train_rows[:len(train_rows) - len(extra_rows)], args.batch - from_extra, replace=False),
                rng.choice(extra_rows, from_extra, replace=False)]))
        else:
            rows = np.sort(rng.choice(train_rows, args.batch, replace=False))
        target = batch_faces(rows)
        row_index = torch.from_numpy(rows).to(device)
        vectors = features_on_device[row_index]
        flip = turn_mask = None
        if poses is not None:
            pose = poses_on_device[row_index].clone()
        if flip_share > 0:
            flip = torch.from_numpy(rng.random(args.batch) < flip_share).to(device)
            # Whole-batch ops with fixed shapes (a subset of varying size makes cudnn re-tune every step).
            target = torch.where(flip[:, None, None, None], target.flip(-1), target)
            if pose is not None:
                pose[:, 0] = torch.where(flip, -pose[:, 0], pose[:, 0])
            with torch.no_grad():
                vectors = torch.where(flip[:, None], identity_net(normalise(target)), vectors)
        if args.turn_share > 0:
            # The same person turned: with pose inputs the vector stays, the pose input must explain the change
            # (the warp's angle reads back as minus the pose model's yaw, calibrated in training/README.md);
            # without, the turned face's vector is recomputed below. Only near-frontal faces: the warp assumes a
            # frontal head and reads true to about 30 degrees (NaN labels, unlabelled extra data, never turn).
            to_turn = torch.from_numpy(rng.random(args.batch) < args.turn_share).to(device)
            to_turn = to_turn & (pose[:, 0].abs() < FRONTAL_YAW)
            angle = torch.from_numpy(rng.uniform(-args.turn_range, args.turn_range, args.batch).astype(np.float32))
            angle = torch.where(to_turn, angle.to(device), torch.zeros_like(pose[:, 0]))
            with torch.no_grad():
                target = torch.where(to_turn[:, None, None, None], turn_faces(target, angle), target)
            pose[:, 0] = pose[:, 0] - angle
            turn_mask = to_turn
        if not pose_inputs:
            pose = None  # labels read only to pick faces to turn
        padded = None  # [B,1,H,W]: alignment padding of the batch's faces as they are now (flipped, turned)
        if padding_on_device is not None:
            padded = padding_on_device[row_index][:, None]
            if flip is not None:
                padded = torch.where(flip[:, None, None, None], padded.flip(-1), padded)
            if turn_mask is not None:  # the warp moves the padding (and repeats it past the edge): find it again
                dark = ((target + 1) * 127.5).amax(1) < 7.5
                padded = torch.where(turn_mask[:, None, None, None], border_connected(dark)[:, None], padded)
        changed = None
        if turn_mask is not None and not pose_inputs:
            changed = turn_mask
        if args.backdrop > 0:
            backdrop = torch.rand(args.batch, generator=generator, device=device) < args.backdrop
            with torch.no_grad():
                filled = torch.where(padded, random_backdrops(args.batch, generator, device), target)
                target = torch.where(backdrop[:, None, None, None], filled, target)
            padded = padded & ~backdrop[:, None, None, None]  # a backdrop is picture, not padding
            changed = backdrop if changed is None else changed | backdrop
        if args.augment > 0:
            recolour = torch.rand(args.batch, generator=generator, device=device) < args.augment
            with torch.no_grad():
                target = torch.where(recolour[:, None, None, None], recoloured(target, generator), target)
            changed = recolour if changed is None else changed | recolour
        if changed is not None:  # one identity pass for every face a data augmentation changed
            with torch.no_grad():
                vectors = torch.where(changed[:, None], identity_net(normalise(target)), vectors)
        masked, kept = training_masks_torch(generator, args.batch, device)
        render = model(vectors, masked, kept, pose)
        real = target  # the discriminator's real images: the faces as they are, padding masked by patch
        if args.mask_padding:  # the pixel terms see the render itself where the face was padded: no error there
            target = torch.where(padded, render.detach(), target)
        l1 = (render - target).abs().mean()
        loss = l1
        if args.ssim_weight:
            loss = loss + args.ssim_weight * (1 - ssim(render, target)).mean()
        if args.spread_weight:
            flat_render, flat_target = render.flatten(1), target.flatten(1)
            spread_render = (flat_render[:, None] - flat_render[None]).abs().mean(-1)
            spread_target = (flat_target[:, None] - flat_target[None]).abs().mean(-1)
            loss = loss + args.spread_weight * (spread_render - spread_target).abs().mean()
        fm_value = id_value = pose_value = zero
        if args.fm_weight + args.id_weight > 0 and step % args.loss_every == 0:
            share = min(args.loss_share, args.batch)
            seen_render, seen_target = render[:share], target[:share]
            if args.id_augment > 0:  # the same random view of render and face; the vector stays the face's
                view = ViewParams(share, args.id_augment, generator, device)
                seen_render, seen_target = random_views(seen_render, view), random_views(seen_target, view)
            fake_out, fake_maps = identity_net(normalise(seen_render), taps)
            with torch.no_grad():
                _, real_maps = identity_net(normalise(seen_target), taps)
            fm = sum((a - b).abs().mean() / (b.abs().mean() + 1e-6) for a, b in zip(fake_maps, real_maps)) / len(taps)
            identity_term = (1 - F.cosine_similarity(fake_out, vectors[:share])).mean()
            loss = loss + args.fm_weight * fm + args.id_weight * identity_term
            fm_value, id_value = fm.detach(), identity_term.detach()
        adv_value = dfm_value = zero
        valid = None if padded is None else (~padded).float()
        if discriminator is not None and step >= args.adv_start_step:
            discriminator.requires_grad_(False)
            fake_logits, fake_dmaps = discriminator(render)
            adv = generator_loss(fake_logits)
            loss = loss + args.adv_weight * adv
            adv_value = adv.detach()
            if args.dfm_weight > 0:
                with torch.no_grad():
                    _, real_dmaps = discriminator(real)
                dfm = feature_matching(fake_dmaps, real_dmaps, valid)
                loss = loss + args.dfm_weight * dfm
                dfm_value = dfm.detach()
            discriminator.requires_grad_(True)
        if pose_net is not None:
            # The same identities rendered at random target poses: fr_pose must read the target, the identity
            # network the identity (real turned faces are rare, 96 of 23,665 UTKFace faces beyond 40 degrees).
            share = min(args.pose_share, args.batch)
            wanted = torch.stack([
                (torch.rand(share, generator=generator, device=device) * 2 - 1) * args.pose_range,
                poses_on_device[torch.from_numpy(rng.choice(train_rows, share)).to(device), 1],
            ], -1)
            turned = model(vectors[:share], masked[:share], kept[:share], wanted)
            pose_term = F.smooth_l1_loss(pose_net(turned) / 10, wanted / 10)
            turned_identity = (1 - F.cosine_similarity(identity_net(normalise(turned)), vectors[:share])).mean()
            loss = loss + args.pose_weight * pose_term + args.id_weight * turned_identity
            pose_value = pose_term.detach()
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimiser.step()
        d_value = d_real_value = d_fake_value = zero
        if discriminator is not None:
            # Hinge: real patches weighted by their share of photo pixels, every fake patch counts.
            real_logits, _ = discriminator(real)
            fake_logits, _ = discriminator(render.detach())
            real_weights = None if valid is None else patch_weights(valid, real_logits.shape[-2:])
            d_loss = discriminator_loss(real_logits, fake_logits, real_weights)
            d_optimiser.zero_grad(set_to_none=True)
            d_loss.backward()
            d_optimiser.step()
            d_value, d_real_value, d_fake_value = d_loss.detach(), real_logits.detach().mean(), fake_logits.detach().mean()
        step += 1
        with torch.no_grad():
            decay = min(0.999, (1 + step) / (10 + step))
            ema_params, params = list(ema.parameters()), [p.detach() for p in model.parameters()]
            torch._foreach_mul_(ema_params, decay)
            torch._foreach_add_(ema_params, params, alpha=1 - decay)
        window["l1"] = window["l1"] + l1.detach()
        window["fm"] = window["fm"] + fm_value
        window["id"] = window["id"] + id_value
        window["pose"] = window["pose"] + pose_value
        if discriminator is not None:
            for key, value in (("adv", adv_value), ("dfm", dfm_value), ("d", d_value), ("d_real", d_real_value),
                               ("d_fake", d_fake_value)):
                window[key] = window[key] + value
        window["n"] += 1
        window["images"] += args.batch
        if step % args.log_every == 0:
            now = time.time()
            record = {"step": step, "minutes": round((now - started) / 60, 2),
                      "lr": round(optimiser.param_groups[0]["lr"], 7),
                      **{k: round(window[k].item() / window["n"], 4) for k in logged},
                      "images_per_s": round(window["images"] / (now - window["t"]), 2)}
            if step % (10 * args.log_every) == 0:
                record.update(evaluate())
            print(json.dumps(record), flush=True)
            log.write(json.dumps(record) + "\n")
            log.flush()
            window = new_window()
        if time.time() - last_save > args.checkpoint_minutes * 60:
            save()
            last_save = time.time()
    for minutes in snapshots:  # a snapshot asked for at or after the end
        snapshot(minutes)
    save()
    print(json.dumps({"done": step, **evaluate()}), flush=True)


if __name__ == "__main__":
    main()
