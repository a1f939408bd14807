"""The shared library: where it is, its version, the C structs and function signatures, and the
small helpers every wrapper uses (error checking, owned handles, arrays over library memory).

Which library: $CLIPTRASE_LIBRARY when set (a path to the file); else the path recorded when the
package was installed (cliptrase/_build_info.py, written by setup.py); else, for the package
used in place from the source tree (PYTHONPATH=python), the tree's own build,
build/release/lib/libcliptrase.so.MAJOR.MINOR next to python/. Never a search of the current
directory or of the loader's paths. A library whose ct_version() differs from the package's
version is refused.

ctypes.CDLL releases the GIL for the duration of every foreign call, so Python threads run while
the library computes.
"""

import ctypes
import os
from ctypes import (POINTER, Structure, c_char, c_char_p, c_double, c_float, c_int, c_size_t, c_uint8,
                    c_void_p)

import numpy as np

from ._version import __version__
from .errors import InvalidArgumentError, LibraryError, ShapeError, error_for

_MAJOR_MINOR = ".".join(__version__.split(".")[:2])
SONAME = "libcliptrase.so." + _MAJOR_MINOR

# constants of include/cliptrase.h (tests/test_abi.py compares them with the header)
HEAD_COUNT = 8
MAX_DILATIONS = 8
MAX_PATCHES = 128 * 128
MAX_IMAGE_PIXELS = 64 * 1024 * 1024
DEFAULT_SIZE = 336  # CT_DEFAULT_SIZE
TOKEN_SOT = 49406
TOKEN_EOT = 49407
INT32_MIN, INT32_MAX = -(2 ** 31), 2 ** 31 - 1


# ------------------------------------------------------------------ structs


class ct_error(Structure):
    _fields_ = [("status", c_int), ("msg", c_char * 512)]


class ct_config(Structure):
    _fields_ = [("vision_width", c_int), ("vision_layers", c_int), ("vision_heads", c_int),
                ("patch", c_int), ("grid", c_int), ("image_size", c_int), ("embed_dim", c_int),
                ("text_width", c_int), ("text_layers", c_int), ("text_heads", c_int),
                ("context_length", c_int), ("vocab_size", c_int), ("logit_scale", c_float),
                ("naming", c_int), ("dtype", c_int),
                ("vision_mlp", c_int), ("text_mlp", c_int), ("vision_act", c_int), ("text_act", c_int),
                ("vision_ln_eps", c_float), ("text_ln_eps", c_float),
                ("heads_source", c_int), ("act_source", c_int), ("eps_source", c_int),
                ("arch", c_int), ("registers", c_int)]


class ct_load_params(Structure):
    _fields_ = [("check_finite", c_int), ("precision", c_int), ("backend", c_int),
                ("n_threads", c_int), ("runtime", c_void_p), ("kernel", c_char_p)]


class ct_image_features(Structure):
    _fields_ = [("image_embedding", c_void_p), ("img_tokens", c_void_p), ("corr_raw", c_void_p)]


class ct_segment_params(Structure):
    _fields_ = [("head", c_int), ("gaussian_std", c_float), ("eps", c_float), ("min_samples", c_int),
                ("median_size", c_int), ("upsample_ratio", c_int), ("cls_reweight", c_int),
                ("slide_crop", c_int), ("slide_stride", c_int), ("pamr_steps", c_int),
                ("pamr_dilations", c_int * MAX_DILATIONS), ("n_pamr_dilations", c_int),
                ("logit_scale", c_float), ("prob_thd", c_float), ("area_thd", c_float),
                ("n_threads", c_int), ("sc_layers", c_int * 4), ("sc_res_cls", c_float), ("sc_beta", c_float),
                ("proxy", c_void_p), ("proxy_beta", c_float), ("proxy_gamma", c_float)]


class ct_segment_info(Structure):
    _fields_ = [("head", c_int), ("H", c_int), ("W", c_int), ("h", c_int), ("w", c_int),
                ("n_names", c_int), ("n_labels", c_int), ("n_windows", c_int), ("n_clusters", c_int),
                ("eps", c_float), ("min_samples", c_int), ("median_size", c_int),
                ("upsample_ratio", c_int), ("logit_scale", c_float), ("n_thresholded", c_int),
                ("n_threads", c_int), ("precision", c_int), ("kernel", c_char_p),
                ("t_encode", c_double), ("t_post", c_double), ("t_total", c_double),
                ("workspace_bytes", c_size_t)]


