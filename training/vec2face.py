"""Vec2Face generator (PyTorch), sized by a config.

The parameter names and shapes of config ``base`` match the official
checkpoint (``checkpoint['model_vec2face']`` of ``vec2face_generator.pth``,
model ``vec2face_vit_base_patch16``); see
/work/shared/reference/official-vec2face-base.keys.tsv and
``training/check_keys.py``.

Forward pass (inference, deterministic masks supplied by the caller):

    identity [B,512] --latent_prior_proj_f--> e [B,D]
    feature_token (Linear 1->49) applied to every channel of e -> 49 tokens [B,49,D]
    tokens = [e, tok_1..tok_49]                       (50 positions)
    positions where masked == 1 are replaced by e     (position 0 is e anyway)
    token_emb: + learned positions (50), LayerNorm(eps 1e-6), dropout (eval: no-op)
    keep the 45 positions listed in `kept` (gather)   -> encoder blocks -> norm
    decoder_embed; every one of 50 positions starts as token 0's output;
    kept outputs are scattered back to their positions; masked positions are
    set to token 0's output again; + decoder_pos_embed_learned
    decoder blocks -> decoder_norm -> tokens 1..49 as 7x7 -> im_decoder_proj
    -> conv decoder (VQGAN decoder without quantiser) -> image [B,3,112,112]

ONNX contract (see training/README.md): inputs ``identity`` f32 [B,512],
``masked`` f32 [B,50], ``kept`` i64 [B,45]; output ``image`` f32 [B,3,112,112].
"""

from __future__ import annotations

import dataclasses

from dataclasses import dataclass
from typing import List

import torch
import torch.nn as nn
import torch.nn.functional as F

NUM_FEATURE_TOKENS = 49  # 7x7
NUM_POSITIONS = NUM_FEATURE_TOKENS + 1  # + the identity token at position 0
NUM_KEPT = 45  # 5 of the 49 feature tokens are dropped before the encoder
IDENTITY_DIM = 512


@dataclass(frozen=True)
class Vec2FaceConfig:
    embed_dim: int = 768
    depth: int = 12
    num_heads: int = 12
    decoder_embed_dim: int = 768
    decoder_depth: int = 8
    decoder_num_heads: int = 16
    mlp_ratio: float = 4.0
    rep_dim: int = IDENTITY_DIM
    # conv (VQGAN-style) decoder
    ch: int = 128
    ch_mult: tuple = (1, 1, 2, 2, 4)
    num_res_blocks: int = 2
    z_channels: int = 256
    out_ch: int = 3
    gn_groups: int = 32
    # unused modules kept for checkpoint compatibility
    patch_size: int = 16
    in_chans: int = 3
    # Not in the official model (0 = none): side of a linear identity-to-pixels
    # path added to the conv decoder's output (bilinear upsampling to 112).
    # It hands a CPU-trained generator the ridge solution at the start (set by
    # train.py --ridge-init) so its steps go to detail, not to learning a
    # linear map through the transformer.
    pixel_skip: int = 0
    # Not in the official model (0 = none): head-pose inputs (yaw, pitch in
    # degrees). Our identity model's features barely encode signed yaw
    # (linear correlation 0.11 on UTKFace), so a generator fed only those
    # renders every face frontal; with pose as an input it can be turned.
    pose_inputs: int = 0


