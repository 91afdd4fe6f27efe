"""The results table: every ratio the issue asks for, computed from the
numbers the benchmarks of one run stored, with its target and whether it was
met (and by how much it was missed).  Markdown, printed at the end of the run
and written to bench/results.md."""
from __future__ import annotations

import os
import platform
import subprocess
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


# ---- formatting ----------------------------------------------------------------
def _si(x: float, unit: str) -> str:
    for scale, prefix in ((1e9, "G"), (1e6, "M"), (1e3, "k"), (1, "")):
        if abs(x) >= scale:
            return f"{x / scale:.3g} {prefix}{unit}"
    return f"{x:.3g} {unit}"


def rate(r: dict) -> str:
    """Samples per second (and ns per sample) of a throughput record."""
    per = r["seconds"] / r["per"]
    return f"{_si(1 / per, 'samples/s')} ({per * 1e9:.3g} ns/sample)"


def dur(s: float) -> str:
    if s < 1e-6:
        return f"{s * 1e9:.3g} ns"
    if s < 1e-3:
        return f"{s * 1e6:.3g} µs"
    if s < 1:
        return f"{s * 1e3:.3g} ms"
    return f"{s:.3g} s"


@dataclass
class Target:
    op: str          # ">=", "<=", "<", "=="
    value: float
    text: str        # as shown in the table
    on: str = "ratio"    # "ratio" or "measured" (the number the target is about)

    def verdict(self, x: float) -> str:
        ok = {">=": x >= self.value, "<=": x <= self.value, "<": x < self.value, "==": x == self.value}[self.op]
        if ok:
            return "met"
        if self.op == ">=":
            return (f"**missed by {self.value / x:.3g}×** (needs {self.value / x:.3g}× faster)" if x > 0
                    else "**missed**")
        if self.op == "==":
            return f"**missed** ({x:g})"
        if self.on == "measured" and self.value > 0:
            return f"**missed by {dur(x - self.value)}** ({x / self.value:.2g}× the limit)"
        return f"**missed by {100 * (x / self.value - 1):.3g} %**"


@dataclass
class Row:
    label: str
    measured: str
    baseline: str
    ratio: str
    target: str
    verdict: str


def _cells(row: Row) -> str:
    return f"| {row.label} | {row.measured} | {row.baseline} | {row.ratio} | {row.target} | {row.verdict} |"


HEADER = "| row | measured | baseline | ratio | target | verdict |\n| --- | --- | --- | --- | --- | --- |"


class Builder:
    def __init__(self, data: dict, notrun: dict):
        self.data = data
        self.notrun = notrun
        self.lines: list[str] = []
        self.summary: list[str] = []

    def section(self, title: str, note: str = "", short: str = ""):
        self.short = short or title
        self.lines += ["", f"### {title}", ""]
        if note:
            self.lines += [note, ""]
        self.lines.append(HEADER)

    def missing(self, *keys) -> str | None:
        for k in keys:
            if k not in self.data:
                reason = self.notrun.get(k) or next((v for p, v in self.notrun.items() if k.startswith(p)), None)
                return f"not run: {reason}" if reason else "not run"
        return None

    def add(self, label, keys, fn, target: Target | None = None):
        """fn(*records) -> (measured, baseline, ratio_text, number the target is about)."""
        why = self.missing(*keys)
        if why:
            self.lines.append(_cells(Row(label, why, "", "", target.text if target else "—", "not run")))
            return
        measured, baseline, ratio_text, x = fn(*[self.data[k] for k in keys])
        verdict = target.verdict(x) if target else "—"
        self.lines.append(_cells(Row(label, measured, baseline, ratio_text, target.text if target else "—", verdict)))
        if target and verdict != "met":
            self.summary.append(f"{self.short} — {label}: {ratio_text or measured} vs {target.text}")


def _speed(m, b):
    # throughput ratio: how many samples the core writes per sample of the baseline
    rm, rb = m["per"] / m["seconds"], b["per"] / b["seconds"]
    x = rm / rb
    return rate(m), rate(b), f"{x:.3g}×", x


