"""microwave's benchmark suite: shared settings, the collector of results and
the table printed at the end of the run.

Run it with ``bash scripts/bench.sh`` (``--quick`` for the few-rounds CI
mode).  Every benchmark stores what it measured in ``RESULTS``; the ratios
are computed at the end from numbers of the *same* run, printed as a
Markdown table and written to ``bench/results.md`` (``results-quick.md`` in
quick mode) (and, when pytest-benchmark
saves JSON, into that JSON as ``microwave_table``).  Nothing here asserts a
timing: targets are reported, met or missed.

Environment:

* ``MICROWAVE_BENCH_QUICK=1``: smaller sizes and shorter runs (CI).
"""
from __future__ import annotations

import datetime
import subprocess
import sys
import time
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))
sys.path.insert(1, str(REPO / "tests"))     # audio_server.py
sys.path.insert(2, str(REPO / "tests" / "oracle"))     # families.py, numpy_ref.py: the oracle the tests run

import table  # noqa: E402

from mwbench import CONTEXT, NOTRUN, QUICK, RESULTS, STATISTIC, not_run  # noqa: E402


def pytest_configure(config):
    config.addinivalue_line("markers", "audio: streams through the PulseAudio null sink")


def pytest_report_header(config):
    return [f"microwave bench: {'QUICK' if QUICK else 'full'} mode", *table.machine()]


def _markdown(config) -> str:
    cached = getattr(config, "_mw_table", None)
    if cached is not None:
        return cached
    lines, summary = table.build(RESULTS, NOTRUN, CONTEXT)
    when = datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")
    head = [f"## Results ({'quick mode: sizes shrunk, few rounds' if QUICK else 'full run'}, {when})", "",
            *table.machine(), f"- statistic: the {'fastest' if STATISTIC == 'min' else STATISTIC} round of each "
            f"benchmark (see bench/README.md); run took {time.time() - config._mw_t0:.0f} s", ""]
    tail = ["", "Targets missed:" if summary else "Targets missed: none", *[f"- {s}" for s in summary]]
    config._mw_table = "\n".join(head + lines + tail) + "\n"
    return config._mw_table


def pytest_sessionstart(session):
    session.config._mw_t0 = time.time()


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    if not RESULTS and not NOTRUN:
        return
    text = _markdown(config)
    terminalreporter.write_sep("=", "microwave benchmark table")
    terminalreporter.write(text)
    out = HERE / ("results-quick.md" if QUICK else "results.md")
    try:
        out.write_text(text)
        terminalreporter.write_line(f"(written to {out})")
    except OSError as e:
        terminalreporter.write_line(f"(could not write {out}: {e})")


def pytest_benchmark_update_json(config, benchmarks, output_json):
    # the ratios, RSS and underflows travel with the timings
    output_json["microwave_table"] = {"quick": QUICK, "results": RESULTS, "not_run": NOTRUN,
                                      "markdown": _markdown(config) if RESULTS or NOTRUN else ""}


# ---- shared fixtures ------------------------------------------------------------------
@pytest.fixture(scope="session")
def cython_floor():
    """The floor of a call from Python: a compiled function that does
    nothing, built from bench/_floor.pyx at bench time (Cython + a C
    compiler).  Falls back to None when it cannot be built."""
    build = HERE / ".build"
    build.mkdir(exist_ok=True)
    code = (
        "import sys; from setuptools import setup, Extension; from Cython.Build import cythonize\n"
        f"setup(script_args=['build_ext', '--inplace', '--build-temp', {str(build / 'tmp')!r}],\n"
        f"      ext_modules=cythonize([Extension('_floor', [{str(HERE / '_floor.pyx')!r}])], quiet=True,\n"
        f"                            build_dir={str(build / 'c')!r}, compiler_directives={{'language_level': 3}}))\n"
    )
    try:
        proc = subprocess.run([sys.executable, "-c", code], cwd=build, capture_output=True, text=True, timeout=300)
        if proc.returncode != 0:
            raise RuntimeError(proc.stderr[-2000:])
        sys.path.insert(0, str(build))
        import _floor
        return _floor
    except Exception as e:          # no Cython or no compiler: the table says which floor
        not_run("call/floor", f"cannot build bench/_floor.pyx "
                              f"({str(e).strip().splitlines()[-1] if str(e).strip() else e})")
        return None
