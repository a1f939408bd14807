"""Parity with the oracle through Python: the same fixtures and tolerances as the C tests
(test/test_model.c, test/test_cliptrase.c, test/test_image.c, test/test_tokenizer.c).

Tolerances (the C tests' own, for the same reasons):
- Encoder outputs (image_embedding, img_tokens, corr_raw) and text features are unit-norm vectors
  or cosine averages in [-1, 1]; the reference computes in fp32 with PyTorch, the library in fp32
  with another summation order. Over 12 blocks the rounding differences stay around 1e-6..1e-5,
  so max |error| <= 1e-4 leaves ~10x margin, while a real mistake (a wrong norm, a missing bias,
  a mis-ordered head, or here: a transposed or mis-strided array crossing the binding) moves
  values by 1e-2 or more.
- The CLIPtrase vote from the oracle's own encoder outputs: discrete results (DBSCAN labels,
  cluster assignment, votes) exact; corr is a difference of oracle values: 1e-6; logits are
  logit_scale (~100) times dot products of unit vectors, fp32 GEMM rounding ~100 x 1e-7, compared
  relative to logit_scale at 1e-5; interpolated and median-filtered maps (averages of values in
  [0, 1]): 1e-5.
- End to end from pixels: features at the encoder bound 1e-4, final labels agree on >= 99.5% of
  pixels (a rounding difference can flip an argmax where two logits tie to 1e-6, never a region).
- Pictures: the resize is integer arithmetic (at most 1 grey level off, >= 99% exact, as the C
  test allows), so normalised pixels differ by at most 1/255/std (< 0.016) and >= 99% within
  1e-6 (one float division and subtraction).
- Tokenizer ids: exact.
"""

import json

import numpy as np
import pytest

from conftest import FIXTURES, ORACLE, NO_ORACLE, fixture_params, load, need_oracle, run_names, run_params

ENC_TOL = 1e-4


def maxdiff(a, b):
    a, b = np.asarray(a), np.asarray(b)
    assert a.shape == b.shape, (a.shape, b.shape)
    return float(np.max(np.abs(a.astype(np.float64) - b))) if a.size else 0.0


def seg_kw(run):
    """The run's CLIPtrase parameters as segment() keywords."""
    return dict(eps=run["eps"], min_samples=run["min_samples"], cls_reweight=bool(run.get("cls_reweight", False)))


def test_oracle_present():
    if not FIXTURES:
        pytest.skip(NO_ORACLE)
    print("%d fixtures under %s" % (len(FIXTURES), ORACLE))


@pytest.mark.parametrize("fx", fixture_params())
def test_config_matches_meta(fx, model_of):
    name, d, meta = fx
    c = model_of(d).config
    cf = meta["config"]
    assert (c.embed_dim, c.image_size, c.vision_layers, c.vision_width, c.patch, c.text_width, c.text_layers) == \
        (cf["embed_dim"], cf["image_resolution"], cf["vision_layers"], cf["vision_width"], cf["patch"],
         cf["text_width"], cf["text_layers"])
    assert (c.vision_heads, c.text_heads) == (meta["vision_heads"], meta["text_heads"])
    assert abs(c.logit_scale - meta["logit_scale_exp"]) < 1e-3 * c.logit_scale
    assert c.dtype == meta["dtype"] and c.naming == meta["naming"]
    assert (c.context_length, c.vocab_size) == (77, 49408)
    assert c.as_dict()["embed_dim"] == c.embed_dim and "embed" in c.describe()


@pytest.mark.parametrize("r", run_params())
def test_encoder(r, ct, model_of):
    name, d, meta, run = r
    rn = run["name"]
    px = load(d, rn, "pixels")
    f = ct.encode_image(model_of(d), px)
    de, dt, dc = (maxdiff(getattr(f, k), load(d, rn, k)) for k in ("image_embedding", "img_tokens", "corr_raw"))
    print("%s/%s %s: max|d| image_embedding %.2e img_tokens %.2e corr_raw %.2e" % (name, rn, px.shape, de, dt, dc))
    assert de <= ENC_TOL and dt <= ENC_TOL and dc <= ENC_TOL
    only = ct.encode_image(model_of(d), px, image_embedding=False, corr_raw=False)
    assert only.image_embedding is None and only.corr_raw is None
    assert np.array_equal(only.img_tokens, f.img_tokens)


