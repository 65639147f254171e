"""Build the test fixture pack in models/fixture/ (random weights, not fitted).

Writes
  models/fixture/generator.onnx   Vec2Face config `tiny`, random init (seed 0),
                                  ONNX opset 17, fp32, dynamic batch "batch".
  models/fixture/prior.npy        synthetic identity prior (see layout below).
  models/fixture/reference.json   torch outputs for the runtime's parity test.

prior.npy layout: little-endian float32 ('<f4'), C order, shape [514, 512]
  row 0        mean identity vector mu (here: random, L2 norm 0.5)
  row 1        eigenvalues lambda_1..lambda_512, descending, positive
               (here: lambda_i = c * i^-1.0, c chosen so that a sample has
               L2 norm ~3.5 on average)
  rows 2..513  eigenvectors u_1..u_512 as ROWS (orthonormal; row 2+i belongs
               to lambda_{i+1}); here from the QR of a seeded Gaussian matrix.
  A sample is   v = mu + sum_i sqrt(lambda_i) * z_i * u_i,  z_i ~ N(0, 1).

ONNX contract: forward(identity, masked, kept) -> image
  identity f32 [B,512]; masked f32 [B,50] (1 = token replaced by the projected
  identity, position 0 always 0); kept i64 [B,45] (sorted kept positions,
  always containing 0); image f32 [B,3,112,112] RGB, nominally [-1, 1].

Usage: /usr/bin/python3 training/make_fixture_pack.py [out_dir]
Deterministic: running it twice gives byte-identical files.
"""

from __future__ import annotations

import os
import sys

import numpy as np
import torch
import torch.nn as nn

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from export_onnx import export_onnx, make_masks, reference, sha256, write_json  # noqa: E402
from vec2face import IDENTITY_DIM, NUM_POSITIONS, build  # noqa: E402

OUT_DIR = os.path.join(HERE, "..", "models", "fixture")
MAX_ONNX_BYTES = 2 * 1024 * 1024
PRIOR_MEAN_NORM = 0.5
PRIOR_TARGET_NORM = 3.5


# ---------------------------------------------------------------- prior


def make_prior(seed: int = 1234) -> np.ndarray:
    rng = np.random.default_rng(seed)
    d = IDENTITY_DIM
    mean = rng.standard_normal(d)
    mean *= PRIOR_MEAN_NORM / np.linalg.norm(mean)
    q, r = np.linalg.qr(rng.standard_normal((d, d)))
    q = q * np.sign(np.diag(r))[None, :]  # unique QR (positive diag of R)
    vecs = q.T  # eigenvectors as rows
    shape = np.arange(1, d + 1, dtype=np.float64) ** -1.0
    # choose c so that E||v|| ~= target, using a fixed set of samples
    z = np.random.default_rng(seed + 1).standard_normal((4096, d))

    def mean_norm(c: float) -> float:
        v = mean + (np.sqrt(c * shape) * z) @ vecs
        return float(np.linalg.norm(v, axis=1).mean())

    c = (PRIOR_TARGET_NORM**2 - PRIOR_MEAN_NORM**2) / shape.sum()
    for _ in range(20):  # fixed-point refinement; converges in a few steps
        c *= (PRIOR_TARGET_NORM / mean_norm(c)) ** 2
    prior = np.empty((d + 2, d), dtype="<f4")
    prior[0] = mean
    prior[1] = c * shape
    prior[2:] = vecs
    return np.ascontiguousarray(prior)


def sample_prior(prior: np.ndarray, n: int, seed: int) -> np.ndarray:
    p = prior.astype(np.float64)
    z = np.random.default_rng(seed).standard_normal((n, p.shape[1]))
    v = p[0] + (np.sqrt(p[1]) * z) @ p[2:]
    return v.astype(np.float32)


# ---------------------------------------------------------------- masks


# ---------------------------------------------------------------- model


