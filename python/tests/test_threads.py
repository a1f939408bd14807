"""Threads: the GIL is released while the library computes (Python runs meanwhile, and two
segmentations run at the same time), and one shared Model gives every thread the serial results.

The timing checks compare intervals, never speeds, so a loaded machine cannot make them flaky.
info.t_total is the library's own wall-clock duration of a call. Two calls whose C parts were
serialised (the GIL held through them) fit one after the other in the wall-clock window of the
pair, so t_a + t_b - window is a lower bound of how long they really ran at the same time.
"""

import json
import threading
import time

import numpy as np

from conftest import load, need_oracle, run_names


def _pixels(seed, H, W):
    return np.random.default_rng(seed).standard_normal((3, H, W)).astype(np.float32)


def _timed_segment(ct, m, px, emb, out, key):
    s = ct.segment(m, px, emb, threads=1)
    t = time.perf_counter()
    out[key] = (t - s.info.t_total, t, s)


def test_python_runs_during_a_segmentation(ct, small):
    d, m = small
    emb = load(d, "crop224", "text_features")
    px = _pixels(1, 448, 448)
    ct.segment(m, px, emb, threads=1)  # warm: the model packs its weights at first use
    out = {}
    th = threading.Thread(target=_timed_segment, args=(ct, m, px, emb, out, "a"))
    ticks = []
    th.start()
    while th.is_alive():
        ticks.append(time.perf_counter())  # pure Python: needs the GIL for every iteration
    th.join()
    # the C call is [t1 - dur, t1] give or take the worker's wait for the GIL after it, at most a
    # switch interval (5 ms: the main thread gives the GIL up that often): its middle half is
    # inside the call
    t0, t1, s = out["a"]
    dur = t1 - t0
    ticks = np.array(ticks)
    inside = int(np.sum((ticks > t0 + 0.25 * dur) & (ticks < t1 - 0.25 * dur)))
    print("segmentation %.0f ms on one thread; %d main-thread iterations in its middle half" % (dur * 1e3, inside))
    assert dur > 0.03, "the call is too short to tell (%.1f ms)" % (dur * 1e3)
    # with the GIL held through the call, the main thread could not run a single iteration
    assert inside >= 50


def test_two_segmentations_overlap(ct, small):
    d, m = small
    emb = load(d, "crop224", "text_features")
    pxs = [_pixels(2, 448, 448), _pixels(3, 448, 448)]
    ct.segment(m, pxs[0], emb, threads=1)
    out = {}
    ths = [threading.Thread(target=_timed_segment, args=(ct, m, pxs[i], emb, out, i)) for i in range(2)]
    w0 = time.perf_counter()
    for t in ths:
        t.start()
    for t in ths:
        t.join()
    window = time.perf_counter() - w0
    sa, sb = out[0][2], out[1][2]
    ta, tb = sa.info.t_total, sb.info.t_total
    overlap = ta + tb - window
    print("calls of %.0f and %.0f ms in a window of %.0f ms: together for at least %.0f ms"
          % (ta * 1e3, tb * 1e3, window * 1e3, overlap * 1e3))
    assert overlap > 0.25 * min(ta, tb)
    for px, s in zip(pxs, (sa, sb)):
        assert np.array_equal(s.labels, ct.segment(m, px, emb, threads=1).labels)


def test_shared_model_from_several_threads(ct, small, tokenizer):
    d, m = small
    runs = []
    for rn, run in [(r["name"], r) for r in json.loads((d / "meta.json").read_text())["runs"]]:
        _, lab = run_names(run)
        runs.append((load(d, rn, "pixels"), load(d, rn, "text_features"), lab,
                     dict(eps=run["eps"], min_samples=run["min_samples"], cls_reweight=bool(run.get("cls_reweight")))))
    serial = [ct.segment(m, px, tf, name_labels=lab, **kw).labels for px, tf, lab, kw in runs]
    names = ["cat", "puppy"]
    emb_serial = ct.class_embeddings(m, tokenizer, names, templates=ct.default_templates()[:8])
    errors, results = [], []

    def work(k):
        try:
            for i in range(3):
                j = (k + i) % len(runs)
                px, tf, lab, kw = runs[j]
                s = ct.segment(m, px, tf, name_labels=lab, threads=k % 2, **kw)  # 0: all threads, 1: own
                results.append(np.array_equal(s.labels, serial[j]))
            results.append(np.array_equal(ct.class_embeddings(m, tokenizer, names, ct.default_templates()[:8], threads=1),
                                          emb_serial))
        except BaseException as e:  # reported by the main thread
            errors.append(e)

    ths = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for t in ths:
        t.start()
    for t in ths:
        t.join()
    assert not errors, errors
    assert len(results) == 16 and all(results)


def test_close_while_in_use(ct, tokenizer):
    """Closing a model another thread is segmenting with: the running calls finish (they hold the
    library object), later ones raise."""
    m = ct.Model(str(need_oracle("small_f16_hf", "model.safetensors")), threads=1)
    d = need_oracle("small_f16_hf")
    emb = load(d, "crop224", "text_features")
    px = _pixels(4, 448, 448)
    want = ct.segment(m, px, emb).labels
    started, outcome = threading.Event(), []

    def work():
        started.set()
        try:
            for _ in range(50):
                outcome.append(np.array_equal(ct.segment(m, px, emb).labels, want))
        except ct.InvalidArgumentError as e:
            outcome.append(str(e))

    th = threading.Thread(target=work)
    th.start()
    started.wait()
    time.sleep(0.05)
    m.close()
    th.join()
    assert outcome and all(x is True for x in outcome[:-1]) and outcome[-1] == "this model is closed", outcome


def test_runtime_shared_by_two_models(ct):
    rt = ct.Runtime(2)
    assert rt.threads == 2
    p = str(need_oracle("tiny_f32_openai", "model.safetensors"))
    a, b = ct.Model(p, runtime=rt), ct.Model(p, runtime=rt)
    rt.close()  # the models keep their runtime alive
    assert a.threads == 2 and b.threads == 2
    px, emb = _pixels(5, 64, 128), np.eye(3, a.config.embed_dim, dtype=np.float32)
    out = [None, None]
    ths = [threading.Thread(target=lambda i=i, m=m: out.__setitem__(i, ct.segment(m, px, emb).labels))
           for i, m in enumerate((a, b))]
    for t in ths:
        t.start()
    for t in ths:
        t.join()
    assert np.array_equal(out[0], out[1])
