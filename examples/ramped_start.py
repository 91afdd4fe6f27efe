"""A session that ramps up gently, holds, and ramps down: Envelope.soft.

Run: python examples/ramped_start.py   (writes out/ramped_start.wav)
"""
import numpy as np

import microwave as mw
from microwave.files import write_current

RATE = 48_000
SECONDS = 10.0

# Soft start over 2 s and soft stop over 2 s (raised-cosine ramps) around a 10 s session.
# Envelope.attack_hold_release(2.0, 6.0, 2.0, shape="linear") would give linear ramps instead.
envelope = mw.Envelope.soft(total_s=SECONDS, start_s=2.0, stop_s=2.0)
train = mw.Biphasic(freq_hz=100, amp_ua=300, phase_us=250, envelope=envelope)

current = train.render(seconds=SECONDS, rate=RATE)
# The envelope scales each pulse: look at the peak current in each second.
per_second = np.abs(current).reshape(-1, RATE).max(axis=1)
print("peak uA per second:", " ".join(f"{p:.0f}" for p in per_second))

# for listening or a scope: full scale = the train's peak current
path = write_current("out/ramped_start.wav", current, RATE, full_scale_ua=train.peak_ua)
print(f"wrote {path}")
