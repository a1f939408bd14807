"""Runtime (worker threads), Model (a loaded CLIP checkpoint) and its Config."""

import ctypes
import dataclasses
from ctypes import byref, c_void_p

import numpy as np

from . import _lib
from ._lib import check, lib
from .errors import InvalidArgumentError

_NAMINGS = ("openai", "hf")
_DTYPES = ("F32", "F16", "BF16")
_ARCHS = ("clip", "dino", "dinov2")
_ACTS = ("quick_gelu", "gelu")
_SOURCES = ("openai-rule", "metadata", "open_clip_config.json", "config.json")
_ENUMS = {"naming": _NAMINGS, "dtype": _DTYPES, "vision_act": _ACTS, "text_act": _ACTS, "heads_source": _SOURCES,
          "act_source": _SOURCES, "eps_source": _SOURCES, "arch": _ARCHS}
_BACKENDS = {"native": 0, "openblas": 1, "blas": 1}


def precision_name(p):
    return lib.ct_precision_name(p).decode()


def parse_precision(name):
    """A precision name ("fp32", "bf16", "float32", "bfloat16") as the library's enum value."""
    return _lib.parse_name(lib.ct_precision_parse, name, "precision")


def precision_available(name):
    """Whether this CPU runs the precision ("fp32" always; "bf16" needs AVX512_BF16)."""
    return bool(lib.ct_precision_available(parse_precision(name)))


class Runtime(_lib.Owner):
    """A set of worker threads several models can share (``Model(..., runtime=rt)``).
    threads counts the calling thread; 0 = all cores. It stays alive as long as a model uses it."""

    _kind = "runtime"

    def __init__(self, threads=0):
        ptr, err = c_void_p(), _lib.ct_error()
        check(lib.ct_runtime_new(_lib.to_int(threads, "threads"), byref(ptr), byref(err)), err)
        super().__init__(_lib.Handle(ptr.value, lib.ct_runtime_free))

    @property
    def threads(self):
        return lib.ct_runtime_threads(self._handle().ptr)

    def __repr__(self):
        return "<cliptrase.Runtime %s>" % ("closed" if self.closed else "%d threads" % self.threads)


@dataclasses.dataclass(frozen=True)
class Config:
    """The architecture (ct_config): sizes from the checkpoint's tensor shapes; heads, MLP activations
    and LayerNorm eps from its configuration (the header's metadata, open_clip_config.json or
    config.json beside it: *_source says which; "openai-rule" when none: heads of 64, QuickGELU)."""

    vision_width: int
    vision_layers: int
    vision_heads: int
    patch: int
    grid: int
    image_size: int
    embed_dim: int
    text_width: int
    text_layers: int
    text_heads: int
    context_length: int
    vocab_size: int
    logit_scale: float
    naming: str  # "openai" or "hf"
    dtype: str   # "F32", "F16" or "BF16": the weights in the file
    vision_mlp: int = 0
    text_mlp: int = 0
    vision_act: str = "quick_gelu"  # or "gelu" (exact)
    text_act: str = "quick_gelu"
    vision_ln_eps: float = 1e-5
    text_ln_eps: float = 1e-5
    heads_source: str = "openai-rule"
    act_source: str = "openai-rule"
    eps_source: str = "openai-rule"
    arch: str = "clip"  # "clip", or "dino" / "dinov2": a vision backbone alone, the proxy of head "proxyclip"
    registers: int = 0  # DINOv2 register tokens

    @classmethod
    def _from_c(cls, c):
        kw = {f.name: getattr(c, f.name) for f in dataclasses.fields(cls)}
        for k, names in _ENUMS.items():
            kw[k] = names[kw[k]] if 0 <= kw[k] < len(names) else str(kw[k])
        return cls(**kw)

    def _to_c(self):
        c = _lib.ct_config()
        for f in dataclasses.fields(self):
            v = getattr(self, f.name)
            if f.name in _ENUMS:
                v = _ENUMS[f.name].index(v) if v in _ENUMS[f.name] else 0
            setattr(c, f.name, v)
        return c

    def as_dict(self):
        return dataclasses.asdict(self)

    def describe(self):
        """The library's one-line description (ct_config_describe)."""
        buf = ctypes.create_string_buffer(1024)
        c = self._to_c()
        lib.ct_config_describe(byref(c), buf, len(buf))
        return buf.value.decode("utf-8", "replace")