def _rate(r):
    return r["per"] / r["seconds"]


def _per_pulse(core, fill, pulses):
    """ns a pulse beyond a plain write of the same samples."""
    span = core["per"]
    extra = (core["seconds"] / core["per"] - fill["seconds"] / fill["per"]) * span
    x = extra / pulses["pulses"]
    return (f"{x * 1e9:.3g} ns/pulse", f"{pulses['pulses']} pulses in {span} samples (by the plan); "
            f"render {dur(core['seconds'] / core['per'] * span)}, fill {dur(fill['seconds'] / fill['per'] * span)}",
            "", x)


def _llc_target(core, fill, numba):
    goal = min(1.5 * _rate(numba), 0.9 * _rate(fill))
    which = "1.5× numba" if 1.5 * _rate(numba) <= 0.9 * _rate(fill) else "0.9× fill"
    x = _rate(core) / goal
    return rate(core), f"{_si(goal, 'samples/s')} ({which})", f"{x:.3g}×", x


def peer_target(t: Builder, name: str, key: str, size: str) -> None:
    """The in-cache target row: the core against the lower of 1.5× its fastest
    numpy or numba peer and 0.9× fill; 0.9× np.tile (the core then also
    allocating its buffer) where that copy is the fastest peer."""
    label = f"{name} — vs the target: the lower of 1.5× the fastest peer and 0.9× fill"
    core, fill = f"core/{key}/{size}", f"fill/{size}"
    why = t.missing(core, fill)
    peers = {p: t.data[f"{p}/{key}/{size}"] for p in ("numpy", "numba", "tile") if f"{p}/{key}/{size}" in t.data}
    tgt = Target(">=", 1.0, "≥ 1× target")
    if why or not peers:
        t.lines.append(_cells(Row(label, why or "not run: no peer", "", "", tgt.text, "not run")))
        return
    best = max(peers, key=lambda p: _rate(peers[p]))
    absent = [p for p in ("numpy", "numba") if p not in peers]
    note = f"; {', '.join(absent)} not run" if absent else ""
    if best == "tile":
        if f"core-alloc/{key}/{size}" not in t.data:
            t.lines.append(_cells(Row(label, "not run: core-alloc", "", "", tgt.text, "not run")))
            return
        m = t.data[f"core-alloc/{key}/{size}"]
        goal = min(0.9 * _rate(peers["tile"]), 0.9 * _rate(t.data[fill]))
        basis = "0.9× np.tile (the core allocating too)"
    else:
        m = t.data[core]
        goal = min(1.5 * _rate(peers[best]), 0.9 * _rate(t.data[fill]))
        basis = f"1.5× {best}" if 1.5 * _rate(peers[best]) <= 0.9 * _rate(t.data[fill]) else "0.9× fill"
    x = _rate(m) / goal
    verdict = tgt.verdict(x)
    t.lines.append(_cells(Row(label, rate(m), f"{_si(goal, 'samples/s')} ({basis}; fastest peer: {best}{note})",
                              f"{x:.3g}×", tgt.text, verdict)))
    if verdict != "met":
        t.summary.append(f"{t.short} — {label}: {x:.3g}× of {basis}")


