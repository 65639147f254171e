"""The adversarial and robust-identity pieces of ``train.py`` (issue 20's v2
recipe): a small PatchGAN discriminator with per-patch padding masks and its
hinge losses, discriminator feature matching, and the random differentiable
views the identity term is computed on (``--id-augment``). No pretrained
weights: the discriminator starts from scratch, and nothing here reads the
judge.
"""

from __future__ import annotations

import math
from typing import List, Optional, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.nn.utils import spectral_norm


class PatchDiscriminator(nn.Module):
    """PatchGAN on [B,3,112,112] images in [-1, 1]: three 4x4 stride-2 convs
    (64, 128, 256 channels) and a 3x3 stride-1 conv (512), then a 3x3 conv
    to one logit per patch: [B,1,14,14], each patch 54 pixels of
    receptive field. Spectral norm on every conv, LeakyReLU 0.2, no
    normalisation layer (no batch statistics: real and fake batches are fed
    apart). ``forward`` returns the logits and the four hidden maps (for
    discriminator feature matching)."""

    def __init__(self, width: int = 64):
        super().__init__()
        channels = [3, width, 2 * width, 4 * width, 8 * width]
        self.blocks = nn.ModuleList()
        for index in range(4):
            stride, kernel = (2, 4) if index < 3 else (1, 3)
            self.blocks.append(spectral_norm(nn.Conv2d(channels[index], channels[index + 1], kernel, stride,
                                                       padding=1)))
        self.head = spectral_norm(nn.Conv2d(channels[-1], 1, 3, 1, padding=1))

    def forward(self, images: torch.Tensor) -> Tuple[torch.Tensor, List[torch.Tensor]]:
        maps = []
        x = images
        for block in self.blocks:
            x = F.leaky_relu(block(x), 0.2)
            maps.append(x)
        return self.head(x), maps


def patch_weights(valid: torch.Tensor, size) -> torch.Tensor:
    """valid [B,1,H,W] (1 = photo, 0 = alignment padding) -> the share of
    photo pixels under each cell of a [B,1,h,w] output grid."""
    return F.adaptive_avg_pool2d(valid.float(), size)


def weighted_mean(values: torch.Tensor, weights: Optional[torch.Tensor]) -> torch.Tensor:
    if weights is None:
        return values.mean()
    return (values * weights).sum() / weights.sum().clamp(min=1.0)


def discriminator_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor,
                       real_weights: Optional[torch.Tensor]) -> torch.Tensor:
    """Hinge loss. Real patches are weighted by their share of photo pixels,
    so a black padded frame never counts as real; fake patches all count (a
    render that paints the black band is judged on it)."""
    return weighted_mean(F.relu(1 - real_logits), real_weights) + F.relu(1 + fake_logits).mean()


def generator_loss(fake_logits: torch.Tensor) -> torch.Tensor:
    return -fake_logits.mean()


def feature_matching(fake_maps: List[torch.Tensor], real_maps: List[torch.Tensor],
                     valid: Optional[torch.Tensor]) -> torch.Tensor:
    """Discriminator feature matching of paired render and face: L1 of each
    hidden map relative to the face's mean magnitude (as train.py's identity
    feature matching), averaged over the maps, photo pixels only."""
    total = 0.0
    for fake, real in zip(fake_maps, real_maps):
        weights = None if valid is None else patch_weights(valid, fake.shape[-2:])
        difference = (fake - real).abs().mean(1, keepdim=True)
        scale = weighted_mean(real.abs().mean(1, keepdim=True), weights) + 1e-6
        total = total + weighted_mean(difference, weights) / scale
    return total / len(fake_maps)


class ViewParams:
    """One random view per image (``random_views``), drawn once so that a
    render and its face can be given the same view."""

    def __init__(self, batch: int, probability: float, generator: torch.Generator, device):
        def uniform(low: float, high: float) -> torch.Tensor:
            return low + (high - low) * torch.rand(batch, generator=generator, device=device)

        self.apply = torch.rand(batch, generator=generator, device=device) < probability
        self.scale = uniform(0.9, 1.1)
        self.shift = torch.stack([uniform(-4, 4), uniform(-4, 4)], -1)  # pixels, x and y
        self.flip = torch.rand(batch, generator=generator, device=device) < 0.5
        self.sigma = uniform(0.0, 1.0)
        self.brightness = uniform(0.9, 1.1)
        self.contrast = uniform(0.9, 1.1)
        self.saturation = uniform(0.9, 1.1)