def init_fixture(model: nn.Module) -> None:
    """Random init that gives a non-degenerate image (the official init makes all
    49 feature tokens +-LayerNorm(e), i.e. spatially flat)."""
    torch.manual_seed(0)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.Linear):
                nn.init.xavier_uniform_(m.weight)
                nn.init.normal_(m.bias, std=0.02)
            elif isinstance(m, (nn.LayerNorm, nn.GroupNorm)):
                nn.init.normal_(m.weight, mean=1.0, std=0.1)
                nn.init.normal_(m.bias, std=0.1)
            elif isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, nonlinearity="linear")
                if m.bias is not None:
                    nn.init.normal_(m.bias, std=0.05)
        # spatial structure: distinct per-token affine maps and positions
        nn.init.normal_(model.feature_token.weight, std=1.0)
        nn.init.normal_(model.feature_token.bias, std=1.0)
        nn.init.normal_(model.token_emb.position_embeddings.weight, std=0.2)
        nn.init.normal_(model.decoder_pos_embed_learned, std=0.2)
        # identity-driven: |identity| ~3.5 -> e has std ~1 per channel
        nn.init.normal_(model.latent_prior_proj_f.weight, std=1.0 / 3.5)


def calibrate_output(model, identity, masked, kept, quantile=0.98):
    """Rescale conv_out per channel so the image is centred at 0 and the given
    quantile of |value| is 1, i.e. ~98% of the values lie in [-1, 1]."""
    with torch.no_grad():
        y = model(identity, masked, kept).transpose(0, 1).reshape(3, -1)
        mu = y.mean(dim=1)
        q = torch.quantile((y - mu[:, None]).abs(), quantile, dim=1)
        conv = model.im_decoder.conv_out
        scale = 1.0 / q
        conv.weight.mul_(scale[:, None, None, None])
        conv.bias.copy_((conv.bias - mu) * scale)


def reference_forward(model, identity, masked, kept):
    """Independent re-statement of the official forward (boolean indexing),
    used to check the gather/scatter formulation of Vec2Face.forward."""
    b = identity.shape[0]
    e = model.latent_prior_proj_f(identity)
    feat = model.feature_token(e.unsqueeze(-1)).permute(0, 2, 1).clone()
    all_mask = masked[:, 1:].bool()
    feat[all_mask] = e.unsqueeze(1).expand(-1, feat.shape[1], -1)[all_mask]
    tokens = torch.cat([e.unsqueeze(1), feat], dim=1)
    x = model.token_emb(tokens)
    keep = torch.zeros(b, NUM_POSITIONS)
    keep.scatter_(1, kept, 1.0)
    x = x[keep.nonzero(as_tuple=True)].reshape(b, -1, x.shape[-1])
    for blk in model.blocks:
        x = blk(x)
    x = model.norm(x)
    x = model.decoder_embed(x)
    pad = x[:, 0:1].repeat(1, NUM_POSITIONS, 1)
    xp = pad.clone()
    xp[keep.nonzero(as_tuple=True)] = x.reshape(-1, x.shape[-1])
    xp = torch.where(masked.unsqueeze(-1).bool(), pad, xp)
    x = xp + model.decoder_pos_embed_learned
    for blk in model.decoder_blocks:
        x = blk(x)
    x = model.decoder_norm(x)
    z = model.im_decoder_proj(x[:, 1:].reshape(b, 7, 7, -1)).permute(0, 3, 1, 2)
    return model.im_decoder(z)


