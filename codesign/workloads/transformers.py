"""Attention workloads: a small ViT (224x224, patch 16) and a keyword-spotting transformer.

`vit_tiny`: the ViT of Dosovitskiy et al. (ICLR 2021) at DeiT-Tiny's width (Touvron et al.
2021: embedding 192, 3 heads, MLP 4x) with 4 blocks instead of 12. A 16x16 stride-16 patch
convolution makes 196 tokens, a learned position embedding is added, each pre-norm block is
``x + attn(ln(x))`` then ``x + mlp(ln(x))`` (``nn.MultiheadAttention``, GELU), and the tokens
are averaged (global average pooling instead of a class token) into a 1000-way head.

`kws_transformer`: a KWT-style keyword spotter (Berg et al. Interspeech 2021: each MFCC frame
is a token) on the 49x10 MFCC of MLPerf Tiny's DS-CNN: 49 frames projected to 64, a learned
position embedding, 4 ``nn.TransformerEncoderLayer`` blocks (2 heads, MLP 128, GELU, pre-norm)
in an ``nn.TransformerEncoder``, mean over the frames, 12 classes.

Both are plain PyTorch with torch's own attention modules: codesign rewrites them into
projections and matmuls it can price and quantize (`codesign.workload.attention`).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from codesign.workload.registry import register_workload


class _Block(nn.Module):
    def __init__(self, dim: int, heads: int, mlp: int) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.attn = nn.MultiheadAttention(dim, heads, batch_first=True)
        self.norm2 = nn.LayerNorm(dim)
        self.fc1 = nn.Linear(dim, mlp)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(mlp, dim)

    def forward(self, x: Tensor) -> Tensor:
        h = self.norm1(x)
        x = x + self.attn(h, h, h, need_weights=False)[0]
        return x + self.fc2(self.act(self.fc1(self.norm2(x))))


class ViT(nn.Module):
    """A ViT with global average pooling over the tokens."""

    def __init__(
        self,
        *,
        image: int = 224,
        patch: int = 16,
        dim: int = 192,
        depth: int = 4,
        heads: int = 3,
        mlp: int = 768,
        num_classes: int = 1000,
    ) -> None:
        super().__init__()
        self.patch = nn.Conv2d(3, dim, patch, stride=patch)
        self.pos = nn.Parameter(torch.zeros(1, (image // patch) ** 2, dim))
        nn.init.trunc_normal_(self.pos, std=0.02)
        self.blocks = nn.Sequential(*(_Block(dim, heads, mlp) for _ in range(depth)))
        self.norm = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        x = self.patch(x).flatten(2).transpose(1, 2) + self.pos
        x = self.norm(self.blocks(x))
        return self.head(x.mean(dim=1))


class KWSTransformer(nn.Module):
    """MFCC frames as tokens through a transformer encoder."""

    def __init__(
        self,
        *,
        frames: int = 49,
        coeffs: int = 10,
        dim: int = 64,
        depth: int = 4,
        heads: int = 2,
        mlp: int = 128,
        num_classes: int = 12,
    ) -> None:
        super().__init__()
        self.embed = nn.Linear(coeffs, dim)
        self.pos = nn.Parameter(torch.zeros(1, frames, dim))
        nn.init.trunc_normal_(self.pos, std=0.02)
        layer = nn.TransformerEncoderLayer(
            dim, heads, mlp, dropout=0.0, activation="gelu", batch_first=True, norm_first=True
        )
        self.encoder = nn.TransformerEncoder(
            layer, depth, norm=nn.LayerNorm(dim), enable_nested_tensor=False
        )
        self.head = nn.Linear(dim, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        x = self.embed(x.flatten(1, 2)) + self.pos  # (N, 1, 49, 10) -> 49 tokens of 10
        return self.head(self.encoder(x).mean(dim=1))


@register_workload(
    "vit_tiny",
    input_shape=(1, 3, 224, 224),
    description="ViT, 4 blocks of DeiT-Tiny width (192, 3 heads), patch 16, 224x224",
    num_classes=1000,
)
def vit_tiny() -> nn.Module:
    """A fresh 4-block ViT-Tiny."""
    return ViT()


@register_workload(
    "kws_transformer",
    input_shape=(1, 1, 49, 10),
    description="KWT-style keyword-spotting transformer on 49x10 MFCC (4 blocks, 64 wide)",
    dataset="speech_commands",
    num_classes=12,
)
def kws_transformer() -> nn.Module:
    """A fresh keyword-spotting transformer."""
    return KWSTransformer()
