"""The real-time back end, played through a real PulseAudio null sink and
recorded from its monitor (the `audio` fixture: tests/audio_server.py).

The recording goes through the Player's own duplex path: the monitor is the
"sense" input, and with the default stage (1000 uA/V, 1 V full scale) and a
1 kohm sense resistor over a 1 V input, one input unit is 1000 uA, so the
recording reads directly in uA.
"""
import os
import random
import signal
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

import microwave as mw
from audio_server import MonitorRecorder, align
from microwave.audio import Player, Sense
from microwave.sessions import Session, Step
from microwave.stage import Stage

# Real-time audio on a shared 2-core VM: the PulseAudio server and PortAudio's
# threads can be descheduled for longer than a 10 ms buffer, and the two
# ALSA pulse devices of the test duplex can glitch.  A failed test is run
# again, at most twice (pytest-rerunfailures); the summary says "rerun" when
# that happened, so flakiness stays visible.
pytestmark = [pytest.mark.audio, pytest.mark.flaky(reruns=2)]
RATE = 48_000
NO_CONTACT_CHECK = Sense(channel=0, min_ratio=0.0)


def Recorder(audio, stage=None):
    """The monitor, in uA through ``stage`` (audio_server.MonitorRecorder)."""
    return MonitorRecorder(audio, RATE, channels=2, dac_per_ua=(stage or Stage()).dac_per_ua(0))


def play_recorded(audio, session, action=None, stage=None, attempts=3, device=None, **kw):
    """Play `session` (output only) while recording the monitor; `action(player)`
    runs in this thread while it plays.  Returns (player, recorded uA).

    A run whose recording glitched -- PortAudio reported an input overflow
    on the recorder or an underflow on the player -- says nothing about the
    waveform, so it is tried again (up to `attempts` times; the last is
    returned whatever happened).  The output's latency is 0.1 s unless
    given: on this shared VM the audio server sometimes plays a few ms of
    silence for a 20 ms stream that PortAudio never reports as an underflow
    (seen mid-session, far from any pause or stop), which a test of ramps
    would take for a cut."""
    stage = stage or Stage(channel_map=(0,), out_channels=2)
    kw.setdefault("latency", 0.1)
    for _ in range(attempts):
        with Recorder(audio, stage) as rec:
            p = Player(session, stage, device=device or audio.play_device, rate=RATE, **kw)
            with p:
                if action is not None:
                    action(p)
                p.wait(30)
        if not rec.flags and p.stats["underflows"] == 0:
            break
    return p, rec.ua()


def duplex_played(audio, session, frames, **kw):
    """Play `session` through a duplex Player recording the monitor as its
    sense input.  Two ALSA pulse devices in one duplex stream can abort or
    glitch under load (a real card's duplex is one device): a run that did
    not play every frame, or reported an xrun, is tried again, up to 3 times."""
    kw.setdefault("stage", Stage(channel_map=(0,), out_channels=2))
    for _ in range(3):
        with duplex(audio, session, **kw) as p:
            p.wait(15)
        st = p.stats
        if st["position"] == frames and st["underflows"] == 0 and st["input_overflows"] == 0:
            break
    return p


def duplex(audio, session, **kw):
    kw.setdefault("sense", NO_CONTACT_CHECK)
    kw.setdefault("input_channels", 2)
    return Player(session, kw.pop("stage", Stage()), device=(audio.record_device, audio.play_device), rate=RATE, **kw)


def envelope(x, win):
    m = len(x) // win * win
    return np.abs(x[:m]).reshape(-1, win).max(axis=1)


def square_session(seconds, amp_ua=100.0, **kw):
    """A bipolar 1 kHz square wave: its envelope is flat, so level shows directly."""
    spec = mw.Biphasic(freq_hz=1000, amp_ua=amp_ua, phase_us=500)
    return Session("square", (Step("z", spec, seconds),), channels=1, **kw)


