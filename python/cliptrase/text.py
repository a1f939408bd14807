"""The text side: Tokenizer, prompt templates, class embeddings and Classes (names, synonyms,
background names and their labels)."""

import ctypes
import os
import warnings
from ctypes import byref, c_int, c_size_t, c_void_p

import numpy as np

from . import _lib
from ._lib import check, lib
from .errors import InvalidArgumentError, ShapeError
from .model import Model


class Tokenizer(_lib.Owner):
    """CLIP's byte-level BPE tokenizer. path: OpenAI's bpe_simple_vocab_16e6.txt.gz (gzip or plain),
    or a Hugging Face vocab.json (merges.txt read from the same directory, or given as merges)."""

    _kind = "tokenizer"

    def __init__(self, path, merges=None):
        ptr, err = c_void_p(), _lib.ct_error()
        if merges is None:
            st = lib.ct_tokenizer_load(_lib.fs(path), byref(ptr), byref(err))
        else:
            st = lib.ct_tokenizer_load_hf(_lib.fs(path), _lib.fs(merges), byref(ptr), byref(err))
        check(st, err)
        super().__init__(_lib.Handle(ptr.value, lib.ct_tokenizer_free))
        self.path = path

    @property
    def vocab_size(self):
        return lib.ct_tokenizer_vocab_size(self._handle().ptr)

    def encode(self, text):
        """BPE ids of a text (int32 array), without start/end tokens, exactly as CLIP's
        SimpleTokenizer (text cleaning included)."""
        h = self._handle()
        b = _lib.text(text)
        n, err = c_size_t(), _lib.ct_error()
        cap = len(b) + 16
        while True:
            ids = np.empty(cap, np.int32)
            check(lib.ct_tokenize(h.ptr, b, len(b), _lib.addr(ids), cap, byref(n), byref(err)), err)
            if n.value <= cap:
                return ids[:n.value]
            cap = n.value

    def encode_context(self, text, context_length=77, return_truncated=False):
        """Start token, ids, end token, zero padding: int32 [context_length]. A list of texts gives
        [n x context_length] (the input of Model.encode_tokens). A text that does not fit is cut
        with the end token last; return_truncated=True also returns whether (a bool, or a bool
        array for a list)."""
        h = self._handle()
        ctx = _lib.to_int(context_length, "context_length")
        single = isinstance(text, (str, bytes))
        texts = [text] if single else list(text)
        out = np.empty((len(texts), max(ctx, 0)), np.int32)
        cut = np.zeros(len(texts), bool)
        t, err = c_int(), _lib.ct_error()
        for i, s in enumerate(texts):
            check(lib.ct_tokenize_context(h.ptr, _lib.text(s), _lib.addr(out[i]), ctx, byref(t), byref(err)), err)
            cut[i] = bool(t.value)
        if single:
            return (out[0], bool(cut[0])) if return_truncated else out[0]
        return (out, cut) if return_truncated else out

    def decode(self, ids):
        """UTF-8 text of ids (word ends become spaces, special and unknown ids are skipped)."""
        h = self._handle()
        a = _lib.array(ids, np.int32, 1, "ids")
        cap = 4 * a.size + 16
        while True:
            buf = ctypes.create_string_buffer(cap)
            need = lib.ct_detokenize(h.ptr, _lib.addr(a), a.size, buf, cap)
            if need < cap:
                return buf.raw[:need].decode("utf-8", "replace")
            cap = need + 1

    def __repr__(self):
        return "<cliptrase.Tokenizer %s%s>" % (self.path, " closed" if self.closed else "")


def default_templates():
    """The 80 ImageNet prompt templates of CLIP, each with one "{}" for the class name."""
    n = c_int()
    arr = lib.ct_default_templates(byref(n))
    return [arr[i].decode("utf-8") for i in range(n.value)]


def _check_model_tokenizer(model, tokenizer):
    if not isinstance(model, Model):
        raise InvalidArgumentError("model must be a cliptrase.Model, not %s" % type(model).__name__)
    if not isinstance(tokenizer, Tokenizer):
        raise InvalidArgumentError("tokenizer must be a cliptrase.Tokenizer, not %s" % type(tokenizer).__name__)
    return model._handle(), tokenizer._handle()


