"""Where the kernel's time goes: a diagnostic, not part of the table.

    python bench/costs.py        (with the package importable, e.g. in .venv)

Splits the cost of a train into what it pays per sample, per pulse, per
sample on a slope and per sample of an envelope, by timing trains that differ
in one thing only; and the session engine into the programs and the rest
(engine loop, gates, output stage).  Fastest of many rounds, same buffer and
blocks as the in-cache benchmarks (256 KiB, 4 s of signal)."""
from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import microwave as mw  # noqa: E402
from microwave import modes  # noqa: E402
from microwave.envelopes import Envelope, Ramp  # noqa: E402
from microwave.sessions import Session, Step  # noqa: E402
from microwave.stage import Stage  # noqa: E402
from microwave._core import Generator  # noqa: E402

RATE = 48_000
N = 4 * RATE
BUF = np.zeros(1 << 16, dtype=np.float32)
BLOCKS = [BUF[:65536], BUF[:65536], BUF[:N - 2 * 65536]]


def best(fn, reps=60):
    t = 1e9
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        t = min(t, time.perf_counter() - t0)
    return t


def train(spec, reps=60, tile=True):
    # tile=False: pulse by pulse, as sweeps, custom trains and trains that
    # repeat only after more than 2**18 samples are rendered
    g = Generator(spec.plan(RATE), tile=tile)

    def run():
        g.reset()
        for b in BLOCKS:
            g.fill(b)
    return best(run, reps)


def fill():
    def run():
        for b in BLOCKS:
            b.fill(200.0)
    return best(run, 200)


def main():
    tf = fill()
    ns = 1e9 / N
    print(f"ndarray.fill: {tf * ns:.3f} ns/sample")

    print("\nrectangular biphasic, 250 us phases (12 + 12 samples), by pulse rate:")
    print(f"  {'':9s} {'copied from its tile':>30s}   {'pulse by pulse':>30s}")
    rows = []
    for f in (100, 300, 1000, 1500, 2000):
        spec = mw.Biphasic(freq_hz=f, amp_ua=200, phase_us=250)
        t, tp = train(spec), train(spec, tile=False)
        rows.append((4 * f, tp))
        print(f"  {f:5d} Hz: {t * ns:.3f} ns/sample ({tf / t:.2f}x fill)   "
              f"{tp * ns:.3f} ns/sample ({tf / tp:.2f}x fill)")
    a = np.array([[1.0, p] for p, _ in rows])
    c = np.linalg.lstsq(a, np.array([t for _, t in rows]), rcond=None)[0]
    print(f"  pulse by pulse, least squares: {c[0] * ns:.3f} ns/sample + {c[1] * 1e9:.1f} ns per pulse")

    print("\nsame pulse count, what changes the cost (1 kHz unless said), copied / pulse by pulse:")
    for name, spec in [
        ("biphasic 250 us", mw.Biphasic(freq_hz=1000, amp_ua=200, phase_us=250)),
        ("  polarity alternate", mw.Biphasic(freq_hz=1000, amp_ua=200, phase_us=250, polarity="alternate")),
        ("  pattern 10+ 10- 5~ 5rest", mw.Biphasic(freq_hz=1000, amp_ua=200, phase_us=250, pattern="10+ 10- 5~ 5rest")),
        ("  + 100 us gap (edges off the sample grid)", mw.Biphasic(freq_hz=1000, amp_ua=200, phase_us=250,
                                                                   interphase_us=100)),
        ("  at 1001 Hz (every onset fractional)", mw.Biphasic(freq_hz=1001, amp_ua=200, phase_us=250)),
        ("biphasic 500 us (square, 48-sample pulse)", mw.Biphasic(freq_hz=1000, amp_ua=200, phase_us=500)),
        ("biphasic 2.5 ms at 200 Hz (480-sample pulse)", mw.Biphasic(freq_hz=200, amp_ua=200, phase_us=2500)),
        ("monophasic 1 ms, 500 Hz", mw.Monophasic(freq_hz=500, amp_ua=150, phase_us=1000)),
        ("  polarity alternate", mw.Monophasic(freq_hz=500, amp_ua=150, phase_us=1000, polarity="alternate")),
    ]:
        t, tp = train(spec), train(spec, tile=False)
        print(f"  {name:46s} {t * ns:.3f} ns/sample ({tf / t:.2f}x)   {tp * ns:.3f} ns/sample ({tf / tp:.2f}x)")

    print("\nsloped edges: 1 Hz alternating 450 ms pulses, slope length varies:")
    for slope_us in (5_000, 20_000, 50_000, 100_000):
        spec = mw.Monophasic(freq_hz=1.0, amp_ua=240, phase_us=450_000, rise_us=slope_us, fall_us=slope_us,
                             polarity="alternate")
        t = train(spec, 20)
        on_slope = 4 * 2 * slope_us * RATE / 1e6
        print(f"  {slope_us / 1000:5g} ms slopes: {t * ns:.3f} ns/sample; "
              f"{(t - tf) / on_slope * 1e9:.1f} ns per sample on a slope")

    print("\nenvelopes on the 1 kHz train (always ramping, looped):")
    base = mw.Biphasic(freq_hz=1000, amp_ua=200, phase_us=250)
    t0 = train(base)
    for shape in ("linear", "cosine", "exp"):
        env = Envelope((Ramp(1.0, 1.0, shape), Ramp(1.0, 0.0, shape)), loop=True)
        print(f"  {shape:7s}: +{(train(base.shaped(env)) - t0) * ns:.2f} ns/sample")

    print("\nsession engine, 2 channels, DC stage, 60 s, blocks of 32768 frames (ns per channel-sample):")
    buf2 = BUF.reshape(-1, 2)

    def session(steps, **kw):
        eng = Session("x", steps, **kw).engine(RATE, Stage())
        n = 60 * RATE

        def run():
            eng.rewind()
            done = 0
            while done < n:
                m = min(len(buf2), n - done)
                eng.fill(buf2[:m])
                done += m
        return best(run, 5) / (2 * n) * 1e9
    quiet = mw.Monophasic(freq_hz=0.1, amp_ua=100, phase_us=1000)
    g = quiet.generator(RATE)
    tq = best(lambda: g.fill(BUF), 50) / len(BUF) * 1e9
    print(f"  a near-silent train alone (Generator.fill):           {tq:.3f}")
    print(f"  the same as a session step, no soft start/stop:      "
          f"{session((Step('a', quiet, 60),), soft_start_s=0.001, soft_stop_s=0.001):.3f}")
    print(f"  ... with the 2 s cosine soft start and stop:         {session((Step('a', quiet, 60),)):.3f}")
    print(f"  a LIFT step:                                         {session((Step('a', modes.lift(3), 60),)):.3f}")
    print(f"  a TIGHTEN step:                                      {session((Step('a', modes.tighten(3), 60),)):.3f}")


if __name__ == "__main__":
    main()
