"""Shared fixtures of the Python tests: the repository, the oracle (skipped with a message when
absent, as the C tests do), loaded models and tokenizers, and the harness's closing line."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[2]


def oracle_dir():
    """$CT_ORACLE_DIR, default ../shared/oracle; a relative path is taken from the repository root
    (where the C tests run)."""
    d = Path(os.environ.get("CT_ORACLE_DIR") or "../shared/oracle")
    return d if d.is_absolute() else (REPO / d).resolve()


ORACLE = oracle_dir()
NO_ORACLE = "no model fixtures under %s (set CT_ORACLE_DIR): parity tests skipped" % ORACLE


def fixtures():
    """[(name, dir, meta)] of the oracle's model fixtures (directories holding meta.json and
    model.safetensors; the heads' folders name their models in their meta.json instead)."""
    out = []
    if ORACLE.is_dir():
        for d in sorted(ORACLE.iterdir()):
            m = d / "meta.json"
            if m.is_file() and (d / "model.safetensors").is_file():
                out.append((d.name, d, json.loads(m.read_text())))
    return out


FIXTURES = fixtures()


def run_params():
    """pytest parameters: one per (fixture, run); a single skipped one when the oracle is absent."""
    ps = [pytest.param((name, d, meta, run), id="%s/%s" % (name, run["name"]))
          for name, d, meta in FIXTURES for run in meta["runs"]]
    return ps or [pytest.param(None, marks=pytest.mark.skip(reason=NO_ORACLE))]


def fixture_params():
    ps = [pytest.param((name, d, meta), id=name) for name, d, meta in FIXTURES]
    return ps or [pytest.param(None, marks=pytest.mark.skip(reason=NO_ORACLE))]


def need_oracle(*parts):
    p = ORACLE.joinpath(*parts)
    if not p.exists():
        pytest.skip("%s absent (set CT_ORACLE_DIR): skipped" % p)
    return p


def load(d, run, name):
    return np.load(Path(d) / run / (name + ".npy"))


def run_names(run):
    """(names: classes then background, name_labels: background names all map to C = #classes)."""
    c, b = list(run["classes"]), list(run.get("background", []))
    return c + b, np.array(list(range(len(c))) + [len(c)] * len(b), np.int32)


_models = {}


@pytest.fixture(scope="session")
def ct():
    import cliptrase
    return cliptrase


@pytest.fixture(scope="session")
def model_of(ct):
    """model_of(fixture_dir) -> a Model loaded once per session (shared by the tests, as a loaded
    model may be)."""
    def get(d):
        d = str(d)
        if d not in _models:
            _models[d] = ct.Model(os.path.join(d, "model.safetensors"))
        return _models[d]
    return get


@pytest.fixture(scope="session")
def tokenizer(ct):
    return ct.Tokenizer(str(need_oracle("bpe_simple_vocab_16e6.txt.gz")))


@pytest.fixture(scope="session")
def small(model_of):
    """The small F16 fixture's directory and model (the fast one with three runs)."""
    d = need_oracle("small_f16_hf")
    return d, model_of(d)


@pytest.fixture(scope="session")
def tiny(model_of):
    d = need_oracle("tiny_f32_openai")
    return d, model_of(d)


def cc():
    return os.environ.get("CC") or "cc"


def compile_c(src, out, shared=False):
    """Compile C source text to `out` with the repository's include/ (a failure fails the test: the
    build machine has the compiler)."""
    c = Path(out).with_suffix(".c")
    c.write_text(src)
    cmd = [cc(), "-std=c11", "-I", str(REPO / "include"), str(c), "-o", str(out)]
    if shared:
        cmd[1:1] = ["-shared", "-fPIC"]
    r = subprocess.run(cmd, capture_output=True, text=True)
    assert r.returncode == 0, "%s failed:\n%s" % (" ".join(cmd), r.stderr)
    return out


def python(code, env=None, cwd=None):
    """Run code in a fresh interpreter (this one's), return the CompletedProcess."""
    e = dict(os.environ)
    e.update(env or {})
    for k, v in list(e.items()):
        if v is None:
            del e[k]
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=e, cwd=cwd, timeout=120)


def pytest_terminal_summary(terminalreporter):
    """The closing line test/run.sh adds up: N passed, N failed, N skipped."""
    s = terminalreporter.stats
    n = lambda *ks: sum(len(s.get(k, [])) for k in ks)
    terminalreporter.write_line("%d passed, %d failed, %d skipped" % (n("passed"), n("failed", "error"), n("skipped")))