def class_embeddings(model, tokenizer, names, templates=None, threads=0, return_truncated=False):
    """L2-normalised class embeddings float32 [len(names) x embed_dim], as the reference computes
    them: each template filled with the name, encoded, L2-normalised; the mean L2-normalised.
    templates: list of strings with one "{}" (None: the 80 defaults). threads: 0 = all of the
    model's. Prompts longer than the context are cut (a warning says how many; return_truncated=
    True returns the count too)."""
    mh, th = _check_model_tokenizer(model, tokenizer)
    names_c, keep_n = _lib.cstr_array(names, "names")
    n = len(keep_n)
    if templates is None:
        tmpl_c, nt = None, 0
    else:
        tmpl_c, keep_t = _lib.cstr_array(templates, "templates")
        nt = len(keep_t)
    E = model.config.embed_dim
    out = np.empty((n, E), np.float32)
    cut, err = c_int(), _lib.ct_error()
    check(lib.ct_class_embeddings_ex(mh.ptr, th.ptr, ctypes.addressof(names_c), _lib.to_int(n, "name count"),
                                     None if tmpl_c is None else ctypes.addressof(tmpl_c), nt,
                                     _lib.to_int(threads, "threads"), _lib.addr(out), byref(cut), byref(err)), err)
    if cut.value and not return_truncated:
        warnings.warn("%d prompts were longer than the model's context and were cut" % cut.value, stacklevel=2)
    return (out, cut.value) if return_truncated else out


def _fold(name):
    """A name as CLIP sees it for equality (the tools' rule): ASCII lower case, blanks trimmed and
    runs of blanks (space, tab) as one space."""
    words = name.replace("\t", " ").split(" ")
    return " ".join(w for w in words if w).translate(_ASCII_LOWER)


_ASCII_LOWER = {c: c + 32 for c in range(ord("A"), ord("Z") + 1)}


def check_names(names, labels, background_label):
    """The tools' checks of a class list (tools/common/classes.c): every name non-empty after
    trimming, strict UTF-8 without control characters; a name given for two labels refused (a label
    whose names all appear elsewhere can never win); a name given twice for one label changes
    nothing and is kept, with a warning (the reference's VOC21 background list has "bed" twice)."""
    def where(label, i):
        if label == background_label:
            return "background name %d" % (i - labels.index(label) + 1)
        return "class %d" % label

    def label_name(label):
        return "the background" if label == background_label else "class %d" % label

    seen = {}
    for i, (name, label) in enumerate(zip(names, labels)):
        if isinstance(name, bytes):
            try:
                name = name.decode("utf-8")
            except UnicodeDecodeError as e:
                raise InvalidArgumentError("%s: not valid UTF-8 (byte %d)" % (where(label, i), e.start)) from None
        if not isinstance(name, str):
            raise InvalidArgumentError("%s: a name must be a string, not %s" % (where(label, i), type(name).__name__))
        if not name.strip(" "):
            raise InvalidArgumentError("%s: an empty name" % where(label, i))
        bad = [k for k, ch in enumerate(name) if 0 < ord(ch) < 0x20 or ord(ch) == 0x7f]  # NUL: cstr_array's message
        if bad:
            raise InvalidArgumentError("%s: a control character (character %d)" % (where(label, i), bad[0]))
        key = _fold(name)
        if key in seen:
            other = seen[key]
            if other == label:
                warnings.warn("the name '%s' is given twice in %s: kept (it changes nothing)" % (name, label_name(label)),
                              stacklevel=4)
            else:
                raise InvalidArgumentError("the name '%s' is given twice (%s and %s): a label whose names all appear "
                                           "elsewhere can never win" % (name, label_name(other), label_name(label)))
        else:
            seen[key] = label


