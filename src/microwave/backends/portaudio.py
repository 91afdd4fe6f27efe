"""The sound-card back end: play a session through a DAC, live.

PortAudio (through python-sounddevice) calls a compiled callback,
``mw_pa_callback`` in ``microwave._core``, once per block.  It runs the
session's generators and the output stage in C with no Python and no GIL,
so a Python thread that hogs the interpreter cannot starve the audio.  The
control side (this module) changes the intensity, pauses, resumes and stops
by storing plain numbers that the callback turns into linear ramps of
``ramp_s`` seconds: nothing ever steps.

How a session ends, whatever ends it (its last sample, ``duration_s``, the
auto-off, ``stop()``, Ctrl-C, an exception in the control thread): the
level ramps to zero over ``ramp_s`` -- or over three pulses (alternating
pairs) if that is longer, since each pulse takes one gain where it starts
and keeps it, so that it stays balanced -- and the pulse in progress
finishes at its own gain; a scheduled end reaches silence a whole pulse
before its exact sample, so that nothing is cut.  Then, through an
AC-coupled stage, the drive bleeds the charge the coupling stores, at most
a fifth of the limit (:data:`microwave.stage.BLEED_FRACTION`), before the
stream completes.  A pause (or a lost contact) ramps down the same way and
bleeds too; resuming waits for the bleed to finish, then ramps up.  Were
the stream to die at any moment (a crash, an unplugged card), what flows
back stays within the limit, because the supervisor bounds the stored
charge at every sample.  ``stats["clamped"]`` counts samples the
supervisor had to clamp: 0 for every session that passed its check, at any
steady level up to ``max_level``.

The callback's rules: it never allocates, never takes a lock, never needs
the GIL and never calls into Python.  One engine is one stream: while a
Player plays it, ``engine.fill`` from Python raises RuntimeError, and a
callback that finds a Python thread filling it plays silence (counted in
``stats["busy_blocks"]``) rather than touch the state.  What the callback
counts or finds (the statistics, a lost contact, the session's end) only
it writes: the control side's ``stop_at``, ``resume()`` after a lost
contact and ``reset_stats()`` are requests it takes at its next block.

>>> from microwave.sessions import builtin
>>> with Player(builtin("lift"), stage=Stage(max_ua=400)) as p:   # doctest: +SKIP
...     p.wait()                 # Ctrl-C ramps down to silence, then raises

This module imports sounddevice (and so needs PortAudio) only when used:
``import microwave`` never does.

It is the only module that touches sounddevice's internals: a Player opens
its stream through ``sounddevice._StreamBase`` with the compiled callback's
address (sounddevice's public streams take Python callbacks only), casts
with ``sounddevice._ffi``, asks for real-time scheduling through
``sounddevice._libname`` and the stream's ``_ptr``, and closes the stream
through ``sounddevice._lib`` with that pointer cleared first (an interrupt
as sounddevice's own close returned left a freed stream looking open).
Before any of that it
checks that the installed sounddevice is a release whose internals it knows
(:data:`KNOWN_SOUNDDEVICE`); any other release is refused, with an error
naming it, before a device opens -- whatever ``realtime`` says, since the
stream itself needs them.  On a known release, a failure to enable
real-time scheduling is a :class:`RealtimeWarning` (and ``realtime`` is
False), never silent.  Listing devices and calibrating use only
sounddevice's public API.

What was delivered is recorded while it plays (``history``, on by
default): the callback sums, per step, the charge and peak of the current
the stage's model says flowed, and hands them through a lock-free ring to a
writer thread that commits to the history database at least once a second
(:mod:`microwave.history`); the record is opened as ``interrupted`` and
its end written when the player closes.

A started Player is kept alive by this module until it is closed: one
dropped while it plays (``play(s)`` and no name kept) plays on to its
controlled end rather than be freed under a callback that still reads its
engine.  A Player whose stream finishes on its own (its end, a lost device,
the supervisor) is closed by a short-lived thread, which writes its
record's end; at the interpreter's exit every Player still playing is
stopped -- ramped to silence and bled -- before PortAudio is shut down.
"""
from __future__ import annotations

import atexit
import ctypes
import inspect
import re
import sys
import threading
import time
import warnings
from dataclasses import dataclass

from .. import _checks
from .._extras import require
from .._core import SUPERVISOR_SOFT
from ..history import History, Recorder
from ..sessions import Session
from ..stage import ABSOLUTE_MAX_UA, MAX_CHANNELS, Stage, _given

__all__ = ["Player", "Sense", "play", "list_devices", "DeviceLost", "SupervisorStop", "RealtimeWarning",
           "LEVEL_STEP", "KNOWN_SOUNDDEVICE"]

