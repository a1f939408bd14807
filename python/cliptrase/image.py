"""Pictures: decoding, the reference's resize and normalisation, label maps back to the picture,
PNG files (all through the library), and colouring label maps for display."""

import os
from ctypes import byref, c_int, c_void_p

import numpy as np

from . import _lib
from ._lib import check, lib
from .errors import InvalidArgumentError, TooLargeError


def _image_ptr(ptr):
    return _lib.ctypes.cast(ptr, _lib.POINTER(_lib.ct_image)).contents


class Image(_lib.Owner):
    """An 8-bit RGB picture held by the library (ct_image).

    Image(path) decodes JPEG/PNG/BMP/TGA/GIF (first frame); Image(array) takes a uint8
    [height x width x 3] array (copied once into the library's image). ``rgb`` is a numpy view of
    the pixels (no copy; it keeps the pixels alive even after close())."""

    _kind = "image"

    def __init__(self, source):
        ptr, err = c_void_p(), _lib.ct_error()
        if isinstance(source, np.ndarray):
            check_picture_shape(source.shape)  # before any copy: a broadcast view costs nothing until copied
            a = _lib.array(source, np.uint8, 3, "an RGB picture", (None, None, 3))
            h, w = a.shape[0], a.shape[1]
            check(lib.ct_image_from_rgb(_lib.addr(a), _lib.to_int(w, "width"), _lib.to_int(h, "height"),
                                        byref(ptr), byref(err)), err)
            self.path = None
        else:
            check(lib.ct_image_load(_lib.fs(source), byref(ptr), byref(err)), err)
            self.path = source
        super().__init__(_lib.Handle(ptr.value, lib.ct_image_free))

    @classmethod
    def _adopt(cls, ptr):
        self = cls.__new__(cls)
        _lib.Owner.__init__(self, _lib.Handle(ptr, lib.ct_image_free))
        self.path = None
        return self

    @property
    def width(self):
        return _image_ptr(self._handle().ptr).width

    @property
    def height(self):
        return _image_ptr(self._handle().ptr).height

    @property
    def shape(self):
        """(height, width, 3), as the rgb array."""
        im = _image_ptr(self._handle().ptr)
        return (im.height, im.width, 3)

    @property
    def rgb(self):
        """uint8 [height x width x 3] over the library's pixels (no copy)."""
        h = self._handle()
        im = _image_ptr(h.ptr)
        return _lib.wrap(_lib.ctypes.addressof(im.rgb.contents), (im.height, im.width, 3), np.uint8, h)

    def __array__(self, dtype=None, copy=None):
        a = self.rgb
        if dtype is not None and a.dtype != dtype:
            return a.astype(dtype)
        return a.copy() if copy else a

    def save_png(self, path):
        """Write an 8-bit RGB PNG (complete or not at all: a temporary file renamed over path)."""
        err = _lib.ct_error()
        check(lib.ct_image_save_png(self._handle().ptr, _lib.fs(path), byref(err)), err)

    def resize_for_model(self, size, crop=False, patch=16):
        """The reference's resize (Pillow's antialiased bicubic): short side to size, then a
        size x size centre crop (crop=True), or the long side to the nearest multiple of patch."""
        h = self._handle()
        ptr, err = c_void_p(), _lib.ct_error()
        check(lib.ct_resize_for_model(h.ptr, _lib.to_int(size, "size"), 1 if crop else 0, _lib.to_int(patch, "patch"),
                                      byref(ptr), byref(err)), err)
        return Image._adopt(ptr.value)

    def normalize(self):
        """CLIP-normalised pixels float32 [3 x height x width] of this picture as it is."""
        h = self._handle()
        ptr, err = c_void_p(), _lib.ct_error()
        check(lib.ct_normalize(h.ptr, byref(ptr), byref(err)), err)
        im = _image_ptr(h.ptr)
        return _lib.take_buffer(ptr.value, (3, im.height, im.width), np.float32)

    def preprocess(self, size, crop=False, patch=16):
        """resize_for_model then normalize: the model input float32 [3 x H x W] (no copy: numpy
        owns the library's buffer)."""
        h = self._handle()
        ptr, H, W, err = c_void_p(), c_int(), c_int(), _lib.ct_error()
        check(lib.ct_preprocess(h.ptr, _lib.to_int(size, "size"), 1 if crop else 0, _lib.to_int(patch, "patch"),
                                byref(ptr), byref(H), byref(W), byref(err)), err)
        return _lib.take_buffer(ptr.value, (3, H.value, W.value), np.float32)

    def __repr__(self):
        if self.closed:
            return "<cliptrase.Image closed>"
        src = " from %s" % os.fspath(self.path) if self.path else ""
        return "<cliptrase.Image %d x %d%s>" % (self.width, self.height, src)


def check_picture_shape(shape):
    """The library's CT_MAX_IMAGE_PIXELS limit on a [height x width x 3] picture, from its shape
    alone, so nothing is copied or allocated for a picture that will be refused (other shapes are
    refused by the conversion that follows)."""
    if len(shape) == 3 and int(shape[0]) * int(shape[1]) > _lib.MAX_IMAGE_PIXELS:
        raise TooLargeError("a picture of %d x %d (width x height) is above the %d-pixel limit"
                            % (shape[1], shape[0], _lib.MAX_IMAGE_PIXELS))


def load_image(path):
    """Image(path)."""
    return Image(path)