def test_recording_matches_the_rendered_session(audio):
    session = Session("t", (Step("jaw", mw.Biphasic(freq_hz=130, amp_ua=200, phase_us=900, interphase_us=200,
                                                       burst=mw.Burst(0.3, 0.2)), 2.5),), channels=1,
                      soft_start_s=0.3, soft_stop_s=0.3)
    expected = session.render_ua(RATE)[:, 0]
    # recorded by the Player's own duplex sense path (C, no Python per block)
    p = duplex_played(audio, session, len(expected), latency=0.05)
    lag, ncc, gain = align(p.recorded_ua(), expected)
    assert ncc > 0.99, (lag, ncc, gain)
    assert gain == pytest.approx(1.0, rel=0.01)     # the current asked for is the current recorded
    assert p.stats["underflows"] == 0


def test_duplex_sense_records_the_current_alongside_playback(audio):
    # the Player's own duplex path: the monitor stands for the sense resistor's voltage
    session = Session("t", (Step("z", mw.Monophasic(freq_hz=40, amp_ua=150, phase_us=5000,
                                                    polarity="alternate"), 1.5),),
                      channels=1, soft_start_s=0.2, soft_stop_s=0.2)
    expected = session.render_ua(RATE)[:, 0]
    # a voltage-mode stage into 1 kohm, sensed over 1 kohm: all the current flows,
    # and the load it reports is the 1 kohm it drives
    stage = Stage(ua_per_v=None, load_ohm=1000.0, channel_map=(0,), out_channels=2)
    p = duplex_played(audio, session, len(expected), latency=0.05, stage=stage,
                      sense=Sense(channel=0, sense_ohm=1000.0, min_ratio=0.0))
    lag, ncc, gain = align(p.recorded_ua(), expected)
    assert ncc > 0.99 and gain == pytest.approx(1.0, rel=0.01), (lag, ncc, gain)
    assert p.stats["flow_ratio"] == pytest.approx(1.0, rel=0.05)
    assert p.stats["load_ohm"] == pytest.approx(1000.0, rel=0.05)


def test_raising_intensity_mid_stream_is_a_ramp_of_the_declared_length(audio):
    ramp_s = 0.3
    session = square_session(4.0, soft_start_s=0.0, soft_stop_s=0.0)

    def raise_level(p):
        time.sleep(1.5)
        p.level = 1.0

    p, rec = play_recorded(audio, session, raise_level, level=0.5, ramp_s=ramp_s)
    env = envelope(rec, 48)               # one value per 1 ms (one period)
    on = np.nonzero(env > 10)[0]
    env = env[on[0] + 20: on[-1] - 20]                # while playing
    assert np.median(env[:500]) == pytest.approx(50, rel=0.02)
    assert np.median(env[-500:]) == pytest.approx(100, rel=0.02)
    t10 = np.argmax(env > 55)                         # 10 % and 90 % of the change
    t90 = np.argmax(env > 95)
    assert (t90 - t10) / 1000 == pytest.approx(0.8 * ramp_s, abs=0.006)
    mid = env[t10:t90]
    assert np.all(np.diff(mid) > -0.5)                # monotonic, no step
    assert np.max(np.diff(mid)) < 3 * (50 / (ramp_s * 1000))