@pytest.mark.parametrize("r", run_params())
def test_text_features(r, ct, model_of, tokenizer):
    name, d, meta, run = r
    names, _ = run_names(run)
    want = load(d, run["name"], "text_features")
    got = ct.class_embeddings(model_of(d), tokenizer, names)
    assert got.dtype == np.float32 and got.shape == want.shape
    dd = maxdiff(got, want)
    print("%s/%s: %d names x 80 templates, max|d| text_features %.2e" % (name, run["name"], len(names), dd))
    assert dd <= ENC_TOL


def test_text_features_both_vocabularies(ct, small, tokenizer):
    d, m = small
    hf = ct.Tokenizer(str(need_oracle("vocab.json")))
    names = ["aeroplane", "potted plant", "tv monitor"]
    assert np.array_equal(ct.class_embeddings(m, tokenizer, names), ct.class_embeddings(m, hf, names))
    # explicit merges path gives the same tokenizer
    hf2 = ct.Tokenizer(str(need_oracle("vocab.json")), merges=str(need_oracle("merges.txt")))
    assert np.array_equal(hf2.encode("a potted plant"), tokenizer.encode("a potted plant"))


@pytest.mark.parametrize("r", run_params())
def test_segment_end_to_end(r, ct, model_of):
    name, d, meta, run = r
    rn = run["name"]
    m = model_of(d)
    px, tf, pred = load(d, rn, "pixels"), load(d, rn, "text_features"), load(d, rn, "pred")
    _, lab = run_names(run)
    s = ct.segment(m, px, tf, name_labels=lab, intermediates=True, **seg_kw(run))
    assert s.labels.dtype == np.int32 and s.labels.shape == pred.shape
    dt = maxdiff(s.intermediates["img_tokens"], load(d, rn, "img_tokens"))
    agree = float(np.mean(s.labels == pred))
    print("%s/%s: img_tokens %.1e, pred agreement %.4f, %d clusters (oracle %d)"
          % (name, rn, dt, agree, s.info.n_clusters, run["n_clusters"]))
    assert dt <= ENC_TOL
    assert agree >= 0.995
    assert np.array_equal(s.labels, s.intermediates["pred"])
    assert s.info.n_labels == int(lab.max()) + 1 and s.info.n_names == len(lab)
    assert (s.info.H, s.info.W) == pred.shape and s.info.head == "cliptrase"
    assert abs(s.info.eps - run["eps"]) < 1e-6 and s.info.min_samples == run["min_samples"]
    assert s.info.t_total > 0 and s.info.workspace_bytes > 0 and s.info.kernel
    # without intermediates: the same labels
    s2 = ct.segment(m, px, tf, name_labels=lab, **seg_kw(run))
    assert s2.intermediates is None and np.array_equal(s.labels, s2.labels)


@pytest.mark.parametrize("r", run_params())
def test_vote_from_oracle_inputs(r, ct):
    name, d, meta, run = r
    rn = run["name"]
    scale = meta["logit_scale_exp"]
    tok, craw, tf = load(d, rn, "img_tokens"), load(d, rn, "corr_raw"), load(d, rn, "text_features")
    H, W = load(d, rn, "pixels").shape[1:]
    _, lab = run_names(run)
    labels, x = ct.postprocess(tok, craw, H, W, tf, patch=meta["config"]["patch"], logit_scale=scale, name_labels=lab,
                               intermediates=True, **seg_kw(run))
    want = {k: load(d, rn, k) for k in ("corr", "patch_logits", "logits_up", "pred_raw", "dbscan_labels",
                                        "cluster_maps", "cluster_assign", "pred")}
    assert x["cluster_maps"] is not None and x["cluster_maps"].shape == want["cluster_maps"].shape
    dcorr = maxdiff(x["corr"], want["corr"])
    dpl = maxdiff(x["patch_logits"], want["patch_logits"]) / scale
    dlu = maxdiff(x["logits_up"], want["logits_up"]) / scale
    dcm = maxdiff(x["cluster_maps"], want["cluster_maps"])
    print("%s/%s: corr %.1e, logits %.1e (rel), up %.1e (rel), maps %.1e" % (name, rn, dcorr, dpl, dlu, dcm))
    assert dcorr <= 1e-6 and dpl <= 1e-5 and dlu <= 1e-5 and dcm <= 1e-5
    for k in ("pred_raw", "dbscan_labels", "cluster_assign", "pred"):
        assert x[k].dtype == np.int32 and np.array_equal(x[k], want[k]), k
    assert np.array_equal(labels, want["pred"])


