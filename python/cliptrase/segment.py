"""Segmentation: parameters (every field of ct_segment_params, from a head's preset), the image
encoder, segment() with labels, probabilities, ct_segment_info and intermediates, and the
CLIPtrase building blocks (postprocess, dbscan, median_filter)."""

import ctypes
import dataclasses
import os
import warnings
from ctypes import byref, c_int, c_size_t

import numpy as np

from . import _lib
from ._lib import check, lib
from .errors import InvalidArgumentError, ShapeError
from .image import Image, as_image, colorize, labels_to_image, overlay, save_labels_png, save_png
from .model import Model, precision_name
from .text import as_classes, check_embeddings

DEFAULT_SIZE = _lib.DEFAULT_SIZE  # short side of a picture when size is not given (the demo's default)


def round_size(size, patch):
    """The short side used for a requested size, the tools' rule (the library's ct_round_size): the
    nearest multiple of the patch, halves up, at least one patch, at most 8192 (336 gives 336 for
    ViT-B/16 and L/14, 352 for ViT-B/32)."""
    s, p = _lib.to_int(size, "size"), _lib.to_int(patch, "patch")
    if s < 1:
        raise InvalidArgumentError("size %d must be at least 1" % s)
    r = lib.ct_round_size(s, p)
    if r == 0:
        raise InvalidArgumentError("patch size %d must be in [1, 8192]" % p)
    return r


def head_name(h):
    return lib.ct_head_name(h).decode()


def parse_head(name):
    """A head name ("cliptrase", "clip", "maskclip", "sclip", "clearclip", "naclip", "scclip") as its enum value."""
    return _lib.parse_name(lib.ct_head_parse, name, "head")


def heads():
    """The heads the library knows, in its order."""
    return tuple(head_name(i) for i in range(_lib.HEAD_COUNT))


# ------------------------------------------------------------------ parameters


