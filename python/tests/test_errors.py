"""Every error is a Python exception of the class mapping its ct_status, carrying the library's
message; misuse from Python (wrong types, dtypes, shapes, closed objects) raises, never crashes."""

import dataclasses
import json
import struct

import numpy as np
import pytest

from conftest import need_oracle


def raises(cls, fragment, fn, *a, **kw):
    """fn(*a, **kw) raises cls (and so CliptraseError) with `fragment` in its message."""
    import cliptrase
    with pytest.raises(cls) as ei:
        fn(*a, **kw)
    e = ei.value
    assert isinstance(e, cliptrase.CliptraseError)
    assert fragment in str(e), "%r not in %r" % (fragment, str(e))
    return e


def safetensors(path, tensors):
    """A safetensors file of F32 tensors {name: array}."""
    header, blobs, off = {}, [], 0
    for name, a in tensors.items():
        b = np.ascontiguousarray(a, np.float32).tobytes()
        header[name] = {"dtype": "F32", "shape": list(np.shape(a)), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    h = json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(h)) + h + b"".join(blobs))
    return str(path)


def poisoned(src, dst, tensor):
    """A copy of a safetensors file with the first value of `tensor` (F32) set to NaN."""
    data = bytearray(src.read_bytes())
    n = struct.unpack("<Q", data[:8])[0]
    info = json.loads(data[8:8 + n])[tensor]
    assert info["dtype"] == "F32"
    data[8 + n + info["data_offsets"][0]:8 + n + info["data_offsets"][0] + 4] = struct.pack("<f", float("nan"))
    dst.write_bytes(bytes(data))
    return str(dst)


def test_status_classes(ct):
    from cliptrase.errors import error_for
    from cliptrase._lib import lib
    want = {ct.Status.INVALID_ARG: (ct.InvalidArgumentError, ValueError), ct.Status.IO: (ct.CliptraseIOError, OSError),
            ct.Status.FORMAT: (ct.FormatError, ValueError), ct.Status.UNSUPPORTED: (ct.UnsupportedError, ct.CliptraseError),
            ct.Status.MISSING: (ct.MissingError, LookupError), ct.Status.SHAPE: (ct.ShapeError, ValueError),
            ct.Status.NOMEM: (ct.OutOfMemoryError, MemoryError), ct.Status.TOO_LARGE: (ct.TooLargeError, ValueError),
            ct.Status.NONFINITE: (ct.NonFiniteError, ValueError)}
    unknown = lib.ct_status_str(len(ct.Status))
    for s in ct.Status:
        # the library knows exactly these statuses
        assert lib.ct_status_str(s) != unknown, s
        if s == ct.Status.OK:
            continue
        e = error_for(int(s), "the message")
        assert type(e) is want[s][0] and isinstance(e, want[s][1]) and e.status == s and str(e) == "the message"
    e = error_for(99, "future")
    assert type(e) is ct.CliptraseError and e.status == 99 and str(e) == "future"


def test_model_files(ct, tmp_path):
    raises(ct.CliptraseIOError, "no-such.safetensors", ct.Model, tmp_path / "no-such.safetensors")
    assert issubclass(ct.CliptraseIOError, OSError)
    (tmp_path / "junk").write_bytes(b"hello world" * 10)
    raises(ct.FormatError, "header length", ct.Model, str(tmp_path / "junk"))
    full = need_oracle("tiny_f32_openai", "model.safetensors").read_bytes()
    (tmp_path / "cut.safetensors").write_bytes(full[:1000])
    raises(ct.FormatError, "past the end of the file", ct.Model, tmp_path / "cut.safetensors")
    raises(ct.MissingError, "not a CLIP ViT checkpoint", ct.Model, safetensors(tmp_path / "one.safetensors", {"foo": np.zeros(4)}))
    raises(ct.InvalidArgumentError, "NUL", ct.Model, "a\0b")
    raises(ct.InvalidArgumentError, "path", ct.Model, 42)


def test_model_options(ct):
    p = str(need_oracle("tiny_f32_openai", "model.safetensors"))
    raises(ct.InvalidArgumentError, "fp64", ct.Model, p, precision="fp64")
    raises(ct.InvalidArgumentError, "backend", ct.Model, p, backend="cuda")
    raises(ct.InvalidArgumentError, "threads", ct.Model, p, threads=2 ** 40)
    raises(ct.InvalidArgumentError, "thread count", ct.Model, p, threads=-1)
    raises(ct.UnsupportedError, "OpenBLAS", ct.Model, p, backend="openblas", precision="bf16")
    raises(ct.InvalidArgumentError, "Runtime", ct.Model, p, runtime="two")
    if ct.precision_available("bf16"):
        assert ct.Model(p, precision="bfloat16").precision == "bf16"
    else:
        raises(ct.UnsupportedError, "bf16", ct.Model, p, precision="bf16")
    m = ct.Model(p, backend="openblas", threads=1, check_finite=True)
    assert m.precision == "fp32" and m.threads == 1


