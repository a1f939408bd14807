"""ProxyCLIP through the Python binding: a DINO / DINOv2 Model as the proxy of head "proxyclip",
every run of the oracle's heads_proxyclip and heads_proxyclip_dinov2 fixtures (test/test_proxyclip.c's
tolerances: seg_logits, img_tokens and proxy_features 1e-4, labels >= 99.5%), and the refusals."""

import json

import numpy as np
import pytest

from conftest import ORACLE

SUITES = [s for s in ("heads_proxyclip", "heads_proxyclip_dinov2") if (ORACLE / s / "meta.json").is_file()]
NO_SUITE = "no heads_proxyclip fixtures under %s: ProxyCLIP parity skipped" % ORACLE


def runs():
    out = []
    for s in SUITES:
        meta = json.loads((ORACLE / s / "meta.json").read_text())
        pm = meta["proxy_model"]
        proxy = ORACLE / s / (pm if pm.endswith(".safetensors") else pm + "/model.safetensors")
        for run in meta["runs"]:
            if run.get("kind", "proxyclip") == "proxyclip":
                out.append(pytest.param(ORACLE / s, proxy, run, id="%s/%s" % (s, run["name"])))
    return out


def load(d, run, name):
    return np.load(d / run / (name + ".npy"))


@pytest.mark.skipif(not SUITES, reason=NO_SUITE)
@pytest.mark.parametrize("d,proxy_path,run", runs())
def test_proxyclip_runs(d, proxy_path, run, ct):
    rn = run["name"]
    clip = ct.Model(str(ORACLE / "small_f16_hf" / "model.safetensors"))
    proxy = ct.Model(str(proxy_path))
    assert proxy.config.arch in ("dino", "dinov2") and proxy.config.text_layers == 0
    px, tf, lab = load(d, rn, "pixels"), load(d, rn, "text_features"), load(d, rn, "name_label")
    sliding = "slide_crop" in run
    s = ct.segment(clip, px, tf, name_labels=lab, intermediates=True, head="proxyclip", proxy=proxy,
                   proxy_beta=run["beta"], proxy_gamma=run["gamma"], logit_scale=run["logit_scale"],
                   prob_thd=run.get("prob_thd", 0), slide=(run["slide_crop"], run["slide_stride"]) if sliding else False)
    x = s.intermediates
    ds = float(np.abs(x["seg_logits"] - load(d, rn, "seg_logits")).max())
    df = float(np.abs(x["proxy_features"] - load(d, rn, "proxy_features")).max())
    dt = 0.0 if sliding else float(np.abs(x["img_tokens"] - load(d, rn, "img_tokens")).max())
    agree = float(np.mean(s.labels == load(d, rn, "pred")))
    print("%s: %d windows, seg_logits %.1e, proxy_features %.1e, tokens %.1e, pred %.5f" % (rn, s.info.n_windows, ds, df, dt, agree))
    assert ds <= 1e-4 and df <= 1e-4 and dt <= 1e-4 and agree >= 0.995
    assert s.info.head == "proxyclip" and s.info.n_windows == len(run["windows"])


@pytest.mark.skipif(not SUITES, reason=NO_SUITE)
def test_proxyclip_refusals(ct):
    s = ORACLE / "heads_proxyclip"
    clip = ct.Model(str(ORACLE / "small_f16_hf" / "model.safetensors"))
    dino = ct.Model(str(s / "dino_small_p8_hf" / "model.safetensors"))
    px = np.zeros((3, 112, 112), np.float32)
    tf = np.eye(2, clip.config.embed_dim, dtype=np.float32)
    p = ct.segment_params("proxyclip")
    assert p.proxy is None and p.proxy_beta == pytest.approx(1.2) and p.proxy_gamma == pytest.approx(3.0)
    assert (p.slide_crop, p.slide_stride, p.logit_scale) == (336, 112, 40)
    with pytest.raises(ct.InvalidArgumentError, match="proxy"):
        ct.segment(clip, px, tf, head="proxyclip")
    with pytest.raises(ct.InvalidArgumentError, match="CLIP"):
        ct.segment(clip, px, tf, head="proxyclip", proxy=clip)
    with pytest.raises(ct.InvalidArgumentError, match="proxy"):
        ct.segment(clip, px, tf, head="sclip", proxy=dino)
    with pytest.raises(ct.InvalidArgumentError, match="Model"):
        ct.segment(clip, px, tf, head="proxyclip", proxy="dino.safetensors")
    with pytest.raises(ct.InvalidArgumentError, match="CLIP"):
        ct.segment(dino, px, tf, head="proxyclip", proxy=dino)
    assert "DINO" in dino.describe()