# the array members of ct_intermediates, in the header's order
INTERMEDIATE_ARRAYS = ("image_embedding", "img_tokens", "corr_raw", "corr", "patch_logits", "logits_up",
                       "pred_raw", "dbscan_labels", "cluster_maps", "cluster_assign", "pred", "seg_logits",
                       "pamr_logits", "outliers", "proxy_features")


class ct_intermediates(Structure):
    _fields_ = [("H", c_int), ("W", c_int), ("h", c_int), ("w", c_int), ("n_names", c_int),
                ("embed_dim", c_int), ("n_clusters", c_int), ("eps", c_float), ("min_samples", c_int),
                ("median_size", c_int), ("upsample_ratio", c_int)] + \
               [(name, c_void_p) for name in INTERMEDIATE_ARRAYS[:-1]] + \
               [("n_windows", c_int), ("win_h", c_int), ("win_w", c_int), ("img_tokens_rows", c_int),
                ("proxy_features", c_void_p), ("proxy_h", c_int), ("proxy_w", c_int), ("proxy_dim", c_int)]


class ct_segment_outputs(Structure):
    _fields_ = [("labels", c_void_p), ("probs", c_void_p), ("info", POINTER(ct_segment_info)),
                ("inter", POINTER(ct_intermediates))]


class ct_image(Structure):
    _fields_ = [("width", c_int), ("height", c_int), ("rgb", POINTER(c_uint8))]


class ct_geometry(Structure):
    _fields_ = [("resized_width", c_int), ("resized_height", c_int), ("crop_left", c_int), ("crop_top", c_int),
                ("width", c_int), ("height", c_int)]


class ct_segment_cost_info(Structure):
    _fields_ = [("n_windows", c_int), ("n_clusters", c_int), ("encoder_ops", c_double), ("post_ops", c_double),
                ("total_ops", c_double), ("bytes", c_size_t)]


STRUCTS = (ct_error, ct_config, ct_load_params, ct_image_features, ct_segment_params, ct_segment_info,
           ct_intermediates, ct_segment_outputs, ct_image, ct_geometry, ct_segment_cost_info)

# ------------------------------------------------------------------ functions

