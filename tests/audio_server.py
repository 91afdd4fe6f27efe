"""Real-audio test infrastructure: a private PulseAudio null sink behind PortAudio.

``audio_server()`` starts ``scripts/audio-server.sh`` (a headless PulseAudio
with one null sink, ``microwave_null``, float32 48 kHz stereo), puts the
variables that route ALSA and libpulse clients to it into ``os.environ``,
(re)initialises PortAudio so that it enumerates the ALSA devices defined for
that server, and yields an :class:`AudioServer` with

* ``play_device``   -- PortAudio output device name (``microwave_play``, the
  null sink; ``default`` goes there as well),
* ``ac_device``     -- PortAudio output device name (``microwave_ac``): a
  LADSPA one-pole high-pass at ``ac_corner_hz`` (5 Hz) in front of the null
  sink, the stand-in for an AC-coupled card (its monitor is the same),
* ``record_device`` -- PortAudio input device name (``microwave_monitor``, the
  null sink's monitor: whatever is played comes back here),
* ``rate``          -- the null sink's sample rate (48000): play and record at
  this rate and nothing is resampled (the float32 path is bit-exact).

If PulseAudio or PortAudio cannot be had, :class:`AudioUnavailable` is raised
(the ``audio`` fixture in conftest.py turns that into a skip, or a failure
when ``CI=true``). Install what is missing with
``bash scripts/audio-server.sh install``.
"""
from __future__ import annotations

import contextlib
import dataclasses
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "scripts" / "audio-server.sh"

PLAY_DEVICE = "microwave_play"
RECORD_DEVICE = "microwave_monitor"


class AudioUnavailable(RuntimeError):
    """No audio server or no PortAudio: real-audio tests cannot run."""


@dataclasses.dataclass(frozen=True)
class AudioServer:
    play_device: str
    ac_device: str
    ac_corner_hz: float
    record_device: str
    rate: int
    directory: str
    env: dict
    # calibration targets (scripts/audio-server.sh): LADSPA hpf sinks at these
    # *settings* (hpf_corner_hz gives the corner each really has), two in
    # series, and a gain of 0.5
    ac_lo_device: str = "microwave_ac_lo"
    ac_lo_hz: float = 3.0
    ac_hi_device: str = "microwave_ac_hi"
    ac_hi_hz: float = 15.0
    series_device: str = "microwave_ac_series"     # series_hz, then microwave_ac's ac_corner_hz
    series_hz: float = 10.0
    half_device: str = "microwave_half"

    def play_and_record(self, signal, *, pad_before: float = 0.3, pad_after: float = 0.3,
                        latency: float = 0.1, max_wait: float = 10.0):
        """Play ``signal`` (frames x channels, or 1-D for mono) on the null sink
        while recording its monitor with the same number of channels.

        Two independent streams (an InputStream started first, then an
        OutputStream) rather than one full-duplex stream over two ALSA
        devices: PortAudio's ALSA duplex mode aborts now and then under load
        ("ContinuePoll ... failed"). ``pad_before`` seconds of silence precede
        the signal; after it, recording goes on for at least ``pad_after``
        seconds and until the monitor has been silent for 0.25 s (at most
        ``max_wait`` s), so that the whole signal is captured whatever the
        latency. Returns ``(recording, flags)``: the recording (frames x
        channels, float32) and the set of PortAudio status flags seen by either
        stream (e.g. ``{"output_underflow"}``; empty when all went well)."""
        import threading

        import sounddevice as sd

        x = np.asarray(signal, dtype=np.float32)
        if x.ndim == 1:
            x = x[:, None]
        channels = x.shape[1]
        out = np.concatenate([np.zeros((int(pad_before * self.rate), channels), np.float32), x])
        flags = set()
        chunks = []
        pos = [0]
        quiet = [0]  # frames of silence at the end of the recording so far
        done = threading.Event()

        def note(status):
            if status:
                for name in ("input_underflow", "input_overflow", "output_underflow",
                             "output_overflow"):
                    if getattr(status, name):
                        flags.add(name)

        def rec_cb(indata, frames, time, status):
            note(status)
            chunks.append(indata.copy())
            quiet[0] = quiet[0] + frames if not np.any(np.abs(indata) > 1e-6) else 0

        def play_cb(outdata, frames, time, status):
            note(status)
            n = min(frames, len(out) - pos[0])
            outdata[:n] = out[pos[0]: pos[0] + n]
            outdata[n:] = 0
            pos[0] += n
            if pos[0] >= len(out):
                done.set()

        quiet_frames = int(0.25 * self.rate)
        with sd.InputStream(samplerate=self.rate, device=self.record_device, channels=channels,
                            dtype="float32", latency=latency, callback=rec_cb) as rin:
            with sd.OutputStream(samplerate=self.rate, device=self.play_device,
                                 channels=channels, dtype="float32", latency=latency,
                                 callback=play_cb) as rout:
                if not done.wait(len(out) / self.rate + max_wait):
                    raise RuntimeError("playback did not finish (stream stalled or aborted)")
                sd.sleep(int(1000 * latency) + 50)  # let the last blocks leave the buffer
                if not rout.active:
                    raise RuntimeError("output stream aborted")
            waited = 0.0
            while waited < pad_after or (quiet[0] < quiet_frames and waited < max_wait):
                sd.sleep(50)
                waited += 0.05
                if not rin.active:
                    raise RuntimeError("input stream aborted")
        rec = np.concatenate(chunks) if chunks else np.zeros((0, channels), np.float32)
        return rec, flags

    def loopback(self, signal, *, attempts: int = 3, **kwargs):
        """``play_and_record`` again (up to ``attempts`` times) while the
        streams report under-/overflows -- a loaded machine, not the code under
        test. Returns ``(recording, flags, tries)``."""
        for tries in range(1, attempts + 1):
            rec, flags = self.play_and_record(signal, **kwargs)
            if not flags:
                return rec, flags, tries
        return rec, flags, tries