def build(data: dict, notrun: dict, ctx: dict) -> tuple[list[str], list[str]]:
    """Markdown lines of the table and a list of missed targets."""
    from families import FAMILIES

    t = Builder(data, notrun)
    sizes = ctx["sizes"]
    for size, (_n, _span, desc) in sizes.items():
        inc = size == "in-cache"
        t.section(f"Kernel throughput, {size} buffer ({desc})",
                  "Samples per second written into the same float32 buffer; ratio = core ÷ baseline "
                  "(higher is better). "
                  + ("Target per family: the core at least 1.5× the fastest numpy or numba peer of the same "
                     "samples, or 0.9× ndarray.fill, whichever is lower (0.9× np.tile where the copy of a "
                     "precomputed period is the fastest peer, allocation included on both sides); pulse-by-pulse "
                     "trains ≤ 10 ns a pulse beyond fill; sweeps, envelopes and the session ≥ 0.25× fill."
                     if inc else "Target: every family ≥ 0.9× ndarray.fill; pulse-by-pulse trains ≤ 10 ns a pulse "
                                 "beyond fill."),
                  short=f"kernel, {size}")
        for fam in FAMILIES + [None]:
            key = fam.key if fam else "session"
            name = f"{fam.family}: {fam.label}" if fam else "full session + stage: full-face, 2 channels, DC stage"
            sweep = bool(fam and fam.spec().sweep is not None)
            envelope = bool(fam and fam.spec().envelope is not None)
            if not inc:
                tgt = Target(">=", 0.9, "≥ 0.9× fill")
            elif sweep or envelope or not fam:
                tgt = Target(">=", 0.25, "≥ 0.25× fill")
            else:
                tgt = None
            t.add(f"{name} — vs ndarray.fill", [f"core/{key}/{size}", f"fill/{size}"], _speed, tgt)
            kind = "mask" if fam and fam.ref == "mask" else "box filter"
            t.add(f"{name} — vs numpy ({kind})", [f"core/{key}/{size}", f"numpy/{key}/{size}"], _speed)
            t.add(f"{name} — vs numba (area-exact renderer)", [f"core/{key}/{size}", f"numba/{key}/{size}"], _speed)
            if fam and fam.scipy:
                what = {"square": "scipy.signal.square (same waveform)",
                        "sawtooth": "scipy.signal.sawtooth (same triangle)",
                        "chirp": "scipy.signal.chirp (same phase law, a sine)"}[fam.scipy]
                t.add(f"{name} — vs {what}", [f"core/{key}/{size}", f"scipy/{key}/{size}"], _speed)
            if f"tile/{key}/{size}" in data:
                t.add(f"{name} — into a buffer allocated per block vs np.tile of one precomputed period "
                      "(a copy, periodic trains only; allocation on both sides)",
                      [f"core-alloc/{key}/{size}", f"tile/{key}/{size}"], _speed)
            if inc:
                peer_target(t, name, key, size)
            if fam and fam.pulse_path:
                t.add(f"{name} — ns a pulse beyond fill: (render − ndarray.fill) ÷ pulses",
                      [f"core/{key}/{size}", f"fill/{size}", f"pulses/{key}/{size}"], _per_pulse,
                      Target("<=", 10e-9, "≤ 10 ns/pulse", on="measured"))
            if not fam:
                t.add("full session + AC stage: TIGHTEN, 2 channels, 5 Hz ±30 % (seven corners a sample) "
                      "— vs ndarray.fill",
                      [f"core/session-ac/{size}", f"fill/{size}"], _speed)

    # ---- either side of the last-level cache ------------------------------------
    if "llc_sizes" in ctx:
        t.section("Stores either side of the last-level cache",
                  "One fill of a buffer " + " and one of ".join(d for _n, d in ctx["llc_sizes"].values())
                  + ": below the cache the kernels write with plain stores (the samples stay in the cache for "
                  "whoever reads them), above it with stores that bypass it. Ratio = core ÷ ndarray.fill of the "
                  "same buffer; the rows \"then a read\" time the fill and a read of every sample after it "
                  "(what samples left in the cache are for) against ndarray.fill and the same read. Targets: "
                  "above the cache ≥ 0.9× fill; below it the lower of 1.5× the numba peer (one fill of the same "
                  "buffer; numpy is not run at these sizes, it is slower than numba in cache) and 0.9× fill.",
                  short="last-level cache")
        from families import BY_KEY
        for size in ctx["llc_sizes"]:
            above = size.startswith("above")
            for key in ctx["llc_families"]:
                fam = BY_KEY[key]
                t.add(f"{size}: {fam.family}: {fam.label} — vs ndarray.fill", [f"llc/{key}/{size}", f"llc/fill/{size}"],
                      _speed, Target(">=", 0.9, "≥ 0.9× fill") if above else None)
                t.add(f"{size}: {fam.family}: {fam.label} — vs numba", [f"llc/{key}/{size}", f"llc-numba/{key}/{size}"],
                      _speed)
                if not above:
                    t.add(f"{size}: {fam.family}: {fam.label} — vs the target: the lower of 1.5× numba and 0.9× fill",
                          [f"llc/{key}/{size}", f"llc/fill/{size}", f"llc-numba/{key}/{size}"], _llc_target,
                          Target(">=", 1.0, "≥ 1× target"))
            for key in ctx["llc_families"]:
                fam = BY_KEY[key]
                if f"llc/{key}/{size}/read" in data:
                    t.add(f"{size}: {fam.family}: {fam.label}, then a read of every sample (buf.max()) "
                          "— vs ndarray.fill then the same read",
                          [f"llc/{key}/{size}/read", f"llc/fill/{size}/read"], _speed)

    # ---- call overhead ------------------------------------------------------
    floor = ctx.get("floor_name", "empty Cython call")
    t.section("Cost of one fill call from Python",
              f"Time of one `gen.fill(block)` (fastest round) on a 1 kHz rectangular biphasic generator; "
              f"baseline: {floor} (the floor of any call from Python); ratio = fill ÷ floor.")

    def call(m, b):
        return dur(m["seconds"]), dur(b["seconds"]), f"{m['seconds'] / b['seconds']:.3g}×", m["seconds"]

    for key, label in (("call/floor_buffer", "floor + acquiring the array's buffer (Cython, bench/_floor.pyx)"),
                       ("call/position", "`Generator.position` property (a compiled call in the package)")):
        t.add(label, [key, "call/floor"], call)
    for b in ctx["blocks"]:
        tgt = Target("<", 1e-6, "< 1 µs", on="measured") if b == 256 else None
        t.add(f"fill({b} samples)", [f"call/fill/{b}", "call/floor"], call, tgt)

    # ---- file ---------------------------------------------------------------------
    wav = ctx["wav_desc"]
    t.section("Rendering a session to WAV",
              f"{wav}; baseline: writing the same number of zero frames with soundfile, same format and block size.")

    def wavr(m, b):
        return dur(m["seconds"]), dur(b["seconds"]), f"{m['seconds'] / b['seconds']:.3g}×", m["seconds"] / b["seconds"]

    t.add("render_to_file(session, .wav)", ["wav/session", "wav/zeros"], wavr, Target("<=", 1.5, "≤ 1.5× zeros"))
    t.add("the engine alone, same blocks, no file (what the render adds to the write)", ["wav/engine", "wav/zeros"],
          wavr)

    # ---- memory -----------------------------------------------------------------
    t.section("Peak resident memory while rendering to WAV (each render in its own process)")

    def rss(m, b):
        return (f"{m['rss'] / 2**20:.1f} MiB ({m['desc']})", f"{b['rss'] / 2**20:.1f} MiB ({b['desc']})",
                f"{m['rss'] / b['rss']:.3g}×", m["rss"] / b["rss"])

    def rss_import(m, b):
        return (f"{m['rss'] / 2**20:.1f} MiB ({m['desc']})", f"{m['before'] / 2**20:.1f} MiB (after imports)",
                f"+{(m['rss'] - m['before']) / 2**20:.1f} MiB", m["rss"])

    t.add("peak RSS, long session vs short one", ["rss/long", "rss/short"], rss,
          Target("<=", 1.05, "≤ 1.05× (no growth)"))
    t.add("peak RSS of the long render vs the process before it (imports done)", ["rss/long", "rss/long"],
          rss_import)
    t.add("peak RSS, 1000 steps vs 4 steps of the same programs and length", ["rss/steps/1000", "rss/steps/4"],
          rss, Target("<=", 1.05, "≤ 1.05× (bounded by the programs)"))

    # ---- streaming ---------------------------------------------------------------
    hold = ctx.get("hold_desc", "a Python thread sorting a list")
    t.section("Streaming to the PulseAudio null sink",
              f"{ctx.get('stream_desc', '')} GIL hold: {hold}. Callback time is measured inside the callback; "
              "the budget is the block's duration (frames per callback ÷ rate).")
    for lat in ctx["latencies"]:
        ms = f"{lat * 1000:g} ms"
        for cb, name in (("compiled", "compiled callback"), ("python", "Python callback (engine.fill)")):
            def load(m):
                x = m["cb_mean_s"] / m["budget_s"]
                return (dur(m["cb_mean_s"]) + f" (max {dur(m['cb_max_s'])})",
                        dur(m["budget_s"]) + f" ({m['frames_per_cb']:.0f} frames)", f"{100 * x:.3g} %", x)
            t.add(f"{name} @ {ms}: time per block vs budget", [f"stream/{cb}/{ms}/free"],
                  lambda m: load(m), Target("<", 0.05, "< 5 %") if cb == "compiled" else None)
            for h in ("free", "hold"):
                def under(m, h=h):
                    extra = f", GIL held {m['hold_s']:.2g} s" if h == "hold" else ""
                    missing = m["missing_s"]
                    gap = f"; {dur(missing)} short of wall-clock time" if missing > 2 * m["budget_s"] + 0.01 else ""
                    return (f"{m['underflows']} underflow{'' if m['underflows'] == 1 else 's'}{gap}",
                            f"{m['callbacks']} callbacks, {m['frames'] / m.get('rate', 48000):.2g} s of audio "
                            f"in {m['seconds']:.2g} s{extra}", "", m["underflows"])
                tgt = Target("==", 0, "0") if (cb == "compiled" and h == "hold" and abs(lat - 0.010) < 1e-9) else None
                t.add(f"{name} @ {ms}: underflows, {'with GIL hold' if h == 'hold' else 'no hold'}",
                      [f"stream/{cb}/{ms}/{h}"], under, tgt)
        def pyvs(p, c):
            x = p["cb_mean_s"] / c["cb_mean_s"]
            return dur(p["cb_mean_s"]), dur(c["cb_mean_s"]), f"{x:.3g}×", x
        t.add(f"Python callback vs compiled @ {ms}: time per block",
              [f"stream/python/{ms}/free", f"stream/compiled/{ms}/free"], pyvs)
    return t.lines, t.summary


