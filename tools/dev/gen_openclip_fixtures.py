#!/usr/bin/python3
"""Generate test/data/openclip_h80: a tiny random open_clip model (heads of 80, exact GELU, MLP
ratio 3.5) built by open_clip itself (mlfoundations/open_clip v2.24.0, from a custom model_cfg),
saved in open_clip's layout (open_clip_model.safetensors + open_clip_config.json) and in Hugging
Face's (model.safetensors + config.json), F16, with reference outputs: image and text features,
one CLIPtrase run and one run of each other head. See test/data/openclip_h80/README.md.

    /usr/bin/python3 tools/dev/gen_openclip_fixtures.py --open-clip DIR/src [--oracle ../shared/oracle]
        [--tools build/release/bin] [--out test/data/openclip_h80]

DIR is a checkout of open_clip at tag v2.24.0 (never copied into this project). Needs python3-torch
and numpy (Debian's); open_clip's optional imports (torchvision, timm, transformers) are not
needed: the one torchvision name open_clip.utils imports is stubbed. Token ids come from this
project's ct-tokenize (the tokenizer is checked against the reference elsewhere), the 80 prompt
templates from the oracle's templates.txt.
"""
import argparse
import json
import math
import os
import subprocess
import sys
import types

import numpy as np
import torch
import torch.nn.functional as F

SEED = 21
VISION = dict(width=160, layers=2, head_width=80, mlp_ratio=3.5, patch_size=16, image_size=96)
TEXT = dict(context_length=77, vocab_size=49408, width=16, heads=2, layers=1, mlp_ratio=3.5)
EMBED = 48
LOGIT_SCALE = 50.0
HEAD_LOGIT_SCALE = 40.0


def import_open_clip(src):
    """open_clip.model without the package's __init__ (which needs torchvision for transforms)."""
    tv = types.ModuleType("torchvision")
    ops = types.ModuleType("torchvision.ops")
    misc = types.ModuleType("torchvision.ops.misc")
    misc.FrozenBatchNorm2d = torch.nn.BatchNorm2d  # only used to freeze ResNets
    tv.ops, ops.misc = ops, misc
    sys.modules.update({"torchvision": tv, "torchvision.ops": ops, "torchvision.ops.misc": misc})
    pkg = types.ModuleType("open_clip")
    pkg.__path__ = [os.path.join(src, "open_clip")]
    sys.modules["open_clip"] = pkg
    import open_clip.model as m  # noqa: E402
    return m


def build_model(ocm):
    torch.manual_seed(SEED)
    model = ocm.CLIP(embed_dim=EMBED, vision_cfg=dict(VISION), text_cfg=dict(TEXT), quick_gelu=False)
    model.eval()
    with torch.no_grad():
        g = torch.Generator().manual_seed(SEED + 1)
        for name, p in model.named_parameters():
            if name == "logit_scale":
                p.fill_(math.log(LOGIT_SCALE))
            elif p.ndim == 1 and ("ln" in name or "norm" in name) and name.endswith("weight"):
                p.copy_(1 + 0.2 * torch.randn(p.shape, generator=g))  # LayerNorm gains
            elif p.ndim == 1 and name.endswith("bias"):
                p.copy_(0.05 * torch.randn(p.shape, generator=g))  # biases (open_clip inits them to 0)
            # every weight round-trips through F16: the reference computes with the stored values
            p.copy_(p.half().float())
    return model


def open_clip_config():
    return {"model_cfg": {"embed_dim": EMBED, "quick_gelu": False, "vision_cfg": VISION, "text_cfg": TEXT},
            "preprocess_cfg": {"mean": [0.48145466, 0.4578275, 0.40821073], "std": [0.26862954, 0.26130258, 0.27577711]}}


def hf_config():
    v, t = VISION, TEXT
    return {"architectures": ["CLIPModel"], "model_type": "clip", "projection_dim": EMBED, "logit_scale_init_value": math.log(LOGIT_SCALE),
            "vision_config": {"hidden_size": v["width"], "num_hidden_layers": v["layers"], "num_attention_heads": v["width"] // v["head_width"],
                              "intermediate_size": int(v["width"] * v["mlp_ratio"]), "patch_size": v["patch_size"], "image_size": v["image_size"],
                              "hidden_act": "gelu", "layer_norm_eps": 1e-5, "projection_dim": EMBED},
            "text_config": {"hidden_size": t["width"], "num_hidden_layers": t["layers"], "num_attention_heads": t["heads"],
                            "intermediate_size": int(t["width"] * t["mlp_ratio"]), "max_position_embeddings": t["context_length"],
                            "vocab_size": t["vocab_size"], "hidden_act": "gelu", "layer_norm_eps": 1e-5, "projection_dim": EMBED}}