def test_a_two_second_gil_hold_causes_no_underflow(audio):
    # What tells a GIL-free callback from one that needs the GIL is the stream's
    # progress during the hold: a Python callback (sounddevice's own) advanced
    # 600 frames in a 4.5 s hold here, against 218 000 of real time, and counted
    # one underflow.  The latency is 50 ms: at 10 ms, a CI machine whose other
    # core was busy (the hold itself took 3.7 s, not 2) counted 5 underflows
    # with a callback of 0.09 ms at most; at 50 ms, two busy loops beside the
    # hold gave none.  2 s of hold is still 40 buffers.
    session = square_session(9.0)      # the hold (about 2 s) ends well before the session does
    data = list(range(5_000_000))
    random.Random(1).shuffle(data)                   # built before playing: no allocation during the hold
    gaps = []

    def ticker():                                    # a Python thread: it can only run when the GIL is free
        last = time.perf_counter()
        while not done.is_set():
            time.sleep(0.001)
            now = time.perf_counter()
            gaps.append(now - last)
            last = now

    done = threading.Event()
    with Player(session, Stage(channel_map=(0,)), device=audio.play_device, rate=RATE, latency=0.05) as p:
        time.sleep(0.5)
        tick = threading.Thread(target=ticker)
        tick.start()
        time.sleep(0.1)
        p.reset_stats()        # underflows from here on (the stream's start has been seen to take one)
        t, f0 = time.perf_counter(), p.stats["frames"]
        data.sort()                                  # list.sort of ints is C code: it never lets the GIL go
        held, f1 = time.perf_counter() - t, p.stats["frames"]
        time.sleep(0.1)            # an underflow the hold caused is counted by the callbacks just after it
        during = p.stats           # (one later in the session is this VM's, not the hold's: seen in CI)
        done.set()
        tick.join()
        assert p.wait(15)
    st = p.stats
    # the test devices are ALSA's: real-time scheduling was enabled (a failure would have warned)
    assert p.realtime
    assert held > 1.5 and max(gaps) > 0.9 * held, "the GIL was not held for long"
    # the stream went on at the rate of real time all through the hold
    assert f1 - f0 == pytest.approx(held * RATE, rel=0.05), (f0, f1, held)
    assert during["underflows"] == 0, (f"hold from frame {f0} to {f1}; last underflow at frame "
                                       f"{during['last_underflow_frame']}; callback max "
                                       f"{during['callback_max_s'] * 1e3:.2f} ms")
    assert st["callbacks"] > 100


def test_stopping_mid_pulse_finishes_the_pulse_then_ramps_pulse_by_pulse(audio):
    # 800 ms pulses each second: the stop is asked when the session has
    # played 0.2-0.6 s into a pulse (its position, not the wall clock: an
    # audio server may take the first second faster than real time), so it
    # lands inside that pulse.  That pulse keeps the gain it started with to
    # its own end (cutting it would leave it unbalanced); the ramp then takes
    # the next pulses, one gain each, over three pulses (longer than ramp_s:
    # a ramp of slow pulses stays a ramp), and the session is silent after.
    spec = mw.Monophasic(freq_hz=1, amp_ua=200, phase_us=800_000)
    session = Session("long", (Step("z", spec, 10.0),), channels=1, soft_start_s=0.0, soft_stop_s=0.0)
    asked_at = []

    def stop_mid_pulse(p):
        deadline = time.monotonic() + 8
        while time.monotonic() < deadline:
            pos = p.position_s
            if pos >= 1.0 and 0.2 <= pos % 1.0 <= 0.6:
                break
            time.sleep(0.005)
        asked_at.append(pos)
        p.stop()

    p, x = play_recorded(audio, session, stop_mid_pulse, ramp_s=0.2)
    pos = asked_at[-1]
    assert pos >= 1.0 and 0.2 <= pos % 1.0 <= 0.6, f"no stop mid-pulse: asked at {pos:.3f} s"
    stopped = int(pos)                  # the pulse the stop landed in (0-based)
    on = np.abs(x) > 1.0
    rises = np.nonzero(on[1:] & ~on[:-1])[0] + 1
    peaks = [float(np.max(np.abs(x[r:r + round(0.7 * RATE)]))) for r in rises]
    # full pulses up to the stopped one, which is at full gain to its end; then falling pulses
    assert peaks[:stopped + 1] == pytest.approx([200] * (stopped + 1), abs=2)
    assert len(peaks) >= stopped + 3 and all(b < a for a, b in zip(peaks[stopped:], peaks[stopped + 1:]))
    assert peaks[-1] < 0.5 * 200
    # the stopped pulse lasted its whole 800 ms
    held = on[rises[stopped]:rises[stopped] + round(0.9 * RATE)]
    assert np.sum(held) == pytest.approx(0.8 * RATE, abs=0.01 * RATE)