def test_nonfinite_weights(ct, tmp_path):
    src = need_oracle("tiny_f32_openai", "model.safetensors")
    bad = poisoned(src, tmp_path / "nan.safetensors", "visual.proj")
    raises(ct.NonFiniteError, "non-finite", ct.Model, bad, check_finite=True)
    m = ct.Model(bad)  # not checked at load: the encoder reports it
    raises(ct.NonFiniteError, "non-finite values", ct.encode_image, m, np.zeros((3, 64, 64), np.float32))


def test_pixels(ct, tiny):
    _, m = tiny
    emb = np.eye(2, m.config.embed_dim, dtype=np.float32)
    px = np.zeros((3, 64, 64), np.float32)
    raises(ct.InvalidArgumentError, "multiple of the patch size", ct.segment, m, np.zeros((3, 20, 32), np.float32), emb)
    raises(ct.InvalidArgumentError, "multiple of the patch size", ct.encode_image, m, np.zeros((3, 0, 32), np.float32))
    raises(ct.TooLargeError, "patches", ct.encode_image, m, np.zeros((3, 2064, 2064), np.float32))
    raises(ct.ShapeError, "3 dimensions", ct.segment, m, np.zeros((64, 64), np.float32), emb)
    raises(ct.ShapeError, "dimension 0 must be 3", ct.segment, m, np.zeros((4, 64, 64), np.float32), emb)
    raises(ct.ShapeError, "dimension 2 must be 3", ct.segment, m, np.zeros((3, 64, 64), np.uint8), emb)
    raises(ct.InvalidArgumentError, "cannot be used as uint8", ct.segment, m, np.full((8, 8, 3), 300), emb)
    raises(ct.InvalidArgumentError, "cannot be used as uint8", ct.segment, m, np.zeros((8, 8, 3), complex), emb)
    raises(ct.InvalidArgumentError, "size and crop", ct.segment, m, px, emb, size=64)
    nan = px.copy()
    nan[1, 2, 3] = np.nan
    raises(ct.NonFiniteError, "not finite", ct.segment, m, nan, emb)
    raises(ct.InvalidArgumentError, "not an array", ct.segment, m, [[1, 2], [3]], emb)
    raises(ct.InvalidArgumentError, "path", ct.Image, 3.5)
    raises(ct.CliptraseIOError, "nothing-here.png", ct.segment, m, "nothing-here.png", emb)


def test_images_and_pngs(ct, tmp_path):
    raises(ct.CliptraseIOError, "cannot open", ct.Image, tmp_path / "none.png")
    (tmp_path / "bad.png").write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    raises(ct.FormatError, "bad.png", ct.Image, tmp_path / "bad.png")
    raises(ct.FormatError, "bad.png", ct.load_labels_png, tmp_path / "bad.png")
    raises(ct.InvalidArgumentError, "bad image size", ct.Image, np.zeros((0, 4, 3), np.uint8))
    raises(ct.CliptraseIOError, "cannot write", ct.save_labels_png, np.zeros((4, 4), np.int32), tmp_path / "no" / "x.png")
    raises(ct.InvalidArgumentError, "does not fit a 8-bit PNG", ct.save_labels_png, np.full((4, 4), 300), tmp_path / "x.png", 8)
    raises(ct.InvalidArgumentError, "bit depth", ct.save_labels_png, np.zeros((4, 4), np.int32), tmp_path / "x.png", 12)
    raises(ct.InvalidArgumentError, "cannot be used as int32", ct.save_labels_png, np.zeros((4, 4)), tmp_path / "x.png")
    raises(ct.InvalidArgumentError, "bad sizes", ct.labels_to_image, np.zeros((4, 4), np.int32), 10, 10, 8, crop=True)
    raises(ct.InvalidArgumentError, "height", ct.labels_to_image, np.zeros((4, 4), np.int32), 10, 0, 8)
    raises(ct.InvalidArgumentError, "not an integer type", ct.colorize, np.zeros((2, 2)))
    raises(ct.InvalidArgumentError, ">= 0", ct.colorize, np.full((2, 2), -1))
    img = ct.Image(np.zeros((20, 30, 3), np.uint8))
    raises(ct.InvalidArgumentError, "multiple of the patch size", img.preprocess, 100)
    raises(ct.InvalidArgumentError, "size", img.preprocess, 0)


