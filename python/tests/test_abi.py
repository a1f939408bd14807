"""The binding's view of the C API equals include/cliptrase.h: struct layouts (size and offset of
every field, compiled from the header), constants, the version, and every function the header
exports has a signature in the binding."""

import ctypes
import re
import subprocess

from conftest import REPO, compile_c

HEADER = REPO / "include" / "cliptrase.h"

CONSTANTS = {"HEAD_COUNT": "CT_HEAD_COUNT", "MAX_DILATIONS": "CT_MAX_DILATIONS", "MAX_PATCHES": "CT_MAX_PATCHES",
             "MAX_IMAGE_PIXELS": "CT_MAX_IMAGE_PIXELS", "TOKEN_SOT": "CT_TOKEN_SOT", "DEFAULT_SIZE": "CT_DEFAULT_SIZE", "TOKEN_EOT": "CT_TOKEN_EOT"}


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
    """Each CT_API function of the header has a binding with as many arguments, and a return type
    of the same kind (void, ct_status/int, pointer or string, size_t)."""
    from ctypes import c_char_p, c_int, c_size_t
    from cliptrase import _lib
    text = re.sub(r"/\*.*?\*/", "", HEADER.read_text(), flags=re.S)
    protos = {m.group(2): (m.group(1).strip(), m.group(3))
              for m in re.finditer(r"CT_API\s+([^;(]*?)\b(ct_\w+)\s*\(([^)]*)\)\s*;", text)}
    assert len(protos) > 40, "the header's prototypes were not found"
    assert set(protos) == set(_lib._SIGNATURES), set(protos) ^ set(_lib._SIGNATURES)
    for name, (ret, args) in protos.items():
        restype, argtypes = _lib._SIGNATURES[name]
        n = 0 if args.strip() == "void" else args.count(",") + 1
        assert len(argtypes) == n, "%s: %d arguments in the header, %d bound" % (name, n, len(argtypes))
        if ret == "void":
            assert restype is None, name
        elif ret in ("ct_status", "int", "ct_precision"):
            assert restype is c_int, name
        elif ret == "size_t":
            assert restype is c_size_t, name
        elif ret == "const char *":
            assert restype is c_char_p, name
        else:
            assert "*" in ret and restype is not None, (name, ret)