def test_auto_off_is_enforced_in_the_audio_thread(audio):
    session = square_session(30.0, auto_off_s=1.0, soft_start_s=0.1, soft_stop_s=0.1)
    p, rec = play_recorded(audio, session)   # nothing in Python stops it
    st = p.stats
    assert p.finished and st["position"] == RATE
    env = envelope(rec, 48)
    on = np.nonzero(env > 0)[0]
    assert (on[-1] - on[0] + 1) / 1000 == pytest.approx(1.0, abs=0.01)
    assert env[on[-1]] < 1       # ended on the ramp's foot


def test_lost_contact_pauses_the_session(audio):
    # the stage drives DAC channel 0; the "sense" input is channel 1, where nothing flows
    session = square_session(10.0, soft_start_s=0.05)
    sense = Sense(channel=1, min_ratio=0.1, min_drive_ua=5.0, lost_after_s=0.1, window_s=0.2)
    with duplex(audio, session, stage=Stage(channel_map=(0,), out_channels=2), sense=sense, ramp_s=0.05) as p:
        deadline = time.time() + 5
        while not p.stats["contact_lost"] and time.time() < deadline:
            time.sleep(0.02)
        st = p.stats
        assert st["contact_lost"] and st["paused"]
        time.sleep(0.3)
        pos = p.position_s
        time.sleep(0.5)
        assert p.position_s == pos          # paused: the session does not advance
        assert p.stats["level"] == 0.0


def test_ctrl_c_ramps_to_silence_then_raises(audio):
    session = square_session(10.0, soft_start_s=0.0)
    stage = Stage(channel_map=(0,), out_channels=2)
    for _ in range(3):   # retried only when the recording reports a glitch (see play_recorded)
        with Recorder(audio, stage) as rec:
            p = Player(session, stage, device=audio.play_device, rate=RATE, ramp_s=0.1).start()
            # a real SIGINT, as Ctrl-C sends (it wakes the blocked wait)
            threading.Timer(0.8, os.kill, (os.getpid(), signal.SIGINT)).start()
            with pytest.raises(KeyboardInterrupt):
                p.wait(10)
        if not rec.flags and p.stats["underflows"] == 0:
            break
    assert p.finished and p.stats["level"] == 0.0
    env = envelope(rec.ua(), 48)
    on = np.nonzero(env > 1)[0]
    assert env[on[-1]] < 5                      # the last millisecond is at the foot of a ramp
    assert np.all(np.diff(env[on[-1] - 90: on[-1]]) <= 0.5)


def test_an_exception_in_the_control_thread_ramps_down(audio):
    session = square_session(10.0, soft_start_s=0.0)
    with pytest.raises(RuntimeError, match="boom"):
        with Player(session, Stage(channel_map=(0,)), device=audio.play_device, rate=RATE, ramp_s=0.1) as p:
            time.sleep(0.5)
            raise RuntimeError("boom")
    assert p.finished and p.stats["level"] == 0.0