class Classes:
    """What to segment into: names, their labels, their embeddings.

        Classes(model, tokenizer, ["cat", ["dog", "puppy"], "grass"], background=["sky", "wall"])

    Each entry of ``classes`` is one label: a name, or a list of synonyms (the label scores as the
    best of its names). Background names all map to one extra label, ``background_label``. Names
    are checked as the tools check them (check_names): an empty name, a control character or a
    name given for two labels is refused; a name twice within one label is kept with a warning.

    names         every name: the classes' names first, then the background names
    name_labels   int32 [n_names]: the label of each name
    titles        [n_labels]: a label's display name (its first name; "background")
    embeddings    float32 [n_names x embed_dim]
    """

    def __init__(self, model, tokenizer, classes, background=None, templates=None, threads=0):
        names, labels, titles = [], [], []
        if isinstance(classes, (str, bytes)):
            raise InvalidArgumentError("classes must be a list (of names, or of lists of synonyms), not a string")
        for i, c in enumerate(classes):
            if isinstance(c, (str, bytes)):
                syn = [c]
            elif isinstance(c, (list, tuple)):
                syn = list(c)
            else:
                raise InvalidArgumentError("class %d must be a name or a list of names, not %s" % (i, type(c).__name__))
            if not syn:
                raise InvalidArgumentError("class %d has no name" % i)
            names += syn
            labels += [i] * len(syn)
            titles.append(syn[0] if isinstance(syn[0], str) else os.fsdecode(syn[0]))
        bg = None
        if background:
            if isinstance(background, (str, bytes)):
                background = [background]
            bg = len(titles)
            names += list(background)
            labels += [bg] * len(background)
            titles.append("background")
        if not names:
            raise InvalidArgumentError("at least one class name is needed")
        check_names(names, labels, bg)
        emb = class_embeddings(model, tokenizer, names, templates, threads)
        self._set(names, np.asarray(labels, np.int32), titles, bg, emb)

    def _set(self, names, name_labels, titles, background_label, embeddings):
        self.names = list(names)
        self.name_labels = name_labels
        self.titles = list(titles)
        self.background_label = background_label
        self.embeddings = embeddings

    @classmethod
    def from_embeddings(cls, embeddings, name_labels=None, titles=None, background_label=None, names=None):
        """Classes from embeddings computed elsewhere (float32 [n x E], L2-normalised), e.g. cached.
        name_labels: int32 [n] (None: name i is label i)."""
        emb = _lib.array(embeddings, np.float32, 2, "embeddings")
        n = emb.shape[0]
        if name_labels is None:
            lab = np.arange(n, dtype=np.int32)
        else:
            lab = _lib.array(name_labels, np.int32, 1, "name_labels", (n,))
        n_labels = int(lab.max()) + 1 if n and lab.min() >= 0 else 0
        if titles is None:
            titles = [str(i) for i in range(n_labels)]
        self = cls.__new__(cls)
        self._set(names if names is not None else [str(i) for i in range(n)], lab, titles, background_label, emb)
        return self

    @property
    def n_labels(self):
        return len(self.titles)

    def __len__(self):
        return self.n_labels

    def __repr__(self):
        shown = ", ".join(self.titles[:8]) + (", ..." if self.n_labels > 8 else "")
        return "<cliptrase.Classes %d labels, %d names: %s>" % (self.n_labels, len(self.names), shown)


def as_classes(classes, model, tokenizer=None, background=None, templates=None, name_labels=None, threads=0):
    """Classes from what segment() accepts: a Classes, an embeddings array, or names (with a
    tokenizer)."""
    if isinstance(classes, Classes):
        if background is not None or name_labels is not None or templates is not None:
            raise InvalidArgumentError("background, name_labels and templates belong in Classes(...) "
                                       "when classes is one")
        return classes
    if isinstance(classes, np.ndarray):
        if background is not None or templates is not None:
            raise InvalidArgumentError("background and templates need names, not embeddings (use name_labels)")
        return Classes.from_embeddings(classes, name_labels)
    if name_labels is not None:
        raise InvalidArgumentError("name_labels goes with an embeddings array; with names, use lists of synonyms "
                                   "and background")
    if tokenizer is None:
        raise InvalidArgumentError("class names need a tokenizer= (or pass a cliptrase.Classes, or embeddings)")
    return Classes(model, tokenizer, classes, background, templates, threads)


def check_embeddings(classes, model):
    """The embeddings and labels of a Classes as the library reads them: embeddings converted to
    C-contiguous float32 [n_names x embed_dim] (float64, Fortran-order or strided arrays are
    copied), name_labels to int32 [n_names] (values outside int32 refused), their counts agreeing
    and the embedding size the model's. Checked at every use: a Classes' fields may be replaced."""
    if not isinstance(classes, Classes):
        raise InvalidArgumentError("classes must be a cliptrase.Classes, not %s" % type(classes).__name__)
    emb = _lib.array(classes.embeddings, np.float32, 2, "class embeddings")
    n, E = emb.shape
    if E != model.config.embed_dim:
        raise ShapeError("class embeddings have %d columns; the model's embedding size is %d"
                         % (E, model.config.embed_dim))
    lab = _lib.array(classes.name_labels, np.int32, 1, "name_labels")
    if lab.shape[0] != n:
        raise ShapeError("name_labels has %d entries but there are %d class embeddings (one label per embedding row)"
                         % (lab.shape[0], n))
    return emb, lab