def test_segment_params(ct, tiny, tokenizer):
    _, m = tiny
    px = np.zeros((3, 64, 64), np.float32)
    cl = ct.Classes(m, tokenizer, ["cat", "dog"])
    raises(ct.InvalidArgumentError, "finite", ct.segment, m, px, cl, eps=float("nan"))
    # the tools' rule: a setting the head does not use is refused (test_checks has every one)
    raises(ct.InvalidArgumentError, "slide applies to the heads of the mmseg pipeline", ct.segment, m, px, cl, slide=(64, 32))
    raises(ct.InvalidArgumentError, "pamr applies to", ct.segment, m, px, cl, pamr=10)
    raises(ct.InvalidArgumentError, "prob_thd applies to", ct.segment, m, px, cl, prob_thd=0.5)
    # set in params (not an override), the library's own check says the same
    raises(ct.InvalidArgumentError, "cluster vote", ct.segment, m, px, cl,
           params=dataclasses.replace(ct.SegmentParams.preset(), slide_crop=64, slide_stride=32))
    raises(ct.InvalidArgumentError, "unknown head 'segformer'", ct.segment, m, px, cl, head="segformer")
    raises(ct.InvalidArgumentError, "thread count", ct.segment, m, px, cl, threads=-3)
    raises(ct.InvalidArgumentError, "min_samples", ct.segment, m, px, cl, min_samples=2 ** 40)
    raises(ct.InvalidArgumentError, "eps must be a number", ct.segment, m, px, cl, eps="wide")
    raises(ct.InvalidArgumentError, "upsample ratio", ct.segment, m, px, cl, upsample_ratio=65)
    raises(ct.InvalidArgumentError, "slide", ct.segment, m, px, cl, slide=True)
    raises(ct.InvalidArgumentError, "pamr", ct.segment, m, px, cl, head="naclip", pamr=True)
    raises(ct.InvalidArgumentError, "at most 8", ct.segment, m, px, cl, head="naclip", pamr_dilations=range(1, 10))
    raises(ct.InvalidArgumentError, "head= or params=", ct.segment, m, px, cl, head="clip",
           params=ct.SegmentParams.preset("sclip"))
    # parameters are checked before any class name is embedded (the tokenizer here would fail)
    closed = ct.Tokenizer(str(need_oracle("vocab.json")))
    closed.close()
    raises(ct.InvalidArgumentError, "finite", ct.segment, m, px, ["cat"], tokenizer=closed, eps=float("inf"))
    raises(ct.InvalidArgumentError, "tokenizer is closed", ct.segment, m, px, ["cat"], tokenizer=closed)
    with pytest.raises(TypeError, match="unknown segmentation parameter 'epsilon'"):
        ct.segment(m, px, cl, epsilon=0.5)
    # the other heads' parameters reach the library and are checked there
    raises(ct.InvalidArgumentError, "prob_thd 2 outside [0, 1]", ct.segment, m, px, cl, head="naclip", prob_thd=2)
    raises(ct.InvalidArgumentError, "area_thd", ct.segment, m, px, cl, head="sclip", area_thd=-0.5)
    raises(ct.InvalidArgumentError, "window size 60", ct.segment, m, px, cl, head="sclip", slide=(60, 32))
    raises(ct.InvalidArgumentError, "window stride 96", ct.segment, m, px, cl, head="clip", slide=(64, 96))
    raises(ct.InvalidArgumentError, "PAMR dilation", ct.segment, m, px, cl, head="naclip", pamr=(10, (8, 0)))
    raises(ct.InvalidArgumentError, "gaussian std", ct.segment, m, px, cl, head="naclip", gaussian_std=0)
    raises(ct.InvalidArgumentError, "logit scale", ct.segment, m, px, cl, head="maskclip", logit_scale=-1)
    raises(ct.InvalidArgumentError, "thread count", ct.segment_memory, m, 64, 64, 2, threads=-1)


def test_every_head_runs(ct, tiny, tokenizer):
    """Every head the library lists segments through the binding with its preset (the windows
    shrink to the 64 x 128 input), with synonyms and a background label. SC-CLIP has presets for
    12 and 24 blocks only: on the 3-block model its layers and res_cls are given (without them,
    a clear refusal)."""
    _, m = tiny
    cl = ct.Classes(m, tokenizer, ["cat", ["dog", "puppy"]], background=["sky"])
    px = np.random.default_rng(0).standard_normal((3, 64, 128)).astype(np.float32)
    raises(ct.InvalidArgumentError, "has 3 blocks", ct.segment, m, px, cl, head="scclip")
    own = {"scclip": dict(sc_layers=(1, 0, 0, 2), sc_res_cls=0.3)}
    for h in ct.heads():
        s = ct.segment(m, px, cl, head=h, threads=1, **own.get(h, {}))
        assert s.info.head == h and s.labels.shape == (64, 128) and 0 <= s.labels.min() and s.labels.max() < 3
    s = ct.segment(m, px, cl, head="sclip", slide=(64, 32))
    assert s.info.n_windows == 3
    raises(ct.InvalidArgumentError, "cls_reweight", ct.segment, m, px, cl, head="sclip", cls_reweight=True)


