"""The real-audio loopback itself works: what is played on the null sink comes
back, unchanged and in one piece, from its monitor."""
import numpy as np
import pytest

from audio_server import align

pytestmark = [pytest.mark.audio, pytest.mark.flaky(reruns=2)]   # see test_audio.py

DURATION = 1.0
AMPLITUDE = 0.5
PAD = 0.3  # s of silence played before the signal


def sine(rate, freq=1000.0):
    t = np.arange(int(DURATION * rate)) / rate
    return (AMPLITUDE * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def square(rate, freq=200.0, duty=0.5):
    n = np.arange(int(DURATION * rate))
    phase = (n * freq / rate) % 1.0
    return np.where(phase < duty, AMPLITUDE, -AMPLITUDE).astype(np.float32)


def chirp(rate, f0=50.0, f1=10_000.0):
    # not periodic: a dropped or repeated block shifts everything after it
    # and ruins the correlation of the whole, which a pure tone would hide
    t = np.arange(int(DURATION * rate)) / rate
    k = (f1 - f0) / DURATION
    return (AMPLITUDE * np.sin(2 * np.pi * (f0 * t + 0.5 * k * t * t))).astype(np.float32)


WAVEFORMS = {"sine_1k": sine, "square_200_duty50": square, "chirp_50_10k": chirp}


def check_channel(recorded, reference, rate, pad_before, flags=(), tries=1):
    lag, ncc, gain = align(recorded, reference)
    seg = recorded[lag: lag + len(reference)].astype(np.float64)
    resid = np.sqrt(np.mean((seg - reference) ** 2)) / np.sqrt(np.mean(reference.astype(np.float64) ** 2))
    where = f"(lag {lag}, gain {gain:.4f}, stream flags {sorted(flags)} after {tries} tries)"
    assert ncc > 0.99, f"normalised correlation {ncc:.5f} {where}"
    assert 0.95 < gain < 1.05, f"gain {gain:.4f} {where}"
    assert resid < 0.01, f"relative rms residual {resid:.2e} {where}"
    # input and output are separate streams, so the lag is latency plus the
    # difference of their start times: only bound it loosely
    assert lag <= int((pad_before + 1.0) * rate), f"lag {lag}"
    # before the signal the monitor was silent
    assert np.max(np.abs(recorded[: max(lag - 1, 0)])) < 1e-3
    return lag


def test_devices_listed(audio):
    import sounddevice as sd

    names = [d["name"] for d in sd.query_devices()]
    assert audio.play_device in names and audio.record_device in names
    assert sd.query_devices(audio.play_device, "output")["max_output_channels"] >= 2
    assert sd.query_devices(audio.record_device, "input")["max_input_channels"] >= 2
    assert audio.rate == 48000


@pytest.mark.parametrize("name", sorted(WAVEFORMS))
def test_loopback_mono(audio, name):
    x = WAVEFORMS[name](audio.rate)
    rec, flags, tries = audio.loopback(x, pad_before=PAD)
    assert rec.shape[1] == 1
    check_channel(rec[:, 0], x, audio.rate, PAD, flags, tries)


def test_loopback_stereo_channels_not_swapped(audio):
    left, right = sine(audio.rate), square(audio.rate)
    rec, flags, tries = audio.loopback(np.column_stack([left, right]), pad_before=PAD)
    lag_l = check_channel(rec[:, 0], left, audio.rate, PAD, flags, tries)
    lag_r = check_channel(rec[:, 1], right, audio.rate, PAD, flags, tries)
    assert lag_l == lag_r
    # and each channel really carries its own signal
    _, cross, _ = align(rec[:, 0], right)
    assert abs(cross) < 0.5


def test_loopback_float32_is_bit_exact(audio):
    # null sink float32le at the stream's rate, unity volume: no resampling,
    # no conversion, no gain -- samples come back identical, so later tests
    # may compare real-audio output with the synthesised buffer exactly
    x = chirp(audio.rate)
    stereo = np.column_stack([x, -x])
    rec, flags, tries = audio.loopback(stereo, pad_before=PAD)
    lag, ncc, _ = align(rec[:, 0], x)
    seg = rec[lag: lag + len(x)]
    assert np.array_equal(seg, stereo), (
        f"max |diff| {np.max(np.abs(seg - stereo)):.3g} (ncc {ncc:.6f}, flags {sorted(flags)})")