_DROPPED_CHILD = """
import atexit, gc, signal, sys, time, weakref
import microwave as mw
from microwave.audio import Player
from microwave.sessions import Session, Step
from microwave.stage import Stage
s = Session("d", (Step("z", mw.Biphasic(freq_hz=200, amp_ua=100, phase_us=500), float(sys.argv[2])),),
            channels=1, soft_start_s=0.1)
p = Player(s, Stage(channel_map=(0,)), device=sys.argv[1], rate=48000, latency=0.02, ramp_s=float(sys.argv[4]))
mode = sys.argv[3]
if mode == "exit":      # registered before the start (microwave's handler then): runs after that one
    atexit.register(lambda: print("after the exit handler: finished", p.engine.state["finished"], "level",
                                  p.engine.state["level"], flush=True))


def held_then_gone():
    global p
    ref = weakref.ref(p)
    del p
    gc.collect()
    print("held while its ramp plays", ref() is not None, flush=True)
    time.sleep(float(sys.argv[4]) + 1.5)
    gc.collect()
    print("gone once closed", ref() is None, flush=True)


# an interrupt landing at an exact point (a Ctrl-C between two bytecodes, a signal handler inside
# sounddevice's own code) is put there by wrapping the real stream's method: the stream stays real
def ctrl_c_in_close(obj, name, after=False):   # p.close(), a Ctrl-C landing (once) as it calls obj.name:
    # before that runs, or as it returns
    real = getattr(obj, name)

    def call(*args, **kwargs):
        setattr(obj, name, real)
        if after:
            real(*args, **kwargs)
        raise KeyboardInterrupt
    setattr(obj, name, call)
    try:
        p.close()
    except KeyboardInterrupt:
        pass


if mode in ("ctrl-c in start", "signal in start"):  # as Pa_StartStream returns: a Ctrl-C, or a handler's stop()
    def landing(real):               # (a function's scope: a module's global would hold the stream)
        def start():
            real()
            if mode == "ctrl-c in start":
                raise KeyboardInterrupt
            p.stop()
        return start
    p._stream.start = landing(p._stream.start)
    try:
        p.start()
    except KeyboardInterrupt:
        print("interrupted", flush=True)
    print("playing", p._stream.active, flush=True)
    held_then_gone()
    sys.exit()
p.start()
if mode == "drop":
    ref = weakref.ref(p)
    del p
    gc.collect()
    print("alive while playing", ref() is not None, flush=True)
    time.sleep(float(sys.argv[2]) + 1.5)       # it plays out, the stream finishes
    gc.collect()
    print("alive after its end", ref() is not None, flush=True)
elif mode == "ctrl-c twice":     # a Ctrl-C in stop()'s wait for the ramp, then another in close()'s
    time.sleep(0.5)
    signal.signal(signal.SIGALRM, lambda *a: (_ for _ in ()).throw(KeyboardInterrupt()))
    signal.setitimer(signal.ITIMER_REAL, 0.3, 0.3)
    try:
        p.stop()
    except KeyboardInterrupt:
        pass
    signal.setitimer(signal.ITIMER_REAL, 0, 0)
    held_then_gone()
elif mode == "ctrl-c before stop":   # close()'s wait over, the stream still playing; a Ctrl-C before its stop
    time.sleep(0.5)
    p._end_s = lambda: 0.0           # (the wait ends at once: the ramp still plays)
    ctrl_c_in_close(p._stream, "stop")
    held_then_gone()
elif mode == "signal":           # a signal handler stops the Player while its thread is closing it
    time.sleep(0.5)
    signal.signal(signal.SIGALRM, lambda *a: p.stop())
    signal.setitimer(signal.ITIMER_REAL, 0.3)
    p.close()
    print("closed", p.engine.state["finished"], flush=True)
elif mode == "ctrl-c after portaudio's stop":   # lands as Pa_StopStream returns: stopped, not closed
    time.sleep(0.5)
    ctrl_c_in_close(p._stream, "stop", after=True)
    print("stream closed", p._stream.closed, flush=True)
    held_then_gone()
elif mode == "ctrl-c as close begins":   # before close() has asked for the ramp
    time.sleep(0.5)
    ctrl_c_in_close(p, "_ask_stop")
    held_then_gone()
elif mode == "signal in portaudio":  # a signal handler stops the Player inside sounddevice's stop of its stream
    time.sleep(0.5)
    depth, deepest = [0], [0]

    def once_inside(name):
        real = getattr(p._stream, name)

        def call(*args, **kwargs):
            depth[0] += 1
            deepest[0] = max(deepest[0], depth[0])
            try:
                if name == "stop" and deepest[0] == 1:
                    p.stop()                 # (the handler)
                return real(*args, **kwargs)
            finally:
                depth[0] -= 1
        setattr(p._stream, name, call)
    once_inside("stop")
    once_inside("close")
    p.close()
    print("closed", p._stream.closed, "stream calls nested", deepest[0] > 1, flush=True)
"""