LEVEL_STEP = 0.1   # one press of "up" or "down": 10 % of the session's own current


class DeviceLost(RuntimeError):
    """The stream stopped before the session ended: the device went away."""


class SupervisorStop(RuntimeError):
    """The supervisor ended the session: the current that flows (or the
    charge an AC coupling stores) came within its soft bound of the stage's
    limit, which a steady level never does -- the level moved with the
    waveform.  Nothing above the limit flowed; the session ramped down and
    the coupling was bled."""


#: the python-sounddevice releases whose internals a Player uses (``_StreamBase``
#: with a raw callback, ``userdata`` and ``finished_callback``; ``_ffi``; ``_lib``;
#: ``_libname``; a stream's ``_ptr``): from the lowest (the oldest the ``audio``
#: extra allows) up to, not including, the highest.  The tests play through 0.5.
KNOWN_SOUNDDEVICE = ((0, 4, 7), (0, 6))

#: every started Player not yet closed: a Player and its stream hold each
#: other (the stream's finished callback is the Player's), so without this
#: a Player dropped while playing would be collected with its engine while
#: PortAudio still calls the compiled callback with the engine's address
_PLAYING: set = set()
_AT_EXIT: list = []     # [True] once _stop_all_at_exit is registered
_EXITING: list = []     # [True] once it runs: no stream's end starts a thread to close it


def _stop_all_at_exit() -> None:
    """At the interpreter's exit, stop (ramp down and bleed) every Player
    still playing.  Registered at the first start, after sounddevice's own
    exit handler, so that it runs before that one shuts PortAudio down."""
    _EXITING.append(True)
    for player in list(_PLAYING):
        player._stop_at_exit()


class RealtimeWarning(RuntimeWarning):
    """Real-time scheduling of the callback thread was asked for, on ALSA,
    and could not be enabled: the session plays, at normal priority."""


def _sd(what: str = "playing"):
    """sounddevice, imported (its public API; :func:`_internals` for the rest)."""
    return require("sounddevice", "audio", what, "libportaudio2")


def _version(text: str) -> tuple[int, ...]:
    """``"0.5.6"`` -> (0, 5, 6); the leading numbers of a version string."""
    m = re.match(r"\d+(?:\.\d+)*", str(text).strip())
    return tuple(int(x) for x in m.group(0).split(".")) if m else ()


def _show(v: tuple[int, ...]) -> str:
    return ".".join(map(str, v))


def _internals(sd):
    """``sd``, once its version is one :data:`KNOWN_SOUNDDEVICE` names and the
    internals a Player uses are there; else a RuntimeError naming the
    installed version and what is known (before a device opens)."""
    lo, hi = KNOWN_SOUNDDEVICE
    installed = getattr(sd, "__version__", "unknown")
    known = f"{_show(lo)} up to (not including) {_show(hi)}"
    fix = f'pip install "sounddevice>={_show(lo)},<{_show(hi)}"'
    if not lo <= _version(installed) < hi:
        raise RuntimeError(f"sounddevice {installed} is not a release microwave knows: the sound-card back end "
                           f"plays through sounddevice's internals, known for {known}; it refuses to play "
                           f"rather than guess at them: {fix}")
    missing = [n for n in ("_StreamBase", "_ffi", "_lib", "_libname") if not hasattr(sd, n)]
    if not missing:
        params = inspect.signature(sd._StreamBase).parameters
        missing = [f"_StreamBase({n}=)" for n in ("callback", "userdata", "finished_callback") if n not in params]
    if missing:
        raise RuntimeError(f"sounddevice {installed} lacks {', '.join(missing)}, which the sound-card back end "
                           f"uses (known for {known}); it refuses to play: {fix}")
    return sd


def list_devices(kind: str = "output") -> list[dict]:
    """The devices PortAudio sees, with their channel counts and default rates.

    Parameters
    ----------
    kind : {"output", "input", "any"}
        Output-capable devices (the default: what a Player plays on),
        input-capable ones (a calibration's or a sense's input), or all.

    Returns
    -------
    list of dict
        sounddevice's description of each device, with its ``index``.

    Raises
    ------
    ValueError
        ``kind`` is not one of the three.
    ImportError
        sounddevice (or PortAudio) is not installed (``pip install microwave[audio]``).
    """
    _checks.choice("kind", kind, ("output", "input", "any"))
    sd = _sd()
    return [dict(d, index=i) for i, d in enumerate(sd.query_devices())
            if kind == "any" or d[f"max_{kind}_channels"] > 0]


#: what a stream that cannot open says where PortAudio sees no device at all
NO_SOUND_CARD = ("PortAudio sees no sound card and no audio server (is PulseAudio or PipeWire running, "
                 "or a card plugged in?)")


