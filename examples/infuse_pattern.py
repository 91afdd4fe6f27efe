"""An INFUSE-style polarity pattern on a monophasic train: net DC on purpose.

Run: python examples/infuse_pattern.py   (writes out/infuse_pattern.wav)
"""
import numpy as np

import microwave as mw
from microwave.files import write_current

RATE = 48_000

# Monophasic pulses (one phase, so each carries net charge): 10 Hz, 150 uA, 20 ms wide.
# The pattern gives the sign of each pulse: 10 positive, then 5 negative, repeated.
train = mw.Monophasic(freq_hz=10, amp_ua=150, phase_us=20_000, pattern="10+ 5-")

# The spec reports its charge budget: 5 more positive than negative pulses per cycle.
print(f"net DC            {train.net_dc_ua:.3f} uA")
print(f"charge per cycle  {train.net_charge_per_cycle_uc:.3f} uC")

current = train.render(seconds=15.0, rate=RATE)  # 10 whole cycles of 1.5 s
print(f"measured mean     {current.astype(np.float64).mean():.3f} uA")   # matches net DC

# (a timed pattern, e.g. "3s+ 3s-", flips the sign every 3 seconds instead)

# for listening or a scope: full scale = the train's peak current
path = write_current("out/infuse_pattern.wav", current, RATE, full_scale_ua=train.peak_ua)
print(f"wrote {path}")
