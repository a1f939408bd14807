"""Which library the package loads, and which it refuses.

python/run-tests.sh (make test) installs the package with pip into a temporary directory and says
so through CT_PY_INSTALLED (the directory) and CT_PY_LIBRARY (the library it recorded); run
directly from the source tree (PYTHONPATH=python), the package uses the tree's build."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import REPO, compile_c, need_oracle, python

SONAME_TREE = REPO / "build" / "release" / "lib"


def _stub(tmp_path, version, name="libstub.so", extra=""):
    """A shared library with ct_version() returning `version` and nothing else the package needs."""
    return compile_c('const char *ct_version(void) { return "%s"; }\n%s' % (version, extra), tmp_path / name, shared=True)


def _import(env, cwd=None):
    """Import the package in a fresh interpreter seeing the same package as this one."""
    import cliptrase
    pkg_parent = str(Path(cliptrase.__file__).resolve().parent.parent)
    e = {"PYTHONPATH": pkg_parent, "CLIPTRASE_LIBRARY": None}
    e.update(env)
    return python("import cliptrase; print(cliptrase.library_path())", e, cwd)


def test_the_package_under_test(ct):
    inst = os.environ.get("CT_PY_INSTALLED")
    here = Path(ct.__file__).resolve().parent
    if inst:
        # make test: the pip-installed copy, with the path recorded at install
        assert here.parent == Path(inst).resolve(), "testing %s, not the installed package" % here
        from cliptrase import _build_info
        assert _build_info.LIBRARY == os.environ["CT_PY_LIBRARY"] == ct.library_path()
        assert "CLIPTRASE_LIBRARY" not in os.environ
    else:
        assert here == REPO / "python" / "cliptrase"
        want = os.environ.get("CLIPTRASE_LIBRARY") or str(SONAME_TREE / ("libcliptrase.so." + ct.__version__.rsplit(".", 1)[0]))
        assert ct.library_path() == os.path.abspath(want)
    assert Path(ct.library_path()).is_file()


def test_source_tree_uses_its_build(ct, tmp_path):
    so = SONAME_TREE / ("libcliptrase.so." + ct.__version__.rsplit(".", 1)[0])
    r = python("import cliptrase; print(cliptrase.library_path())",
               {"PYTHONPATH": str(REPO / "python"), "CLIPTRASE_LIBRARY": None}, cwd=str(tmp_path))
    if so.is_file():
        assert r.returncode == 0, r.stderr
        assert r.stdout.strip() == str(so)
    else:
        assert r.returncode != 0 and "no library at '%s'" % so in r.stderr


def test_environment_overrides(ct, tmp_path):
    link = tmp_path / "lib" / "libcliptrase-copy.so"
    link.parent.mkdir()
    link.symlink_to(ct.library_path())
    r = _import({"CLIPTRASE_LIBRARY": str(link)})
    assert r.returncode == 0 and r.stdout.strip() == str(link), r.stderr
    # relative: from the current directory, as the user typed it
    r = _import({"CLIPTRASE_LIBRARY": "lib/libcliptrase-copy.so"}, cwd=str(tmp_path))
    assert r.returncode == 0 and r.stdout.strip() == str(link), r.stderr


def test_refusals(ct, tmp_path):
    r = _import({"CLIPTRASE_LIBRARY": str(tmp_path / "nothing.so")})
    assert r.returncode != 0 and "LibraryError" in r.stderr and "no library at" in r.stderr
    (tmp_path / "text.so").write_text("not a library")
    r = _import({"CLIPTRASE_LIBRARY": str(tmp_path / "text.so")})
    assert r.returncode != 0 and "cannot load" in r.stderr
    r = _import({"CLIPTRASE_LIBRARY": _stub(tmp_path, "0.1.9")})
    assert r.returncode != 0 and "is libcliptrase 0.1.9; this package is %s" % ct.__version__ in r.stderr, r.stderr
    r = _import({"CLIPTRASE_LIBRARY": _stub(tmp_path, ct.__version__, "libsame.so")})
    assert r.returncode != 0 and "lacks ct_build_info" in r.stderr, r.stderr
    r = _import({"CLIPTRASE_LIBRARY": compile_c("int x;", tmp_path / "libother.so", shared=True)})
    assert r.returncode != 0 and "not libcliptrase" in r.stderr, r.stderr
    # LibraryError is an ImportError: `import cliptrase` fails as Python users expect
    assert issubclass(ct.LibraryError, ImportError) and issubclass(ct.LibraryError, ct.CliptraseError)


def test_no_search_of_the_current_directory(ct, tmp_path):
    """A library of another version in the current directory, under the library's own names, is
    never picked up."""
    so = "libcliptrase.so." + ct.__version__.rsplit(".", 1)[0]
    _stub(tmp_path, "9.9.9", so)
    (tmp_path / "libcliptrase.so").symlink_to(so)
    (tmp_path / "build" / "release" / "lib").mkdir(parents=True)
    (tmp_path / "build" / "release" / "lib" / so).symlink_to(tmp_path / so)
    (tmp_path / "elsewhere").mkdir()
    r, plain = _import({}, cwd=str(tmp_path)), _import({}, cwd=str(tmp_path / "elsewhere"))
    assert r.returncode == 0 and plain.returncode == 0, r.stderr + plain.stderr
    assert r.stdout == plain.stdout and str(tmp_path) not in r.stdout


def test_pip_refuses_a_library_of_another_version(ct, tmp_path):
    """setup.py checks the library it records (CLIPTRASE_LIBRARY at build time)."""
    if subprocess.run([sys.executable, "-m", "pip", "--version"], capture_output=True).returncode:
        pytest.fail("%s has no pip (tools/install-deps.sh installs python3-pip)" % sys.executable)
    r = subprocess.run(["sh", str(REPO / "python" / "pip-install.sh"), sys.executable, str(tmp_path / "site"),
                        str(_stub(tmp_path, "0.1.9"))], capture_output=True, text=True, timeout=300)
    assert r.returncode != 0 and "is libcliptrase 0.1.9; this package is %s" % ct.__version__ in r.stderr, r.stderr
    assert not (tmp_path / "site" / "cliptrase").exists()


def test_make_install_python(ct, tmp_path):
    """make install-python PREFIX=...: the library and the package recording it; the package
    imports from PYTHON_SITE and segments; make uninstall-python removes it."""
    prefix = tmp_path / "prefix"
    env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL", "CLIPTRASE_LIBRARY")}
    env["PYTHON"] = sys.executable
    make = ["make", "-s", "-C", str(REPO), "PREFIX=%s" % prefix, "PYTHON=%s" % sys.executable]
    r = subprocess.run(make + ["install-python"], capture_output=True, text=True, env=env, timeout=600)
    assert r.returncode == 0, r.stdout + r.stderr
    site = prefix / "lib" / ("python%d.%d" % sys.version_info[:2]) / "dist-packages"
    so = prefix / "lib" / ("libcliptrase.so." + ct.__version__.rsplit(".", 1)[0])
    assert (site / "cliptrase" / "_build_info.py").is_file() and so.is_file()
    code = ("import cliptrase as ct, numpy as np; print(ct.library_path()); m = ct.Model(%r); "
            "print(ct.segment(m, np.zeros((3, 64, 64), np.float32), np.eye(2, m.config.embed_dim, dtype=np.float32))"
            ".labels.shape)" % str(need_oracle("tiny_f32_openai", "model.safetensors")))
    r = python(code, {"PYTHONPATH": str(site), "CLIPTRASE_LIBRARY": None}, cwd=str(tmp_path))
    assert r.returncode == 0, r.stderr
    assert r.stdout.split("\n")[:2] == [str(so), "(64, 64)"]
    r = subprocess.run(make + ["uninstall-python"], capture_output=True, text=True, env=env, timeout=120)
    assert r.returncode == 0 and not (site / "cliptrase").exists() and not list(site.glob("cliptrase-*"))