def hf_state(sd):
    """open_clip's names -> transformers' CLIPModel names (q, k, v split; projections transposed)."""
    out = {}
    towers = [("visual.transformer.resblocks.", "vision_model.encoder.layers."), ("transformer.resblocks.", "text_model.encoder.layers.")]
    block = {"ln_1": "layer_norm1", "ln_2": "layer_norm2", "attn.out_proj": "self_attn.out_proj", "mlp.c_fc": "mlp.fc1", "mlp.c_proj": "mlp.fc2"}
    top = {"visual.class_embedding": "vision_model.embeddings.class_embedding", "visual.conv1.weight": "vision_model.embeddings.patch_embedding.weight",
           "visual.positional_embedding": "vision_model.embeddings.position_embedding.weight",
           "visual.ln_pre.weight": "vision_model.pre_layrnorm.weight", "visual.ln_pre.bias": "vision_model.pre_layrnorm.bias",
           "visual.ln_post.weight": "vision_model.post_layernorm.weight", "visual.ln_post.bias": "vision_model.post_layernorm.bias",
           "token_embedding.weight": "text_model.embeddings.token_embedding.weight",
           "positional_embedding": "text_model.embeddings.position_embedding.weight",
           "ln_final.weight": "text_model.final_layer_norm.weight", "ln_final.bias": "text_model.final_layer_norm.bias", "logit_scale": "logit_scale"}
    for k, v in sd.items():
        if k in top:
            out[top[k]] = v
        elif k == "visual.proj":
            out["visual_projection.weight"] = v.t().contiguous()
        elif k == "text_projection":
            out["text_projection.weight"] = v.t().contiguous()
        else:
            for pre, hpre in towers:
                if k.startswith(pre) and not (pre == "transformer.resblocks." and k.startswith("visual.")):
                    i, rest = k[len(pre):].split(".", 1)
                    if rest.startswith("attn.in_proj_"):
                        kind = rest[len("attn.in_proj_"):]
                        for part, name in zip(v.chunk(3, 0), ("q_proj", "k_proj", "v_proj")):
                            out[f"{hpre}{i}.self_attn.{name}.{kind}"] = part.contiguous()
                    else:
                        mod, leaf = rest.rsplit(".", 1)
                        out[f"{hpre}{i}.{block[mod]}.{leaf}"] = v
                    break
            else:
                raise KeyError(k)
    return out


