"""Settings of the benchmark run (quick or full) and the store every
benchmark writes its measurements to; bench/conftest.py turns the store into
the results table at the end of the run."""
from __future__ import annotations

import os

from microwave._core import LLC_BYTES

QUICK = os.environ.get("MICROWAVE_BENCH_QUICK", "") not in ("", "0")
RATE = 48_000

# sizes: name -> (buffer samples, samples per round, description)
IN_CACHE = 1 << 16
OUT_CACHE = (1 << 20) if QUICK else (1 << 24)
SPAN_S = 1.0 if QUICK else 4.0
SIZES = {
    "in-cache": (IN_CACHE, round(SPAN_S * RATE),
                 f"{IN_CACHE} float32 = {IN_CACHE * 4 // 1024} KiB, filled repeatedly over {SPAN_S:g} s of signal"),
    "out-of-cache": (OUT_CACHE, OUT_CACHE,
                     f"{OUT_CACHE} float32 = {OUT_CACHE * 4 // 2**20} MiB, one fill"),
}


LLC = LLC_BYTES   # the kernels' own figure (csrc/mw_program.c, read_llc)
# one fill on each side of the last-level cache (half of it, twice it): plain
# stores below, cache-bypassing stores above
LLC_SIZES = {
    "below-llc": (LLC // 8, f"{LLC // 8} float32 = {LLC // 2 // 2**20} MiB, half the {LLC // 2**20} MiB "
                            f"last-level cache, one fill"),
    "above-llc": (LLC // 2, f"{LLC // 2} float32 = {2 * LLC // 2**20} MiB, twice the last-level cache, one fill"),
}
LLC_FAMILIES = ("rect_bi_1k", "rect_bi_tighten", "ramp_sweep", "ramp_sweep_long")
SESSION_SPAN_S = 20.0 if QUICK else None      # None: the whole full-face session (270 s)
BLOCKS = (0, 32, 64, 128, 256, 512, 1024, 2048, 4096)
WAV_SECONDS = 60.0 if QUICK else 20 * 60.0
RSS_SECONDS = (600.0, 60.0) if QUICK else (3600.0, 60.0)
#: the length of the 1000-step session and of the 1-step one it is measured against
STEPS_SECONDS = 120.0 if QUICK else 1200.0
LATENCIES = (0.005, 0.010, 0.020)
GIL_HOLD_S = 0.5 if QUICK else 2.0

def blocks(n_buf: int, span: int) -> list[int]:
    """Block sizes of at most n_buf adding up to span."""
    out, left = [], span
    while left > 0:
        out.append(min(n_buf, left))
        left -= out[-1]
    return out


RESULTS: dict[str, dict] = {}
NOTRUN: dict[str, str] = {}
CONTEXT: dict = {
    "sizes": SIZES,
    "llc_sizes": LLC_SIZES,
    "llc_families": LLC_FAMILIES,
    "blocks": BLOCKS,
    "latencies": LATENCIES,
    "floor_name": "`_floor.noop(array)`, an empty Cython function",
    "wav_desc": f"A {WAV_SECONDS / 60:g}-minute, 2-channel, 48 kHz session (LIFT, TIGHTEN, INFUSE, FSM, a quarter "
                f"each) to a 32-bit float WAV in blocks of 65536 frames",
    "stream_desc": "The built-in `fsm` session (230 Hz and 430 Hz, wave slope) through a DC stage, 2 channels, "
                   "48 kHz, PortAudio's own block size (blocksize=0).",
    "hold_desc": f"a Python thread sorting a list of random floats (sized for about {GIL_HOLD_S:g} s; each row says "
                 f"how long it held: one C call that never releases the GIL)",
}


#: The statistic the table uses: the fastest round.  The machines this runs
#: on are shared 2-vCPU VMs whose speed flips between two modes (a sibling
#: hyperthread busy or not), so a median lands in one mode or the other from
#: run to run; the minimum is the reproducible figure.  Medians are kept
#: beside it (and in the pytest-benchmark table and JSON).
STATISTIC = "min"


def record(benchmark, key: str, per: float = 1, **extra) -> dict | None:
    """Store the time of one round of ``benchmark`` (seconds, the fastest
    round; the median beside it) under ``key``, with ``per`` = samples (or
    calls) per round."""
    stats = getattr(benchmark, "stats", None)
    if stats is None:           # --benchmark-disable
        return None
    st = stats.stats
    r = {"seconds": getattr(st, STATISTIC), "median": st.median, "min": st.min, "rounds": st.rounds, "per": per,
         **extra}
    RESULTS[key] = r
    benchmark.extra_info.update({k: v for k, v in r.items() if isinstance(v, (int, float, str, bool))})
    benchmark.extra_info["key"] = key
    return r


def put(key: str, **values) -> None:
    """Store a measurement that is not a pytest-benchmark timing (RSS, underflows)."""
    RESULTS[key] = values


def not_run(prefix: str, reason: str) -> None:
    NOTRUN[prefix] = reason