def test_a_player_dropped_while_playing_plays_on_to_its_end_and_one_left_playing_at_exit_is_stopped(audio):
    """A started Player that nobody holds is not freed under its running stream (its callback reads the
    engine: freed, the process crashed), and goes once the stream has finished, its record written; a
    script that ends with a Player playing stops it -- ramped to silence, recorded as stopped -- before
    PortAudio is shut down (it was cut).  A review's cases too: a second Ctrl-C while stop() waits for the
    ramp leaves the Player held until its stream ends (it was dropped under the stream: a crash); a signal
    handler that stops the Player while its thread closes it returns (a plain lock hung for ever).  A third
    review's: a Ctrl-C landing as the stream starts leaves it held, ramped down, until its stream ends (it
    was dropped at once: the exit hung in PortAudio); one landing in close() before PortAudio's stop leaves
    it held until its ramp has played, not until the exit; a signal handler's stop inside sounddevice's
    stop of the stream does not call PortAudio again on that stream (it stopped and closed it there).  A
    fourth's: a signal handler's stop as the stream starts ramps it down (the stream was closed under the
    start, at full level); a Ctrl-C as PortAudio's stop returns leaves the stream closed (it stayed open
    until the exit); one as close() begins, before it asked for the ramp, ramps down all the same (the
    session played on to its end)."""
    from microwave.history import History
    env = dict(os.environ, **audio.env)

    def child(*args):
        r = subprocess.run([sys.executable, "-c", _DROPPED_CHILD, audio.play_device, *args], capture_output=True,
                           text=True, timeout=60, env=env, stdin=subprocess.DEVNULL)
        assert r.returncode == 0, (args, r.returncode, r.stdout, r.stderr[-2000:])
        return r.stdout

    history = History(os.environ["MICROWAVE_HISTORY"])
    out = child("1.0", "drop", "0.1")
    assert "alive while playing True" in out and "alive after its end False" in out, out
    assert [r.end for r in history.records()] == ["completed"]
    t = time.monotonic()
    out = child("30.0", "exit", "0.1")
    assert time.monotonic() - t < 20           # stopped at exit, not played out (30 s)
    assert "after the exit handler: finished True level 0.0" in out, out
    held = ["held while its ramp plays True", "gone once closed True"]
    cases = [   # (mode, ramp_s, what the child must say), each a 30 s session stopped early
        ("ctrl-c twice", "3.0", held),
        ("signal", "1.0", ["closed True"]),
        ("ctrl-c in start", "1.0", ["interrupted", "playing True", *held]),
        ("ctrl-c before stop", "1.0", held),
        ("signal in portaudio", "0.1", ["closed True stream calls nested False"]),
        ("signal in start", "1.0", ["playing True", *held]),
        ("ctrl-c after portaudio's stop", "0.1", ["stream closed True", "gone once closed True"]),
        ("ctrl-c as close begins", "1.0", held),
    ]
    for mode, ramp_s, says in cases:
        out = child("30.0", mode, ramp_s)
        assert all(line in out for line in says), (mode, out)
    assert sorted(r.end for r in history.records()) == ["completed"] + ["stopped"] * (1 + len(cases))


@pytest.mark.parametrize("timeout, error", [(-1.0, ValueError), (float("nan"), ValueError), ("2", TypeError)])
def test_a_bad_timeout_is_refused_by_name_and_a_stop_still_stops(audio, timeout, error):
    session = square_session(10.0, soft_start_s=0.0)
    p = Player(session, Stage(channel_map=(0,)), device=audio.play_device, rate=RATE, ramp_s=0.1,
               history=False).start()
    with pytest.raises(error, match=r"^timeout="):
        p.wait(timeout)
    assert not p.finished                     # a refused wait leaves the session playing
    time.sleep(0.2)
    with pytest.raises(error, match=r"^timeout="):
        p.stop(timeout=timeout)
    # the stop happened all the same: ramped to silence and closed
    assert p.finished and p.stats["level"] == 0.0 and p.end == "stopped"