class MonitorRecorder:
    """Records the null sink's monitor (channel 0) on its own input stream
    while a Player plays output-only: what flowed, in uA through a stage
    of ``dac_per_ua`` DAC units per uA.  Separate streams: PortAudio's full
    duplex across two ALSA pulse devices is not reliable under load (a real
    card's duplex is one device).  ``flags`` holds what PortAudio reported
    (an overflow: the recording says nothing; try again)."""

    def __init__(self, server, rate: int, channels: int = 2, dac_per_ua: float = 1.0):
        import sounddevice as sd
        self.gain = dac_per_ua
        self.chunks: list = []
        self.flags: set = set()
        self.stream = sd.InputStream(device=server.record_device, channels=channels, samplerate=rate,
                                     dtype="float32", latency=0.1, callback=self._take)

    def _take(self, indata, frames, time_info, status):
        self.chunks.append(indata.copy())
        if status:
            self.flags.add(str(status))

    def __enter__(self):
        self.stream.start()
        return self

    def __exit__(self, *exc):
        time.sleep(0.5)          # the monitor lags the output
        self.stream.stop()
        self.stream.close()

    def ua(self):
        """The recording of channel 0, uA."""
        return self.frames()[:, 0] / self.gain

    def frames(self):
        """The recording, every channel, in DAC units (frames x channels)."""
        return np.concatenate(self.chunks)


def align(recorded, reference):
    """Find ``reference`` (1-D) in ``recorded`` (1-D) by FFT cross-correlation.

    Returns ``(lag, ncc, gain)``: the sample offset of the reference in the
    recording, the normalised correlation of the aligned segment with the
    reference (1.0 = identical shape) and the least-squares gain."""
    r = np.asarray(recorded, np.float64)
    x = np.asarray(reference, np.float64)
    if len(r) < len(x):
        raise ValueError("recording shorter than reference")
    n = 1 << int(np.ceil(np.log2(len(r) + len(x))))
    c = np.fft.irfft(np.fft.rfft(r, n) * np.conj(np.fft.rfft(x, n)), n)[: len(r) - len(x) + 1]
    lag = int(np.argmax(c))  # the positive peak: an inverted signal must not match
    seg = r[lag: lag + len(x)]
    denom = np.linalg.norm(seg) * np.linalg.norm(x)
    ncc = float(np.dot(seg, x) / denom) if denom > 0 else 0.0
    gain = float(np.dot(seg, x) / np.dot(x, x)) if np.dot(x, x) > 0 else 0.0
    return lag, ncc, gain