def open_error(sd, e: Exception, name: str, device, kind: str) -> Exception:
    """The error to raise for ``e``, raised by sounddevice opening a stream
    on ``device`` (the parameter ``name``; ``kind`` "output" or "input"):
    a device it does not know is a ValueError naming the parameter, its
    value and where the devices are listed; a PortAudio error where no
    device of the kind exists says so; anything else is ``e`` itself."""
    msg = str(e)
    if isinstance(e, ValueError) and (msg.startswith("No ") or msg.startswith("Multiple ")):
        return ValueError(f"{name}={device!r} is not allowed: {msg} (the {kind} devices: "
                          f"microwave.audio.list_devices({kind!r}), or `microwave devices`)")
    if isinstance(e, sd.PortAudioError):
        try:
            none = not list_devices(kind)
        except Exception:       # (PortAudio itself failing: its own error says more)
            none = False
        if none:
            return sd.PortAudioError(f"no {kind} device: {NO_SOUND_CARD} ({msg})")
    return e


@dataclass(frozen=True)
class Sense:
    """Measure the current that flows: input ``channel`` carries the voltage
    across a ``sense_ohm`` resistor in series with the electrodes, and a full
    scale input sample is ``input_full_scale_v`` volts.

    Driven and measured currents are averaged over ``window_s`` (longer than
    the card's round trip).  While the stage drives at least
    ``min_drive_ua`` and the measured current stays under ``min_ratio`` of
    it for ``lost_after_s``, contact is taken as lost and the session pauses
    (as FOREO's "anti-shock" does); ``resume()`` goes on.

    Parameters
    ----------
    channel : int
        The input channel of the sense voltage (0 to 31; default 0).
    sense_ohm : float
        The sense resistor, ohm (> 0; default 1000).
    input_full_scale_v : float
        Volts at the input for a full-scale sample, V (> 0, at most 100; default 1).
    min_ratio : float
        Measured over driven current below which contact is lost (0 to 1; default 0.1).
    min_drive_ua : float
        The drive, uA, below which contact is not judged (default 5).
    lost_after_s : float
        How long the ratio must stay low, s (> 0, at most 60; default 0.2).
    window_s : float
        The averaging window, s (> 0, at most 60; default 0.5).

    Raises
    ------
    ValueError, TypeError
        A parameter out of range or of the wrong type (named in the message).
    """

    channel: int = 0
    sense_ohm: float = 1000.0
    input_full_scale_v: float = 1.0
    min_ratio: float = 0.1
    min_drive_ua: float = 5.0
    lost_after_s: float = 0.2
    window_s: float = 0.5

    def __post_init__(self):
        s = lambda k, v: object.__setattr__(self, k, v)  # noqa: E731 (frozen)
        s("channel", _checks.integer("channel", self.channel, 0, MAX_CHANNELS - 1))
        s("sense_ohm", _checks.number("sense_ohm", self.sense_ohm, 0, 1e7, lo_open=True, unit="ohm"))
        s("input_full_scale_v", _checks.number("input_full_scale_v", self.input_full_scale_v, 0, 100, lo_open=True,
                                               unit="V"))
        s("min_ratio", _checks.number("min_ratio", self.min_ratio, 0, 1))
        s("min_drive_ua", _checks.number("min_drive_ua", self.min_drive_ua, 0, ABSOLUTE_MAX_UA, unit="uA"))
        s("lost_after_s", _checks.number("lost_after_s", self.lost_after_s, 0, 60, lo_open=True, unit="s"))
        s("window_s", _checks.number("window_s", self.window_s, 0, 60, lo_open=True, unit="s"))

    def ua_per_unit(self) -> float:
        """uA per input sample unit: the input's full scale across the sense resistor."""
        return self.input_full_scale_v / self.sense_ohm * 1e6


