"""Threads: the GIL is released while the library computes (Python runs during a segmentation,
and two segmentations run at the same time), and one shared Model gives every thread the serial
results.

The timing checks compare intervals, never speeds. info.t_total is the library's own wall-clock
duration of a call. Two calls whose C parts were serialised (the GIL held through them) fit one
after the other in the wall-clock window of the pair, so t_a + t_b - window is a lower bound of
how long they really ran at the same time (a pause of the whole process lengthens both calls and
the window alike).
"""

import json
import threading
import time

import numpy as np

from conftest import load, need_oracle, run_names


def _pixels(seed, H, W):
    return np.random.default_rng(seed).standard_normal((3, H, W)).astype(np.float32)


def _segment_into(ct, m, px, emb, out, key):
    out[key] = ct.segment(m, px, emb, threads=1)


def _ticks_during_a_segmentation(ct, m, px, emb):
    """Iterations of a pure-Python loop (each needs the GIL) the main thread made while another
    thread was inside the library, in one segmentation: in the middle half of [t1 - t_total, t1],
    t1 taken when segment() has returned. That is inside the call: t1 comes after its end by the
    Python that builds the result, stretched by a few GIL switch intervals (5 ms each) when the
    main thread competes for the GIL; the call lasts over 100 ms."""
    out = {}
    th = threading.Thread(target=lambda: (out.setdefault("s", ct.segment(m, px, emb, threads=1)),
                                          out.setdefault("t1", time.perf_counter())))
    ticks = []
    th.start()
    while th.is_alive():
        ticks.append(time.perf_counter())
    th.join()
    t1, dur = out["t1"], out["s"].info.t_total
    ticks = np.array(ticks)
    return int(np.sum((ticks > t1 - 0.75 * dur) & (ticks < t1 - 0.25 * dur))), dur


def test_python_runs_during_a_segmentation(ct, small):
    """With the GIL held through the call, the main thread could not make one iteration in it: that
    failure is certain. The success can only be hidden by the whole process being paused for the
    whole call (a loaded machine, a CPU quota), so up to three calls are tried."""
    d, m = small
    emb = load(d, "crop224", "text_features")
    px = _pixels(1, 896, 896)  # long enough to tell on a fast machine too
    ct.segment(m, px, emb, threads=1)  # warm: weights packed, workspace kept
    seen = []
    for _ in range(3):
        n, dur = _ticks_during_a_segmentation(ct, m, px, emb)
        seen.append("%d iterations in %.0f ms" % (n, dur * 1e3))
        assert dur > 0.1, "the call is too short to tell (%.1f ms)" % (dur * 1e3)
        if n >= 20:
            break
    print("main thread during a one-thread segmentation: %s" % "; ".join(seen))
    assert n >= 20, seen


def test_two_segmentations_overlap(ct, small):
    d, m = small
    emb = load(d, "crop224", "text_features")
    pxs = [_pixels(2, 448, 448), _pixels(3, 448, 448)]
    ct.segment(m, pxs[0], emb, threads=1)
    out = {}
    ths = [threading.Thread(target=_segment_into, args=(ct, m, pxs[i], emb, out, i)) for i in range(2)]
    w0 = time.perf_counter()
    for t in ths:
        t.start()
    for t in ths:
        t.join()
    window = time.perf_counter() - w0
    sa, sb = out[0], out[1]
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
