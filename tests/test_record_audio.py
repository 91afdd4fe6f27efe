"""The delivered record, end to end through the test audio server: a played
session's record equals the charge integrated from what the card really
played (the null sink's monitor, converted by the stage); a player killed
with SIGKILL leaves an ``interrupted`` record with the seconds it played; a
Ctrl-C leaves ``stopped``; two players in two processes both leave
complete records."""
import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

import microwave as mw
from audio_server import MonitorRecorder
from microwave.audio import Player
from microwave.history import History
from microwave.sessions import Session, Step
from microwave.stage import Stage

pytestmark = pytest.mark.audio
RATE = 48000


def _history(tmp_path):
    return History(tmp_path / "history.sqlite3")


def test_the_record_is_the_charge_the_card_played(audio, tmp_path):
    """Positive and negative charge within 2 % of the monitor's integral,
    net within 2 % of the positive: an unbalanced monophasic train (all its
    charge one way) on channel 0 and a biphasic one (balanced) on 1."""
    session = Session("dose", (Step("cheek", (mw.Monophasic(freq_hz=80, amp_ua=150, phase_us=2000),
                                              mw.Biphasic(freq_hz=120, amp_ua=200, phase_us=800)), 3.0),),
                      channels=2, soft_start_s=0.3, soft_stop_s=0.3, max_dose_ua_min=1e4)
    stage = Stage(channel_map=(0, 1), out_channels=2)
    hist = _history(tmp_path)
    for _ in range(3):   # a recording that glitched says nothing: try again
        with MonitorRecorder(audio, RATE, channels=2) as rec:
            with Player(session, stage, device=audio.play_device, rate=RATE, history=hist) as p:
                p.wait(30)
        if not rec.flags and p.stats["underflows"] == 0:
            break
    played = rec.frames().astype(np.float64)
    r = hist.record(p.record_id)
    assert r.end == "completed"
    assert r.seconds_delivered == pytest.approx(3.0, abs=1 / RATE)
    for c in range(2):
        ua = played[:, c] / stage.dac_per_ua(c)
        pos, neg = ua[ua > 0].sum() / RATE, ua[ua < 0].sum() / RATE
        ch = r.channels[c]
        assert ch.charge_pos_uc == pytest.approx(pos, rel=0.02), c
        assert ch.charge_neg_uc == pytest.approx(neg, rel=0.02), c
        assert ch.net_uc == pytest.approx(pos + neg, abs=0.02 * pos), c
        assert ch.peak_ua == pytest.approx(np.abs(ua).max(), rel=0.02), c
    assert r.channels[0].charge_neg_uc == pytest.approx(0.0, abs=1e-6)     # monophasic: one way only
    assert abs(r.channels[1].net_uc) < 0.02 * r.channels[1].charge_pos_uc   # biphasic: balanced
    (step,) = r.steps
    assert step.zone == "cheek" and step.seconds == pytest.approx(3.0, abs=1 / RATE)
    assert step.level_max == pytest.approx(1.0)


def _child(audio, tmp_path, *args):
    """`microwave play` in its own process, on the test server, recording into tmp_path's history."""
    env = dict(os.environ, **audio.env, MICROWAVE_HISTORY=str(tmp_path / "history.sqlite3"))
    return subprocess.Popen([sys.executable, "-m", "microwave.cli", "play", *args, "--device", audio.play_device,
                             "--acknowledge"], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=env, text=True)


def _records(tmp_path):
    return History(tmp_path / "history.sqlite3").records()


def _wait_playing(tmp_path, seconds, timeout=20):
    """Wait until the history says a session has played ``seconds``."""
    end = time.time() + timeout
    while time.time() < end:
        rs = _records(tmp_path)
        if rs and rs[-1].seconds_delivered >= seconds:
            return rs[-1]
        time.sleep(0.05)
    raise AssertionError(f"nothing played {seconds} s in {timeout} s")


def test_a_player_killed_mid_session_leaves_an_interrupted_record(audio, tmp_path):
    """What it had played when it died -- the span the card's monitor heard
    -- is the record's seconds, within one second."""
    with MonitorRecorder(audio, RATE, channels=2) as rec:
        proc = _child(audio, tmp_path, "tighten", "--duration", "30")
        try:
            _wait_playing(tmp_path, 2.0)
            time.sleep(1.3)
            proc.send_signal(signal.SIGKILL)
            proc.wait(10)
        finally:
            proc.kill()
    (r,) = _records(tmp_path)
    assert r.end == "interrupted" and r.ended_at is None
    heard = np.nonzero(np.abs(rec.frames()).max(axis=1) > 1e-4)[0]
    span_s = (heard[-1] - heard[0] + 1) / RATE
    assert span_s > 3.0
    assert r.seconds_delivered == pytest.approx(span_s, abs=1.0)


def test_ctrl_c_leaves_a_stopped_record(audio, tmp_path):
    proc = _child(audio, tmp_path, "tighten", "--duration", "30")
    try:
        _wait_playing(tmp_path, 1.5)
        proc.send_signal(signal.SIGINT)
        assert proc.wait(20) == 130, proc.stderr.read()
    finally:
        proc.kill()
    (r,) = _records(tmp_path)
    assert r.end == "stopped" and r.ended_at is not None
    assert 1.5 <= r.seconds_delivered < 10


def test_two_players_at_once_both_leave_complete_records(audio, tmp_path):
    procs = [_child(audio, tmp_path, "tighten", "--duration", "3") for _ in range(2)]
    for p in procs:
        out, err = p.communicate(timeout=60)
        assert p.returncode == 0, err
    rs = _records(tmp_path)
    assert len(rs) == 2
    for r in rs:
        assert r.end == "completed" and r.seconds_delivered == pytest.approx(3.0, abs=0.01)
        assert r.channels and all(ch.charge_pos_uc > 0 for ch in r.channels)
    # and the command line reads them back as the documented JSON
    env = dict(os.environ, MICROWAVE_HISTORY=str(tmp_path / "history.sqlite3"))
    out = subprocess.run([sys.executable, "-m", "microwave.cli", "history", "--json"], capture_output=True,
                         text=True, env=env, timeout=60, check=True).stdout
    assert [j["end"] for j in json.loads(out)] == ["completed", "completed"]


def test_an_auto_off_and_a_stop_are_told_apart(audio, tmp_path):
    hist = _history(tmp_path)
    square = mw.Biphasic(freq_hz=1000, amp_ua=100, phase_us=500)
    session = Session("auto", (Step("z", square, 30.0),), channels=1, auto_off_s=1.0, soft_start_s=0.1,
                      soft_stop_s=0.1)
    with Player(session, Stage(channel_map=(0,)), device=audio.play_device, rate=RATE, history=hist) as p:
        p.wait(10)
    assert hist.record(p.record_id).end == "auto-off"
    with Player(session, Stage(channel_map=(0,)), device=audio.play_device, rate=RATE, history=hist,
                ramp_s=0.1) as p:
        time.sleep(0.3)
    r = hist.record(p.record_id)
    assert r.end == "stopped" and 0.2 < r.seconds_delivered < 0.9
    # a stop that does not wait, and a close mid-session: stopped too (not a lost device), and ramped
    for end in (lambda p: p.stop(wait=False), lambda p: p.close()):
        p = Player(session, Stage(channel_map=(0,)), device=audio.play_device, rate=RATE, history=hist,
                   ramp_s=0.1).start()
        time.sleep(0.3)
        end(p)
        p.close()
        assert p.error is None
        r = hist.record(p.record_id)
        assert r.end == "stopped" and 0.2 < r.seconds_delivered < 0.9