P = c_void_p          # opaque handles and arrays (passed as integer addresses)
PP = POINTER(c_void_p)
E = POINTER(ct_error)
S = c_int             # ct_status
PI = POINTER(c_int)
_SIGNATURES = {
    "ct_version": (c_char_p, []),
    "ct_build_info": (c_char_p, []),
    "ct_status_str": (c_char_p, [c_int]),
    "ct_free": (None, [P]),
    "ct_label_color": (None, [c_int, c_int, P]),
    "ct_round_size": (c_int, [c_int, c_int]),
    "ct_runtime_new": (S, [c_int, PP, E]),
    "ct_runtime_free": (None, [P]),
    "ct_runtime_threads": (c_int, [P]),
    "ct_cpu_count": (c_int, []),
    "ct_load_params_default": (None, [POINTER(ct_load_params)]),
    "ct_model_load": (S, [c_char_p, PP, E]),
    "ct_model_load_ex": (S, [c_char_p, POINTER(ct_load_params), PP, E]),
    "ct_model_free": (None, [P]),
    "ct_model_config": (POINTER(ct_config), [P]),
    "ct_model_metadata": (c_char_p, [P, c_char_p]),
    "ct_model_precision": (c_int, [P]),
    "ct_model_threads": (c_int, [P]),
    "ct_model_describe": (None, [P, c_char_p, c_size_t]),
    "ct_config_describe": (None, [POINTER(ct_config), c_char_p, c_size_t]),
    "ct_precision_name": (c_char_p, [c_int]),
    "ct_precision_parse": (S, [c_char_p, PI, E]),
    "ct_precision_available": (c_int, [c_int]),
    "ct_kernel_id": (c_char_p, [c_int, POINTER(c_int), POINTER(c_int), POINTER(c_char_p)]),
    "ct_tokenizer_load": (S, [c_char_p, PP, E]),
    "ct_tokenizer_load_hf": (S, [c_char_p, c_char_p, PP, E]),
    "ct_tokenizer_free": (None, [P]),
    "ct_tokenizer_vocab_size": (c_int, [P]),
    "ct_tokenize": (S, [P, c_char_p, c_size_t, P, c_size_t, POINTER(c_size_t), E]),
    "ct_tokenize_context": (S, [P, c_char_p, P, c_int, PI, E]),
    "ct_detokenize": (c_size_t, [P, P, c_size_t, c_char_p, c_size_t]),
    "ct_default_templates": (POINTER(c_char_p), [PI]),
    "ct_encode_tokens": (S, [P, P, c_int, P, E]),
    "ct_class_embeddings": (S, [P, P, P, c_int, P, c_int, c_int, P, E]),
    "ct_class_embeddings_ex": (S, [P, P, P, c_int, P, c_int, c_int, P, PI, E]),
    "ct_head_name": (c_char_p, [c_int]),
    "ct_head_parse": (S, [c_char_p, PI, E]),
    "ct_encode_image": (S, [P, P, c_int, c_int, c_int, POINTER(ct_image_features), E]),
    "ct_segment_params_default": (None, [POINTER(ct_segment_params)]),
    "ct_segment_params_preset": (None, [POINTER(ct_segment_params), c_int]),
    "ct_segment_params_preset_for": (None, [POINTER(ct_segment_params), c_int, P]),
    "ct_intermediates_free": (None, [POINTER(ct_intermediates)]),
    "ct_segment": (S, [P, P, c_int, c_int, P, c_int, P, POINTER(ct_segment_params), P,
                       POINTER(ct_intermediates), E]),
    "ct_segment_ex": (S, [P, P, c_int, c_int, P, c_int, P, POINTER(ct_segment_params),
                          POINTER(ct_segment_outputs), E]),
    "ct_segment_memory": (S, [P, c_int, c_int, c_int, POINTER(ct_segment_params), c_int,
                              POINTER(c_size_t), E]),
    "ct_segment_cost": (S, [P, c_int, c_int, c_int, POINTER(ct_segment_params), c_int,
                            POINTER(ct_segment_cost_info), E]),
    "ct_postprocess": (S, [P, P, c_int, c_int, c_int, c_int, c_float, P, c_int, P,
                           POINTER(ct_segment_params), P, POINTER(ct_intermediates), E]),
    "ct_dbscan": (S, [P, c_int, c_int, c_float, c_int, c_int, P, PI, E]),
    "ct_median_filter": (S, [P, c_int, c_int, c_int, P, E]),
    "ct_image_load": (S, [c_char_p, PP, E]),
    "ct_image_from_rgb": (S, [P, c_int, c_int, PP, E]),
    "ct_image_free": (None, [P]),
    "ct_image_save_png": (S, [P, c_char_p, E]),
    "ct_labels_save_png": (S, [P, c_int, c_int, c_int, c_char_p, E]),
    "ct_labels_load_png": (S, [c_char_p, PP, PI, PI, E]),
    "ct_read_file": (S, [c_char_p, c_size_t, PP, POINTER(c_size_t), E]),
    "ct_output_open": (S, [c_char_p, PP, E]),
    "ct_output_write": (None, [P, P, c_size_t]),
    "ct_output_commit": (S, [P, E]),
    "ct_output_abort": (None, [P]),
    "ct_preprocess": (S, [P, c_int, c_int, c_int, PP, PI, PI, E]),
    "ct_resize_geometry": (S, [c_int, c_int, c_int, c_int, c_int, POINTER(ct_geometry), E]),
    "ct_resize_for_model": (S, [P, c_int, c_int, c_int, PP, E]),
    "ct_labels_to_image": (S, [P, c_int, c_int, c_int, c_int, c_int, c_int, P, E]),
    "ct_normalize": (S, [P, PP, E]),
}


