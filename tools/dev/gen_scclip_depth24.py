#!/usr/bin/env python3
"""Generates test/data/scclip_depth24: SC-CLIP fixtures on a small random CLIP whose vision tower
has 24 blocks (the depth that selects SC-CLIP's ViT-L/14 preset 16,6,8,19 and res_cls 0.1), patch
14 and width 64 (one attention head), computed with the authors' own code (SuleBai/SC-CLIP's
clip/model.py, fp32 on the CPU) with the one-line outlier-index fix that
../shared/oracle/heads_scclip/README.md describes (irrelevant here: every grid is square).

usage: SC_PATH=<checkout of SuleBai/SC-CLIP> /usr/bin/python3 tools/dev/gen_scclip_depth24.py OUT_DIR

Nothing of the reference is copied: its model.py is read from SC_PATH, patched in memory, and
executed. The model is written as safetensors (F16, OpenAI names) and the reference runs on the
same F16-rounded weights in fp32. Runs: the whole 224 x 224 image (16 x 16 patches) and a
224 x 336 image with 224/112 windows (2 windows of 16 x 16), the preset of the depth (layers
unset, res_cls unset), beta 0.4, logit scale 40, three names. Outputs per run (float32 unless
int32): pixels [3 x H x W], text_features [3 x 64], seg_logits [3 x H x W], pred [H x W] int32,
outliers [windows x 16 x 16] int32, img_tokens [256 x 64] (whole image only); meta.json.
Deterministic (seeded).
"""
import json
import os
import struct
import sys
import types

import numpy as np
import torch
import torch.nn.functional as F


def load_reference(sc_path):
    src = open(os.path.join(sc_path, "clip", "model.py")).read()
    bug = "top_indices = [(torch.div(index, feat_w, rounding_mode='trunc'), index % feat_w) for index in outlier_indices]"
    assert bug in src, "the reference's outlier-index line was not found"
    src = src.replace(bug, bug.replace("feat_w", "feat_h"))
    try:
        import torchvision.transforms.functional  # noqa: F401
    except ImportError:  # imported and unused by model.py
        tv = types.ModuleType("torchvision")
        tv.transforms = types.ModuleType("torchvision.transforms")
        tv.transforms.functional = types.ModuleType("torchvision.transforms.functional")
        sys.modules.update({"torchvision": tv, "torchvision.transforms": tv.transforms,
                            "torchvision.transforms.functional": tv.transforms.functional})
    mod = types.ModuleType("scclip_model")
    exec(compile(src, "scclip/clip/model.py", "exec"), mod.__dict__)
    return mod