def random_views(images: torch.Tensor, params: ViewParams) -> torch.Tensor:
    """[B,3,112,112] in [-1, 1] -> each image whose ``params.apply`` is set
    seen through a differentiable random view: scaled 0.9-1.1 about the
    centre, shifted +-4 pixels, mirrored half the time (bilinear resampling,
    edge pixels repeated), blurred by a gaussian of sigma 0-1 pixels, then
    brightness, contrast (about the image mean) and saturation (towards grey)
    each scaled by 0.9-1.1. The others pass unchanged. Gradients flow to
    ``images``: the identity term then pays only for what survives such
    views, not for fragile pixel patterns one model reads."""
    batch, _, height, width = images.shape
    device, dtype = images.device, images.dtype
    sign = torch.where(params.flip, -torch.ones_like(params.scale), torch.ones_like(params.scale))
    theta = torch.zeros(batch, 2, 3, device=device, dtype=dtype)
    # affine_grid maps output to input coordinates: zooming in by s samples a 1/s smaller window.
    theta[:, 0, 0] = sign / params.scale
    theta[:, 1, 1] = 1 / params.scale
    theta[:, 0, 2] = -params.shift[:, 0] * 2 / width
    theta[:, 1, 2] = -params.shift[:, 1] * 2 / height
    grid = F.affine_grid(theta, list(images.shape), align_corners=False)
    x = F.grid_sample(images, grid, mode="bilinear", padding_mode="border", align_corners=False)
    # Per-image separable gaussian blur (radius 3), sigma 0 -> the identity kernel.
    radius = 3
    offsets = torch.arange(-radius, radius + 1, device=device, dtype=dtype)
    sigma = params.sigma.clamp(min=1e-3).view(batch, 1)
    kernel = torch.exp(-offsets.view(1, -1) ** 2 / (2 * sigma ** 2))
    kernel = (kernel / kernel.sum(1, keepdim=True)).repeat_interleave(3, 0)  # [B*3, 7]
    flat = x.reshape(1, batch * 3, height, width)
    flat = F.conv2d(F.pad(flat, (radius, radius, 0, 0), mode="replicate"), kernel.view(-1, 1, 1, 2 * radius + 1),
                    groups=batch * 3)
    flat = F.conv2d(F.pad(flat, (0, 0, radius, radius), mode="replicate"), kernel.view(-1, 1, 2 * radius + 1, 1),
                    groups=batch * 3)
    x = flat.view(batch, 3, height, width)
    x = (x + 1) / 2
    x = x * params.brightness.view(-1, 1, 1, 1)
    mean = x.mean((1, 2, 3), keepdim=True)
    x = mean + params.contrast.view(-1, 1, 1, 1) * (x - mean)
    grey = (x * torch.tensor([0.299, 0.587, 0.114], device=device, dtype=dtype).view(1, 3, 1, 1)).sum(1, keepdim=True)
    x = grey + params.saturation.view(-1, 1, 1, 1) * (x - grey)
    x = x * 2 - 1
    return torch.where(params.apply.view(-1, 1, 1, 1), x, images)


def self_check() -> None:
    """The view with every parameter neutral is the identity (up to
    resampling error), and gradients reach the input."""
    generator = torch.Generator().manual_seed(0)
    images = (torch.rand(4, 3, 112, 112, generator=generator) * 2 - 1).requires_grad_(True)
    params = ViewParams(4, 1.0, generator, "cpu")
    params.scale.fill_(1.0), params.shift.zero_(), params.flip.fill_(False), params.sigma.zero_()
    params.brightness.fill_(1.0), params.contrast.fill_(1.0), params.saturation.fill_(1.0)
    same = random_views(images, params)
    assert (same - images).abs().max().item() < 1e-4, (same - images).abs().max().item()
    params.flip.fill_(True)
    flipped = random_views(images, params)
    assert (flipped - images.flip(-1)).abs().max().item() < 1e-4
    views = random_views(images, ViewParams(4, 1.0, generator, "cpu"))
    views.sum().backward()
    assert images.grad is not None and images.grad.abs().sum().item() > 0
    logits, maps = PatchDiscriminator()(images)
    assert logits.shape == (4, 1, 14, 14), logits.shape
    assert not math.isnan(discriminator_loss(logits, logits, torch.ones_like(logits)).item())
    print("adversarial.py: OK")


if __name__ == "__main__":
    self_check()