@pytest.mark.parametrize("r", run_params())
def test_picture_inputs(r, ct, model_of):
    """image.png through the library's decoder and resize gives the oracle's pixels; a path, an
    Image and a uint8 array segment identically to those pixels."""
    name, d, meta, run = r
    rn = run["name"]
    m = model_of(d)
    crop = "crop" in run
    size = run["crop"] if crop else min(run["hw"])
    path = str(d / rn / "image.png")
    want = load(d, rn, "pixels")
    img = ct.Image(path)
    assert (img.width, img.height) == tuple(run["image_size"])
    px = img.preprocess(size, crop, m.config.patch)
    assert px.shape == want.shape and px.dtype == np.float32 and px.flags.c_contiguous
    diff = np.abs(px - want)
    exact = float(np.mean(diff <= 1e-6))
    print("%s/%s: pixels max|d| %.2e, %.4f within 1e-6" % (name, rn, diff.max(), exact))
    assert diff.max() <= 1 / 255 / 0.2613 + 1e-6 and exact >= 0.99
    tf = load(d, rn, "text_features")
    _, lab = run_names(run)
    base = ct.segment(m, px, tf, name_labels=lab, **seg_kw(run)).labels
    rgb = np.array(img.rgb)  # a private copy: the uint8-array path
    for source in (path, img, rgb):
        s = ct.segment(m, source, tf, name_labels=lab, size=size, crop=crop, **seg_kw(run))
        assert np.array_equal(s.labels, base), type(source).__name__
        assert s.picture is not None and (s.picture.width, s.picture.height) == (img.width, img.height)
        full = s.picture_labels()
        assert full.shape == (img.height, img.width) and full.dtype == np.int32
        assert set(np.unique(full)) <= set(np.unique(s.labels))


def _cases(kind):
    root = ORACLE / kind
    cs = sorted(p for p in root.glob("case*") if (p / "params.json").is_file()) if root.is_dir() else []
    return [pytest.param(c, id=c.name) for c in cs] or [pytest.param(None, marks=pytest.mark.skip(
        reason="no %s cases under %s" % (kind, ORACLE)))]


@pytest.mark.parametrize("case", _cases("dbscan"))
def test_dbscan_cases(case, ct):
    p = json.loads((case / "params.json").read_text())
    x, want = np.load(case / "x.npy"), np.load(case / "labels.npy")
    lab, nc = ct.dbscan(x, p["eps"], p["min_samples"])
    assert np.array_equal(lab, want) and nc == int(want.max()) + 1


@pytest.mark.parametrize("case", _cases("median"))
def test_median_cases(case, ct):
    p = json.loads((case / "params.json").read_text())
    x, want = np.load(case / "x.npy"), np.load(case / "y.npy")
    assert maxdiff(ct.median_filter(x, p["size"]), want) <= 1e-5


def test_tokenizer_cases(ct, tokenizer):
    cases = [json.loads(line) for line in need_oracle("tokenizer_cases.jsonl").read_text("utf-8").splitlines() if line]
    hf = ct.Tokenizer(str(need_oracle("vocab.json")))
    bad = [c["text"] for c in cases if tokenizer.encode(c["text"]).tolist() != c["ids"]
           or hf.encode(c["text"]).tolist() != c["ids"]]
    print("%d tokenizer cases, %d differ" % (len(cases), len(bad)))
    assert not bad, bad[:5]


def test_tokenizer_context_cases(ct, tokenizer):
    cases = [json.loads(line) for line in need_oracle("tokenizer_context.jsonl").read_text("utf-8").splitlines() if line]
    for c in cases:
        t, cut = tokenizer.encode_context(c["text"], return_truncated=True)
        assert t.tolist() == c["tokens"], c["text"][:40]
        assert cut == (len(tokenizer.encode(c["text"])) + 2 > 77)
    many = tokenizer.encode_context([c["text"] for c in cases])
    assert many.shape == (len(cases), 77) and many.tolist() == [c["tokens"] for c in cases]


def _head_runs(sub="heads"):
    """pytest parameters: (fixture dir, model dir, run) for every run of every fixture of ORACLE/sub."""
    root, ps = ORACLE / sub, []
    for d in sorted(root.iterdir()) if root.is_dir() else []:
        if (d / "meta.json").is_file():
            meta = json.loads((d / "meta.json").read_text())
            ps += [pytest.param((d, ORACLE / meta["model"], run), id="%s/%s" % (d.name, run["name"])) for run in meta["runs"]]
    return ps or [pytest.param(None, marks=pytest.mark.skip(reason="no fixtures under %s/%s" % (ORACLE, sub)))]