@dataclasses.dataclass
class SegmentParams:
    """Every field of ct_segment_params (include/cliptrase.h documents each; <= 0 for the CLIPtrase
    fields means the paper's value). Build with SegmentParams.preset(head) or
    cliptrase.segment_params(head, **overrides)."""

    head: str = "cliptrase"
    gaussian_std: float = 5.0
    eps: float = 0.0
    min_samples: int = 0
    median_size: int = 0
    upsample_ratio: int = 0
    cls_reweight: bool = False
    slide_crop: int = 0
    slide_stride: int = 0
    pamr_steps: int = 0
    pamr_dilations: tuple = (8, 16)
    logit_scale: float = 0.0
    prob_thd: float = 0.0
    area_thd: float = 0.0
    threads: int = 0  # n_threads: <= 0, all of the model's
    sc_layers: tuple = (0, 0, 0, 0)  # SC-CLIP's pre, post, start, end; all 0: the preset of the model's depth
    sc_res_cls: float = -1.0  # < 0: the preset of the model's depth
    sc_beta: float = float(np.float32(0.4))  # the library's float
    # ProxyCLIP (head "proxyclip"): the proxy backbone, a Model of a DINO / DINOv2 checkpoint
    proxy: object = None
    proxy_beta: float = float(np.float32(1.2))  # the library's float
    proxy_gamma: float = 3.0

    _INT = ("min_samples", "median_size", "upsample_ratio", "slide_crop", "slide_stride", "pamr_steps", "threads")
    _FLOAT = ("gaussian_std", "eps", "logit_scale", "prob_thd", "area_thd", "sc_res_cls", "sc_beta", "proxy_beta", "proxy_gamma")

    @classmethod
    def preset(cls, head=None, model=None):
        """The library's parameters: ct_segment_params_default (head None), or the preset the head's
        reference publishes for ViT-B/16 (ct_segment_params_preset); with a model, that preset for
        the model (ct_segment_params_preset_for: windows scaled with its native image size)."""
        c = _lib.ct_segment_params()
        if head is None:
            lib.ct_segment_params_default(byref(c))
        elif model is not None:
            lib.ct_segment_params_preset_for(byref(c), parse_head(head), model._handle().ptr)
        else:
            lib.ct_segment_params_preset(byref(c), parse_head(head))
        return cls._from_c(c)

    @classmethod
    def _from_c(cls, c):
        return cls(head=head_name(c.head), gaussian_std=c.gaussian_std, eps=c.eps, min_samples=c.min_samples,
                   median_size=c.median_size, upsample_ratio=c.upsample_ratio, cls_reweight=bool(c.cls_reweight),
                   slide_crop=c.slide_crop, slide_stride=c.slide_stride, pamr_steps=c.pamr_steps,
                   pamr_dilations=tuple(c.pamr_dilations[:max(0, min(c.n_pamr_dilations, _lib.MAX_DILATIONS))]),
                   logit_scale=c.logit_scale, prob_thd=c.prob_thd, area_thd=c.area_thd, threads=c.n_threads,
                   sc_layers=tuple(c.sc_layers), sc_res_cls=c.sc_res_cls, sc_beta=c.sc_beta,
                   proxy_beta=c.proxy_beta, proxy_gamma=c.proxy_gamma)

    def _to_c(self):
        c = _lib.ct_segment_params()
        lib.ct_segment_params_default(byref(c))
        c.head = parse_head(self.head)
        for k in self._INT:
            setattr(c, "n_threads" if k == "threads" else k, _lib.to_int(getattr(self, k), k))
        for k in self._FLOAT:
            setattr(c, k, _lib.to_float(getattr(self, k), k))
        c.cls_reweight = 1 if self.cls_reweight else 0
        sl = tuple(self.sc_layers)
        if len(sl) != 4:
            raise InvalidArgumentError("sc_layers must be (pre, post, start, end), not %r" % (self.sc_layers,))
        for i, x in enumerate(sl):
            c.sc_layers[i] = _lib.to_int(x, "sc_layers")
        if self.proxy is not None:
            if not isinstance(self.proxy, Model):
                raise InvalidArgumentError("proxy must be a cliptrase.Model (a DINO / DINOv2 checkpoint), not %s"
                                           % type(self.proxy).__name__)
            c.proxy = self.proxy._handle().ptr  # the caller keeps params (and so the Model) during the call
        d = self.pamr_dilations
        if isinstance(d, (int, np.integer)):
            d = (d,)
        d = [_lib.to_int(x, "pamr dilation") for x in d]
        if len(d) > _lib.MAX_DILATIONS:
            raise InvalidArgumentError("%d PAMR dilations: at most %d" % (len(d), _lib.MAX_DILATIONS))
        c.n_pamr_dilations = len(d)
        for i, x in enumerate(d):
            c.pamr_dilations[i] = x
        return c

    def replace(self, **kw):
        """A copy with fields changed. Besides the fields: slide=(crop, stride) or False (whole
        image), pamr=steps or (steps, dilations) or False, n_threads (= threads)."""
        out = dataclasses.replace(self)
        names = {f.name for f in dataclasses.fields(self)}
        for k, v in kw.items():
            if k == "slide":
                if v is None or v is False or (isinstance(v, (int, np.integer)) and not isinstance(v, bool) and v == 0):
                    out.slide_crop, out.slide_stride = 0, 0
                elif isinstance(v, (tuple, list)) and len(v) == 2:
                    out.slide_crop, out.slide_stride = v
                else:
                    raise InvalidArgumentError("slide must be (window, stride) in pixels, or False, not %r" % (v,))
            elif k == "pamr":
                if v is None or v is False:
                    out.pamr_steps = 0
                elif isinstance(v, (tuple, list)) and len(v) == 2:
                    out.pamr_steps, out.pamr_dilations = v[0], tuple(v[1])
                elif v is True:
                    raise InvalidArgumentError("pamr needs a number of steps (the NACLIP preset uses 10), not True")
                else:
                    out.pamr_steps = v
            elif k == "n_threads":
                out.threads = v
            elif k in names:
                setattr(out, k, v)
            else:
                raise TypeError("unknown segmentation parameter %r (parameters: %s, slide, pamr)"
                                % (k, ", ".join(sorted(names))))
        return out

    def as_dict(self):
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}  # the proxy Model as it is


