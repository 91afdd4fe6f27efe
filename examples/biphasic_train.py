"""A charge-balanced biphasic pulse train, rendered and written to out/biphasic_train.wav.

Run: python examples/biphasic_train.py
"""
from pathlib import Path

import numpy as np

import microwave as mw

RATE = 48_000  # samples per second

# 30 pulses a second; each pulse is +200 uA for 500 us, a 50 us gap, then -200 uA for 500 us.
train = mw.Biphasic(freq_hz=30, amp_ua=200, phase_us=500, interphase_us=50)
current = train.render(seconds=2.0, rate=RATE)  # float32 array of microamps

# Phase 2 returns phase 1's charge, so the net charge (sum of uA x 1/RATE s = uC) is ~0.
print(f"{len(current)} samples, peak {np.abs(current).max():.0f} uA, net charge {current.sum() / RATE:+.1e} uC")


path = Path("out/biphasic_train.wav")
path.parent.mkdir(parents=True, exist_ok=True)
x = current / train.peak_ua  # full scale = the train's peak current
try:
    import soundfile
    soundfile.write(path, x, RATE, subtype="PCM_16")
except ImportError:  # stdlib fallback: 16-bit mono PCM
    import wave
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1), w.setsampwidth(2), w.setframerate(RATE)
        w.writeframes(np.round(x * 32767).astype("<i2").tobytes())
print(f"wrote {path}")