def save_safetensors(path, tensors, dtype="F16"):
    header, blobs, off = {"__metadata__": {"format": "pt"}}, [], 0
    for name in sorted(tensors):
        a = tensors[name].detach().cpu().numpy().astype(np.float16 if dtype == "F16" else np.float32)
        b = a.tobytes(order="C")
        header[name] = {"dtype": dtype, "shape": list(a.shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(len(h).to_bytes(8, "little"))
        f.write(h)
        for b in blobs:
            f.write(b)


# ------------------------------------------------------------------ text

def tokenize(tools, vocab, texts):
    r = subprocess.run([os.path.join(tools, "ct-tokenize"), "--vocab", vocab, "--context"], input="\n".join(texts) + "\n",
                       capture_output=True, text=True, check=True)
    rows = [list(map(int, line.split())) for line in r.stdout.strip().split("\n")]
    assert len(rows) == len(texts) and all(len(x) == 77 for x in rows)
    return torch.tensor(rows, dtype=torch.long)


def text_features(model, tools, vocab, templates, names):
    out = []
    for n in names:
        tok = tokenize(tools, vocab, [t.replace("{}", n) for t in templates])
        e = F.normalize(model.encode_text(tok), dim=-1).mean(0)
        out.append(F.normalize(e, dim=-1))
    return torch.stack(out)


# ------------------------------------------------------------------ vision (open_clip's modules, any grid, any last block)

def qkv_of(blk, x):
    """q, k, v [heads, T, hd] of the block's ln_1(x); x [T, W]"""
    W = x.shape[-1]
    h = blk.attn.num_heads
    y = F.linear(blk.ln_1(x), blk.attn.in_proj_weight, blk.attn.in_proj_bias)
    return [t.reshape(-1, h, W // h).transpose(0, 1) for t in y.split(W, -1)]


def head_last_block(blk, x, head, grid):
    q, k, v = qkv_of(blk, x)
    hd = q.shape[-1]
    s = hd ** -0.5
    sm = lambda a, b, g=0: torch.softmax(s * a @ b.transpose(-1, -2) + g, -1)  # noqa: E731
    if head == "clip":
        A = sm(q, k)
    elif head == "sclip":
        A = sm(q, q) + sm(k, k)
    elif head == "clearclip":
        A = sm(q, q)
    elif head == "cliptrase":
        A = sm(q, q) + sm(k, k) + sm(v, v)
    elif head == "naclip":
        h, w = grid
        yy, xx = torch.meshgrid(torch.arange(h), torch.arange(w), indexing="ij")
        pos = torch.stack([yy.flatten(), xx.flatten()], 1).double()
        d2 = ((pos[:, None, :] - pos[None, :, :]) ** 2).sum(-1)
        G = torch.zeros(h * w + 1, h * w + 1, dtype=torch.float64)
        G[1:, 1:] = torch.exp(-d2 / (2 * 5.0 ** 2))
        A = sm(k, k, G.float())
    elif head == "maskclip":
        A = None
    o = v if A is None else A @ v
    o = blk.attn.out_proj(o.transpose(0, 1).reshape(x.shape[0], -1))
    if head in ("clip", "sclip", "cliptrase"):  # residual and MLP kept
        x = x + o
        return x + blk.mlp(blk.ln_2(x))
    return o


def vision(model, px, head):
    """returns (tokens after ln_post + proj, L2-normalised [1 + hw, E], plain CLS embedding, corr_raw or None)"""
    V = model.visual
    p = V.conv1.weight.shape[-1]
    H, W = px.shape[-2:]
    h, w = H // p, W // p
    x = V.conv1(px[None]).flatten(2)[0].t()  # [hw, W]
    g = int(round(math.sqrt(V.positional_embedding.shape[0] - 1)))
    pos = V.positional_embedding
    if (h, w) != (g, g):  # the rule of the oracle README: bicubic, scale factor (n/p + 0.1) / g
        grid = pos[1:].reshape(1, g, g, -1).permute(0, 3, 1, 2)
        grid = F.interpolate(grid, scale_factor=((h + 0.1) / g, (w + 0.1) / g), mode="bicubic", align_corners=False)
        assert grid.shape[-2:] == (h, w)
        pos = torch.cat([pos[:1], grid[0].permute(1, 2, 0).reshape(h * w, -1)])
    x = torch.cat([V.class_embedding[None], x]) + pos
    x = V.ln_pre(x)
    blocks = V.transformer.resblocks
    corr = None
    for i, blk in enumerate(blocks[:-1]):
        if head == "cliptrase" and i == len(blocks) - 2:
            q, k, v = qkv_of(blk, x)
            cs = lambda a: F.normalize(a, dim=-1, eps=1e-8) @ F.normalize(a, dim=-1, eps=1e-8).transpose(-1, -2)  # noqa: E731
            corr = ((cs(q) + cs(k) + cs(v)) / 3).mean(0)
        x = blk(x[:, None])[:, 0]  # open_clip's own block (sequence first)
    plain = blocks[-1](x[:, None])[:, 0]
    cls = F.normalize(V.ln_post(plain[:1]) @ V.proj, dim=-1)[0]
    y = head_last_block(blocks[-1], x, head, (h, w))
    tok = F.normalize(V.ln_post(y) @ V.proj, dim=-1)
    return tok, cls, corr


# ------------------------------------------------------------------ post-processing (oracle README / docs/algorithm.md)

def bilinear(a, size):
    return F.interpolate(a[None], size=size, mode="bilinear", align_corners=False)[0]


def dbscan(x, eps, min_samples):
    """scikit-learn's DBSCAN: Euclidean, dist <= eps, a point counts itself, clusters in discovery order, -1 noise"""
    x = x.double()
    d = torch.cdist(x, x)
    nb = [torch.nonzero(d[i] <= eps).flatten().tolist() for i in range(len(x))]
    core = [len(n) >= min_samples for n in nb]
    lab = [-1] * len(x)
    c = 0
    for i in range(len(x)):
        if lab[i] != -1 or not core[i]:
            continue
        lab[i] = c
        stack = [i]
        while stack:
            j = stack.pop()
            if not core[j]:
                continue
            for q in nb[j]:
                if lab[q] == -1:
                    lab[q] = c
                    stack.append(q)
        c += 1
    return np.array(lab, dtype=np.int32)


def median7(a):
    """scipy.ndimage.median_filter(a, 7), mode reflect (d c b a | a b c d | d c b a)"""
    pad = np.pad(a, 3, mode="symmetric")
    win = np.lib.stride_tricks.sliding_window_view(pad, (7, 7))
    return np.median(win.reshape(a.shape[0], a.shape[1], 49), axis=-1).astype(np.float32)


def cliptrase_run(tok, corr_raw, tf, name_label, logit_scale, hw, HW, eps, min_samples):
    h, w = hw
    H, W = HW
    corr = torch.relu(corr_raw[1:, 1:] - corr_raw[0, 1:])
    pl = logit_scale * tok[1:] @ tf.t()  # [hw, N]
    pl = pl.t().reshape(-1, h, w)
    up = bilinear(pl, (H, W))
    pred_raw = name_label[up.argmax(0).numpy()]
    lab = dbscan(corr, eps, min_samples)
    n = int(lab.max()) + 1
    if n == 0:
        return dict(patch_logits=pl, pred_raw=pred_raw, pred=pred_raw, n_clusters=0)
    maps = []
    for c in range(n):
        m = corr[torch.from_numpy(lab == c)].double().mean(0).float().reshape(1, h, w)
        m = bilinear(m, (4 * h, 4 * w))[0].numpy()
        maps.append(median7(m))
    maps = bilinear(torch.from_numpy(np.stack(maps)), (H, W))
    assign = maps.argmax(0).numpy()
    pred = pred_raw.copy()
    n_labels = int(name_label.max()) + 1
    for c in range(n):
        r = assign == c
        if r.any():
            pred[r] = int(np.bincount(pred_raw[r], minlength=n_labels).argmax())  # ties: the smallest label
    return dict(patch_logits=pl, pred_raw=pred_raw, pred=pred.astype(np.int32), n_clusters=n)


def head_run(tok, tf, name_label, logit_scale, hw, HW):
    h, w = hw
    seg = bilinear((tok[1:] @ tf.t()).t().reshape(-1, h, w), HW)  # cosine logits, upsampled
    probs = torch.softmax(logit_scale * seg, 0)
    n_labels = int(name_label.max()) + 1
    cls = torch.stack([probs[torch.from_numpy(name_label == c)].max(0).values for c in range(n_labels)])
    return dict(seg_logits=seg, pred=cls.argmax(0).numpy().astype(np.int32))


def pixels(seed, H, W):
    """a picture of a few flat regions with texture, normalised as CLIP's preprocessing"""
    g = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:H, 0:W]
    img = np.zeros((3, H, W), np.float32)
    for _ in range(4):
        cy, cx, r = g.uniform(0, H), g.uniform(0, W), g.uniform(H / 5, H / 2)
        img[:, (yy - cy) ** 2 + (xx - cx) ** 2 < r * r] = g.uniform(0, 1, (3, 1))
    img = np.clip(img + 0.05 * g.standard_normal(img.shape), 0, 1)
    mean = np.array([0.48145466, 0.4578275, 0.40821073], np.float32)[:, None, None]
    std = np.array([0.26862954, 0.26130258, 0.27577711], np.float32)[:, None, None]
    return ((img - mean) / std).astype(np.float32)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--open-clip", required=True, help="open_clip v2.24.0's src directory")
    ap.add_argument("--oracle", default="../shared/oracle")
    ap.add_argument("--tools", default="build/release/bin")
    ap.add_argument("--out", default="test/data/openclip_h80")
    a = ap.parse_args()
    torch.set_num_threads(2)
    ocm = import_open_clip(a.open_clip)
    model = build_model(ocm)
    os.makedirs(os.path.join(a.out, "open_clip"), exist_ok=True)
    os.makedirs(os.path.join(a.out, "hf"), exist_ok=True)
    sd = {k: v for k, v in model.state_dict().items() if k != "attn_mask"}
    save_safetensors(os.path.join(a.out, "open_clip", "open_clip_model.safetensors"), sd)
    save_safetensors(os.path.join(a.out, "hf", "model.safetensors"), hf_state(sd))
    with open(os.path.join(a.out, "open_clip", "open_clip_config.json"), "w") as f:
        json.dump(open_clip_config(), f, indent=1)
    with open(os.path.join(a.out, "hf", "config.json"), "w") as f:
        json.dump(hf_config(), f, indent=1)

    vocab = os.path.join(a.oracle, "vocab.json")
    with open(os.path.join(a.oracle, "templates.txt")) as f:
        templates = [t for t in f.read().split("\n") if t]
    assert len(templates) == 80
    meta = {"format": "cliptrase-openclip-fixture", "version": 1, "open_clip": "v2.24.0", "seed": SEED,
            "layouts": {"open_clip": "open_clip/open_clip_model.safetensors", "hf": "hf/model.safetensors"},
            "config": {"vision_width": VISION["width"], "vision_layers": VISION["layers"], "vision_heads": VISION["width"] // VISION["head_width"],
                       "vision_mlp": int(VISION["width"] * VISION["mlp_ratio"]), "patch": VISION["patch_size"], "image_size": VISION["image_size"],
                       "text_width": TEXT["width"], "text_layers": TEXT["layers"], "text_heads": TEXT["heads"],
                       "text_mlp": int(TEXT["width"] * TEXT["mlp_ratio"]), "embed_dim": EMBED, "activation": "gelu"},
            "dtype": "F16", "logit_scale_exp": LOGIT_SCALE, "runs": []}
    with torch.no_grad():
        stored_scale = float(model.logit_scale.exp())  # exp of the F16-rounded logit_scale, as loaded
        meta["logit_scale_exp"] = stored_scale
        # open_clip's own forward at the native size equals the one here (the same modules)
        px0 = torch.from_numpy(pixels(SEED, VISION["image_size"], VISION["image_size"]))
        ref = F.normalize(model.encode_image(px0[None]), dim=-1)[0]
        _, cls0, _ = vision(model, px0, "clip")
        d0 = float((ref - cls0).abs().max())
        print(f"open_clip encode_image vs this forward at the native size: max|d| {d0:.2e}")
        assert d0 < 1e-5
        meta["native_check_max_abs"] = d0

        runs = [dict(name="cliptrase_96x128", head="cliptrase", hw=[96, 128], classes=["cat", "dog", "grass", "sky"], background=["wall"])]
        for hd in ("clip", "maskclip", "sclip", "clearclip", "naclip"):
            runs.append(dict(name=f"{hd}_96x96", head=hd, hw=[96, 96], classes=[["background", "wall"], ["cat"], ["dog"], ["grass", "lawn"]],
                             logit_scale=HEAD_LOGIT_SCALE))
        for i, r in enumerate(runs):
            H, W = r["hw"]
            px = torch.from_numpy(pixels(SEED + 10 + i, H, W))
            d = os.path.join(a.out, r["name"])
            os.makedirs(d, exist_ok=True)
            if r["head"] == "cliptrase":
                names = r["classes"] + r["background"]
                name_label = np.array(list(range(len(r["classes"]))) + [len(r["classes"])] * len(r["background"]), np.int32)
            else:
                names = [n for c in r["classes"] for n in c]
                name_label = np.array([ci for ci, c in enumerate(r["classes"]) for _ in c], np.int32)
            tf = text_features(model, a.tools, vocab, templates, names)
            tok, cls, corr = vision(model, px, r["head"])
            out = dict(pixels=px, text_features=tf, img_tokens=tok, name_label=name_label)
            if r["head"] == "cliptrase":
                out["image_embedding"] = cls
                out["corr_raw"] = corr
                # DBSCAN radius: the first of these giving 2 to 4 clusters (random weights spread the features)
                for eps in (0.7, 0.5, 0.9, 0.4, 1.1, 0.3, 1.3):
                    res = cliptrase_run(tok, corr, tf, name_label, stored_scale, (H // 16, W // 16), (H, W), eps, 3)
                    if 2 <= res["n_clusters"] <= 4:
                        break
                r.update(eps=eps, min_samples=3, n_clusters=res["n_clusters"])
                out.update(patch_logits=res["patch_logits"], pred_raw=res["pred_raw"], pred=res["pred"])
                r["voting_changed_fraction"] = float((res["pred"] != res["pred_raw"]).mean())
            else:
                out.update(head_run(tok, tf, name_label, HEAD_LOGIT_SCALE, (H // 16, W // 16), (H, W)))
            for k, v in out.items():
                v = v.numpy() if torch.is_tensor(v) else v
                np.save(os.path.join(d, k + ".npy"), np.ascontiguousarray(v.astype(np.int32 if v.dtype.kind in "iu" else np.float32)))
            r["label_histogram"] = np.bincount(out["pred"].ravel(), minlength=int(name_label.max()) + 1).tolist()
            meta["runs"].append(r)
            print(r["name"], {k: r[k] for k in r if k in ("eps", "n_clusters", "label_histogram", "voting_changed_fraction")})
    with open(os.path.join(a.out, "meta.json"), "w") as f:
        json.dump(meta, f, indent=1)


if __name__ == "__main__":
    main()