# The tools' rule for head-specific settings (tools/common/options.c): an override the head does
# not use is refused, naming the heads that use it.
_CLIPTRASE_ONLY = ("eps", "min_samples", "cls_reweight", "median_size", "upsample_ratio")
_PIPELINE_ONLY = ("slide", "slide_crop", "slide_stride", "pamr", "pamr_steps", "pamr_dilations", "logit_scale", "prob_thd",
                  "area_thd")
_NACLIP_ONLY = ("gaussian_std",)
_SCCLIP_ONLY = ("sc_layers", "sc_res_cls", "sc_beta")
_PROXYCLIP_ONLY = ("proxy", "proxy_beta", "proxy_gamma")


def _check_head_overrides(head, overrides):
    for k in overrides:
        if k in _CLIPTRASE_ONLY and head != "cliptrase":
            who = "the cliptrase head (its cluster vote)"
        elif k in _PIPELINE_ONLY and head == "cliptrase":
            who = "the heads of the mmseg pipeline (clip, maskclip, sclip, clearclip, naclip, scclip, proxyclip)"
        elif k in _NACLIP_ONLY and head != "naclip":
            who = "the naclip head (its Gaussian prior)"
        elif k in _SCCLIP_ONLY and head != "scclip":
            who = "the scclip head (its layers and calibration)"
        elif k in _PROXYCLIP_ONLY and head != "proxyclip":
            who = "the proxyclip head (its proxy backbone and attention)"
        else:
            continue
        raise InvalidArgumentError("%s applies to %s, not to head %s: drop it, or choose such a head" % (k, who, head))


def segment_params(head=None, params=None, **overrides):
    """SegmentParams: `params`, or the head's preset (head None: CLIPtrase's default), with the
    overrides applied (any field; slide=(window, stride) / False; pamr=steps / (steps, dilations) /
    False). An override the head does not use is refused, as the tools refuse the flag: eps,
    min_samples, cls_reweight, median_size, upsample_ratio are CLIPtrase's; slide, pamr,
    pamr_dilations, logit_scale, prob_thd, area_thd the other heads'; gaussian_std NACLIP's;
    sc_layers, sc_res_cls, sc_beta SC-CLIP's; proxy, proxy_beta, proxy_gamma ProxyCLIP's."""
    if params is not None:
        if head is not None:
            raise InvalidArgumentError("give head= or params=, not both (set params.head)")
        if not isinstance(params, SegmentParams):
            raise InvalidArgumentError("params must be a cliptrase.SegmentParams, not %s" % type(params).__name__)
        p = params
    else:
        p = SegmentParams.preset(head)
    _check_head_overrides(p.head, overrides)
    return p.replace(**overrides)


# ------------------------------------------------------------------ inputs


def _check_model(model):
    if not isinstance(model, Model):
        raise InvalidArgumentError("model must be a cliptrase.Model, not %s" % type(model).__name__)
    return model._handle()


def _check_input_size(mh, H, W, sp=None):
    """The library's checks of an H x W model input (multiples of the patch, at most
    CT_MAX_PATCHES patches) and of the parameters sp (ct_segment_params or None), before
    allocating outputs sized from them."""
    n, err = c_size_t(), _lib.ct_error()
    check(lib.ct_segment_memory(mh.ptr, H, W, 1, None if sp is None else byref(sp), 0, byref(n), byref(err)), err)