def test_classes_and_text(ct, tiny, tokenizer):
    _, m = tiny
    px = np.zeros((3, 64, 64), np.float32)
    raises(ct.InvalidArgumentError, "not a string", ct.Classes, m, tokenizer, "cat,dog")
    raises(ct.InvalidArgumentError, "NUL", ct.Classes, m, tokenizer, ["c\0at"])
    raises(ct.InvalidArgumentError, "at least one", ct.Classes, m, tokenizer, [])
    raises(ct.InvalidArgumentError, "has no name", ct.Classes, m, tokenizer, ["cat", []])
    raises(ct.InvalidArgumentError, "class 1 must be a name", ct.Classes, m, tokenizer, ["cat", 3])
    raises(ct.InvalidArgumentError, "must be a str", ct.Classes, m, tokenizer, ["cat", ["dog", 3]])
    raises(ct.InvalidArgumentError, "no templates", ct.class_embeddings, m, tokenizer, ["cat"], templates=[])
    raises(ct.InvalidArgumentError, "no class names", ct.class_embeddings, m, tokenizer, [])
    raises(ct.InvalidArgumentError, "tokenizer", ct.class_embeddings, m, m, ["cat"])
    raises(ct.InvalidArgumentError, "model must be", ct.class_embeddings, tokenizer, tokenizer, ["cat"])
    raises(ct.InvalidArgumentError, "need a tokenizer", ct.segment, m, px, ["cat", "dog"])
    raises(ct.ShapeError, "embedding size", ct.segment, m, px, np.zeros((2, 7), np.float32))
    raises(ct.ShapeError, "dimension 0 must be 2", ct.segment, m, px, np.zeros((2, 32), np.float32), name_labels=[0])
    raises(ct.InvalidArgumentError, "label -1 of name 0", ct.segment, m, px, np.zeros((2, 32), np.float32), name_labels=[-1, 0])
    raises(ct.InvalidArgumentError, "at least one class name", ct.segment, m, px, np.zeros((0, 32), np.float32))
    raises(ct.InvalidArgumentError, "outside the model's vocabulary", m.encode_tokens, np.full((1, 77), 60000))
    raises(ct.ShapeError, "dimension 1 must be 77", m.encode_tokens, np.zeros((1, 10)))
    raises(ct.InvalidArgumentError, "context length 1", tokenizer.encode_context, "cat", 1)
    raises(ct.InvalidArgumentError, "must be a str", tokenizer.encode, 42)
    raises(ct.CliptraseIOError, "none.txt.gz", ct.Tokenizer, "/nonexistent/none.txt.gz")


def test_tokenizer_files(ct, tmp_path):
    (tmp_path / "junk.txt").write_text("not merges\n")
    raises(ct.FormatError, "merge lines", ct.Tokenizer, tmp_path / "junk.txt")
    (tmp_path / "vocab.json").write_text("{not json")
    (tmp_path / "merges.txt").write_text("#version\n")
    raises(ct.FormatError, "", ct.Tokenizer, tmp_path / "vocab.json")


def test_closed_objects(ct, tokenizer):
    p = str(need_oracle("tiny_f32_openai", "model.safetensors"))
    m = ct.Model(p)
    cl = ct.Classes(m, tokenizer, ["cat"])
    with m:
        pass
    assert m.closed and "closed" in repr(m)
    px = np.zeros((3, 64, 64), np.float32)
    raises(ct.InvalidArgumentError, "model is closed", ct.segment, m, px, cl)
    raises(ct.InvalidArgumentError, "model is closed", ct.encode_image, m, px)
    raises(ct.InvalidArgumentError, "model is closed", lambda: m.threads)
    raises(ct.InvalidArgumentError, "model is closed", m.describe)
    t = ct.Tokenizer(str(need_oracle("vocab.json")))
    t.close()
    raises(ct.InvalidArgumentError, "tokenizer is closed", t.encode, "cat")
    raises(ct.InvalidArgumentError, "tokenizer is closed", ct.class_embeddings, ct.Model(p), t, ["cat"])
    img = ct.Image(np.full((4, 5, 3), 7, np.uint8))
    view = img.rgb
    img.close()
    raises(ct.InvalidArgumentError, "image is closed", lambda: img.width)
    assert view.shape == (4, 5, 3) and int(view.sum()) == 7 * 60  # the view keeps the pixels alive
    rt = ct.Runtime(1)
    rt.close()
    raises(ct.InvalidArgumentError, "runtime is closed", ct.Model, p, runtime=rt)
    m.close()  # closing twice is harmless