def test_pause_and_resume_are_ramps(audio):
    session = square_session(6.0, soft_start_s=0.0)
    held = []

    def pause_resume(p):
        time.sleep(1.0)
        p.pause()
        time.sleep(0.8)
        paused_at = p.position_s
        time.sleep(0.3)
        held.append(p.position_s == paused_at)
        p.resume()

    p, rec = play_recorded(audio, session, pause_resume, ramp_s=0.2)
    # one entry per attempt (play_recorded plays again after a glitch): every
    # attempt, the returned one last, held its position while paused
    assert held and all(held)
    env = envelope(rec, 48)
    on = np.nonzero(env > 1)[0]
    env = env[on[0]: on[-1]]
    assert np.max(np.abs(np.diff(env))) < 100 / 200 * 3    # 0.2 s ramps: ~0.5 uA per ms, never a step
    assert np.sum(env < 1) > 500                            # the pause was silent


def _cli(audio, *args):
    env = dict(os.environ, **audio.env)
    return subprocess.run([sys.executable, "-m", "microwave.cli", *args], capture_output=True, text=True,
                          stdin=subprocess.DEVNULL, env=env, timeout=60)


def test_cli_devices_and_play_without_a_terminal(audio):
    r = _cli(audio, "devices")
    assert r.returncode == 0 and audio.play_device in r.stdout
    r = _cli(audio, "play", "tighten", "--device", audio.play_device, "--duration", "2", "--latency", "0.02",
             "--acknowledge")
    assert r.returncode == 0, r.stderr
    assert "forehead" in r.stdout and "underflows" in r.stdout
    assert "played 2.0 s" in r.stdout


def test_a_device_portaudio_does_not_know_is_refused_naming_the_parameter(audio):
    """A device name PortAudio does not have: the Player's ValueError names device=, its value and where
    the devices are listed (it was sounddevice's own, from inside it); the command names --device as
    typed; `microwave devices` lists the input devices too (a calibration's --input is one of them)."""
    with pytest.raises(ValueError, match=r"device='no such card' is not allowed: No output device matching "
                                         r"'no such card'.*list_devices\('output'\)"):
        Player(Session("s", (Step("z", mw.Biphasic(freq_hz=100, amp_ua=50, phase_us=500), 1),), channels=1),
               Stage(channel_map=(0,), out_channels=2), device="no such card", rate=RATE, history=False)
    r = _cli(audio, "play", "tighten", "--device", "no such card", "--acknowledge", "--no-history")
    assert r.returncode == 2 and "--device 'no such card': no output device matches it" in r.stderr, r.stderr
    r = _cli(audio, "devices")
    assert r.returncode == 0 and audio.play_device in r.stdout and audio.record_device in r.stdout, r.stdout
    outputs = [d["name"] for d in mw.audio.list_devices()]
    inputs = [d["name"] for d in mw.audio.list_devices("input")]
    assert audio.play_device in outputs and audio.record_device in inputs
    assert {d["name"] for d in mw.audio.list_devices("any")} >= set(outputs) | set(inputs)