def _locate():
    """(path, how it was chosen)."""
    env = os.environ.get("CLIPTRASE_LIBRARY")
    if env:
        return os.path.abspath(os.path.expanduser(env)), "$CLIPTRASE_LIBRARY"
    try:
        from . import _build_info
    except ImportError:
        _build_info = None
    if _build_info is not None:
        return _build_info.LIBRARY, "the path recorded at install"
    here = os.path.dirname(os.path.abspath(__file__))
    tree = os.path.join(os.path.dirname(os.path.dirname(here)), "build", "release", "lib", SONAME)
    return tree, "the source tree's build (run make, or set CLIPTRASE_LIBRARY)"


def _load():
    path, how = _locate()
    if not os.path.isfile(path):
        raise LibraryError("cliptrase: no library at '%s' (%s)" % (path, how))
    try:
        dll = ctypes.CDLL(path)
    except OSError as e:
        raise LibraryError("cliptrase: cannot load '%s' (%s): %s" % (path, how, e)) from None
    try:
        ver = dll.ct_version
    except AttributeError:
        raise LibraryError("cliptrase: '%s' is not libcliptrase (no ct_version)" % path) from None
    ver.restype, ver.argtypes = c_char_p, []
    got = (ver() or b"").decode("ascii", "replace")
    if got != __version__:
        raise LibraryError("cliptrase: '%s' is libcliptrase %s; this package is %s and needs exactly that "
                           "version (rebuild and reinstall the package, or set CLIPTRASE_LIBRARY)"
                           % (path, got, __version__))
    for name, (restype, argtypes) in _SIGNATURES.items():
        try:
            fn = getattr(dll, name)
        except AttributeError:
            raise LibraryError("cliptrase: '%s' (version %s) lacks %s" % (path, got, name)) from None
        fn.restype, fn.argtypes = restype, argtypes
    return dll, path


lib, LIBRARY_PATH = _load()


# ------------------------------------------------------------------ helpers


def check(status, err):
    """Raise the exception of a failed call (status != 0) with the library's message."""
    if status:
        msg = err.msg.decode("utf-8", "replace") or lib.ct_status_str(status).decode()
        raise error_for(status, msg)


def parse_name(parse, name, what):
    """The enum value of a name through the library's parser (ct_precision_parse, ct_head_parse),
    which also words the error."""
    out, err = c_int(), ct_error()
    check(parse(text(name, what), ctypes.byref(out), ctypes.byref(err)), err)
    return out.value


def fs(path):
    """A path (str, bytes or os.PathLike) as the bytes the C library opens."""
    try:
        b = os.fsencode(path)
    except TypeError:
        raise InvalidArgumentError("a path must be a str, bytes or os.PathLike, not %s"
                                   % type(path).__name__) from None
    if b"\0" in b:
        raise InvalidArgumentError("path %r contains a NUL character" % (path,))
    return b


def text(s, what="text"):
    """A str as UTF-8 bytes for the library. Lone surrogates pass through as the invalid bytes they
    stand for; the library replaces invalid UTF-8 by U+FFFD."""
    if isinstance(s, bytes):
        b = s
    elif isinstance(s, str):
        b = s.encode("utf-8", "surrogatepass")
    else:
        raise InvalidArgumentError("%s must be a str, not %s" % (what, type(s).__name__))
    if b"\0" in b:
        raise InvalidArgumentError("%s %r contains a NUL character" % (what, s))
    return b


def cstr_array(items, what):
    """(ctypes array of char*, keep-alive list) for a sequence of strings."""
    if isinstance(items, (str, bytes)):
        raise InvalidArgumentError("%s must be a list of strings, not a single string" % what)
    enc = [text(s, what[:-1] if what.endswith("s") else what) for s in items]
    arr = (c_char_p * max(len(enc), 1))(*enc)
    return arr, enc


def to_int(v, what, lo=INT32_MIN, hi=INT32_MAX):
    """A Python integer (bool included) in [lo, hi] for a C int."""
    if isinstance(v, (bool, np.bool_)):
        v = int(v)
    if isinstance(v, (float, np.floating)) and float(v).is_integer():
        v = int(v)
    if not isinstance(v, (int, np.integer)):
        raise InvalidArgumentError("%s must be an integer, not %r" % (what, v))
    v = int(v)
    if not lo <= v <= hi:
        raise InvalidArgumentError("%s %d outside [%d, %d]" % (what, v, lo, hi))
    return v