def hpf_coefficient(setting_hz: float, rate: int) -> np.float32:
    """The pole of ladspa-sdk's "hpf" (filter.so, Richard Furse's example
    plugins) at a cutoff ``setting_hz``, computed as its source does, in
    single precision: comp = 2 - cos(2 pi/rate * cutoff) (the product a
    float, cos in double, stored as a float), a = comp - sqrt(comp * comp - 1)
    (the product and difference floats).  Near 1 Hz the float's resolution
    is coarser than cos(w) - 1: a 2 Hz setting gives a = 1 (no filter at
    all), 5 Hz gives 5.28 Hz (hpf_corner_hz)."""
    import math
    f32 = np.float32
    w = f32(f32(2 * math.pi / rate) * f32(setting_hz))
    comp = f32(2 - math.cos(float(w)))
    return f32(comp - f32(math.sqrt(float(f32(f32(comp * comp) - f32(1))))))


def hpf(x, setting_hz: float, rate: int) -> np.ndarray:
    """What the "hpf" plugin outputs for ``x``, by its documented difference
    equation in single precision: lp[n] = (1 - a) x[n] + a lp[n-1] (floats),
    out[n] = x[n] - lp[n].  Bit-exact with the audio server's sinks."""
    from scipy import signal
    a = float(hpf_coefficient(setting_hz, rate))
    x = np.asarray(x, np.float32).astype(np.float64)
    # the recursion in double differs from the plugin's float by ~1e-7 of full scale
    return x - signal.lfilter([1 - a], [1, -a], x)


def hpf_corner_hz(setting_hz: float, rate: int) -> float:
    """The corner the plugin really has at ``setting_hz``: the one-pole RC
    high-pass (after a sample-and-hold) with the same pole, exp(-2 pi f /
    rate) = a; 0 when the setting quantises to no filter.  (Its response is
    that high-pass times a, the passband gain: hpf_coefficient.)"""
    import math
    a = float(hpf_coefficient(setting_hz, rate))
    return -math.log(a) * rate / (2 * math.pi) if a < 1 else 0.0


def _parse_exports(text):
    env = {}
    for line in text.splitlines():
        line = line.strip()
        if not line.startswith("export ") or "=" not in line:
            continue
        key, _, value = line[len("export "):].partition("=")
        if len(value) >= 2 and value[0] == value[-1] == "'":
            value = value[1:-1]
        env[key] = value
    return env


def _run_script(command, directory, timeout=60):
    env = dict(os.environ, MICROWAVE_AUDIO_DIR=directory)
    return subprocess.run(["bash", str(SCRIPT), command], env=env, stdin=subprocess.DEVNULL,
                          capture_output=True, text=True, timeout=timeout)


def _portaudio_restart(sd):
    """Terminate PortAudio completely and initialise it again.

    Pa_Initialize is reference counted: while PortAudio is initialised a
    second Pa_Initialize does NOT re-enumerate devices, so every reference
    sounddevice holds must be dropped first. Streams of the old instance
    become invalid; the one sounddevice's convenience functions remember is
    closed and forgotten so that its exit handler does not touch it."""
    _portaudio_release(sd)
    sd._initialize()


def _portaudio_release(sd):
    last = getattr(sd, "_last_callback", None)
    if last is not None:
        with contextlib.suppress(Exception):
            last.stream.close(ignore_errors=True)
        sd._last_callback = None
    while sd._initialized > 0:
        sd._terminate()


