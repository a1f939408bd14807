"""The Python API around the library calls: no copies of the big arrays, classes with synonyms
and background names, the tokenizer, pictures and PNG files, parameters and presets, the result
helpers."""

import numpy as np
import pytest

from conftest import load, need_oracle


def test_arrays_cross_without_copies(ct, tiny):
    from cliptrase.segment import model_input
    _, m = tiny
    px = np.random.default_rng(0).standard_normal((3, 64, 96)).astype(np.float32)
    assert model_input(m, px)[0] is px  # float32, C-contiguous: handed to the library as it is
    f64 = model_input(m, px.astype(np.float64))[0]
    assert f64.dtype == np.float32 and np.array_equal(f64, px)
    strided = np.ascontiguousarray(px.transpose(0, 2, 1)).transpose(0, 2, 1)  # same values, F-order planes
    assert not strided.flags.c_contiguous
    emb = np.eye(3, m.config.embed_dim, dtype=np.float32)
    a, b = ct.segment(m, px, emb), ct.segment(m, strided, emb)
    assert np.array_equal(a.labels, b.labels)
    # outputs are numpy's own arrays the library wrote into
    assert a.labels.flags.owndata and a.labels.flags.c_contiguous and a.labels.dtype == np.int32
    # pixels the library allocated are numpy arrays over its buffer (freed with the last view)
    img = ct.Image(np.zeros((64, 96, 3), np.uint8))
    p = img.preprocess(64)
    assert not p.flags.owndata and p.base is not None and p.shape == (3, 64, 96)
    view = p[1]
    del p, img
    assert np.allclose(view, view[0, 0])  # still readable: the buffer lives as long as a view does


def test_classes_synonyms_background(ct, tiny, tokenizer):
    _, m = tiny
    cl = ct.Classes(m, tokenizer, ["cat", ["dog", "puppy"], ("grass", "lawn")], background=["sky", "wall"])
    assert cl.names == ["cat", "dog", "puppy", "grass", "lawn", "sky", "wall"]
    assert cl.name_labels.tolist() == [0, 1, 1, 2, 2, 3, 3]
    assert cl.titles == ["cat", "dog", "grass", "background"] and cl.background_label == 3 and len(cl) == 4
    assert cl.embeddings.shape == (7, m.config.embed_dim) and cl.embeddings.dtype == np.float32
    assert np.allclose(np.linalg.norm(cl.embeddings, axis=1), 1, atol=1e-5)
    assert np.array_equal(cl.embeddings, ct.class_embeddings(m, tokenizer, cl.names))
    px = np.random.default_rng(1).standard_normal((3, 64, 64)).astype(np.float32)
    s = ct.segment(m, px, cl, intermediates=True)
    assert s.info.n_names == 7 and s.info.n_labels == 4 and s.labels.max() < 4
    # the same through names, through embeddings + name_labels, through a Classes from embeddings
    s2 = ct.segment(m, px, ["cat", ["dog", "puppy"], ("grass", "lawn")], tokenizer=tokenizer, background=["sky", "wall"])
    s3 = ct.segment(m, px, cl.embeddings, name_labels=cl.name_labels.tolist())
    s4 = ct.segment(m, px, ct.Classes.from_embeddings(cl.embeddings, cl.name_labels, cl.titles, 3))
    for o in (s2, s3, s4):
        assert np.array_equal(o.labels, s.labels)
    # a label scores as the best of its names: pred_raw is the label of the best name
    best = np.argmax(s.intermediates["logits_up"], axis=0)
    assert np.array_equal(cl.name_labels[best], s.intermediates["pred_raw"])
    assert s.titles == cl.titles and abs(sum(s.shares().values()) - 1) < 1e-9


def test_templates_and_encode_tokens(ct, tiny, tokenizer):
    _, m = tiny
    t = ct.default_templates()
    assert len(t) == 80 and all(x.count("{}") == 1 for x in t)
    oracle = need_oracle("templates.txt").read_text().splitlines()
    assert t == [x for x in oracle if x]
    names = ["cat", "potted plant"]
    one = ct.class_embeddings(m, tokenizer, names, templates=["a photo of a {}."])
    f = m.encode_tokens(tokenizer.encode_context(["a photo of a %s." % n for n in names]))
    assert f.shape == (2, m.config.embed_dim) and f.dtype == np.float32
    ref = f / np.linalg.norm(f, axis=1, keepdims=True)
    # one template: its normalised features (the same library arithmetic, batched differently)
    assert np.max(np.abs(one - ref)) < 1e-5
    assert m.encode_tokens(np.zeros((0, 77), np.int32)).shape == (0, m.config.embed_dim)
    long_name = " ".join(["word"] * 100)
    with pytest.warns(UserWarning, match="80 prompts"):
        ct.class_embeddings(m, tokenizer, [long_name])
    e, cut = ct.class_embeddings(m, tokenizer, [long_name], return_truncated=True)
    assert cut == 80 and e.shape == (1, m.config.embed_dim)