def model_input(model, image, size=None, crop=False, _sp=None):
    """(pixels float32 [3 x H x W] C-contiguous, the picture as an Image or None, size, crop).

    image: a path, an Image, a uint8 [height x width x 3] array (preprocessed at `size`, default
    336, rounded to the model's patch as the tools round it (round_size: 352 for ViT-B/32; a size
    that is not a multiple of the patch is rounded with a warning), with `crop`), or
    CLIP-normalised pixels float [3 x H x W] (used as they are, without a copy when float32 and
    C-contiguous; their shape is checked before any conversion)."""
    if not isinstance(image, (str, bytes, os.PathLike, Image, np.ndarray)):
        image = _lib.array_like(image, "image")  # a PIL image, nested lists, ...
    if isinstance(image, np.ndarray) and image.dtype.kind == "f":
        if size is not None or crop:
            raise InvalidArgumentError("size and crop apply to pictures, not to normalised pixels [3 x H x W]")
        if image.ndim == 3 and image.shape[0] == 3:  # the size checks before a copy (a broadcast view is free)
            # with the call's parameters (_sp): a head that pads its windows (proxyclip) takes any size
            _check_input_size(model._handle(), _lib.to_int(image.shape[1], "H"), _lib.to_int(image.shape[2], "W"), _sp)
        return _lib.array(image, np.float32, 3, "pixels", (3, None, None)), None, None, False
    pic = as_image(image)
    patch = model.config.patch
    if size is None:
        size = round_size(DEFAULT_SIZE, patch)
    else:
        r = round_size(size, patch)
        if r != size:
            warnings.warn("size %d is not a multiple of the patch size %d: using %d" % (size, patch, r), stacklevel=3)
        size = r
    return pic.preprocess(size, crop, model.config.patch), pic, size, bool(crop)


@dataclasses.dataclass
class ImageFeatures:
    """Outputs of the image encoder (CLIPtrase head) for an H x W input, T = 1 + (H/p)(W/p) tokens."""

    image_embedding: np.ndarray  # [embed_dim] plain CLIP embedding, L2-normalised
    img_tokens: np.ndarray       # [T x embed_dim] CLIPtrase tokens (CLS first), L2-normalised
    corr_raw: np.ndarray         # [T x T] second-to-last block's correlation map