def main():
    out_dir = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else OUT_DIR)
    os.makedirs(out_dir, exist_ok=True)
    torch.use_deterministic_algorithms(True)
    torch.set_num_threads(1)

    # ---- prior
    prior = make_prior()
    vecs = prior[2:].astype(np.float64)
    assert np.abs(vecs @ vecs.T - np.eye(IDENTITY_DIM)).max() < 1e-5
    assert np.all(np.diff(prior[1]) < 0) and np.all(prior[1] > 0)
    norms = np.linalg.norm(sample_prior(prior, 2000, 99), axis=1)
    print(f"prior: c={prior[1][0]:.4f} |mean|={np.linalg.norm(prior[0]):.3f} "
          f"sample |v| mean={norms.mean():.3f} std={norms.std():.3f}")
    prior_path = os.path.join(out_dir, "prior.npy")
    np.save(prior_path, prior)

    # ---- model
    torch.manual_seed(0)
    model = build("tiny").eval()
    init_fixture(model)
    rng = np.random.default_rng(7)
    cal_id = torch.from_numpy(sample_prior(prior, 16, 11))
    cal = [make_masks(rng, int(k)) for k in rng.integers(5, 25, size=16)]
    cal_masked = torch.from_numpy(np.stack([c[0] for c in cal]))
    cal_kept = torch.from_numpy(np.stack([c[1] for c in cal]))
    calibrate_output(model, cal_id, cal_masked, cal_kept)

    with torch.no_grad():
        y = model(cal_id, cal_masked, cal_kept)
        y_ref = reference_forward(model, cal_id, cal_masked, cal_kept)
        err = (y - y_ref).abs().max().item()
        assert err < 1e-5, f"gather/scatter forward differs from reference: {err}"
        # variation across identities (same masks) and across masks (same identity)
        ids4 = torch.from_numpy(sample_prior(prior, 4, 21))
        m0, k0 = make_masks(np.random.default_rng(3), 5)
        same_mask = model(ids4, torch.from_numpy(np.stack([m0] * 4)),
                          torch.from_numpy(np.stack([k0] * 4)))
        id_std = same_mask.std(dim=0).mean().item()
        mk = [make_masks(np.random.default_rng(30 + i), 12) for i in range(4)]
        same_id = model(ids4[:1].repeat(4, 1), torch.from_numpy(np.stack([m[0] for m in mk])),
                        torch.from_numpy(np.stack([m[1] for m in mk])))
        mask_std = same_id.std(dim=0).mean().item()
    print(f"image: mean={y.mean():.3f} std={y.std():.3f} min={y.min():.3f} max={y.max():.3f} "
          f"frac |y|<=1: {(y.abs() <= 1).float().mean():.3f}")
    print(f"per-pixel std across 4 identities: {id_std:.3f}; across 4 masks: {mask_std:.3f}")
    assert id_std > 0.05 and mask_std > 0.05, "fixture output is degenerate"

    # ---- ONNX
    data = export_onnx(model, (cal_id[:2], cal_masked[:2], cal_kept[:2]))
    assert len(data) <= MAX_ONNX_BYTES, f"generator.onnx too large: {len(data)}"
    onnx_path = os.path.join(out_dir, "generator.onnx")
    with open(onnx_path, "wb") as f:
        f.write(data)
    try:
        import onnxruntime as ort  # optional

        sess = ort.InferenceSession(data, providers=["CPUExecutionProvider"])
        (o,) = sess.run(None, {"identity": cal_id.numpy(), "masked": cal_masked.numpy(),
                                "kept": cal_kept.numpy()})
        print(f"onnxruntime max abs diff vs torch: {np.abs(o - y.numpy()).max():.2e}")
    except ImportError:
        pass

    # ---- reference.json
    ref = reference(model, data, prior,
                    "torch outputs of models/fixture/generator.onnx (config tiny); "
                    "pixels are [c, y, x, value] of image[c, y, x]; std is the population std "
                    "over all 3*112*112 values; made by training/make_fixture_pack.py")
    ref_path = os.path.join(out_dir, "reference.json")
    write_json(ref_path, ref)

    for p in (onnx_path, prior_path, ref_path):
        with open(p, "rb") as f:
            b = f.read()
        print(f"{os.path.relpath(p)}  {len(b)} bytes  sha256 {sha256(b)}")


if __name__ == "__main__":
    main()