def test_tokenizer(ct, tokenizer):
    assert tokenizer.vocab_size == 49408
    ids = tokenizer.encode("A photo of a CAT!")
    assert ids.dtype == np.int32 and tokenizer.decode(ids) == "a photo of a cat !"
    assert tokenizer.encode("").tolist() == []
    assert tokenizer.decode([]) == "" and tokenizer.decode(np.array([], np.int64)) == ""
    many = tokenizer.encode("ab " * 5000)
    assert many.size == 5000 and tokenizer.decode(many[:3]) == "ab ab ab"
    t, cut = tokenizer.encode_context("cat", return_truncated=True)
    assert t[0] == 49406 and t[2] == 49407 and not cut and t.shape == (77,)
    t, cut = tokenizer.encode_context("cat " * 100, return_truncated=True)
    assert cut and t[-1] == 49407
    assert tokenizer.encode_context("cat", context_length=5).tolist()[:3] == [49406, tokenizer.encode("cat")[0], 49407]
    # invalid UTF-8 (a lone surrogate from Python) is replaced, never a crash
    assert tokenizer.decode(tokenizer.encode("caf\udce9")).startswith("caf")
    assert tokenizer.decode([49406, -5, 10 ** 6, 49407]) == ""
    assert "\ufffd" not in tokenizer.decode(tokenizer.encode("naïve café 日本"))


def test_pictures_and_pngs(ct, tmp_path):
    rng = np.random.default_rng(2)
    rgb = rng.integers(0, 256, (30, 50, 3), dtype=np.uint8)
    img = ct.Image(rgb)
    assert (img.width, img.height, img.shape) == (50, 30, (30, 50, 3))
    assert np.array_equal(img.rgb, rgb) and np.array_equal(np.asarray(img), rgb)
    ct.save_png(rgb, tmp_path / "a.png")
    img.save_png(str(tmp_path / "b.png"))
    assert np.array_equal(ct.Image(tmp_path / "a.png").rgb, rgb) and np.array_equal(ct.load_image(tmp_path / "b.png").rgb, rgb)
    r = img.resize_for_model(32, crop=True)
    assert r.shape == (32, 32, 3)
    r = img.resize_for_model(32)
    assert (r.height, r.width) == (32, 48)
    assert np.array_equal(img.preprocess(32), r.normalize())
    lab = rng.integers(0, 256, (30, 50)).astype(np.int32)
    ct.save_labels_png(lab, tmp_path / "l8.png")
    back = ct.load_labels_png(tmp_path / "l8.png")
    assert back.dtype == np.int32 and np.array_equal(back, lab)
    lab16 = lab * 200
    ct.save_labels_png(lab16, tmp_path / "l16.png")  # above 255: 16-bit on its own
    assert np.array_equal(ct.load_labels_png(tmp_path / "l16.png"), lab16)
    full = ct.labels_to_image(np.arange(4, dtype=np.int32).reshape(2, 2), 40, 20, 2)
    assert full.shape == (20, 40) and set(np.unique(full)) == {0, 1, 2, 3}
    pal = ct.palette(5, background_label=2)
    assert pal.shape == (5, 3) and pal.dtype == np.uint8 and not pal[2].any() and len({tuple(c) for c in pal}) == 5
    col = ct.colorize(lab[:4, :4] % 5, background_label=2)
    assert col.shape == (4, 4, 3) and np.array_equal(col, pal[lab[:4, :4] % 5])
    ov = ct.overlay(rgb[:4, :4], lab[:4, :4] % 5, alpha=1.0)
    assert np.array_equal(ov, ct.colorize(lab[:4, :4] % 5))


def test_segmentation_helpers(ct, small, tokenizer, tmp_path):
    d, m = small
    path = str(d / "rect224x320" / "image.png")
    s = ct.segment(m, path, ["cat", "dog"], tokenizer=tokenizer, background="sky", size=224)
    pic = ct.Image(path)
    assert s.labels.shape == (224, 320) and s.picture_labels().shape == (pic.height, pic.width)
    assert "Segmentation 320 x 224" in repr(s)
    s.save_png(tmp_path / "c.png")
    s.save_png(tmp_path / "o.png", overlay=True)
    s.save_labels_png(tmp_path / "l.png")
    assert ct.Image(tmp_path / "c.png").shape == ct.Image(tmp_path / "o.png").shape == pic.shape
    assert np.array_equal(ct.load_labels_png(tmp_path / "l.png"), s.picture_labels())
    assert not s.colorize()[s.picture_labels() == s.classes.background_label].any()  # background: black
    px = ct.segment(m, pic.preprocess(224), ["cat"], tokenizer=tokenizer)
    assert px.picture is None and px.picture_labels() is px.labels
    with pytest.raises(ct.InvalidArgumentError, match="needs a picture"):
        px.overlay()