CONFIGS = {
    "base": Vec2FaceConfig(),
    # Small config for the test fixture (random weights, <= 2 MB ONNX).
    "tiny": Vec2FaceConfig(
        embed_dim=64,
        depth=1,
        num_heads=2,
        decoder_embed_dim=64,
        decoder_depth=1,
        decoder_num_heads=2,
        ch=8,
        ch_mult=(1, 1, 2, 2, 4),
        num_res_blocks=2,
        z_channels=32,
        gn_groups=4,
        patch_size=16,
    ),
    # The bundled default pack (models/vec2face-small): 3.9M parameters,
    # sized to train on 2 CPU cores (~44 images/s for generator steps alone):
    # the high-resolution conv levels are narrow (8 channels at 112x112),
    # the width sits at 7x7 and 14x14.
    "small": Vec2FaceConfig(
        embed_dim=192,
        depth=3,
        num_heads=3,
        decoder_embed_dim=192,
        decoder_depth=2,
        decoder_num_heads=3,
        ch=8,
        ch_mult=(1, 2, 4, 8, 16),
        num_res_blocks=1,
        z_channels=128,
        gn_groups=4,
        patch_size=16,
        pixel_skip=28,
    ),
}
# "small" with yaw/pitch inputs (the default pack from its second version on).
CONFIGS["small-pose"] = dataclasses.replace(CONFIGS["small"], pose_inputs=2)
POSE_SCALE = 45.0  # degrees -> the layers' input scale



# ---------------------------------------------------------------- transformer


class Attention(nn.Module):
    def __init__(self, dim: int, num_heads: int):
        super().__init__()
        assert dim % num_heads == 0
        self.num_heads = num_heads
        self.head_dim = dim // num_heads
        self.scale = self.head_dim ** -0.5
        self.qkv = nn.Linear(dim, dim * 3, bias=True)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # Sequence length and width are static (only the batch is dynamic):
        # plain ints and -1 for the batch keep the exported Reshape shapes
        # constant (int() of a traced size is a constant on purpose).
        n, c = int(x.shape[1]), int(x.shape[2])
        qkv = self.qkv(x).reshape(-1, n, 3, self.num_heads, self.head_dim)
        qkv = qkv.permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0], qkv[1], qkv[2]
        if q.dtype != torch.float32:  # attention is computed in fp32
            q, k, v = q.float(), k.float(), v.float()
        attn = (q @ k.transpose(-2, -1)) * self.scale
        attn = attn.softmax(dim=-1)
        out = (attn @ v).transpose(1, 2).reshape(-1, n, c)
        return self.proj(out)


class Mlp(nn.Module):
    def __init__(self, dim: int, hidden: int):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.act(self.fc1(x)))


class Block(nn.Module):
    """Pre-norm ViT block."""

    def __init__(self, dim: int, num_heads: int, mlp_ratio: float):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=1e-6)
        self.attn = Attention(dim, num_heads)
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)
        self.mlp = Mlp(dim, int(dim * mlp_ratio))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.norm1(x))
        x = x + self.mlp(self.norm2(x))
        return x


