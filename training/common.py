"""Pieces shared by train.py, evaluate.py and the other training scripts:
token masks as Vec2Face trains and as the runtime samples, faces to tensors,
and SSIM. Imports nothing from the other scripts, so none of them imports
another only for these (train.py and evaluate.py used to import each other)."""

from __future__ import annotations

import math
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from vec2face import NUM_FEATURE_TOKENS, NUM_KEPT  # noqa: E402


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


INFERENCE_RATIO = (0.1, 0.15, 0.25, 1.0)  # the runtime's mask ratio: truncnorm min, mu, std, max


def inference_masks(batch: int, seed: int = 0, ratio=INFERENCE_RATIO):
    """Masks as the runtime draws them (or from another ratio distribution),
    from a fixed seed: evaluation sees what users render."""
    return training_masks(np.random.default_rng(seed), batch, ratio)


def to_tensor(faces: np.ndarray) -> torch.Tensor:
    """uint8 [B,112,112,3] -> float [B,3,112,112] in [-1, 1]."""
    return torch.from_numpy(faces.astype(np.float32)).permute(0, 3, 1, 2) / 127.5 - 1.0


def gaussian_window(size: int = 11, sigma: float = 1.5) -> torch.Tensor:
    coords = torch.arange(size, dtype=torch.float32) - size // 2
    g = torch.exp(-(coords ** 2) / (2 * sigma ** 2))
    g = g / g.sum()
    return (g[:, None] * g[None, :])[None, None]


def ssim(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Per-image SSIM of [-1, 1] RGB batches, on luma in [0, 1]."""
    weights = torch.tensor([0.299, 0.587, 0.114], device=a.device).view(1, 3, 1, 1)
    x = ((a.clamp(-1, 1) + 1) / 2 * weights).sum(1, keepdim=True)
    y = ((b.clamp(-1, 1) + 1) / 2 * weights).sum(1, keepdim=True)
    w = gaussian_window().to(a.device)
    mu_x, mu_y = F.conv2d(x, w), F.conv2d(y, w)
    sxx = F.conv2d(x * x, w) - mu_x ** 2
    syy = F.conv2d(y * y, w) - mu_y ** 2
    sxy = F.conv2d(x * y, w) - mu_x * mu_y
    c1, c2 = 0.01 ** 2, 0.03 ** 2
    value = ((2 * mu_x * mu_y + c1) * (2 * sxy + c2)) / ((mu_x ** 2 + mu_y ** 2 + c1) * (sxx + syy + c2))
    return value.flatten(1).mean(1)
