#!/usr/bin/python3
"""The speed anchor's model for any backbone: a plain CLIP ViT image tower (random weights; the
values do not change the cost) exported to ONNX at fixed input sizes, for ONNX Runtime
(bench/bench_ort.js). The same graph as ../shared/anchors/vit_b16_onnx.py (every token through
ln_post and the projection, no position embeddings), generalised to the widths, depths, head
counts, patch, MLP widths and activations of the backbones ct-random-weights writes.
Needs Debian's python3-torch.
usage: /usr/bin/python3 bench/vit_onnx.py OUTDIR [SIZES, default 224,448] [--arch B/16|L/14|H/14|bigG/14] [--layers N]
Writes OUTDIR/vit_<tag>_<S>.onnx (tag: b16, l14, h14, bigg14); models above 2 GB keep their
weights in external data files beside the graph (ONNX's protobuf limit; torch decides)."""
import argparse
import os

import torch
from torch import nn

torch.set_num_threads(2)

# width, blocks, heads, patch, MLP width, embedding, exact GELU (open_clip) or QuickGELU (OpenAI)
ARCHS = {"B/16": (768, 12, 12, 16, 3072, 512, False), "L/14": (1024, 24, 16, 14, 4096, 768, False),
         "H/14": (1280, 32, 16, 14, 5120, 1024, True), "bigG/14": (1664, 48, 16, 14, 8192, 1280, True)}


class Block(nn.Module):
    def __init__(s, d, h, m, gelu):
        super().__init__()
        s.attn = nn.MultiheadAttention(d, h)
        s.ln_1, s.ln_2 = nn.LayerNorm(d), nn.LayerNorm(d)
        s.fc, s.proj = nn.Linear(d, m), nn.Linear(m, d)
        s.gelu = gelu

    def forward(s, x):
        y = s.ln_1(x)
        x = x + s.attn(y, y, y, need_weights=False)[0]
        y = s.fc(s.ln_2(x))
        return x + s.proj(nn.functional.gelu(y) if s.gelu else y * torch.sigmoid(1.702 * y))


class ViT(nn.Module):
    def __init__(s, d, L, h, p, m, e, gelu):
        super().__init__()
        s.conv = nn.Conv2d(3, d, p, p, bias=False)
        s.blocks = nn.ModuleList([Block(d, h, m, gelu) for _ in range(L)])
        s.ln_pre, s.ln_post = nn.LayerNorm(d), nn.LayerNorm(d)
        s.proj = nn.Parameter(torch.randn(d, e) / 30)
        s.cls = nn.Parameter(torch.randn(d))

    def forward(s, x):
        x = s.conv(x).flatten(2).permute(2, 0, 1)
        x = torch.cat([s.cls.expand(1, x.shape[1], -1), x], 0)
        x = s.ln_pre(x)
        for b in s.blocks:
            x = b(x)
        return s.ln_post(x) @ s.proj  # every token, as a dense-prediction user needs


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("sizes", nargs="?", default="224,448")
    ap.add_argument("--arch", default="B/16", choices=sorted(ARCHS))
    ap.add_argument("--layers", type=int, default=0, help="fewer blocks (a quick check of the export)")
    a = ap.parse_args()
    d, L, h, p, m, e, gelu = ARCHS[a.arch]
    m_ = ViT(d, a.layers or L, h, p, m, e, gelu).eval()
    tag = a.arch.lower().replace("/", "")
    os.makedirs(a.out, exist_ok=True)
    for S in [int(v) for v in a.sizes.split(",")]:
        path = os.path.join(a.out, f"vit_{tag}_{S}.onnx")
        with torch.no_grad():
            # above 2 GB the exporter writes the weights as external data files beside the graph
            # (the same names for every size: the sizes share them)
            torch.onnx.export(m_, torch.randn(1, 3, S, S), path, opset_version=14, input_names=["x"], output_names=["y"])
        print("exported", a.arch, S, path, flush=True)
