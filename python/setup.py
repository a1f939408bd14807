"""Build step of the package (pyproject.toml holds the metadata): records the shared library the
package will load in cliptrase/_build_info.py, after checking that it is the package's version.

Which library: $CLIPTRASE_LIBRARY (a path; recorded as given, made absolute; it may not exist yet
when staging an install into DESTDIR), else the repository's own build,
../build/release/lib/libcliptrase.so.MAJOR.MINOR (must exist: run make first).
"""
import ctypes
import os
import sys

from setuptools import setup
from setuptools.command.build_py import build_py

HERE = os.path.dirname(os.path.abspath(__file__))


def _version():
    ns = {}
    with open(os.path.join(HERE, "cliptrase", "_version.py")) as f:
        exec(f.read(), ns)
    return ns["__version__"]


def _library():
    version = _version()
    soname = "libcliptrase.so." + ".".join(version.split(".")[:2])
    env = os.environ.get("CLIPTRASE_LIBRARY")
    path = os.path.abspath(os.path.expanduser(env)) if env else \
        os.path.join(os.path.dirname(HERE), "build", "release", "lib", soname)
    if not os.path.isfile(path):
        if not env:
            sys.exit("cliptrase: no library at %s: run make in the repository first, or set CLIPTRASE_LIBRARY" % path)
        print("cliptrase: warning: %s does not exist now; the package will load it from there" % path, file=sys.stderr)
        return path
    fn = ctypes.CDLL(path).ct_version
    fn.restype = ctypes.c_char_p
    got = fn().decode("ascii", "replace")
    if got != version:
        sys.exit("cliptrase: %s is libcliptrase %s; this package is %s" % (path, got, version))
    return path


class BuildPy(build_py):
    def run(self):
        super().run()
        out = os.path.join(self.build_lib, "cliptrase", "_build_info.py")
        with open(out, "w") as f:
            f.write("# Written by setup.py when the package was built: the library it loads\n"
                    "# ($CLIPTRASE_LIBRARY overrides it at run time).\n"
                    "LIBRARY = %r\n" % _library())


setup(cmdclass={"build_py": BuildPy})
