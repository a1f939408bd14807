"""cliptrase: training-free open-vocabulary semantic segmentation with CLIP (CLIPtrase and the
heads of its family), over libcliptrase's shared library. numpy arrays in and out.

    import cliptrase as ct
    model = ct.Model("weights/clip-vit-base-patch16.safetensors")
    tok = ct.Tokenizer("weights/vocab.json")
    classes = ct.Classes(model, tok, ["cat", ["dog", "puppy"], "grass"], background=["sky"])
    seg = ct.segment(model, "photo.jpg", classes)
    seg.labels            # int32 [H x W] at the model input
    seg.picture_labels()  # int32 at the picture's size

See python/README.md. Errors are exceptions carrying the library's message (cliptrase.errors).
"""

from ._version import __version__
from ._lib import LIBRARY_PATH as _LIBRARY_PATH
from ._lib import lib as _dll
from .errors import (CliptraseError, CliptraseIOError, FormatError, InvalidArgumentError, LibraryError, MissingError,
                     NonFiniteError, OutOfMemoryError, ShapeError, Status, TooLargeError, UnsupportedError)
from .image import (Image, colorize, label_colors, labels_to_image, load_image, load_labels_png, overlay, palette,
                    save_labels_png, save_png)
from .model import Config, Model, Runtime, precision_available
from .segment import (DEFAULT_SIZE, ImageFeatures, SegmentInfo, SegmentParams, Segmentation, dbscan, encode_image,
                      heads, median_filter, postprocess, round_size, segment, segment_memory, segment_params)
from .text import Classes, Tokenizer, class_embeddings, default_templates


def library_path():
    """The path of the shared library in use."""
    return _LIBRARY_PATH


def version():
    """ct_version() of the library in use (equal to __version__: another is refused at import)."""
    return _dll.ct_version().decode()


def build_info():
    """ct_build_info(): version, compiler, sanitizers, matrix kernels compiled in."""
    return _dll.ct_build_info().decode("utf-8", "replace")


__all__ = [
    "__version__", "library_path", "version", "build_info",
    "CliptraseError", "CliptraseIOError", "FormatError", "InvalidArgumentError", "LibraryError", "MissingError",
    "NonFiniteError", "OutOfMemoryError", "ShapeError", "Status", "TooLargeError", "UnsupportedError",
    "Image", "colorize", "label_colors", "labels_to_image", "load_image", "load_labels_png", "overlay", "palette", "save_labels_png",
    "save_png",
    "Config", "Model", "Runtime", "precision_available",
    "DEFAULT_SIZE", "ImageFeatures", "SegmentInfo", "SegmentParams", "Segmentation", "dbscan", "encode_image", "heads",
    "median_filter", "postprocess", "round_size", "segment", "segment_memory", "segment_params",
    "Classes", "Tokenizer", "class_embeddings", "default_templates",
]
