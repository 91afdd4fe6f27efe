"""Peak resident memory while rendering a long session to WAV against a
short one, each in its own process (its VmHWM, read at the end of the
render): rendering streams in blocks, so the peak must not grow with the
duration."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from mwbench import RSS_SECONDS, STEPS_SECONDS, put, record

CHILD = Path(__file__).resolve().parent / "_render_child.py"
#: renders a session of N steps (tests/test_memory.py bounds the same ratio loosely)
STEPS_CHILD = Path(__file__).resolve().parent.parent / "tests" / "_rss_child.py"


#: the children run with glibc's own allocator settings, what a user's
#: process has: bench.sh raises the mmap and trim thresholds for the numpy
#: baselines, which keeps every freed temporary in the heap, so a peak
#: there counts what the allocator kept, not what the render needed
USER_ENV = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_")}


def _desc(seconds):
    return f"{seconds / 3600:g} h" if seconds >= 3600 else f"{seconds / 60:g} min"


@pytest.mark.parametrize("which", ["short", "long"])
def test_peak_rss(benchmark, tmp_path, which):
    seconds = RSS_SECONDS[0] if which == "long" else RSS_SECONDS[1]
    out = {}

    def run():
        proc = subprocess.run([sys.executable, str(CHILD), str(seconds), str(tmp_path / "rss.wav")],
                              capture_output=True, text=True, timeout=1800, env=USER_ENV)
        assert proc.returncode == 0, proc.stderr[-3000:]
        out.update(json.loads(proc.stdout.strip().splitlines()[-1]))
    benchmark.group = "memory"
    benchmark.pedantic(run, rounds=1, iterations=1, warmup_rounds=0)
    record(benchmark, f"rss-time/{which}", per=seconds * 48_000)
    put(f"rss/{which}", rss=out["peak_rss_kib"] * 1024, before=out["before_kib"] * 1024, desc=_desc(seconds),
        wall_s=out["wall_s"], bytes=out["bytes"])
    benchmark.extra_info.update(peak_rss_bytes=out["peak_rss_kib"] * 1024, rendered_s=seconds, file_bytes=out["bytes"])


@pytest.mark.parametrize("steps", [4, 1000])
def test_peak_rss_steps(benchmark, tmp_path, steps):
    """A session of 1000 steps (INFUSE, TIGHTEN, LIFT and FSM in turn) against
    4 steps of the same length, one of each: memory bounded by the programs,
    not the steps.  (Against one INFUSE step, as this row first was, the
    checks of three more programs showed as steps: 1.05-1.07x.)"""
    out = {}

    def run():
        proc = subprocess.run([sys.executable, str(STEPS_CHILD), str(steps), str(STEPS_SECONDS),
                               str(tmp_path / "steps.wav")], capture_output=True, text=True, timeout=1800,
                              env=USER_ENV)
        assert proc.returncode == 0, proc.stderr[-3000:]
        out["kib"] = int(proc.stdout.split()[-1])
    benchmark.group = "memory"
    benchmark.pedantic(run, rounds=1, iterations=1, warmup_rounds=0)
    put(f"rss/steps/{steps}", rss=out["kib"] * 1024, before=0, desc=f"{steps} step{'s' if steps > 1 else ''}, "
        f"{_desc(STEPS_SECONDS)}")
    benchmark.extra_info.update(peak_rss_bytes=out["kib"] * 1024, steps=steps, rendered_s=STEPS_SECONDS)