def to_float(v, what):
    """A real number for a C float (range and finiteness are the library's to check)."""
    if isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, float, np.integer, np.floating)):
        raise InvalidArgumentError("%s must be a number, not %r" % (what, v))
    return float(v)


def array_like(a, what):
    """np.asarray(a), with a readable error for what numpy cannot read (ragged lists, ...)."""
    try:
        arr = np.asarray(a)
    except Exception as e:
        raise InvalidArgumentError("%s: not an array (%s)" % (what, e)) from None
    if arr.dtype == object:
        raise InvalidArgumentError("%s: not an array of numbers (%s)" % (what, type(a).__name__))
    return arr


def array(a, dtype, ndim, what, shape=None):
    """`a` as a C-contiguous array of `dtype` with `ndim` dimensions (copied only when it is not
    one already). shape: expected sizes, None entries free. Raises ShapeError / InvalidArgument."""
    arr = array_like(a, what)
    if arr.ndim != ndim:
        raise ShapeError("%s must have %d dimensions, not shape %s" % (what, ndim, arr.shape))
    if shape is not None:
        for i, (got, want) in enumerate(zip(arr.shape, shape)):
            if want is not None and got != want:
                raise ShapeError("%s has shape %s: dimension %d must be %d" % (what, arr.shape, i, want))
    if arr.dtype != dtype and arr.size:  # (an empty list is float64 to numpy: fine for any dtype)
        kind = np.dtype(dtype).kind
        ok = arr.dtype.kind in ("f", "i", "u") if kind == "f" else arr.dtype.kind in ("i", "u", "b")
        if not ok or kind in "iu" and (arr.min() < np.iinfo(dtype).min or arr.max() > np.iinfo(dtype).max):
            raise InvalidArgumentError("%s: dtype %s cannot be used as %s" % (what, arr.dtype, np.dtype(dtype)))
    return np.ascontiguousarray(arr, dtype=dtype)


def addr(a):
    """Address of a numpy array's data, or None."""
    return None if a is None else a.ctypes.data


class Handle:
    """An object the library allocated, freed exactly once by `free` when the last Python reference
    goes (an in-flight call holds one, so closing an object another thread is using is safe).
    `deps` are handles that must outlive this one (a model's shared runtime)."""

    __slots__ = ("ptr", "_free", "deps", "__weakref__")

    def __init__(self, ptr, free, deps=()):
        self.ptr = ptr
        self._free = free
        self.deps = tuple(deps)

    def __del__(self):
        p, self.ptr = self.ptr, None
        if p and self._free is not None:
            self._free(p)


class Owner:
    """Base of the user-facing objects over a Handle: close(), context manager, a clear error on
    use after close."""

    _kind = "object"

    def __init__(self, handle):
        self._h = handle

    def _handle(self):
        h = self._h
        if h is None:
            raise InvalidArgumentError("this %s is closed" % self._kind)
        return h

    @property
    def closed(self):
        return self._h is None

    def close(self):
        """Release the library object (freed once no call is using it any more)."""
        self._h = None

    def __enter__(self):
        self._handle()
        return self

    def __exit__(self, *exc):
        self.close()


class _Memory:
    """numpy's view of a buffer the library owns: keeps `owner` alive as long as an array uses it."""

    def __init__(self, ptr, shape, dtype, owner):
        self.__array_interface__ = {"shape": tuple(shape), "typestr": np.dtype(dtype).str,
                                    "data": (ptr, False), "version": 3}
        self._owner = owner


def wrap(ptr, shape, dtype, owner):
    """A numpy array over library memory at `ptr` (no copy), alive as long as `owner` is."""
    return np.asarray(_Memory(ptr, shape, dtype, owner))


def take_buffer(ptr, shape, dtype):
    """A numpy array over a plain buffer the library handed over; ct_free'd with the last array."""
    return wrap(ptr, shape, dtype, Handle(ptr, lib.ct_free))
