"""A charge-balanced biphasic pulse train, rendered and written to out/biphasic_train.wav.

Run: python examples/biphasic_train.py
"""
import numpy as np

import microwave as mw
from microwave.files import write_current

RATE = 48_000  # samples per second

# 30 pulses a second; each pulse is +200 uA for 500 us, a 50 us gap, then -200 uA for 500 us.
train = mw.Biphasic(freq_hz=30, amp_ua=200, phase_us=500, interphase_us=50)
current = train.render(seconds=2.0, rate=RATE)  # float32 array of microamps

# Phase 2 returns phase 1's charge, so the net charge (sum of uA x 1/RATE s = uC) is ~0.
print(f"{len(current)} samples, peak {np.abs(current).max():.0f} uA, net charge {current.sum() / RATE:+.1e} uC")


# for listening or a scope: full scale = the train's peak current
path = write_current("out/biphasic_train.wav", current, RATE, full_scale_ua=train.peak_ua)
print(f"wrote {path}")
