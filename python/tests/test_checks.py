"""What the binding checks before the library reads an array (issue 18): a Classes whose arrays
disagree is refused, embeddings and labels of another dtype or layout are converted, a picture's
size is checked before it is copied, colorize() costs what the map costs; the size rule and the
colours are the tools' own; names are refused as the tools refuse them."""

import importlib
import os
import subprocess
import tracemalloc
import warnings

import numpy as np
import pytest

from conftest import REPO, need_oracle


def tool(name):
    return REPO / os.environ.get("CT_BUILD_DIR", "build/release") / "bin" / name


def tiny_classes(ct, tiny, tokenizer):
    return ct.Classes(tiny[1], tokenizer, ["cat", ["dog", "puppy"], "grass"], background=["sky"])


def test_classes_counts_must_agree(ct, tiny, tokenizer):
    model = tiny[1]
    cl = tiny_classes(ct, tiny, tokenizer)
    px = np.zeros((3, 64, 64), np.float32)
    for n in (len(cl.names) + 3, len(cl.names) - 1):  # longer: the library would read past the embeddings
        bad = ct.Classes.from_embeddings(cl.embeddings, cl.name_labels, cl.titles, cl.background_label)
        bad.name_labels = np.resize(cl.name_labels, n).astype(np.int32)
        with pytest.raises(ct.ShapeError, match="name_labels has %d entries but there are %d" % (n, len(cl.names))):
            ct.segment(model, px, bad)
    bad = ct.Classes.from_embeddings(cl.embeddings, cl.name_labels, cl.titles, cl.background_label)
    bad.embeddings = cl.embeddings[:, :8]
    with pytest.raises(ct.ShapeError, match="embedding size"):
        ct.segment(model, px, bad)


def test_embeddings_and_labels_converted(ct, tiny, tokenizer):
    model = tiny[1]
    cl = tiny_classes(ct, tiny, tokenizer)
    px = np.random.default_rng(1).standard_normal((3, 64, 64)).astype(np.float32)
    want = ct.segment(model, px, cl, head="clip").labels
    variants = {"float64": cl.embeddings.astype(np.float64),
                "fortran": np.asfortranarray(cl.embeddings),
                "strided": np.repeat(cl.embeddings, 2, axis=0)[::2]}
    for what, emb in variants.items():
        other = ct.Classes.from_embeddings(cl.embeddings, cl.name_labels, cl.titles, cl.background_label)
        other.embeddings = emb
        got = ct.segment(model, px, other, head="clip").labels
        assert np.array_equal(got, want), what
    other = ct.Classes.from_embeddings(cl.embeddings, cl.name_labels, cl.titles, cl.background_label)
    other.name_labels = cl.name_labels.astype(np.int64)
    assert np.array_equal(ct.segment(model, px, other, head="clip").labels, want), "int64 name_labels"
    other.name_labels = cl.name_labels.astype(np.int64) + 2**32  # would wrap to the same labels in int32
    with pytest.raises(ct.InvalidArgumentError, match="name_labels: dtype int64 cannot be used as int32"):
        ct.segment(model, px, other, head="clip")


def peak_bytes(fn):
    tracemalloc.start()
    try:
        fn()
    finally:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    return peak


def test_picture_size_checked_before_a_copy(ct, tiny, tokenizer):
    model = tiny[1]
    big = np.broadcast_to(np.zeros((1, 1, 3), np.uint8), (20000, 20000, 3))  # 1.2 GB once copied
    for what, fn in (("Image", lambda: ct.Image(big)),
                     ("segment", lambda: ct.segment(model, big, np.zeros((1, 32), np.float32)))):
        def refused():
            with pytest.raises(ct.TooLargeError, match="20000 x 20000"):
                fn()
        assert peak_bytes(refused) < 50 << 20, what
    pixels = np.broadcast_to(np.zeros((1, 1, 1), np.float64), (3, 20000, 20000))  # 9.6 GB as float32 + copy
    def refused_pixels():
        with pytest.raises(ct.CliptraseError):
            ct.segment(model, pixels, np.zeros((1, 32), np.float32))
    assert peak_bytes(refused_pixels) < 50 << 20


def test_colorize_costs_what_the_map_costs(ct):
    labels = np.array([[0, 2**24], [7, 2**24]], np.int32)
    peak = peak_bytes(lambda: ct.colorize(labels))
    assert peak < 1 << 20, peak  # the old palette of 2^24 + 1 entries: 3.9 GB in numpy temporaries
    rgb = ct.colorize(labels, background_label=7)
    assert rgb.shape == (2, 2, 3) and not rgb[1, 0].any()
    assert np.array_equal(rgb[0, 1], ct.label_colors([2**24])[0]) and np.array_equal(rgb[0, 1], rgb[1, 1])
    with pytest.raises(ct.InvalidArgumentError):
        ct.colorize(np.array([[2**40]]))