@pytest.mark.parametrize("r", _head_runs())
def test_heads_pipeline(r, ct, model_of):
    """The other heads and the mmseg pipeline (test/test_heads.c's fixtures and tolerances):
    every setting of the run given as segment() keywords, over the head's preset.
    Tolerances: img_tokens, seg_logits and pamr_logits 1e-4 (the encoder bound; the logits are
    cosines of those tokens, then convex combinations: window averages, bilinear weights, PAMR's
    softmax affinities); labels >= 99.5% (a near tie, or a best probability within rounding of
    prob_thd, may flip); the thresholded count within those 0.5% of pixels."""
    d, model_dir, run = r
    rn = run["name"]
    px, tf, lab = load(d, rn, "pixels"), load(d, rn, "text_features"), load(d, rn, "name_label")
    kw = dict(head=run["head"], logit_scale=run["logit_scale"], prob_thd=run.get("prob_thd", 0),
              area_thd=run.get("area_thd", 0),
              slide=(run["slide_crop"], run["slide_stride"]) if "slide_crop" in run else False,
              pamr=(run["pamr_steps"], run["pamr_dilations"]) if run.get("pamr_steps") else False)
    s = ct.segment(model_of(model_dir), px, tf, name_labels=lab, intermediates=True, probabilities=True, **kw)
    x, HW = s.intermediates, px.shape[1] * px.shape[2]
    ds = maxdiff(x["seg_logits"], load(d, rn, "seg_logits"))
    dp = maxdiff(x["pamr_logits"], load(d, rn, "pamr_logits")) if "pamr_steps" in run else 0.0
    dt = maxdiff(x["img_tokens"], load(d, rn, "img_tokens")) if "slide_crop" not in run else 0.0
    agree = float(np.mean(s.labels == load(d, rn, "pred")))
    print("%s: %s, %d windows, seg_logits %.1e, pamr %.1e, tokens %.1e, pred %.5f, thresholded %d (meta %d)"
          % (rn, run["head"], s.info.n_windows, ds, dp, dt, agree, s.info.n_thresholded, run["n_thresholded"]))
    assert ds <= 1e-4 and dp <= 1e-4 and dt <= 1e-4 and agree >= 0.995
    assert (x["pamr_logits"] is not None) == ("pamr_steps" in run)
    assert s.info.head == run["head"] and s.info.n_windows == len(run["windows"])
    assert s.info.n_labels == len(run["classes"]) and s.info.logit_scale == run["logit_scale"]
    assert abs(s.info.n_thresholded - run["n_thresholded"]) <= 0.005 * HW
    # the labels are the probabilities' argmax, label 0 where the best is below prob_thd
    p = s.probabilities
    assert p.shape == (len(run["classes"]),) + px.shape[1:] and p.min() >= 0 and p.max() <= 1
    want = np.where(p.max(axis=0) < np.float32(run.get("prob_thd", 0)), 0, np.argmax(p, axis=0))
    assert np.array_equal(s.labels, want)


@pytest.mark.parametrize("r", _head_runs("heads_scclip"))
def test_scclip_pipeline(r, ct, model_of):
    """SC-CLIP (heads_scclip, test/test_heads.c's tolerances): the run's layers, res_cls and beta
    as keywords; seg_logits and img_tokens (patch rows only) within 1e-4, every window's outlier
    mask exactly, labels >= 99.5%."""
    d, model_dir, run = r
    rn = run["name"]
    px, tf, lab = load(d, rn, "pixels"), load(d, rn, "text_features"), load(d, rn, "name_label")
    kw = dict(head="scclip", logit_scale=run["logit_scale"], prob_thd=run.get("prob_thd", 0), area_thd=run.get("area_thd", 0),
              slide=(run["slide_crop"], run["slide_stride"]) if "slide_crop" in run else False,
              sc_layers=tuple(run["sc_layers"]), sc_res_cls=run["res_cls"], sc_beta=run["beta"])
    s = ct.segment(model_of(model_dir), px, tf, name_labels=lab, intermediates=True, **kw)
    x = s.intermediates
    ds = maxdiff(x["seg_logits"], load(d, rn, "seg_logits"))
    dt = maxdiff(x["img_tokens"], load(d, rn, "img_tokens")) if "slide_crop" not in run else 0.0
    agree = float(np.mean(s.labels == load(d, rn, "pred")))
    print("%s: seg_logits %.1e, tokens %.1e, pred %.5f" % (rn, ds, dt, agree))
    assert ds <= 1e-4 and dt <= 1e-4 and agree >= 0.995
    assert np.array_equal(x["outliers"], load(d, rn, "outliers"))
    assert s.info.head == "scclip" and s.info.n_windows == len(run["windows"])
    assert abs(s.info.n_thresholded - run["n_thresholded"]) <= 0.005 * px.shape[1] * px.shape[2]
