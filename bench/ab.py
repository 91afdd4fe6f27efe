"""A/B: two builds of microwave timed against each other in the same run,
and checked to give the same bits.

Usage (from the repository root)::

    python bench/ab.py OLD_SRC NEW_SRC [--rounds 7] [--reps 3] [--only KEY,...]

OLD_SRC and NEW_SRC are directories that hold a built ``microwave`` package
(e.g. a checkout's ``src`` after ``setup.py build_ext --inplace``; copy it
aside if you go on editing).  One process per build
(``PYTHONPATH=<SRC>:bench``) stays up for the whole run; for every case of
every round the parent asks both to time it, back to back, in alternating
order, so that a shared machine changing speed (a busy sibling
hyperthread) hits both builds alike; each round places the output buffer
at another offset (the same for both builds), so that where it falls
relative to a train's tile (4 KiB aliasing) is not fixed for a whole run.  Each answer is the fastest of
``--reps`` runs; a case's figure is the minimum over the rounds (the
reproducible figure on these VMs, see bench/mwbench.py).  The cases are
bench/test_kernels.py's: every family of bench/families.py, in-cache (a
256 KiB buffer filled again and again over 4 s of signal) and out-of-cache
(one fill of a 64 MiB buffer), one fill of a buffer half the last-level
cache of bench/mwbench.py's LLC_FAMILIES, alone and followed by a read of
every sample (``below-llc fill+read``: what leaving the samples in the cache
buys whoever reads them next; checked for bits by the families' cases), and SessionEngine.fill of the full-face
session through a DC stage and of the tighten session through an AC stage
(in-cache, the first 60 s of each), and the cost of a call (20000 fills of
32 and of 1024 samples: ns a call).

Before timing, each build renders every case once more in odd block sizes
and hashes the samples -- and so a few more trains that the families do not
cover (bursts under a counted pattern, a timed pattern with an end, an end
inside the tile, a log sweep, custom trains, pulses sharing a sample, a
looped exp envelope), each also with the tile and the slots turned off;
the script fails if the two builds differ in one bit (``--rounds 0``: only
that check).  It prints a table of ns per sample (per channel-sample for the
sessions) and the ratio new/old, and exits non-zero if any ratio exceeds
``--limit`` (1.10).
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
SESSION_S = 60.0


def _cases():
    """name -> (setup() -> run(), samples per run, verify() -> sha256 hex)."""
    import numpy as np
    from families import FAMILIES, RATE, ac_stage, full_face, stage
    from mwbench import SIZES, blocks

    from microwave.sessions import builtin

    cases = {}

    def zeros(n, channels=1, shift=0):
        """n x channels float32 zeros starting on a 64-byte boundary, shift
        64-byte lines further: the speed of a copy depends on where its
        source and destination fall relative to each other (4 KiB aliasing),
        which would otherwise be fixed for a whole process"""
        raw = np.zeros(n * channels + 16 * (shift % 64 + 1), dtype=np.float32)
        k = (-raw.ctypes.data % 64) // 4 + 16 * (shift % 64)
        v = raw[k:k + n * channels]
        return v if channels == 1 else v.reshape(n, channels)

    def odd_blocks(total):
        out, k, sizes = [], 0, (1, 37, 1024, 4097, 65536, 333, 250_000)
        while total > 0:
            m = min(total, sizes[k % len(sizes)])
            out.append(m)
            total -= m
            k += 1
        return out

    def train_case(make, n_buf, span):
        """A train made by ``make()``: (setup, span, verify), timed over
        ``span`` samples in blocks of ``n_buf``, hashed in odd blocks."""
        def setup(shift):
            gen = make().generator(RATE)
            buf = zeros(n_buf, shift=shift)
            vs = [buf[:m] for m in blocks(n_buf, span)]

            def run():
                gen.reset()
                for v in vs:
                    gen.fill(v)
            return run

        def verify():
            gen = make().generator(RATE)
            h = hashlib.sha256()
            for m in odd_blocks(span):
                h.update(gen.render(m).tobytes())
            return h.hexdigest()
        return setup, span, verify

    for fam in FAMILIES:
        for size, (n_buf, span, _) in SIZES.items():
            cases[f"{fam.key}/{size}"] = train_case(fam.spec, n_buf, span)

    # below the last-level cache (half of it, one fill): the write alone, and
    # the write then a read of every sample (buf.max()), where the samples a
    # build leaves in the cache pay off (bench/test_kernels.py's test_llc)
    from mwbench import LLC_FAMILIES, LLC_SIZES
    from families import BY_KEY
    n_llc = LLC_SIZES["below-llc"][0]
    for key in LLC_FAMILIES:
        for read in (False, True):
            def setup(shift, key=key, read=read):
                gen = BY_KEY[key].spec().generator(RATE)
                buf = zeros(n_llc, shift=shift)

                def run():
                    gen.reset()
                    gen.fill(buf)
                    if read:
                        buf.max()
                return run
            cases[f"{key}/below-llc{' fill+read' if read else ''}"] = (setup, n_llc, None)

    # the cost of a call (bench/test_calls.py): many small fills, in ns a call
    for m in (32, 1024):
        def setup(shift, m=m):
            gen = FAMILIES[0].spec().generator(RATE)
            v = zeros(m, shift=shift)

            def run():
                for _ in range(20000):
                    gen.fill(v)
            return run

        def verify(m=m):
            gen = FAMILIES[0].spec().generator(RATE)
            return hashlib.sha256(b"".join(gen.render(m).tobytes() for _ in range(500))).hexdigest()
        cases[f"call {m} samples (ns a call)/in-cache"] = (setup, 20000, verify)

    # checked for bits only (not timed, but for the two below): the paths the families above do not take
    from microwave._core import Generator

    from microwave import (
        Biphasic,
        Burst,
        CustomTrain,
        Envelope,
        Monophasic,
        Ramp,
        Sweep,
    )
    extra = {
        "burst+counted": lambda: Biphasic(freq_hz=300, amp_ua=200, phase_us=500, interphase_us=100,
                                          burst=Burst(0.05, 0.0333), pattern="3+ 2- 4~"),
        "timed+end": lambda: Monophasic(freq_hz=997, amp_ua=150, phase_us=300, pattern="0.1s+ 0.07s- 0.05s~",
                                        delay_s=0.01234, duration_s=7.3),
        "end-in-tile": lambda: Biphasic(freq_hz=1000, amp_ua=200, phase_us=250, duration_s=3.00001),
        "log-sweep": lambda: Biphasic(amp_ua=200, phase_us=80, rise_us=20, fall_us=20,
                                      sweep=Sweep(3000, 50, 6.0, scale="log")),
        "custom-loop": lambda: CustomTrain(onsets_s=(0.0, 0.00101, 0.0031, 0.0051), amps_ua=(100, -50, 80, 30),
                                           phase_us=400, loop_s=0.0171),
        "custom-once": lambda: CustomTrain(onsets_s=(0.5, 0.50091, 1.7), amps_ua=(100, 90, -80), phase_us=900,
                                           biphasic=False),
        "overlap-slopes": lambda: Biphasic(freq_hz=1e6 / 835, amp_ua=300, phase_us=150, rise_us=60, fall_us=90,
                                           triphasic=True),
        "exp-loop-env": lambda: Monophasic(period_us=1234.567, amp_ua=120, phase_us=333, polarity="alternate",
                                           envelope=Envelope((Ramp(0.3, 1.0, "exp"), Ramp(0.2, 0.1, "hold"),
                                                              Ramp(0.25, 0.0, "cosine")), loop=True)),
    }
    # timed too (in-cache, as the families): the pulse-by-pulse path's other
    # schedules -- a log sweep, and a custom train of 1000 jittered onsets a second
    rng = np.random.default_rng(1)
    jitter = tuple(float(x) for x in np.arange(1000) * 1e-3 + rng.uniform(0, 0.0005, 1000))
    jamps = tuple(float(x) for x in np.random.default_rng(2).uniform(-200, 200, 1000))
    timed = {
        "pulse:log-sweep": lambda: Biphasic(amp_ua=200, phase_us=100, sweep=Sweep(100, 2000, 4.0, scale="log")),
        "pulse:custom-jitter": lambda: CustomTrain(onsets_s=jitter, amps_ua=jamps, phase_us=100, loop_s=1.0),
    }
    n_buf, span, _ = SIZES["in-cache"]
    for key, make in timed.items():
        cases[f"{key}/in-cache"] = train_case(make, n_buf, span)

    for key, make in extra.items():
        for flags in ({}, {"tile": False}, {"tile": False, "slots": False}):
            def verify(make=make, flags=flags):
                try:
                    try:        # the debug switches: arguments now, plan keys in older builds
                        gen = Generator(make().plan(RATE), **flags)
                    except TypeError:
                        gen = Generator({**make().plan(RATE), **flags})
                except Exception as e:  # noqa: BLE001 -- a spec this version refuses: the same error
                    return f"{type(e).__name__}: {e}"
                h = hashlib.sha256()
                for m in odd_blocks(10 * RATE):
                    h.update(gen.render(m).tobytes())
                return h.hexdigest()
            cases[f"bits:{key}{''.join('/no-' + k for k in flags)}"] = (None, 0, verify)

    for key, make, stg in (("session-dc", full_face, stage), ("session-ac", lambda: builtin("tighten"), ac_stage)):
        def engine(make=make, stg=stg):
            sess = make()
            total = min(sess.frames(RATE), round(SESSION_S * RATE))
            return sess.engine(RATE, stg()), total

        def setup(shift, engine=engine):
            eng, total = engine()
            buf2 = zeros(1 << 15, 2, shift)                           # the in-cache 256 KiB buffer
            vs = [buf2[:m] for m in blocks(len(buf2), total)]

            def run():
                eng.rewind()
                for v in vs:
                    eng.fill(v)
            return run

        def verify(engine=engine):
            eng, total = engine()
            h = hashlib.sha256()
            for m in odd_blocks(total):
                h.update(eng.render(m).tobytes())
            h.update(json.dumps(eng.supervision, sort_keys=True, default=str).encode())
            return h.hexdigest()
        cases[f"{key}/in-cache"] = (setup, 2 * round(SESSION_S * RATE), verify)
    return cases


def child(reps: int, verify: bool) -> None:
    """Serve the parent: with --verify, print every case's hash; else read a
    case name a line and answer its time (the min of reps runs, ns a sample)."""
    cases = _cases()
    if verify:
        print(json.dumps({"file": __import__("microwave").__file__,
                          "sha": {name: check() for name, (_, _, check) in cases.items() if check}}), flush=True)
        return
    print(json.dumps({"file": __import__("microwave").__file__,
                      "cases": [n for n, c in cases.items() if c[0] is not None]}), flush=True)
    for line in sys.stdin:
        name, shift = line.rsplit(" ", 1)
        run = cases[name][0](int(shift))
        run()                                    # warm up: the tile, the caches
        best = float("inf")
        for _ in range(reps):
            t = time.perf_counter_ns()
            run()
            best = min(best, time.perf_counter_ns() - t)
        del run
        print(best / cases[name][1], flush=True)


def spawn(src: str, args: list[str]) -> subprocess.Popen:
    # bench/ for mwbench.py, tests/oracle/ for families.py
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([src, str(HERE), str(HERE.parent / "tests" / "oracle")]))
    return subprocess.Popen([sys.executable, str(Path(__file__).resolve()), "--child", *args], env=env,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=HERE)


def hello(p: subprocess.Popen, src: str) -> dict:
    line = p.stdout.readline()
    if not line:
        sys.exit(f"ab.py: the child for {src} failed")
    return json.loads(line)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("old")
    ap.add_argument("new")
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--only", default="", help="comma-separated case prefixes")
    ap.add_argument("--limit", type=float, default=1.10)
    a = ap.parse_args()
    builds = {"old": str(Path(a.old).resolve()), "new": str(Path(a.new).resolve())}

    sha = {}
    for k, src in builds.items():
        p = spawn(src, ["--verify"])
        sha[k] = hello(p, src)
        p.wait()
        print(f"{k}: {sha[k]['file']}", file=sys.stderr)
        if not sha[k]["file"].startswith(src):
            sys.exit(f"ab.py: {k} imported microwave from {sha[k]['file']}, not from {src}")
    differ = [n for n in sha["old"]["sha"] if sha["old"]["sha"][n] != sha["new"]["sha"].get(n)]
    print(f"bits: {len(sha['old']['sha']) - len(differ)} of {len(sha['old']['sha'])} cases identical"
          + (f"; DIFFERENT: {', '.join(differ)}" if differ else ""))

    procs = {k: spawn(src, ["--reps", str(a.reps)]) for k, src in builds.items()}
    names = [n for n in hello(procs["old"], builds["old"])["cases"] if not a.only or any(
        n.startswith(p) for p in a.only.split(","))]
    hello(procs["new"], builds["new"])
    best: dict[str, dict[str, float]] = {"old": {}, "new": {}}
    # each round places the output buffers elsewhere (the same places for both builds)
    shifts = [0] + random.Random(7).sample(range(1, 64), 63) * (1 + a.rounds // 63)
    for r in range(a.rounds):
        for i, name in enumerate(names):
            # both builds time each case back to back, in alternating order
            for k in (("old", "new") if (r + i) % 2 == 0 else ("new", "old")):
                procs[k].stdin.write(f"{name} {shifts[r]}\n")
                procs[k].stdin.flush()
                ns = float(procs[k].stdout.readline())
                best[k][name] = min(best[k].get(name, float("inf")), ns)
        print(f"round {r + 1}/{a.rounds} done", file=sys.stderr)
    for p in procs.values():
        p.stdin.close()
        p.wait()

    worst = 0.0
    print("\n| case | old ns/sample | new ns/sample | new/old |\n| --- | ---: | ---: | ---: |")
    for name in best["old"]:
        o, n = best["old"][name], best["new"][name]
        worst = max(worst, n / o)
        print(f"| {name} | {o:.3f} | {n:.3f} | {n / o:.3f} |")
    print(f"\nworst ratio {worst:.3f} (limit {a.limit:.2f}); min over {a.rounds} rounds x {a.reps} reps, "
          f"builds alternated")
    return 1 if differ or worst > a.limit else 0


if __name__ == "__main__":
    if "--child" in sys.argv:
        p = argparse.ArgumentParser()
        p.add_argument("--child", action="store_true")
        p.add_argument("--reps", type=int, default=3)
        p.add_argument("--verify", action="store_true")
        c = p.parse_args()
        child(c.reps, c.verify)
    else:
        sys.exit(main())