def test_colours_are_the_demos(ct, tmp_path):
    """The demo's -o picture (above its legend) is Python's colorize() of the demo's --labels."""
    d = need_oracle("small_f16_hf")
    vocab = need_oracle("vocab.json")
    img = d / "rect224x320" / "image.png"
    assert img.is_file() and tool("demo").is_file(), "the fixture picture and the demo are built"
    names = ",".join(["cat", "dog", "grass", "tree", "car", "road", "person", "bird", "boat", "house", "chair",
                      "table", "bottle", "horse", "sheep", "cow", "train", "plant", "sofa", "monitor"])
    r = subprocess.run([str(tool("demo")), "-m", str(d / "model.safetensors"), "-V", str(vocab), "-i", str(img),
                        "-c", names, "-b", "sky,wall", "--head", "clip", "-s", "224", "--no-cache", "-q",
                        "-o", str(tmp_path / "o.png"), "--labels", str(tmp_path / "l.png")],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    labels = ct.load_labels_png(tmp_path / "l.png")
    drawn = ct.Image(tmp_path / "o.png").rgb[:labels.shape[0], :labels.shape[1]]
    assert len(np.unique(labels)) >= 3, "the picture shows several labels"
    assert np.array_equal(drawn, ct.colorize(labels, background_label=20))


def test_size_is_the_tools_rule(ct, tiny):
    assert ct.round_size(336, 16) == 336 and ct.round_size(336, 14) == 336 and ct.round_size(336, 32) == 352
    assert ct.round_size(100, 16) == 96 and ct.round_size(5, 16) == 16 and ct.round_size(10**6, 32) == 8192
    model = tiny[1]
    pic = np.full((48, 80, 3), 128, np.uint8)
    emb = np.eye(2, 32, dtype=np.float32)
    with pytest.warns(UserWarning, match="size 100 is not a multiple of the patch size 16: using 96"):
        seg = ct.segment(model, pic, emb, size=100, head="clip")
    assert seg.labels.shape == (96, 160) and seg.size == 96
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert ct.segment(model, pic, emb, head="clip").labels.shape[0] == 336


def test_vit_b32_default_size_is_the_demos(ct, tmp_path):
    """ViT-B/32 (random weights): Python's default short side is the demo's, 352 (not 320)."""
    w = tmp_path / "b32.safetensors"
    r = subprocess.run([str(tool("ct-random-weights")), "--arch", "B/32", "--dtype", "F16", "-o", str(w)],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    with ct.Model(str(w), threads=1) as model:
        assert model.config.patch == 32
        px, _, size, _ = importlib.import_module("cliptrase.segment").model_input(model, np.zeros((40, 60, 3), np.uint8))
    assert size == 352 and px.shape == (3, 352, 544)  # 528 rounded to the patch


def test_names_refused_as_the_tools_refuse_them(ct, tiny, tokenizer):
    model = tiny[1]
    for classes, background, msg in ((["cat", ""], None, "class 1: an empty name"),
                                     (["cat", ["dog", " "]], None, "class 1: an empty name"),
                                     (["cat"], ["sky", ""], "background name 2: an empty name"),
                                     (["cat", "a\tb\x01"], None, "class 1: a control character"),
                                     (["cat", "Cat"], None, "the name 'Cat' is given twice \\(class 0 and class 1\\)"),
                                     (["cat", "dog"], ["sky", "dog"],
                                      "the name 'dog' is given twice \\(class 1 and the background\\)")):
        with pytest.raises(ct.InvalidArgumentError, match=msg):
            ct.Classes(model, tokenizer, classes, background=background)
    # a name twice within one label changes nothing: kept (the reference's VOC21 background list
    # has "bed" twice), with a warning, as the tools do
    with pytest.warns(UserWarning, match="the name 'bed' is given twice in the background"):
        cl = ct.Classes(model, tokenizer, ["cat"], background=["bed", "sky", "bed"])
    assert cl.names == ["cat", "bed", "sky", "bed"]


def test_head_specific_overrides_refused(ct):
    """The tools' rule: a setting the chosen head does not use is refused, whatever its value."""
    for head, kw, msg in (("sclip", {"eps": 0.5}, "eps applies to the cliptrase head"),
                          ("naclip", {"min_samples": 3}, "min_samples applies to the cliptrase head"),
                          ("clip", {"cls_reweight": True}, "cls_reweight applies"),
                          ("sclip", {"gaussian_std": 3}, "gaussian_std applies to the naclip head"),
                          (None, {"logit_scale": 40}, "logit_scale applies to the heads of the mmseg pipeline"),
                          (None, {"pamr": 0}, "pamr applies"), ("cliptrase", {"slide": False}, "slide applies")):
        with pytest.raises(ct.InvalidArgumentError, match=msg):
            ct.segment_params(head, **kw)
    assert ct.segment_params("naclip", gaussian_std=3, slide=False, pamr=0).gaussian_std == 3
    assert ct.segment_params(None, eps=0.9, min_samples=4).eps == pytest.approx(0.9)