def save_safetensors(path, tensors):
    header, blobs, off = {}, [], 0
    for name, t in tensors.items():
        a = t.detach().cpu().numpy()
        dt = "F32" if a.dtype == np.float32 else "F16"
        b = a.tobytes()
        header[name] = {"dtype": dt, "shape": list(a.shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)


def main(out):
    mod = load_reference(os.environ["SC_PATH"])
    torch.manual_seed(24)
    net = mod.CLIP(embed_dim=64, image_resolution=224, vision_layers=24, vision_width=64, vision_patch_size=14,
                   context_length=8, vocab_size=16, transformer_width=64, transformer_heads=1, transformer_layers=1).float().eval()
    # random init of the norms too (the defaults are 1 and 0), then every weight rounded to F16
    sd = net.state_dict()
    g = torch.Generator().manual_seed(7)
    for k, v in sd.items():
        if "ln" in k and k.endswith("weight"):
            v.copy_(1 + 0.1 * torch.randn(v.shape, generator=g))
        elif "ln" in k and k.endswith("bias"):
            v.copy_(0.1 * torch.randn(v.shape, generator=g))
    tensors = {}
    for k, v in sd.items():
        if k == "logit_scale":
            tensors[k] = v.detach().clone().float()
            continue
        h = v.detach().half()
        v.copy_(h.float())
        tensors[k] = h
    os.makedirs(out, exist_ok=True)
    save_safetensors(os.path.join(out, "model.safetensors"), tensors)
    visual = net.visual
    # the preset of the depth (what the library resolves for 24 blocks)
    visual.pre_adjust_idx, visual.post_adjust_idx, visual.multi_start_idx, visual.multi_end_idx = 16, 6, 8, 19
    visual.res_cls, visual.beta = 0.1, 0.4
    masks = []
    lof = mod.lof_pytorch

    def recording_lof(x, n_neighbors=30, contamination=0.05):
        idx, scores = lof(x, n_neighbors=n_neighbors, contamination=contamination)
        m = np.zeros(x.shape[0], np.int32)
        m[idx.numpy()] = 1
        masks.append(m)
        return idx, scores

    mod.lof_pytorch = recording_lof
    rng = np.random.RandomState(5)
    N, scale = 3, 40.0
    q = torch.from_numpy(rng.randn(N, 64).astype(np.float32))
    q /= q.norm(dim=-1, keepdim=True)
    runs = []
    for name, (H, W), crop, stride in (("depth24_whole", (224, 224), 0, 0), ("depth24_slide", (224, 336), 224, 112)):
        masks.clear()
        # a smooth picture: CLIP-normalised values of a few blobs
        yy, xx = np.mgrid[0:H, 0:W].astype(np.float32)
        px = np.stack([np.sin(xx / (17 + 5 * c)) + np.cos(yy / (23 + 3 * c)) + 0.3 * rng.randn(H, W) for c in range(3)]).astype(np.float32)
        img = torch.from_numpy(px)[None]
        c, s = (crop, stride) if crop else (max(H, W), 1)
        hg = max(H - c + s - 1, 0) // s + 1
        wg = max(W - c + s - 1, 0) // s + 1
        preds = torch.zeros((1, N, H, W))
        count = torch.zeros((1, 1, H, W))
        windows, tokens = [], None
        with torch.no_grad():
            for i in range(hg):
                for j in range(wg):
                    y1, x1 = i * s, j * s
                    y2, x2 = min(y1 + c, H), min(x1 + c, W)
                    y1, x1 = max(y2 - c, 0), max(x2 - c, 0)
                    crop_img = img[:, :, y1:y2, x1:x2]
                    f = visual(crop_img, return_all=True)
                    f = f / f.norm(dim=-1, keepdim=True)
                    tokens = f[0].clone()
                    lg = (f @ q.T).permute(0, 2, 1).reshape(1, N, (y2 - y1) // 14, (x2 - x1) // 14)
                    lg = F.interpolate(lg, size=(y2 - y1, x2 - x1), mode="bilinear", align_corners=False)
                    preds += F.pad(lg, (x1, W - x2, y1, H - y2))
                    count[:, :, y1:y2, x1:x2] += 1
                    windows.append([y1, x1, y2, x2])
        seg = (preds / count)[0]
        pred = torch.softmax(scale * seg, dim=0).argmax(dim=0).numpy().astype(np.int32)
        d = os.path.join(out, name)
        os.makedirs(d, exist_ok=True)
        np.save(os.path.join(d, "pixels.npy"), px)
        np.save(os.path.join(d, "text_features.npy"), q.numpy())
        np.save(os.path.join(d, "seg_logits.npy"), seg.numpy().astype(np.float32))
        np.save(os.path.join(d, "pred.npy"), pred)
        wh, ww = (windows[0][2] - windows[0][0]) // 14, (windows[0][3] - windows[0][1]) // 14
        np.save(os.path.join(d, "outliers.npy"), np.stack(masks).reshape(len(windows), wh, ww).astype(np.int32))
        if not crop:
            np.save(os.path.join(d, "img_tokens.npy"), tokens.numpy().astype(np.float32))
        run = {"name": name, "head": "scclip", "logit_scale": scale, "classes": [["a"], ["b"], ["c"]], "windows": windows,
               "n_outliers": [int(m.sum()) for m in masks]}
        if crop:
            run.update(slide_crop=crop, slide_stride=stride)
        runs.append(run)
    meta = {"format": "cliptrase-scclip-depth24", "model_file": "model.safetensors",
            "reference": "SuleBai/SC-CLIP clip/model.py (outlier-index line fixed), fp32 CPU",
            "config": {"vision_layers": 24, "vision_width": 64, "patch": 14, "image_resolution": 224, "embed_dim": 64},
            "preset": "depth 24: layers 16,6,8,19, res_cls 0.1, beta 0.4", "runs": runs}
    with open(os.path.join(out, "meta.json"), "w") as f:
        json.dump(meta, f, indent=1)


if __name__ == "__main__":
    main(sys.argv[1])
