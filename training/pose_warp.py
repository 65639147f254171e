"""Synthetic head turns for pose-conditioned training: UTKFace has almost no
turned faces (0.59 % of the training faces at |yaw| >= 38 degrees by fr_pose,
99th percentile 35.4), so a generator cannot learn yaw 45 from it. Each aligned,
near-frontal face is turned about a vertical axis on a cylinder-plus-nose head
model by inverse warping (torch grid_sample): a face pixel at horizontal offset
u = (x - centre) / radius sits at angle asin(u) on the cylinder; turned by theta
it appears at sin(asin(u) + theta). The nose sticks out of the cylinder (extra
depth near the centre line), so it moves further than the cheeks, as on a real
head. Source points turned out of sight are dropped; the part of the head that
would come into view was never photographed, so the head simply ends there and
the background beside it shifts with the silhouette (beyond the image edge it
repeats the edge column: black on UTKFace's padded frame). The result is
re-centred on the eyes (alignment would also rescale; this does not). Crude
next to 3D face profiling, but geometric: both the pose network and landmark
geometry read the turn (calibrated in training/README.md), up to about 30
degrees.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

CENTRE_X = 56.0  # the aligned template's face centre line (pixels, 112 wide)
RADIUS = 46.0  # the cylinder: about the jaw's half-width on aligned faces
DEPTH_RATIO = 1.0  # head depth over half-width: the cross-section is an ellipse
NOSE_DEPTH = 0.35  # extra depth of the centre line, in radii, fading out by NOSE_WIDTH
NOSE_WIDTH = 0.3
EYE_U = 0.39  # the template's eyes sit at +-18 pixels from the centre line: +-0.39 radii


def turn_faces(faces: torch.Tensor, yaw_degrees: torch.Tensor, samples: int = 225) -> torch.Tensor:
    """faces [B,3,112,112] in [-1, 1], yaw [B] in degrees -> the faces turned
    about a vertical axis, then re-centred so the midpoint of the eyes stays
    where alignment puts it. A positive angle reads as a negative yaw to the
    pose model (estimatePose's sign). Not the identity at 0 (columns snap to
    the nearest of `samples` source positions): warp only the faces to turn."""
    batch, _, height, width = faces.shape
    theta = (yaw_degrees * math.pi / 180).view(batch, 1)
    u_src = torch.linspace(-1, 1, samples, dtype=faces.dtype, device=faces.device).view(1, samples)
    # Depth towards the camera: the cylinder's surface plus a nose ridge near the centre line.
    nose = NOSE_DEPTH * (1 - (u_src / NOSE_WIDTH).abs()).clamp(min=0)
    depth = DEPTH_RATIO * torch.sqrt((1 - u_src ** 2).clamp(min=0)) + nose
    # The eyes' depth (outside the nose ridge, since EYE_U > NOSE_WIDTH): keep their midpoint in place.
    shift = DEPTH_RATIO * math.sqrt(1 - EYE_U ** 2) * torch.sin(theta)
    forward = u_src * torch.cos(theta) + depth * torch.sin(theta) - shift  # [B,S]: where each source column lands
    # A source point is hidden when a point nearer the camera lands at or beyond it: for a turn to the right
    # (theta > 0) the running maximum from the left must not exceed it; mirrored for theta < 0.
    right = (theta >= 0).view(batch, 1)
    from_left = torch.cummax(forward, dim=1).values
    from_right = torch.flip(torch.cummin(torch.flip(forward, [1]), dim=1).values, [1])
    visible = torch.where(right, forward >= from_left - 1e-6, forward <= from_right + 1e-6)
    u_out = ((torch.arange(width, dtype=faces.dtype, device=faces.device) - CENTRE_X) / RADIUS).view(1, 1, width)
    distance = (forward.unsqueeze(2) - u_out).abs() + (~visible).unsqueeze(2) * 1e3  # [B,S,W]
    source_u = u_src.view(samples).index_select(0, distance.argmin(1).flatten()).view(batch, width)
    leftmost = torch.where(visible, forward, torch.full_like(forward, 1e3)).min(1, keepdim=True).values
    rightmost = torch.where(visible, forward, torch.full_like(forward, -1e3)).max(1, keepdim=True).values
    u_line = u_out.view(1, width)
    # Beside the head the background moves with the silhouette.
    source_u = torch.where(u_line > rightmost, 1 + (u_line - rightmost), source_u)
    source_u = torch.where(u_line < leftmost, -1 + (u_line - leftmost), source_u)
    source_x = source_u * RADIUS + CENTRE_X
    grid_x = (source_x + 0.5) / width * 2 - 1
    grid_y = (torch.arange(height, dtype=faces.dtype, device=faces.device) + 0.5) / height * 2 - 1
    grid = torch.stack([grid_x.view(batch, 1, width).expand(batch, height, width),
                        grid_y.view(1, height, 1).expand(batch, height, width)], dim=-1)
    return F.grid_sample(faces, grid, mode="bilinear", padding_mode="border", align_corners=False)


def main() -> None:
    """Writes near-frontal faces (any rows of the file) turned by each angle, for
    bench/pose_readings.ts to read back (the calibration in training/README.md)."""
    import argparse

    import numpy as np

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--data", required=True, help="prepare_faces.ts output prefix with PREFIX.pose.npy")
    parser.add_argument("--angles", default="0,15,30,45,60,-45")
    parser.add_argument("--count", type=int, default=150, help="faces per angle (|yaw| < 4 by the pose model)")
    parser.add_argument("--out", required=True, help="uint8 [angles x count, 112, 112, 3] .npy")
    args = parser.parse_args()
    poses = np.load(args.data + ".pose.npy")
    faces = np.load(args.data + ".faces.npy", mmap_mode="r")
    frontal = np.where(np.abs(poses[:, 0]) < 4)[0]
    rows = frontal[np.linspace(0, len(frontal) - 1, args.count).round().astype(int)]
    source = torch.from_numpy(np.asarray(faces[rows])).permute(0, 3, 1, 2).float() / 127.5 - 1
    groups = []
    for angle in [float(a) for a in args.angles.split(",")]:
        turned = turn_faces(source, torch.full((len(rows),), angle))
        groups.append(((turned.clamp(-1, 1) + 1) * 127.5).round().byte().permute(0, 2, 3, 1).numpy())
    np.save(args.out, np.concatenate(groups))
    print(f"{len(rows)} faces x {len(groups)} angles -> {args.out}")


if __name__ == "__main__":
    main()