def _reinit_portaudio():
    """Import sounddevice, or restart PortAudio if it already was imported
    (PortAudio and ALSA enumerate devices at Pa_Initialize, reading the
    environment -- ALSA_CONFIG_PATH, PULSE_SERVER -- at that moment)."""
    if "sounddevice" in sys.modules:
        sd = sys.modules["sounddevice"]
        _portaudio_restart(sd)
        return sd
    try:
        import sounddevice as sd
    except OSError as exc:  # libportaudio2 missing
        raise AudioUnavailable(f"PortAudio library not found ({exc}); "
                               "run: bash scripts/audio-server.sh install") from exc
    except ImportError as exc:
        raise AudioUnavailable(f"python-sounddevice not installed ({exc})") from exc
    return sd


@contextlib.contextmanager
def audio_server(directory: str | None = None):
    """Start the private PulseAudio server, route PortAudio to it, yield an
    :class:`AudioServer`; stop it and restore the environment on exit.

    On exit PortAudio is terminated; it is initialised again only if it was
    initialised before entering (call ``sounddevice._initialize()`` to use
    sounddevice afterwards otherwise)."""
    if shutil.which("pulseaudio") is None or shutil.which("pactl") is None:
        raise AudioUnavailable("pulseaudio/pactl not installed; "
                               "run: bash scripts/audio-server.sh install")
    if not SCRIPT.is_file():
        raise AudioUnavailable(f"{SCRIPT} missing")
    own_dir = directory is None
    pa_was_up = "sounddevice" in sys.modules and sys.modules["sounddevice"]._initialized > 0
    directory = directory or tempfile.mkdtemp(prefix="microwave-audio-")
    saved = {}
    started = False
    try:
        proc = _run_script("start", directory)
        if proc.returncode != 0:
            raise AudioUnavailable("audio-server.sh start failed "
                                   f"(rc={proc.returncode}):\n{proc.stderr}{proc.stdout}")
        started = True
        env = _parse_exports(proc.stdout)
        for key, value in env.items():
            saved[key] = os.environ.get(key)
            os.environ[key] = value
        sd = _reinit_portaudio()
        names = [d["name"] for d in sd.query_devices()]
        play = env.get("MICROWAVE_AUDIO_PLAY_DEVICE", PLAY_DEVICE)
        record = env.get("MICROWAVE_AUDIO_RECORD_DEVICE", RECORD_DEVICE)
        ac = env.get("MICROWAVE_AUDIO_AC_DEVICE", "microwave_ac")
        for name in (play, record, ac):
            if name not in names:
                raise AudioUnavailable(f"PortAudio does not list {name!r} "
                                       f"(devices: {names}); ALSA pulse plugin "
                                       "(libasound2-plugins) missing?")
        yield AudioServer(play_device=play, ac_device=ac,
                          ac_corner_hz=float(env.get("MICROWAVE_AUDIO_AC_CORNER_HZ", 5)), record_device=record,
                          rate=int(env.get("MICROWAVE_AUDIO_RATE", 48000)),
                          directory=directory, env=env,
                          ac_lo_hz=float(env.get("MICROWAVE_AUDIO_AC_LO_HZ", 3)),
                          ac_hi_hz=float(env.get("MICROWAVE_AUDIO_AC_HI_HZ", 15)),
                          series_hz=float(env.get("MICROWAVE_AUDIO_AC_SERIES_HZ", 10)))
    finally:
        sd = sys.modules.get("sounddevice")
        if sd is not None:  # drop the devices of the server about to go away
            with contextlib.suppress(Exception):
                _portaudio_release(sd)
        if started or own_dir:
            _run_script("stop", directory)
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        if own_dir:
            shutil.rmtree(directory, ignore_errors=True)
        # PortAudio is brought back only if it was up before: re-enumerating
        # the system ALSA config probes for *any* pulse server (Debian's
        # 99-pulse.conf hook), which creates ~/.config/pulse and /tmp/pulse-*.
        if sd is not None and pa_was_up:
            with contextlib.suppress(Exception):
                sd._initialize()