def as_image(picture):
    """An Image from an Image, a path or a uint8 [H x W x 3] array."""
    return picture if isinstance(picture, Image) else Image(picture)


def save_png(rgb, path):
    """Write a uint8 [height x width x 3] array (or an Image) as an 8-bit RGB PNG, through the library
    (complete or not at all)."""
    if isinstance(rgb, Image):
        return rgb.save_png(path)
    a = _lib.array(rgb, np.uint8, 3, "an RGB picture", (None, None, 3))
    im = _lib.ct_image(_lib.to_int(a.shape[1], "width"), _lib.to_int(a.shape[0], "height"),
                       _lib.ctypes.cast(_lib.addr(a), _lib.POINTER(_lib.ctypes.c_uint8)))
    err = _lib.ct_error()
    check(lib.ct_image_save_png(byref(im), _lib.fs(path), byref(err)), err)


def save_labels_png(labels, path, bit_depth=None):
    """Write a label map [height x width] as a grey PNG: 8-bit (labels 0..255) or 16-bit (0..65535);
    bit_depth None: 8 when every label fits, else 16."""
    a = _lib.array(labels, np.int32, 2, "labels")
    if bit_depth is None:
        bit_depth = 8 if a.size == 0 or (a.max() <= 255) else 16
    err = _lib.ct_error()
    check(lib.ct_labels_save_png(_lib.addr(a), _lib.to_int(a.shape[1], "width"), _lib.to_int(a.shape[0], "height"),
                                 _lib.to_int(bit_depth, "bit_depth"), _lib.fs(path), byref(err)), err)


def load_labels_png(path):
    """A label map int32 [height x width] from a grey (8/16-bit) or palette PNG (the value or the
    palette index is the label)."""
    ptr, w, h, err = c_void_p(), c_int(), c_int(), _lib.ct_error()
    check(lib.ct_labels_load_png(_lib.fs(path), byref(ptr), byref(w), byref(h), byref(err)), err)
    return _lib.take_buffer(ptr.value, (h.value, w.value), np.int32)


def labels_to_image(labels, width, height, size, crop=False):
    """Labels [H x W] of a model input made with (size, crop) back to the picture's
    width x height: int32 [height x width] (nearest neighbour through the resize; outside a crop,
    the nearest crop edge)."""
    a = _lib.array(labels, np.int32, 2, "labels")
    wi, hi = _lib.to_int(width, "width", 1), _lib.to_int(height, "height", 1)
    if wi * hi > _lib.MAX_IMAGE_PIXELS:
        raise InvalidArgumentError("%d x %d is above the %d-pixel limit of a picture" % (wi, hi, _lib.MAX_IMAGE_PIXELS))
    out = np.empty((hi, wi), np.int32)
    err = _lib.ct_error()
    check(lib.ct_labels_to_image(_lib.addr(a), _lib.to_int(a.shape[0], "H"), _lib.to_int(a.shape[1], "W"), wi, hi,
                                 _lib.to_int(size, "size"), 1 if crop else 0, _lib.addr(out), byref(err)), err)
    return out


def label_colors(labels, background_label=None):
    """uint8 [len(labels) x 3]: the demo's colour of each label (ct_label_color: the same function
    the tools draw with; the background label black)."""
    a = _lib.array(labels, np.int32, 1, "labels")
    bg = -1 if background_label is None else _lib.to_int(background_label, "background_label")
    out = np.empty((a.size, 3), np.uint8)
    for i, l in enumerate(a.tolist()):
        lib.ct_label_color(l, bg, _lib.addr(out[i]))
    return out


def palette(n_labels, background_label=None):
    """uint8 [n_labels x 3]: the demo's colours of labels 0 .. n_labels - 1 (label_colors)."""
    n = _lib.to_int(n_labels, "n_labels")
    if n < 0 or n > 65536:
        raise InvalidArgumentError("n_labels %d: a palette has 0 to 65536 entries (label_colors colours any labels)" % n)
    return label_colors(np.arange(n, dtype=np.int32), background_label)


def colorize(labels, n_labels=None, background_label=None):
    """A label map as uint8 RGB [H x W x 3] in the demo's colours. Only the labels present are
    coloured (the cost follows the map, not the largest label). A label's colour does not depend on
    the number of labels: n_labels is accepted for compatibility and not needed."""
    a = _lib.array_like(labels, "labels")
    if a.dtype.kind not in "iub":
        raise InvalidArgumentError("labels: dtype %s is not an integer type" % a.dtype)
    if a.size and a.min() < 0:
        raise InvalidArgumentError("labels must be >= 0")
    if a.size and a.max() > np.iinfo(np.int32).max:
        raise InvalidArgumentError("labels must fit in int32 (the library's labels)")
    used, inverse = np.unique(a, return_inverse=True)
    return label_colors(used, background_label)[inverse.reshape(a.shape)]


def overlay(picture, labels, n_labels=None, background_label=None, alpha=0.5):
    """The label colours blended over a picture (uint8 [H x W x 3] or Image) of the same size."""
    rgb = np.asarray(picture.rgb if isinstance(picture, Image) else picture)
    col = colorize(labels, n_labels, background_label)
    if rgb.shape != col.shape:
        raise InvalidArgumentError("picture %s and labels %s differ in size (labels_to_image maps labels back)"
                                   % (rgb.shape[:2], col.shape[:2]))
    return (rgb * (1 - alpha) + col * alpha + 0.5).astype(np.uint8)