class TokenEmbedding(nn.Module):
    """Learned positions + LayerNorm + dropout (BERT-style, names as the checkpoint)."""

    def __init__(self, dim: int, positions: int, dropout: float = 0.1):
        super().__init__()
        self.position_embeddings = nn.Embedding(positions, dim)
        self.LayerNorm = nn.LayerNorm(dim, eps=1e-6)
        self.dropout = nn.Dropout(dropout)
        self.register_buffer(
            "position_ids", torch.arange(positions).expand((1, -1)).clone()
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.position_embeddings.weight.unsqueeze(0)
        return self.dropout(self.LayerNorm(x))


class PatchEmbed(nn.Module):
    """Unused by the generator; present so that checkpoint keys match."""

    def __init__(self, patch_size: int, in_chans: int, dim: int):
        super().__init__()
        self.proj = nn.Conv2d(in_chans, dim, kernel_size=patch_size, stride=patch_size)


# ---------------------------------------------------------------- conv decoder


def swish(x: torch.Tensor) -> torch.Tensor:
    return x * torch.sigmoid(x)


class ResnetBlock(nn.Module):
    def __init__(self, cin: int, cout: int, groups: int):
        super().__init__()
        self.cin, self.cout = cin, cout
        self.norm1 = nn.GroupNorm(groups, cin, eps=1e-6)
        self.conv1 = nn.Conv2d(cin, cout, 3, padding=1, bias=False)
        self.norm2 = nn.GroupNorm(groups, cout, eps=1e-6)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1, bias=False)
        if cin != cout:
            # Quirk of the official model: the 1x1 shortcut acts on the
            # block's result (cout channels), not on its input.
            self.nin_shortcut = nn.Conv2d(cout, cout, 1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.conv1(swish(self.norm1(x)))
        h = self.conv2(swish(self.norm2(h)))
        if self.cin != self.cout:
            x = self.nin_shortcut(h)
        return x + h


class Upsample(nn.Module):
    def __init__(self, ch: int):
        super().__init__()
        self.conv = nn.Conv2d(ch, ch, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(F.interpolate(x, scale_factor=2.0, mode="nearest"))


class ConvDecoder(nn.Module):
    def __init__(self, cfg: Vec2FaceConfig):
        super().__init__()
        g = cfg.gn_groups
        nlev = len(cfg.ch_mult)
        block_in = cfg.ch * cfg.ch_mult[-1]
        self.conv_in = nn.Conv2d(cfg.z_channels, block_in, 3, padding=1)
        self.mid = nn.Module()
        self.mid.block_1 = ResnetBlock(block_in, block_in, g)
        self.mid.block_2 = ResnetBlock(block_in, block_in, g)
        levels: List[nn.Module] = [None] * nlev  # type: ignore[list-item]
        for lvl in reversed(range(nlev)):
            block_out = cfg.ch * cfg.ch_mult[lvl]
            up = nn.Module()
            blocks = []
            for _ in range(cfg.num_res_blocks):
                blocks.append(ResnetBlock(block_in, block_out, g))
                block_in = block_out
            up.block = nn.ModuleList(blocks)
            if lvl != 0:
                up.upsample = Upsample(block_in)
            levels[lvl] = up
        self.up = nn.ModuleList(levels)
        self.norm_out = nn.GroupNorm(g, block_in, eps=1e-6)
        self.conv_out = nn.Conv2d(block_in, cfg.out_ch, 3, padding=1)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        h = self.conv_in(z)
        h = self.mid.block_1(h)
        h = self.mid.block_2(h)
        for lvl in reversed(range(len(self.up))):
            up = self.up[lvl]
            for blk in up.block:
                h = blk(h)
            if lvl != 0:
                h = up.upsample(h)
        return self.conv_out(swish(self.norm_out(h)))


# ---------------------------------------------------------------- generator


class Vec2Face(nn.Module):
    def __init__(self, cfg: Vec2FaceConfig):
        super().__init__()
        self.cfg = cfg
        d, dd = cfg.embed_dim, cfg.decoder_embed_dim
        self.decoder_pos_embed_learned = nn.Parameter(torch.zeros(1, NUM_POSITIONS, dd))
        self.token_emb = TokenEmbedding(d, NUM_POSITIONS)
        self.latent_prior_proj_f = nn.Linear(cfg.rep_dim, d)
        self.feature_token = nn.Linear(1, NUM_FEATURE_TOKENS)
        self.center_token = nn.Linear(d, NUM_FEATURE_TOKENS)  # unused
        self.im_decoder = ConvDecoder(cfg)
        self.im_decoder_proj = nn.Linear(dd, cfg.z_channels)
        self.patch_embed = PatchEmbed(cfg.patch_size, cfg.in_chans, d)  # unused
        self.blocks = nn.ModuleList(
            [Block(d, cfg.num_heads, cfg.mlp_ratio) for _ in range(cfg.depth)]
        )
        self.norm = nn.LayerNorm(d, eps=1e-6)
        self.decoder_embed = nn.Linear(d, dd)
        self.decoder_blocks = nn.ModuleList(
            [Block(dd, cfg.decoder_num_heads, cfg.mlp_ratio) for _ in range(cfg.decoder_depth)]
        )
        self.decoder_norm = nn.LayerNorm(dd, eps=1e-6)
        if cfg.pixel_skip:
            self.pixel_skip = nn.Linear(cfg.rep_dim, cfg.out_ch * cfg.pixel_skip ** 2)
        if cfg.pose_inputs:
            # Zero-initialised: a warm start from a model without pose renders as before.
            self.pose_proj = nn.Linear(cfg.pose_inputs, d)
            nn.init.zeros_(self.pose_proj.weight)
            nn.init.zeros_(self.pose_proj.bias)
            if cfg.pixel_skip:
                self.pose_pixels = nn.Linear(cfg.pose_inputs, cfg.out_ch * cfg.pixel_skip ** 2, bias=False)
                nn.init.zeros_(self.pose_pixels.weight)

    def forward(
        self, identity: torch.Tensor, masked: torch.Tensor, kept: torch.Tensor, pose: torch.Tensor = None
    ) -> torch.Tensor:
        """identity f32 [B,512]; masked f32 [B,50] (1 = replaced by e);
        kept i64 [B,45] sorted positions (contains 0) -> image f32 [B,3,112,112]."""
        d = self.cfg.embed_dim
        dd = self.cfg.decoder_embed_dim
        is_masked = (masked > 0.5).unsqueeze(-1)  # [B,50,1]

        # ---- encoder input
        e = self.latent_prior_proj_f(identity)  # [B,D]
        if self.cfg.pose_inputs:
            if pose is None:
                pose = identity.new_zeros(identity.shape[0], self.cfg.pose_inputs)
            pose = pose / POSE_SCALE
            e = e + self.pose_proj(pose)
        feat = self.feature_token(e.unsqueeze(-1)).transpose(1, 2)  # [B,49,D]
        tokens = torch.cat([e.unsqueeze(1), feat], dim=1)  # [B,50,D]
        tokens = torch.where(is_masked, e.unsqueeze(1), tokens)
        x = self.token_emb(tokens)
        kept_idx = kept.unsqueeze(-1).expand(-1, -1, d)  # [B,45,D]
        x = torch.gather(x, 1, kept_idx)

        # ---- encoder
        for blk in self.blocks:
            x = blk(x)
        x = self.norm(x)

        # ---- decoder input
        x = self.decoder_embed(x)  # [B,45,DD]
        first = x[:, 0:1, :]  # token 0 (position 0 is always kept first)
        pad = first.expand(-1, NUM_POSITIONS, -1)  # [B,50,DD]
        if dd != d:
            kept_idx = kept.unsqueeze(-1).expand(-1, -1, dd)
        x = pad.scatter(1, kept_idx, x)
        x = torch.where(is_masked, pad, x)
        x = x + self.decoder_pos_embed_learned

        # ---- decoder
        for blk in self.decoder_blocks:
            x = blk(x)
        x = self.decoder_norm(x)

        # ---- pixels
        z = self.im_decoder_proj(x[:, 1:, :])  # [B,49,Z]
        z = z.reshape(-1, 7, 7, self.cfg.z_channels).permute(0, 3, 1, 2)
        image = self.im_decoder(z)
        if self.cfg.pixel_skip:
            side = self.cfg.pixel_skip
            coarse = self.pixel_skip(identity)
            if self.cfg.pose_inputs:
                coarse = coarse + self.pose_pixels(pose)
            coarse = coarse.reshape(-1, self.cfg.out_ch, side, side)
            image = image + F.interpolate(coarse, size=(112, 112), mode="bilinear", align_corners=False)
        return image


def build(name: str) -> Vec2Face:
    return Vec2Face(CONFIGS[name])


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


__all__ = [
    "CONFIGS",
    "Vec2Face",
    "Vec2FaceConfig",
    "build",
    "count_parameters",
    "NUM_POSITIONS",
    "NUM_KEPT",
    "IDENTITY_DIM",
]