# ---- the machine --------------------------------------------------------------------
def machine() -> list[str]:
    import numpy
    cpu = "unknown"
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = ""
    try:
        import psutil
        mem = f", {psutil.virtual_memory().total / 2**30:.0f} GiB RAM"
    except ImportError:
        pass
    caches = []
    for idx in range(4):
        p = Path(f"/sys/devices/system/cpu/cpu0/cache/index{idx}")
        try:
            lvl, typ, size = ((p / f).read_text().strip() for f in ("level", "type", "size"))
            caches.append(f"L{lvl}{'d' if typ == 'Data' else 'i' if typ == 'Instruction' else ''} {size}")
        except OSError:
            pass
    libs = [f"Python {platform.python_version()}", f"numpy {numpy.__version__}"]
    for mod, attr in (("scipy", "__version__"), ("soundfile", "__version__"), ("Cython", "__version__")):
        try:
            libs.append(f"{mod} {getattr(__import__(mod), attr)}")
        except ImportError:
            pass
    try:
        import soundfile
        libs.append(soundfile.__libsndfile_version__.join(("libsndfile ", "")))
    except (ImportError, AttributeError):
        pass
    try:
        import pytest_benchmark
        libs.append(f"pytest-benchmark {pytest_benchmark.__version__}")
    except ImportError:
        pass
    try:
        from importlib.metadata import version
        libs.append(f"microwave {version('microwave')}")
    except Exception:
        pass
    commit = ""
    try:
        rev = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"],
                             capture_output=True, text=True, timeout=5)
        dirty = subprocess.run(["git", "-C", str(REPO), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=5)
        if rev.returncode == 0:
            commit = rev.stdout.strip() + (" + uncommitted changes" if dirty.stdout.strip() else "")
    except (OSError, subprocess.SubprocessError):
        pass
    return [
        f"- CPU: {cpu}, {os.cpu_count()} cores{mem}; caches per core: {', '.join(caches) or 'unknown'}",
        f"- {platform.system()} {platform.release()} ({platform.machine()})",
        f"- {', '.join(libs)}",
        f"- source: {commit or 'unknown'}",
    ]