class Model(_lib.Owner):
    """A CLIP ViT checkpoint (.safetensors: F32/F16/BF16, OpenAI/open_clip or Hugging Face names),
    or a DINO / DINOv2 backbone (config.arch "dino" / "dinov2"): the proxy of head "proxyclip"
    (segment(..., params=segment_params("proxyclip", proxy=dino_model))).

    precision: "fp32" (default) or "bf16" (needs AVX512_BF16; else UnsupportedError).
    backend: "native" (default) or "openblas" (fp32 only: a reference).
    threads: threads of the model's own runtime (0 = all cores); runtime: share a Runtime instead.
    check_finite: refuse weights holding NaN/Inf (NonFiniteError).

    Immutable once loaded: any number of Python threads may use one Model at once. Use it as a
    context manager, or close() it, to release it early; otherwise it is freed with its last
    reference.
    """

    _kind = "model"

    def __init__(self, path, *, precision="fp32", backend="native", threads=0, check_finite=False,
                 runtime=None):
        p = _lib.ct_load_params()
        lib.ct_load_params_default(byref(p))
        p.precision = parse_precision(precision)
        if not isinstance(backend, str) or backend not in _BACKENDS:
            raise InvalidArgumentError("unknown backend %r (native, openblas)" % (backend,))
        p.backend = _BACKENDS[backend]
        p.n_threads = _lib.to_int(threads, "threads")
        p.check_finite = 1 if check_finite else 0
        deps = ()
        if runtime is not None:
            if not isinstance(runtime, Runtime):
                raise InvalidArgumentError("runtime must be a cliptrase.Runtime, not %s" % type(runtime).__name__)
            rh = runtime._handle()
            p.runtime = rh.ptr
            deps = (rh,)
        ptr, err = c_void_p(), _lib.ct_error()
        check(lib.ct_model_load_ex(_lib.fs(path), byref(p), byref(ptr), byref(err)), err)
        super().__init__(_lib.Handle(ptr.value, lib.ct_model_free, deps))
        self.path = path
        self.config = Config._from_c(lib.ct_model_config(ptr.value).contents)

    @property
    def precision(self):
        """"fp32" or "bf16", as chosen at load."""
        return precision_name(lib.ct_model_precision(self._handle().ptr))

    @property
    def threads(self):
        """Threads the model's calls may use (its runtime's)."""
        return lib.ct_model_threads(self._handle().ptr)

    def describe(self):
        """One line: architecture, precision, kernel, threads, CPU (ct_model_describe)."""
        h = self._handle()
        buf = ctypes.create_string_buffer(1024)
        lib.ct_model_describe(h.ptr, buf, len(buf))
        return buf.value.decode("utf-8", "replace")

    def encode_tokens(self, tokens):
        """Projected, un-normalised text features [n x embed_dim] of token sequences
        [n x context_length] (int32; each stops at its end-of-text token), e.g. from
        Tokenizer.encode_context."""
        h = self._handle()
        c = self.config
        t = _lib.array(tokens, np.int32, 2, "tokens", (None, c.context_length))
        n = t.shape[0]
        if n == 0:
            return np.empty((0, c.embed_dim), np.float32)
        out = np.empty((n, c.embed_dim), np.float32)
        err = _lib.ct_error()
        check(lib.ct_encode_tokens(h.ptr, _lib.addr(t), _lib.to_int(n, "token rows"), _lib.addr(out), byref(err)), err)
        return out

    def __repr__(self):
        if self.closed:
            return "<cliptrase.Model closed>"
        return "<cliptrase.Model %s: %s>" % (self.path, self.describe())
