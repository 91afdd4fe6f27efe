"""microwave: microcurrent stimulation waveforms at audio sample rate.

Specs in physical units (uA, us, Hz, s) become compiled generators that
write current, sample-exact and block-size invariant, into numpy arrays;
an output stage maps current to DAC samples; back ends write arrays,
WAV/FLAC files, or a sound card stream.

>>> import microwave as mw
>>> train = mw.Biphasic(freq_hz=30, amp_ua=200, phase_us=500)
>>> current = train.render(seconds=1.0, rate=48_000)   # float32, uA
>>> current.shape, current.dtype
((48000,), dtype('float32'))
>>> float(current.sum()) / 48_000                      # net charge, uC: balanced
0.0
"""
from .envelopes import Envelope, Ramp
from .patterns import Hold, PolarityPattern
from .pulses import Biphasic, Burst, CustomTrain, Monophasic, Sweep

__all__ = ["Biphasic", "Monophasic", "CustomTrain", "Burst", "Sweep", "Envelope", "Ramp",
           "PolarityPattern", "Hold"]
__version__ = "0.1.0"
