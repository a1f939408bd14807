#!/usr/bin/env python3
"""The reference's time for the SC-CLIP bench row (make bench, bench/bench_e2e.c): SuleBai/SC-CLIP's
own VisionTransformer (clip/model.py of the checkout at $CT_SCCLIP_REF, loaded from that file:
nothing of it is copied here) with ViT-B/16 shapes and random weights, fp32 on the CPU, run over
the windows of an H x W image as its segmentor's forward_slide runs them (window crop, the
model's patch tokens with return_all, normalisation, cosine logits against N random class
embeddings, bilinear upsampling to the window, the padded sum and the division by the count).
Prints "SCCLIP_REF <H>x<W> <crop>/<stride> med <seconds>" or "reference not available: <why>".

usage: scclip_ref.py H W CROP STRIDE N_NAMES THREADS REPS
"""
import importlib.util
import os
import sys
import time


def main(argv):
    H, W, crop, stride, n_names, threads, reps = (int(x) for x in argv[1:8])
    ref = os.environ.get("CT_SCCLIP_REF", "")
    path = os.path.join(ref, "clip", "model.py")
    if not ref or not os.path.isfile(path):
        print("reference not available: set CT_SCCLIP_REF to a checkout of SuleBai/SC-CLIP")
        return 0
    try:
        import torch
        import torch.nn.functional as F
    except ImportError as e:
        print("reference not available: %s" % e)
        return 0
    try:
        import torchvision.transforms.functional  # noqa: F401 (imported, unused, by the reference's model.py)
    except ImportError:
        # absent (Debian's python3-torch comes without it): an empty stand-in for that import
        import types
        tv = types.ModuleType("torchvision")
        tv.transforms = types.ModuleType("torchvision.transforms")
        tv.transforms.functional = types.ModuleType("torchvision.transforms.functional")
        sys.modules.update({"torchvision": tv, "torchvision.transforms": tv.transforms,
                            "torchvision.transforms.functional": tv.transforms.functional})
    spec = importlib.util.spec_from_file_location("scclip_ref_model", path)
    mod = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(mod)
    except Exception as e:  # a checkout this script does not know
        print("reference not available: %s does not load: %s" % (path, e))
        return 0
    torch.manual_seed(0)
    torch.set_num_threads(threads)
    net = mod.CLIP(embed_dim=512, image_resolution=224, vision_layers=12, vision_width=768, vision_patch_size=16,
                   context_length=77, vocab_size=49408, transformer_width=512, transformer_heads=8,
                   transformer_layers=12).float().eval()
    visual = net.visual
    q = torch.randn(n_names, 512)
    q /= q.norm(dim=-1, keepdim=True)
    img = torch.randn(1, 3, H, W)

    def forward_feature(x):
        f = visual(x, return_all=True)
        f = f / f.norm(dim=-1, keepdim=True)
        lg = f @ q.T
        h, w = x.shape[-2] // 16, x.shape[-1] // 16
        lg = lg.permute(0, 2, 1).reshape(-1, n_names, h, w)
        return F.interpolate(lg, size=x.shape[-2:], mode="bilinear", align_corners=False)

    def forward_slide():
        hg = max(H - crop + stride - 1, 0) // stride + 1
        wg = max(W - crop + stride - 1, 0) // stride + 1
        preds = img.new_zeros((1, n_names, H, W))
        count = img.new_zeros((1, 1, H, W))
        for i in range(hg):
            for j in range(wg):
                y1, x1 = i * stride, j * stride
                y2, x2 = min(y1 + crop, H), min(x1 + crop, W)
                y1, x1 = max(y2 - crop, 0), max(x2 - crop, 0)
                preds += F.pad(forward_feature(img[:, :, y1:y2, x1:x2]), (x1, W - x2, y1, H - y2))
                count[:, :, y1:y2, x1:x2] += 1
        return preds / count

    times = []
    with torch.no_grad():
        forward_slide()  # warm-up
        for _ in range(reps):
            t0 = time.perf_counter()
            forward_slide()
            times.append(time.perf_counter() - t0)
    times.sort()
    print("SCCLIP_REF %dx%d %d/%d med %.4f" % (H, W, crop, stride, times[len(times) // 2]))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
