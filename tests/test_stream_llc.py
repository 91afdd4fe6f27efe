"""Fills larger than the last-level cache are written with stores that
bypass the cache (csrc/mw_stream.h); smaller ones with plain stores.  Both
must give the samples of small blocks, and touch nothing around the view.

The kernels read the last-level cache from the machine when they load
(Linux: the highest level under /sys/devices/system/cpu/cpu0/cache, else
8 MiB); read here the same way, independently, to size one fill on each
side of it."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import microwave as mw
from microwave.envelopes import Envelope, Ramp
from microwave.sessions import builtin
from microwave.stage import Stage
from signals import fill_in_blocks

RATE = 48_000


def llc_bytes() -> int:
    best_level, best = 0, 0
    for d in sorted(Path("/sys/devices/system/cpu/cpu0/cache").glob("index*")):
        try:
            level = int((d / "level").read_text())
            text = (d / "size").read_text().strip()
        except (OSError, ValueError):
            continue
        scale = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}.get(text[-1:].upper(), 1)
        size = int(text.rstrip("KMGkmg")) * scale
        if (level, size) > (best_level, best):
            best_level, best = level, size
    return best or 8 << 20


def test_the_kernels_read_the_last_level_cache_the_machine_has():
    """The size the kernels choose their stores by is the machine's, read
    here independently (on Linux, where sysfs lists it)."""
    from microwave._core import LLC_BYTES
    if not Path("/sys/devices/system/cpu/cpu0/cache/index0").exists():
        pytest.skip("no sysfs cache listing: the kernels keep their 8 MiB default")
    assert LLC_BYTES == llc_bytes()


@pytest.mark.parametrize("side", ["below", "above"])
@pytest.mark.parametrize("spec", [
    mw.Biphasic(freq_hz=1000, amp_ua=200, phase_us=250),          # copied from a tile
    mw.Biphasic(freq_hz=3, amp_ua=200, phase_us=250),             # mostly rest
    mw.Monophasic(freq_hz=433.3, amp_ua=200, phase_us=250),       # pulse by pulse
    mw.Biphasic(amp_ua=200, phase_us=100, sweep=mw.Sweep(100, 2000, 400.0)),    # swept: in place, short rests
    mw.CustomTrain(onsets_s=(0.0003, 0.0101, 0.04), amps_ua=(60.0, -80.0, 70.0), loop_s=0.1000104,
                   phase_us=100),                                 # looped between samples: long rests streamed
    mw.Biphasic(freq_hz=1000, amp_ua=200, phase_us=250,           # scaled by an envelope, in L1, then streamed
                envelope=Envelope((Ramp(1.0, 1.0, "cosine"), Ramp(1.0, 0.0, "linear")), loop=True)),
], ids=["tiled", "sparse", "stepped", "swept", "custom", "enveloped"])
def test_fills_either_side_of_the_last_level_cache_equal_small_blocks(spec, side):
    llc = llc_bytes() // 4                        # samples
    n = llc // 2 + 12_345 if side == "below" else llc + 12_345
    buf = np.full(n + 2, -1.0, dtype=np.float32)
    spec.generator(RATE).fill(buf[1:-1])          # an unaligned view
    small = fill_in_blocks(spec.generator(RATE), [65536] * (n // 65536) + [n % 65536])
    np.testing.assert_array_equal(buf[1:-1], small)
    assert buf[0] == -1.0 and buf[-1] == -1.0


@pytest.mark.parametrize("side", ["below", "above"])
def test_a_session_fill_either_side_of_the_last_level_cache_equals_small_blocks(side):
    """A session's DAC frames (programs, gates and the stage; above the
    cache rendered piece by piece in L1, then streamed out) are those of
    the blocks an audio callback asks for, and the stage's clamp count too."""
    llc = llc_bytes() // 4                        # float32 samples
    frames = (llc // 2 + 12_345 if side == "below" else llc + 12_345) // 2
    session = builtin("full-face")
    big = session.engine(RATE, Stage())
    buf = np.full((frames + 2, 2), -1.0, dtype=np.float32)
    big.fill(buf[1:-1])
    small = session.engine(RATE, Stage())
    parts = [small.render(m) for m in [1023, 4096, 480] * (frames // 5599)]
    parts.append(small.render(frames - sum(len(p) for p in parts)))
    np.testing.assert_array_equal(buf[1:-1], np.concatenate(parts))
    assert (buf[0] == -1.0).all() and (buf[-1] == -1.0).all()
    assert np.count_nonzero(buf[1:-1]) > frames // 10