def encode_image(model, image, threads=0, *, size=None, crop=False, image_embedding=True, img_tokens=True,
                 corr_raw=True):
    """Run the encoder (CLIPtrase head) on pixels [3 x H x W] (or a picture, as segment() takes
    them). Outputs set to False are not computed and come back as None."""
    mh = _check_model(model)
    px, _, _, _ = model_input(model, image, size, crop)
    H, W = (_lib.to_int(x, "image side") for x in px.shape[1:])
    _check_input_size(mh, H, W)
    c, p = model.config, model.config.patch
    T = 1 + (H // p) * (W // p)
    emb = np.empty(c.embed_dim, np.float32) if image_embedding else None
    tok = np.empty((T, c.embed_dim), np.float32) if img_tokens else None
    cor = np.empty((T, T), np.float32) if corr_raw else None
    feats = _lib.ct_image_features(_lib.addr(emb), _lib.addr(tok), _lib.addr(cor))
    err = _lib.ct_error()
    n_threads = _lib.to_int(threads, "threads")
    check(lib.ct_encode_image(mh.ptr, _lib.addr(px), H, W, n_threads, byref(feats), byref(err)), err)
    return ImageFeatures(emb, tok, cor)


# ------------------------------------------------------------------ results


@dataclasses.dataclass
class SegmentInfo:
    """ct_segment_info: the parameters as resolved, counts, timings (seconds)."""

    head: str
    H: int
    W: int
    h: int
    w: int
    n_names: int
    n_labels: int
    n_windows: int
    n_clusters: int
    eps: float
    min_samples: int
    median_size: int
    upsample_ratio: int
    logit_scale: float
    n_thresholded: int
    n_threads: int
    precision: str
    kernel: str
    t_encode: float
    t_post: float
    t_total: float
    workspace_bytes: int

    @classmethod
    def _from_c(cls, c):
        kw = {f.name: getattr(c, f.name) for f in dataclasses.fields(cls)}
        kw["head"] = head_name(c.head)
        kw["precision"] = precision_name(c.precision)
        kw["kernel"] = (c.kernel or b"").decode("utf-8", "replace")
        return cls(**kw)

    def as_dict(self):
        return dataclasses.asdict(self)


def _intermediate_shapes(x, ratio):
    E, h, w, H, W, n, nc = x.embed_dim, x.h, x.w, x.H, x.W, x.n_names, x.n_clusters
    T, hw = 1 + h * w, h * w
    f, i = np.float32, np.int32
    return {"image_embedding": ((E,), f), "img_tokens": ((x.img_tokens_rows or T, E), f), "corr_raw": ((T, T), f), "corr": ((hw, hw), f),
            "patch_logits": ((n, h, w), f), "logits_up": ((n, H, W), f), "pred_raw": ((H, W), i),
            "dbscan_labels": ((hw,), i), "cluster_maps": ((nc, ratio * h, ratio * w), f),
            "cluster_assign": ((H, W), i), "pred": ((H, W), i), "seg_logits": ((n, H, W), f),
            "pamr_logits": ((n, H, W), f), "outliers": ((x.n_windows, x.win_h, x.win_w), i),
            "proxy_features": ((x.proxy_h * x.proxy_w, x.proxy_dim), f)}


def _take_intermediates(x):
    """Copies of the arrays a ct_intermediates holds (name -> array; None for those the head does
    not produce), then ct_intermediates_free. The cluster maps' side is the struct's own
    upsample_ratio."""
    try:
        shapes = _intermediate_shapes(x, x.upsample_ratio)
        out = {}
        for name in _lib.INTERMEDIATE_ARRAYS:
            ptr = getattr(x, name)
            shape, dtype = shapes[name]
            out[name] = _lib.wrap(ptr, shape, dtype, None).copy() if ptr else None
        return out
    finally:
        lib.ct_intermediates_free(byref(x))


class Segmentation:
    """What segment() returns.

    labels         int32 [H x W]: a label per pixel of the model input
    probabilities  float32 [n_labels x H x W] when asked (probabilities=True), else None
    info           SegmentInfo (resolved parameters, cluster count, timings, kernel)
    intermediates  name -> array (None where the head produces none) when asked, else None
    classes        the Classes segmented into (titles, background_label)
    picture        the Image segmented (None when given pixels), with size and crop: to map back
    """

    def __init__(self, labels, probabilities, info, intermediates, classes, picture, size, crop):
        self.labels, self.probabilities, self.info, self.intermediates = labels, probabilities, info, intermediates
        self.classes, self.picture, self.size, self.crop = classes, picture, size, crop

    @property
    def titles(self):
        return self.classes.titles

    def picture_labels(self):
        """The labels at the picture's size, int32 [height x width] (labels_to_image); the model-input
        labels when the input was pixels."""
        if self.picture is None:
            return self.labels
        return labels_to_image(self.labels, self.picture.width, self.picture.height, self.size, self.crop)

    def shares(self):
        """{title: share of the picture's pixels}."""
        lab = self.picture_labels()
        counts = np.bincount(lab.ravel(), minlength=self.classes.n_labels) / max(lab.size, 1)
        return {t: float(counts[i]) for i, t in enumerate(self.titles)}

    def colorize(self):
        """The picture-size labels in the demo's colours, uint8 [height x width x 3]."""
        return colorize(self.picture_labels(), self.classes.n_labels, self.classes.background_label)

    def overlay(self, alpha=0.5):
        """The colours blended over the picture, uint8 [height x width x 3] (needs a picture)."""
        if self.picture is None:
            raise InvalidArgumentError("an overlay needs a picture; this segmentation was given pixels")
        return overlay(self.picture, self.picture_labels(), self.classes.n_labels, self.classes.background_label, alpha)

    def save_labels_png(self, path):
        """The picture-size label map as a grey PNG (8-bit up to 255 labels, else 16-bit)."""
        save_labels_png(self.picture_labels(), path, 8 if self.classes.n_labels <= 255 else 16)

    def save_png(self, path, overlay=False):
        """The colour label map (or the overlay) as an RGB PNG."""
        save_png(self.overlay() if overlay else self.colorize(), path)

    def __repr__(self):
        return "<cliptrase.Segmentation %d x %d, %d labels, head %s>" % (self.labels.shape[1], self.labels.shape[0],
                                                                       self.classes.n_labels, self.info.head)


def _n_labels(name_labels):
    """Labels of a name_labels array for allocating probabilities; None when the library will
    refuse them anyway (it checks [0, 65536))."""
    if name_labels.size == 0 or name_labels.min() < 0 or name_labels.max() >= 65536:
        return None
    return int(name_labels.max()) + 1


def segment(model, image, classes, *, tokenizer=None, background=None, templates=None, name_labels=None,
            size=None, crop=False, params=None, head=None, probabilities=False, intermediates=False, **overrides):
    """Segment a picture into classes.

    image       a path, an Image, a uint8 [height x width x 3] array (resized so the short side is
                `size`, default 336, 352 for a 32-pixel patch: the tools' rounding, round_size;
                crop=True: then a size x size centre crop), or CLIP-normalised pixels float32 [3 x H x W] used as they are
    classes     a Classes; or names / lists of synonyms (with tokenizer=, background=, templates=);
                or class embeddings float32 [n_names x embed_dim] (with name_labels=)
    head        a head's published preset as the starting point ("cliptrase", "clip", "maskclip",
                "sclip", "clearclip", "naclip", "scclip"); or params=SegmentParams(...)
    overrides   any SegmentParams field: eps, min_samples, median_size, upsample_ratio,
                cls_reweight, gaussian_std, slide=(window, stride), pamr=steps, pamr_dilations,
                logit_scale, prob_thd, area_thd, threads, sc_layers=(pre, post, start, end),
                sc_res_cls, sc_beta, ...
    probabilities, intermediates: also return these (see Segmentation)

    The GIL is released while the library computes: several threads may segment with one Model.
    """
    mh = _check_model(model)
    spy = segment_params(head, params, **overrides)
    sp = spy._to_c()
    px, pic, size, crop = model_input(model, image, size, crop, sp)
    H, W = (_lib.to_int(x, "image side") for x in px.shape[1:])
    _check_input_size(mh, H, W, sp)  # the parameters too: before embedding any class name
    cl = as_classes(classes, model, tokenizer, background, templates, name_labels, spy.threads)
    emb, lab = check_embeddings(cl, model)
    labels = np.empty((H, W), np.int32)
    probs = None
    if probabilities:
        L = _n_labels(lab)
        if L is not None:
            probs = np.empty((L, H, W), np.float32)
    info = _lib.ct_segment_info()
    inter = _lib.ct_intermediates() if intermediates else None
    out = _lib.ct_segment_outputs(_lib.addr(labels), _lib.addr(probs), ctypes.pointer(info),
                                  ctypes.pointer(inter) if inter is not None else None)
    err = _lib.ct_error()
    check(lib.ct_segment_ex(mh.ptr, _lib.addr(px), H, W, _lib.addr(emb), _lib.to_int(len(lab), "name count"),
                            _lib.addr(lab), byref(sp), byref(out), byref(err)), err)
    inf = SegmentInfo._from_c(info)
    arrays = _take_intermediates(inter) if inter is not None else None
    return Segmentation(labels, probs, inf, arrays, cl, pic, size, crop)


def segment_memory(model, H, W, n_names, intermediates=False, params=None, head=None, **overrides):
    """Bytes a segmentation of an H x W input with n_names names will allocate (ct_segment_memory);
    the parameters are checked as segment() checks them."""
    mh = _check_model(model)
    sp = segment_params(head, params, **overrides)._to_c()
    n, err = c_size_t(), _lib.ct_error()
    check(lib.ct_segment_memory(mh.ptr, _lib.to_int(H, "H"), _lib.to_int(W, "W"), _lib.to_int(n_names, "n_names"),
                                byref(sp), 1 if intermediates else 0, byref(n), byref(err)), err)
    return n.value


# ------------------------------------------------------------------ CLIPtrase building blocks


def postprocess(img_tokens, corr_raw, H, W, class_embeddings, *, patch=16, logit_scale=100.0, name_labels=None,
                intermediates=False, params=None, **overrides):
    """The CLIPtrase cluster vote alone from encoder outputs (ct_postprocess): img_tokens
    [(1+h*w) x E], corr_raw [(1+h*w) x (1+h*w)] of an H x W input. Returns labels int32 [H x W],
    and with intermediates=True (labels, {name: array})."""
    H, W, patch = _lib.to_int(H, "H"), _lib.to_int(W, "W"), _lib.to_int(patch, "patch")
    tok = _lib.array(img_tokens, np.float32, 2, "img_tokens")
    T, E = tok.shape
    cor = _lib.array(corr_raw, np.float32, 2, "corr_raw", (T, T))
    emb = _lib.array(class_embeddings, np.float32, 2, "class_embeddings", (None, E))
    lab = None if name_labels is None else _lib.array(name_labels, np.int32, 1, "name_labels", (emb.shape[0],))
    if patch <= 0 or H % patch or W % patch or T != 1 + (H // patch) * (W // patch):
        raise ShapeError("img_tokens has %d rows; an %d x %d input with patch %d has %s tokens"
                         % (T, H, W, patch, 1 + (H // patch) * (W // patch) if patch > 0 else "no"))
    sp_py = segment_params(None, params, **overrides)
    sp = sp_py._to_c()
    labels = np.empty((H, W), np.int32)
    inter = _lib.ct_intermediates() if intermediates else None
    err = _lib.ct_error()
    check(lib.ct_postprocess(_lib.addr(tok), _lib.addr(cor), H, W, patch, _lib.to_int(E, "E"),
                             _lib.to_float(logit_scale, "logit_scale"), _lib.addr(emb),
                             _lib.to_int(emb.shape[0], "name count"), _lib.addr(lab), byref(sp), _lib.addr(labels),
                             ctypes.pointer(inter) if inter is not None else None, byref(err)), err)
    if inter is None:
        return labels
    return labels, _take_intermediates(inter)


def dbscan(x, eps, min_samples, threads=0):
    """DBSCAN with scikit-learn's semantics on the rows of x [n x d]: (labels int32 [n], -1 for
    noise; the number of clusters)."""
    a = _lib.array(x, np.float32, 2, "x")
    n, d = (_lib.to_int(v, "x dimension") for v in a.shape)
    labels = np.empty(n, np.int32)
    nc, err = c_int(), _lib.ct_error()
    check(lib.ct_dbscan(_lib.addr(a), n, d, _lib.to_float(eps, "eps"), _lib.to_int(min_samples, "min_samples"),
                        _lib.to_int(threads, "threads"), _lib.addr(labels), byref(nc), byref(err)), err)
    return labels, nc.value


def median_filter(x, size):
    """scipy.ndimage.median_filter(x, size, mode="reflect") of a 2-D float32 array."""
    a = _lib.array(x, np.float32, 2, "x")
    h, w = (_lib.to_int(v, "x dimension") for v in a.shape)
    y = np.empty_like(a)
    err = _lib.ct_error()
    check(lib.ct_median_filter(_lib.addr(a), h, w, _lib.to_int(size, "size"), _lib.addr(y), byref(err)), err)
    return y
