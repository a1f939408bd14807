"""The binding's view of the C API equals include/cliptrase.h: struct layouts (size and offset of
every field, compiled from the header), constants, the version, and every function the header
exports has a signature in the binding."""

import ctypes
import re
import subprocess

from conftest import REPO, compile_c

HEADER = REPO / "include" / "cliptrase.h"

CONSTANTS = {"HEAD_COUNT": "CT_HEAD_COUNT", "MAX_DILATIONS": "CT_MAX_DILATIONS", "MAX_PATCHES": "CT_MAX_PATCHES",
             "MAX_IMAGE_PIXELS": "CT_MAX_IMAGE_PIXELS", "TOKEN_SOT": "CT_TOKEN_SOT", "TOKEN_EOT": "CT_TOKEN_EOT"}


def test_struct_layouts_and_constants(tmp_path):
    from cliptrase import Status, _lib
    lines = ['#include <stdio.h>', '#include <stddef.h>', '#include "cliptrase.h"', "int main(void) {"]
    want = {}
    for s in _lib.STRUCTS:
        c = s.__name__
        lines.append('printf("%s %%zu\\n", sizeof(%s));' % (c, c))
        want[c] = ctypes.sizeof(s)
        for f in s._fields_:
            lines.append('printf("%s.%s %%zu %%zu\\n", offsetof(%s, %s), sizeof(((%s *)0)->%s));'
                         % (c, f[0], c, f[0], c, f[0]))
            want["%s.%s" % (c, f[0])] = "%d %d" % (getattr(s, f[0]).offset, getattr(s, f[0]).size)
    for py, cname in CONSTANTS.items():
        lines.append('printf("%s %%lld\\n", (long long)%s);' % (py, cname))
        want[py] = getattr(_lib, py)
    for name in ("CT_OK", "CT_ERR_INVALID_ARG", "CT_ERR_IO", "CT_ERR_FORMAT", "CT_ERR_UNSUPPORTED", "CT_ERR_MISSING",
                 "CT_ERR_SHAPE", "CT_ERR_NOMEM", "CT_ERR_TOO_LARGE", "CT_ERR_NONFINITE"):
        lines.append('printf("%s %%d\\n", (int)%s);' % (name, name))
        want[name] = int(Status[name.replace("CT_ERR_", "").replace("CT_", "")])
    lines.append("return 0; }")
    exe = compile_c("\n".join(lines), tmp_path / "layout")
    out = subprocess.run([str(exe)], capture_output=True, text=True, check=True).stdout
    got = dict(line.split(" ", 1) for line in out.splitlines())
    bad = {k: (got.get(k), str(v)) for k, v in want.items() if got.get(k) != str(v)}
    assert not bad, "C vs ctypes: %s" % bad


def test_version_matches_header(ct):
    h = HEADER.read_text()
    v = ".".join(re.search(r"#define CT_VERSION_%s (\d+)" % k, h).group(1) for k in ("MAJOR", "MINOR", "PATCH"))
    assert ct.__version__ == v == ct.version()
    assert ct.build_info().startswith(v + ";")


def test_every_header_function_is_bound():
    from cliptrase import _lib
    names = set(re.findall(r"CT_API[^;(]*?\b(ct_\w+)\s*\(", HEADER.read_text()))
    assert names, "no CT_API functions found in the header"
    assert names == set(_lib._SIGNATURES), (names ^ set(_lib._SIGNATURES))
