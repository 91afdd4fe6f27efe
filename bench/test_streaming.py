"""Streaming on the private PulseAudio null sink (tests/audio_server.py):
the compiled PortAudio callback (microwave.audio.Player) against a plain
Python callback doing the same work (a sounddevice.OutputStream whose
callback calls engine.fill(outdata)), at 5, 10 and 20 ms latency, without
and with a Python thread holding the GIL.

Each run: start the stream, let it settle, take a snapshot of the counters,
(start the GIL hold and wait for it to end,) play on, take a second
snapshot, stop.  Everything between the snapshots is reported: callbacks,
frames, underflows (PortAudio's output-underflow flag), the audio missing
(wall-clock time x rate minus the frames delivered), and the callback's time
per block (measured inside the callback) against the block's duration."""
import threading
import time

import numpy as np
import pytest

from mwbench import GIL_HOLD_S, LATENCIES, QUICK, not_run, put

SETTLE_S = 0.5
AFTER_S = 0.6 if QUICK else 1.0
pytestmark = pytest.mark.audio


@pytest.fixture(scope="module")
def server():
    try:
        from audio_server import AudioUnavailable, audio_server
    except ImportError as e:
        not_run("stream/", f"tests/audio_server.py not importable ({e})")
        pytest.skip(str(e))
    try:
        ctx = audio_server()
        srv = ctx.__enter__()
    except AudioUnavailable as e:
        reason = str(e).strip().splitlines()[0]
        not_run("stream/", reason)
        pytest.skip(reason)
    try:
        import microwave.audio  # noqa: F401  (PortAudio must load)
    except Exception as e:
        ctx.__exit__(None, None, None)
        not_run("stream/", f"microwave.audio unavailable ({e})")
        pytest.skip(str(e))
    yield srv
    ctx.__exit__(None, None, None)


@pytest.fixture(scope="module")
def hog_size():
    """List length whose sort takes about GIL_HOLD_S on this machine (the
    hold each run actually got is measured and reported)."""
    n = 300_000
    for i in range(5):
        lst = np.random.default_rng(i).random(n).tolist()
        t0 = time.perf_counter()
        lst.sort()
        t = time.perf_counter() - t0
        if abs(t - GIL_HOLD_S) < 0.15 * GIL_HOLD_S:
            break
        n = int(n * (GIL_HOLD_S / max(t, 1e-3)) ** 0.95)
    return n


def _session():
    from microwave.sessions import builtin
    return builtin("fsm")


def _stage():
    from microwave.stage import Stage
    return Stage()


class Hog:
    """A thread whose one C call (list.sort) holds the GIL throughout."""

    def __init__(self, n):
        self.lst = np.random.default_rng(n).random(n).tolist() if n else None
        self.held = 0.0

    def run(self):
        if self.lst is None:
            return
        def sort():
            t0 = time.perf_counter()
            self.lst.sort()
            self.held = time.perf_counter() - t0
        th = threading.Thread(target=sort)
        th.start()
        th.join()


def _run_compiled(srv, latency, hog):
    from microwave.audio import Player
    p = Player(_session(), _stage(), device=srv.play_device, rate=srv.rate, latency=latency)
    p.start()
    try:
        time.sleep(SETTLE_S)
        a, ta = dict(p.stats), time.perf_counter()
        hog.run()
        time.sleep(AFTER_S)
        b, tb = dict(p.stats), time.perf_counter()
    finally:
        p.stop(wait=False)
    ncb = b["callbacks"] - a["callbacks"]
    return {
        "callbacks": ncb, "frames": b["frames"] - a["frames"], "underflows": b["underflows"] - a["underflows"],
        "seconds": tb - ta,
        "cb_mean_s": (b["callback_mean_s"] * b["callbacks"] - a["callback_mean_s"] * a["callbacks"]) / max(ncb, 1),
        "cb_max_s": b["callback_max_s"], "cb_max_note": "since the stream started",
    }


def _run_python(srv, latency, hog):
    import sounddevice as sd
    eng = _session().engine(srv.rate, _stage())
    st = {"callbacks": 0, "underflows": 0, "sum": 0.0, "max": 0.0, "frames": 0, "last": None, "gap": 0.0}

    def callback(outdata, frames, time_info, status):
        t0 = time.perf_counter()
        if status.output_underflow:
            st["underflows"] += 1
        eng.fill(outdata)
        t1 = time.perf_counter()
        st["callbacks"] += 1
        st["frames"] += frames
        st["sum"] += t1 - t0
        if st["measuring"]:
            st["max"] = max(st["max"], t1 - t0)
            if st["last"] is not None:
                st["gap"] = max(st["gap"], t0 - st["last"])
        st["last"] = t0

    st["measuring"] = False
    with sd.OutputStream(samplerate=srv.rate, blocksize=0, device=srv.play_device, channels=2, dtype="float32",
                         latency=latency, callback=callback, dither_off=True, clip_off=True):
        time.sleep(SETTLE_S)
        a, ta = dict(st), time.perf_counter()
        st["measuring"] = True
        hog.run()
        time.sleep(AFTER_S)
        b, tb = dict(st), time.perf_counter()
    ncb = b["callbacks"] - a["callbacks"]
    return {
        "callbacks": ncb, "frames": b["frames"] - a["frames"], "underflows": b["underflows"] - a["underflows"],
        "seconds": tb - ta, "cb_mean_s": (b["sum"] - a["sum"]) / max(ncb, 1), "cb_max_s": b["max"],
        "max_gap_s": b["gap"],
    }


@pytest.mark.parametrize("hold", ["free", "hold"])
@pytest.mark.parametrize("latency", LATENCIES, ids=lambda x: f"{x * 1000:g}ms")
@pytest.mark.parametrize("callback", ["compiled", "python"])
def test_stream(benchmark, server, hog_size, callback, latency, hold):
    hog = Hog(hog_size if hold == "hold" else 0)
    out = {}

    def run():
        out.update((_run_compiled if callback == "compiled" else _run_python)(server, latency, hog))
    benchmark.group = "stream"
    benchmark.pedantic(run, rounds=1, iterations=1, warmup_rounds=0)
    rate = server.rate
    out["hold_s"] = hog.held
    out["rate"] = rate
    out["frames_per_cb"] = out["frames"] / max(out["callbacks"], 1)
    out["budget_s"] = out["frames_per_cb"] / rate
    out["missing_s"] = max(0.0, out["seconds"] - out["frames"] / rate)
    put(f"stream/{callback}/{latency * 1000:g} ms/{hold}", **out)
    benchmark.extra_info.update({k: v for k, v in out.items() if isinstance(v, (int, float, str))})