class Player:
    """Plays a session on a sound card; a context manager.

    ``level`` is the intensity multiplier of the session's own currents
    (1.0 as built; never more than the stage allows).  ``ramp_s`` is the
    length of every level change, pause, resume and stop.  ``latency`` is
    PortAudio's suggested output latency in seconds.  ``device`` is an
    output device (index or name), or an (input, output) pair with
    ``sense`` for duplex.  ``realtime`` asks PortAudio's ALSA back end to
    run the callback thread with real-time priority (granted to root or to
    a user with an rtprio limit; ignored elsewhere), so that other busy
    threads on a loaded machine do not delay it; :attr:`realtime` says
    whether it was enabled, and on ALSA a failure to enable it is a
    :class:`RealtimeWarning`.

    A sounddevice release outside :data:`KNOWN_SOUNDDEVICE` is refused
    (RuntimeError naming it) before a device opens.

    Parameters
    ----------
    session : Session
        What to play (checked against ``stage`` before anything opens).
    stage : Stage, optional
        The output stage (default ``Stage()``).
    device : int, str or (input, output), optional
        The output device, or an (input, output) pair with ``sense``.
    rate : int
        Sample rate, Hz (default 48000).
    latency : float
        PortAudio's suggested output latency, s (0.001 to 2; default 0.02).
    blocksize : int
        Frames per callback (0: PortAudio's choice).
    level : float
        The intensity multiplier to start at (at most the stage allows).
    ramp_s : float
        Every level change, pause, resume and stop is a ramp this long, s.
    duration_s : float, optional
        End early, with a fade that reaches silence at this time, s (> 0, at
        most the session's length).
    sense : Sense, optional
        Measure the current that flows on an input channel (duplex).
    input_channels : int, optional
        Input channels to open with ``sense`` (default: just enough).
    realtime : bool
        Ask for real-time scheduling of the callback thread (ALSA; default True).
    history : History or bool
        Where to record what was delivered: a :class:`microwave.history.History`,
        True (default) for the user's own (``$MICROWAVE_HISTORY``, else the
        user data directory), False (or None) for no record.

    Raises
    ------
    ValueError, TypeError
        A parameter out of range or of the wrong type, a device name
        PortAudio does not know (``device=...``, with where the devices are
        listed), or a session the stage cannot play within its limit (named
        in the message).
    RuntimeError
        An unknown sounddevice release.
    sounddevice.PortAudioError
        PortAudio cannot open the stream: a device index it does not have,
        a device in use, a rate, latency or channel count the device
        refuses, or no device at all (the message says so: no sound card
        and no audio server); ``microwave play`` prints it as one line.
    """

    def __init__(self, session: Session, stage: Stage | None = None, device=None, rate: int = _checks.DEFAULT_RATE,
                 latency: float = 0.02, blocksize: int = 0, level: float = 1.0, ramp_s: float = 0.5,
                 duration_s: float | None = None, sense: Sense | None = None, input_channels: int | None = None,
                 realtime: bool = True, history: History | bool | None = True):
        # every parameter is checked before a device is opened
        self.session = _checks.instance("session", session, Session, "a microwave.sessions.Session")
        self.stage = _given(stage)
        device = _device(device)
        self.rate = _checks.rate(rate)
        self.latency = _checks.number("latency", latency, 0.001, 2.0, unit="s")
        blocksize = _checks.integer("blocksize", blocksize, 0, 1 << 16)
        self.ramp_s = _checks.number("ramp_s", ramp_s, 0.001, 60.0, unit="s")
        _checks.instance("sense", sense, Sense, "a microwave.audio.Sense", none=True)
        if input_channels is not None:
            if sense is None:
                raise ValueError(f"input_channels={input_channels!r} is only for a duplex stream: give sense= too")
            input_channels = _checks.integer("input_channels", input_channels, sense.channel + 1, MAX_CHANNELS)
        realtime = _checks.flag("realtime", realtime)
        if isinstance(history, bool):
            history = History() if history else None
        self.history: History | None = _checks.instance("history", history, History,
                                                        "a microwave.history.History or a bool", none=True)
        self.engine = session.engine(self.rate, self.stage, ramp_s=self.ramp_s, duration_s=duration_s)
        self.engine.set_level(_checks.number("level", level, 0, self.engine.max_level))
        self.engine.rewind()
        if self.history is not None:
            self.engine.enable_record()
        self._recorder: Recorder | None = None
        #: the history record of this play (None until it starts, or without a history)
        self.record_id: int | None = None
        self._stopped = False
        self._closing = False
        # held while a thread starts or closes the Player; re-entrant: a signal handler on that thread
        # (which then owns it: _in_start_or_close) may stop the Player, and only asks for the ramp
        self._close_lock = threading.RLock()
        self.sense = sense
        self._sd = _internals(_sd())
        ffi = self._sd._ffi
        out_ch = self.stage.out_channels
        common = dict(samplerate=self.rate, blocksize=blocksize, dtype="float32", latency=self.latency,
                      callback=ffi.cast("PaStreamCallback*", self.engine.callback_address()),
                      userdata=ffi.cast("void*", self.engine.address()),
                      finished_callback=self._on_finished, dither_off=True, clip_off=True)
        if sense is not None:
            in_ch = input_channels if input_channels is not None else sense.channel + 1
            self.engine.configure_sense(sense.channel, in_ch, sense.ua_per_unit(), sense.min_ratio, sense.min_drive_ua,
                                        max(1, round(sense.lost_after_s * self.rate)), ring_frames=self.rate * 60,
                                        window_frames=sense.window_s * self.rate)
        try:
            if sense is not None:
                self._stream = self._sd._StreamBase(kind="duplex", device=device, channels=(in_ch, out_ch), **common)
            else:
                self._stream = self._sd._StreamBase(kind="output", device=device, channels=out_ch, **common)
        except (ValueError, self._sd.PortAudioError) as e:
            # (which of a duplex pair: sounddevice's message says "input" or "output")
            kind = "input" if sense is not None and "input" in str(e) else "output"
            raise open_error(self._sd, e, "device", device, kind) from None
        # after the end, silence for a while so that the device plays the
        # ramp's foot (and a sense input sees it) before the stream completes
        self.engine.set_tail(round((2 * self.latency + 0.25) * self.rate))
        # set by the stream's finished callback: a plain flag, polled (an Event's lock, held where a
        # signal handler interrupts its wait, would block the handler's wait and PortAudio's thread)
        self._ended = False
        self._started = False
        self.error = None
        try:
            #: whether real-time scheduling was enabled for the callback thread
            self.realtime = realtime and _enable_realtime(self._sd, self._stream)
        except BaseException:      # a warning made an error, say: the stream is not left open
            self._stream.close()
            raise

    # ---- the stream ------------------------------------------------------------
    def _on_finished(self):
        # PortAudio ends the stream on its own when the device fails: then
        # the session had not finished (nor been stopped) -- say so
        st = self.engine.state
        if st["supervisor_stop"]:
            self.error = SupervisorStop(
                f"the supervisor ended the session at {st['position'] / self.rate:.1f} s: the current through "
                f"the stage came within {100 * (1 - SUPERVISOR_SOFT):.0f} % of its limit (max_ua="
                f"{self.stage.max_ua:g}), which a steady level does not do; nothing above the limit flowed")
        elif not st["finished"] and not self._closing:
            self.error = DeviceLost(f"the audio device stopped at {st['position'] / self.rate:.1f} s of "
                                    f"{st['total'] / self.rate:.1f} s: disconnected or failed "
                                    f"(nothing more can be played through it)")
        self._ended = True
        if not self._closing:
            self._close_later()

    def _close_later(self) -> None:
        """Close the Player on a short-lived thread: its stream ended on its own
        (the record's end is written; a Player nobody holds goes then).  Not on
        PortAudio's thread, which may not close its own stream; none at the
        interpreter's exit, whose handler stops and closes every Player held."""
        if _EXITING or sys.is_finalizing():
            return
        try:
            threading.Thread(target=self._close_quietly, name="microwave-close").start()
        except RuntimeError:    # (the interpreter is shutting down)
            pass

    def _wait_ended(self, timeout: float | None, poll_s: float = 0.005) -> bool:
        """Wait until the stream's finished callback has run, or ``timeout``
        (s; None: for ever) passes; whether it has.  Polled, every ``poll_s``:
        no lock is taken, so a signal handler may wait while the code it
        interrupted waits."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self._ended:
            left = poll_s if deadline is None else min(poll_s, deadline - time.monotonic())
            if left <= 0:
                return False
            time.sleep(left)
        return True

    def _close_quietly(self) -> None:
        try:
            self.close()
        except Exception:       # (nobody to tell: the stream has ended; the record's end is written all the same)
            pass

    def start(self) -> Player:
        """Start the stream (the session plays from its first sample) and return the player.

        A start that fails (the device went between the Player's making and
        its start) raises ``sounddevice.PortAudioError``, and the history
        records the play as ``device-lost`` with nothing delivered.  Through
        ALSA, PortAudio may instead never return from such a start (its
        issue #535: the callback thread exits without telling the caller);
        nothing plays meanwhile.  Start the Player soon after making it.

        Raises
        ------
        RuntimeError
            The Player was closed (a Player plays its session once).
        sounddevice.PortAudioError
            The stream could not start.
        """
        if self._stream.closed:
            raise RuntimeError("this Player is closed: a Player plays its session once; make another")
        if self.history is not None and self._recorder is None:
            # opened as "interrupted": a process that dies leaves it so
            n_ch = self.engine.state["channels"]
            self.record_id = self.history.begin(self.session, rate=self.rate, channels=n_ch)
            self._recorder = Recorder(self.history, self.record_id, self.engine.drain_record, self.rate, n_ch)
        if not _AT_EXIT:
            atexit.register(_stop_all_at_exit)      # (sounddevice, imported by now, registered its own first)
            _AT_EXIT.append(True)
        _PLAYING.add(self)       # before the stream starts: it may finish (and discard it) at once
        self.engine.attach_stream()     # (stop_at then taken by the audio thread only; no configure_sense)
        # as a close is: a signal handler's stop() or close() meanwhile only asks for the ramp (closed
        # under PortAudio's start, the stream was cut at full level)
        with self._close_lock:
            try:
                if self._stream.closed:     # (by a signal handler's stop() since the test above)
                    raise RuntimeError("this Player was closed (stop() or close()) while it started")
                self._stream.start()
                self._started = True
            except BaseException as e:
                if self._active():
                    # it did start (a Ctrl-C landing as PortAudio returned): ramped down, and held until
                    # its end, on its own, closes it (dropped now, it would be freed under its stream)
                    self._started = True
                    self._ask_stop()
                else:
                    self._started = False
                    _PLAYING.discard(self)
                    self._end_record("device-lost" if isinstance(e, self._sd.PortAudioError) else "stopped")
                raise
        return self

    def _stop_at_exit(self) -> None:
        """:func:`_stop_all_at_exit`'s stop of this Player, whatever befalls it
        (a failure, or a Ctrl-C in its ramp, must not keep the others playing)."""
        try:
            if not self._started:
                # a start under way on a daemon thread, which may never return (PortAudio's issue #535),
                # holds the lock: left to PortAudio's shutdown rather than the exit hang.  Released before
                # the stop: held, this thread's stop would only ask for the ramp, as a handler's does
                if not self._close_lock.acquire(timeout=2.0):
                    return
                self._close_lock.release()
            self.stop()
        except BaseException:
            while self._in_start_or_close():      # (interrupted holding the probe's lock)
                self._close_lock.release()

    def _in_start_or_close(self) -> bool:
        """Whether this thread is inside the Player's start() or close(): a
        call from a signal handler that interrupted it (the lock's owner,
        which no interrupt leaves stale: a ``with`` releases it however it is
        left)."""
        return self._close_lock._is_owned()     # type: ignore[attr-defined]  # (CPython's; Condition uses it)

    def stop(self, wait: bool = True, timeout: float | None = None) -> None:
        """Ramp to silence, bleed what an AC coupling stores, then end the stream.

        Parameters
        ----------
        wait : bool
            Wait until the fade and the bleed have played (default True).
        timeout : float or None
            The longest wait, s (default None: the fade, the longest bleed and
            the latency, plus 2 s).

        Raises
        ------
        ValueError, TypeError
            ``wait`` is not a bool, or ``timeout`` is not a number >= 0.  The
            stop happens all the same: the session is ramped to silence and
            the stream closed before the error is raised.
        """
        self._ask_stop()        # first, whatever else was given: a stop asked for is a stop
        try:
            wait = _checks.flag("wait", wait)
            if timeout is not None:
                timeout = _checks.number("timeout", timeout, 0, unit="s")
            # (not from a signal handler that interrupted this thread's start or close: that one ends it)
            if wait and self._started and not self._in_start_or_close():
                self._wait_ended(timeout if timeout is not None else self._end_s())
        finally:
            self.close()

    def _ask_stop(self) -> None:
        """Ask the audio thread to ramp to silence and end."""
        if not self.engine.state["finished"]:
            self._stopped = True      # before its end: the record says "stopped"
        self.engine.stop()

    def _end_s(self) -> float:
        """The longest a controlled end takes to play out, s: the fade, the
        unit in progress, the longest bleed, the device's buffers."""
        return self.engine.end_samples / self.rate + self.stage.max_bleed_s + 3 * self.latency + 2.0

    def close(self) -> None:
        """Stop the stream once its last buffers have played, and close it
        (``with Player(...)`` does this; a session still playing is
        ramped down and bled first, and one that has ended is bled first:
        the stream ends on its own once what an AC coupling stores has
        bled and the device has played it).

        A signal handler may call :meth:`stop` or :meth:`close` while this
        thread closes the Player: the re-entered call asks for the ramp and
        returns at once, and the close under way ends the stream.
        Interrupted (a second Ctrl-C) while the stream still plays, the
        Player stays held and ramps down; the stream's own end closes it."""
        if self._in_start_or_close():
            # re-entered from a signal handler while this thread starts or closes it (inside
            # PortAudio's stop or close, say): the call under way goes on; this one asks for the ramp
            self._ask_stop()
            return
        with self._close_lock:      # (the thread that closes a Player whose stream ended, and its caller)
            self._close()

    def _close(self) -> None:
        try:
            if self._started and not self._stream.closed and not self._ended:
                if not self.engine.state["finished"]:
                    self._ask_stop()    # never a cut: the fade and the bleed play out first
                self._wait_ended(self._end_s())
            # stopping the stream ourselves is not a lost device (PortAudio calls
            # the finished callback for it too)
            self._closing = True
            if self._started and not self._stream.closed:
                self._stream.stop()   # lets the last buffers play out
            self._close_stream()
        finally:
            if self._running():
                # interrupted (a second Ctrl-C) with the stream still running: the Player stays held and
                # ramps down; its end, on its own, starts the thread that closes it (the exit's handler, if
                # it comes first).  Each side sets, then looks at, what the other sets: one of them starts it
                self._ask_stop()
                self._closing = False
                if self._ended:
                    self._close_later()
            else:
                self._close_stream()    # (stopped, then interrupted before the close)
                _PLAYING.discard(self)
                self._end_record(self.end)

    def _close_stream(self) -> None:
        """Close the stream, if open, with its pointer cleared first: an interrupt
        as PortAudio's close returns finds it closed (sounddevice's own close
        clears it after, and an interrupt in between left a freed stream open)."""
        ptr = self._stream._ptr
        if ptr == self._sd._ffi.NULL:
            return
        self._stream._ptr = self._sd._ffi.NULL
        self._sd._lib.Pa_CloseStream(ptr)

    def _running(self) -> bool:
        """Whether PortAudio may still call the callback: started, not
        closed, and active (a stream PortAudio cannot ask counts as ended)."""
        return self._started and self._active()

    def _active(self) -> bool:
        """Whether the stream is open and PortAudio says it is active."""
        try:
            return not self._stream.closed and bool(self._stream.active)
        except Exception:
            return False

    @property
    def end(self) -> str:
        """How the session ended, as its record says: ``completed``,
        ``auto-off`` (the session's auto-off came first), ``stopped``
        (:meth:`stop`, Ctrl-C, leaving the ``with`` block early, or the
        supervisor), ``contact-lost`` or ``device-lost``; ``playing``
        before it has."""
        st = self.engine.state
        if isinstance(self.error, DeviceLost):
            return "device-lost"
        if st["contact_lost"]:
            return "contact-lost"
        if self._stopped or st["supervisor_stop"] or (self._stream.closed and not st["finished"]):
            return "stopped"
        if not st["finished"]:
            return "playing"
        # the steps as written, longer than the auto-off, and the auto-off (not a duration_s before it) ended it
        cut = sum(s.seconds for s in self.session.steps) > self.session.auto_off_s
        return "auto-off" if cut and st["total"] == round(self.session.auto_off_s * self.rate) else "completed"

    def _end_record(self, end: str) -> None:
        """Write the record's end, once, after the stream has stopped
        (the entry the audio thread was summing is pushed first)."""
        recorder, self._recorder = self._recorder, None
        if recorder is None:
            return
        for _ in range(40):           # a full ring: the writer drains it within a poll or two
            if self.engine.flush_record():
                break
            time.sleep(recorder.poll_s)
        dac = self.engine.state["first_dac_time"]
        recorder.close(end, dac_time=dac if dac > 0 else None)

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the session ends or ``timeout`` passes.  Ctrl-C ramps to
        silence and re-raises.

        Parameters
        ----------
        timeout : float or None
            The longest wait, s (default None: until the end).

        Returns
        -------
        bool
            True when the session ended, False when ``timeout`` passed first.

        Raises
        ------
        ValueError, TypeError
            ``timeout`` is not a number >= 0.
        DeviceLost
            The device went away before the end.
        SupervisorStop
            The supervisor ended the session (the current came near the stage's limit).
        """
        if timeout is not None:
            timeout = _checks.number("timeout", timeout, 0, unit="s")
        try:
            done = self._wait_ended(timeout, poll_s=0.05)
        except KeyboardInterrupt:
            self.stop()
            raise
        if self.error is not None:
            raise self.error
        return done

    def __enter__(self) -> Player:
        return self.start()

    def __exit__(self, *exc) -> None:
        # whatever happened in the control thread, the current ramps to zero
        self.stop()
        if self.error is not None and exc[0] is None:
            raise self.error

    # ---- live control -------------------------------------------------------------
    @property
    def level(self) -> float:
        """The intensity multiplier asked for (the audio thread ramps to it)."""
        return self.engine.state["target"]

    @level.setter
    def level(self, value: float) -> None:
        v = _checks.number("level", value, 0, unit="")
        self.engine.set_level(min(v, self.engine.max_level))

    def up(self) -> float:
        """Raise the level by :data:`LEVEL_STEP` (at most the stage allows), by a ramp; the new level."""
        self.level = min(self.level + LEVEL_STEP, self.engine.max_level)
        return self.level

    def down(self) -> float:
        """Lower the level by :data:`LEVEL_STEP` (not below 0), by a ramp; the new level."""
        self.level = max(self.level - LEVEL_STEP, 0.0)
        return self.level

    def pause(self) -> None:
        """Ramp to silence and hold (an AC coupling is bled meanwhile)."""
        self.engine.pause(True)

    def resume(self) -> None:
        """Ramp back up from a pause (or a lost contact), once any bleed has finished."""
        self.engine.pause(False)

    # ---- what is happening ----------------------------------------------------------
    @property
    def stats(self) -> dict:
        """Callbacks, underflows, overflows, callback time (mean, max) and
        its share of the block's real-time budget, contact and sense current,
        and the samples the supervisor clamped (``clamped``)."""
        st = self.engine.state
        frames_per_cb = st["frames"] / st["callbacks"] if st["callbacks"] else 0
        budget = frames_per_cb / self.rate if frames_per_cb else 0.0
        st["budget_s"] = budget
        st["load"] = st["callback_mean_s"] / budget if budget else 0.0
        st["load_max"] = st["callback_max_s"] / budget if budget else 0.0
        # with a sense input: how much of the asked current flowed over the
        # stream so far (sums: the input's lag does not matter), and, for a
        # voltage-mode stage (whose drive is a voltage), the load it saw
        ratio = st["sense_total_ua"] / st["drive_total_ua"] if st["drive_total_ua"] > 0 else None
        st["flow_ratio"] = ratio
        st["load_ohm"] = (self.stage.load_ohm / ratio if ratio and self.stage.load_ohm is not None else None)
        return st

    def reset_stats(self) -> None:
        """Count underflows and callback times afresh from now on."""
        self.engine.reset_stats()

    @property
    def position_s(self) -> float:
        """Seconds of the session played (pauses excluded)."""
        return self.engine.state["position"] / self.rate

    @property
    def step(self) -> int:
        """Index of the step playing."""
        return min(self.engine.state["step"], len(self.session.step_seconds()) - 1)

    @property
    def zone(self) -> str:
        """The zone of the step playing."""
        return self.session.steps[self.step].zone

    @property
    def time_left_s(self) -> float:
        """Seconds of the session left to play."""
        return max(0.0, self.engine.state["total"] / self.rate - self.position_s)

    @property
    def finished(self) -> bool:
        """True once the stream has ended (completed, stopped, or lost)."""
        return self._ended

    def recorded_ua(self):
        """The sense current recorded so far (uA), when playing duplex."""
        return self.engine.recorded()


def _enable_realtime(sd, stream) -> bool:
    """PaAlsa_EnableRealtimeScheduling on ``stream`` when its host API is ALSA
    (elsewhere False: there is nothing to enable).  On ALSA a failure is a
    :class:`RealtimeWarning` saying why, and False."""
    device = stream.device[1] if isinstance(stream.device, tuple) else stream.device
    if sd.query_hostapis(sd.query_devices(device)["hostapi"])["name"] != "ALSA":
        return False
    try:
        lib = ctypes.CDLL(sd._libname)
        enable = lib.PaAlsa_EnableRealtimeScheduling
    except (OSError, AttributeError) as e:    # not loadable again; a PortAudio without its ALSA extension
        warnings.warn(f"real-time scheduling not enabled: PortAudio ({sd._libname}) does not give "
                      f"PaAlsa_EnableRealtimeScheduling ({e}); the session plays at normal priority",
                      RealtimeWarning, stacklevel=3)
        return False
    enable.argtypes = [ctypes.c_void_p, ctypes.c_int]
    enable.restype = None
    enable(int(sd._ffi.cast("uintptr_t", stream._ptr)), 1)
    return True


def _device(device):
    """A PortAudio device: None (the default), an index, a name, or an
    (input, output) pair of them."""
    if isinstance(device, tuple) and len(device) == 2:
        return tuple(_one_device(f"device[{i}]", d) for i, d in enumerate(device))
    return _one_device("device", device)


def _one_device(name: str, d):
    if d is None or isinstance(d, str):
        return d
    return _checks.integer(name, d, 0, 1 << 16)


def play(session: Session, stage: Stage | None = None, device=None, **kwargs) -> Player:
    """Start playing ``session`` and return its :class:`Player` (already started).

    Parameters
    ----------
    session : Session
        What to play.
    stage : Stage or None
        The output stage (default None: ``Stage()``).
    device : int, str, tuple or None
        The output device (index or name), or an (input, output) pair with
        ``sense`` (default None: the default device).
    **kwargs
        The rest of :class:`Player`'s parameters (``rate``, ``level``, ...).

    Returns
    -------
    Player
        Playing; ``wait()`` or ``stop()`` it (or use it in ``with``).

    Raises
    ------
    ValueError, TypeError, RuntimeError
        As :class:`Player` raises them.
    """
    return Player(session, stage, device, **kwargs).start()