def test_params_and_presets(ct, tiny):
    td, m = tiny
    d = ct.SegmentParams.preset()
    assert d == ct.SegmentParams() and d.head == "cliptrase" and d.pamr_dilations == (8, 16)
    assert ct.heads() == ("cliptrase", "clip", "maskclip", "sclip", "clearclip", "naclip", "scclip")
    s = ct.segment_params("sclip")
    assert (s.logit_scale, s.slide_crop, s.slide_stride, s.pamr_steps) == (40, 224, 112, 0)
    c = ct.segment_params("clearclip")
    assert (c.logit_scale, c.slide_crop, c.slide_stride) == (50, 448, 224)
    n = ct.segment_params("naclip", slide=False, pamr=(5, [4]), threads=2, prob_thd=0.25)
    assert (n.slide_crop, n.slide_stride, n.pamr_steps, n.pamr_dilations, n.threads, n.prob_thd, n.gaussian_std) == \
        (0, 0, 5, (4,), 2, 0.25, 5)
    assert ct.segment_params(params=n, pamr=False).pamr_steps == 0 and n.pamr_steps == 5  # copies
    for p in (d, s, c, n, ct.segment_params(eps=0.5, min_samples=4, cls_reweight=True, median_size=5, upsample_ratio=2)):
        assert ct.SegmentParams._from_c(p._to_c()) == p  # every field crosses to C and back
    assert ct.segment_params(n_threads=3).threads == 3 and ct.segment_params("sclip", slide=(32, 16)).slide_crop == 32
    b = ct.segment_memory(m, 64, 64, 3)
    assert 0 < b < ct.segment_memory(m, 64, 64, 3, intermediates=True) < ct.segment_memory(m, 128, 128, 3, intermediates=True)
    px, emb = load(td, "crop64", "pixels"), load(td, "crop64", "text_features")
    r = ct.segment(m, px, emb, eps=0.3, min_samples=2, median_size=3, upsample_ratio=2, threads=1, intermediates=True)
    assert (r.info.eps, r.info.min_samples, r.info.median_size, r.info.upsample_ratio, r.info.n_threads) == \
        (pytest.approx(0.3), 2, 3, 2, 1)
    assert r.info.n_clusters > 0 and r.intermediates["cluster_maps"].shape == (r.info.n_clusters, 8, 8)
    assert r.info.as_dict()["head"] == "cliptrase" and r.info.precision == m.precision


def test_probabilities(ct, small):
    """Per-label probabilities: a numpy array the library writes (softmax over names of
    logit_scale x logits, a label's best name); for cliptrase, of the raw logits before the vote."""
    d, m = small
    px, tf = load(d, "crop336", "pixels"), load(d, "crop336", "text_features")
    lab = np.array([0, 1, 2, 3, 4, 5, 6, 7, 8, 8, 8, 8], np.int32)
    s = ct.segment(m, px, tf, name_labels=lab, probabilities=True, intermediates=True, eps=1.1, min_samples=7)
    p = s.probabilities
    assert p.shape == (9, 336, 336) and p.dtype == np.float32 and p.flags.owndata
    assert p.min() >= 0 and p.max() <= 1 and np.all(p.sum(axis=0) <= 1 + 1e-5)
    assert np.array_equal(np.argmax(p, axis=0), s.intermediates["pred_raw"])
    # from the logits: softmax over the names, the best name of each label
    z = s.intermediates["logits_up"].astype(np.float64)
    e = np.exp(z - z.max(axis=0))
    sm = e / e.sum(axis=0)
    best = np.stack([sm[lab == l].max(axis=0) for l in range(9)])
    assert np.max(np.abs(best - p)) < 1e-5
    assert ct.segment(m, px, tf, name_labels=lab, eps=1.1, min_samples=7).probabilities is None


def test_encode_image_inputs(ct, small):
    d, m = small
    path = d / "crop224" / "image.png"
    a = ct.encode_image(m, path, size=224, crop=True)
    b = ct.encode_image(m, load(d, "crop224", "pixels"))
    assert np.array_equal(a.img_tokens, b.img_tokens) and a.corr_raw.shape == (197, 197)
    assert a.image_embedding.shape == (m.config.embed_dim,)
    # default size 336: the 300 x 240 picture becomes 416 x 336 (long side to a patch multiple)
    assert ct.encode_image(m, path, img_tokens=False).corr_raw.shape == (1 + 26 * 21,) * 2
    assert ct.Model.__doc__ and "immutable" in ct.Model.__doc__.lower()
    assert "precision fp32" in m.describe() and repr(m).startswith("<cliptrase.Model")
