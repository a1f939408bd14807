# The version of the package; the library it loads must report exactly this from ct_version().
# Kept equal to CT_VERSION_* of include/cliptrase.h (a test checks it).
__version__ = "0.2.0"