def test_a_device_that_goes_away_is_reported(audio):
    # in its own process, on its own server: killing a server must not touch the others
    r = subprocess.run([sys.executable, os.path.join(os.path.dirname(__file__), "_device_lost_child.py")],
                       capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert "DeviceLost after" in r.stdout, (r.stdout, r.stderr[-2000:])
    assert "disconnected or failed" in r.stdout


def test_cli_play_on_a_terminal_takes_keys(audio):
    # a pseudo-terminal: the live display, '+' raises the intensity, space pauses, 'q' stops
    import pty
    import select
    master, slave = pty.openpty()
    env = dict(os.environ, **audio.env)
    proc = subprocess.Popen([sys.executable, "-m", "microwave.cli", "play", "tighten", "--device", audio.play_device,
                             "--acknowledge", "--duration", "20"],
                            stdin=slave, stdout=slave, stderr=subprocess.PIPE, env=env)
    os.close(slave)
    out = b""

    def read_for(seconds):
        nonlocal out
        end = time.time() + seconds
        while time.time() < end:
            if select.select([master], [], [], 0.05)[0]:
                try:
                    out += os.read(master, 4096)
                except OSError:
                    return

    read_for(1.5)
    for key, wait in ((b"+", 0.8), (b" ", 0.8), (b"q", 0.0)):
        os.write(master, key)
        read_for(wait)
    assert proc.wait(15) == 0, proc.stderr.read()
    read_for(0.3)
    os.close(master)
    text = out.decode(errors="replace")
    assert "level 1.00" in text and "level 1.10" in text     # the live line, before and after '+'
    assert "PAUSED" in text
    assert "played" in text and "played 20.0" not in text    # 'q' ended it early


def test_closing_a_player_after_its_end_lets_the_coupling_bleed_first(audio):
    """close() once the session has ended, while an AC coupling still holds
    the charge its net DC stored, lets the bleed play out before it stops
    the stream (its docstring: never a cut): a stream stopped at the end
    would drop the drive that holds the stored charge in one sample, which
    the coupling releases as a step of current.  (The audio server's
    high-pass stops with the stream, so the check is the engine's: the
    bleed was still to play when close() was called, and had played when
    it returned.)"""
    stage = Stage(coupling="ac", corner_hz=audio.ac_corner_hz, channel_map=(0,), out_channels=2, max_ua=400)
    # an INFUSE-like pattern: a net DC that the coupling stores as it plays
    spec = mw.Monophasic(freq_hz=100, amp_ua=60, phase_us=3000, pattern="300ms+ 100ms-")
    session = Session("ac-end", (Step("z", spec, 1.0),), channels=1, soft_start_s=0.1, soft_stop_s=0.1)
    seen = {}

    def close_at_the_end(p):
        while not p.engine.state["finished"]:
            time.sleep(0.002)
        seen["settled before"] = p.engine.settled
        p.close()
        seen["settled after"] = p.engine.settled

    p, _ = play_recorded(audio, session, close_at_the_end, stage=stage, device=audio.ac_device)
    assert seen["settled before"] is False       # the bleed was still to play when close() was called
    assert seen["settled after"] is True
    assert p.end == "completed"


def test_through_an_ac_coupled_card_the_current_stays_within_the_limit_and_ends_bled(audio):
    """Through a real high-pass in the audio server (LADSPA hpf, the AC card's
    stand-in, its corner within the stage's declared tolerance): the current
    is as asked while it plays, stays within max_ua, and a stop mid-session
    bleeds the coupling -- what the monitor records after the end is a
    fraction of the limit, never a release of the stored charge."""
    stage = Stage(coupling="ac", corner_hz=audio.ac_corner_hz, channel_map=(0,), out_channels=2, max_ua=400)
    # an INFUSE-like pattern: a net DC that the coupling stores as it plays
    spec = mw.Monophasic(freq_hz=100, amp_ua=60, phase_us=3000, pattern="300ms+ 100ms-")
    session = Session("ac", (Step("z", spec, 1.0),), channels=1, soft_start_s=0.1, soft_stop_s=0.1)

    def stop_soon(p):
        time.sleep(0.6)
        p.stop()

    p, x = play_recorded(audio, session, stop_soon, stage=stage, device=audio.ac_device, ramp_s=0.05)
    assert p.stats["clamped"] == 0
    peak = np.max(np.abs(x))
    assert 55 <= peak <= stage.max_ua
    # the pulses arrive with the current asked (60 uA), not drooped by the coupling
    on = np.abs(x) > 30
    assert np.median(np.abs(x[on])) == pytest.approx(60, rel=0.05)
    # after the stop's ramp: only the bleed, a fraction of the limit
    last_pulse = np.nonzero(np.abs(x) > 30)[0][-1]
    after = np.abs(x[last_pulse + round(0.01 * RATE):])
    assert len(after) > RATE // 10 and np.max(after) <= 0.25 * stage.limit_ua
