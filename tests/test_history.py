"""The record of what was delivered (microwave.history, issue 15): private,
crash-safe, queryable; overuse and the acknowledgement.

The engine's feed (SessionEngine.drain_record) is stood in for by arrays
of RECORD_DTYPE built here -- the data contract; the end-to-end audio tests
check the real feed.
"""
import inspect
import io
import json
import os
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from unittest import mock

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from microwave import _terminal, history
from microwave.history import (ACK_VERSION, ENDS, RECORD_DTYPE, History, HistoryVersionError, Recommendations,
                               Recorder)
from microwave.sessions import Session, Step, builtin
from microwave.stage import Stage
from test_cli import TERMINAL_ACTS_ON

RATE = 8_000
SRC = str(Path(history.__file__).resolve().parents[1])


def entries(rows, n_ch):
    """RECORD_DTYPE entries from dicts (only the given fields; the rest zero; per-channel lists may be
    longer than ``n_ch``: what lies beyond is not the program's and must be ignored)."""
    a = np.zeros(len(rows), RECORD_DTYPE)
    for i, r in enumerate(rows):
        a[i]["n_ch"] = n_ch
        for k, v in r.items():
            if k in ("peak_ua", "charge_pos_uc", "charge_neg_uc"):
                a[i][k][:len(v)] = v
            else:
                a[i][k] = v
    return a


class Feed:
    """drain(buf) over an array, at most ``batches[k]`` entries per call (cycling)."""

    def __init__(self, a, batches=(1 << 30,)):
        self.a, self.i, self.batches, self.calls = a, 0, list(batches), 0

    def __call__(self, buf):
        n = min(len(buf), len(self.a) - self.i, self.batches[self.calls % len(self.batches)])
        self.calls += 1
        buf[:n] = self.a[self.i:self.i + n]
        self.i += n
        return n


def two_step_session(zones=("forehead", "jaw"), channels=2):
    from microwave import modes
    return Session("t", tuple(Step(z, modes.lift(2), 5, label="lift") for z in zones), channels=channels)


def record(h, session, a, end="completed", rate=RATE):
    rid = h.begin(session, rate=rate)
    r = Recorder(h, rid, Feed(a), rate, session.channels, poll_s=0.01)
    r.close(end)
    return rid


# ---- the database: where, private, WAL, schema --------------------------------------------------
def test_the_database_and_its_folder_are_private_even_with_umask_000(tmp_path):
    path = tmp_path / "new" / "deeper" / "history.sqlite3"
    old = os.umask(0)
    try:
        h = History(path)
        record(h, two_step_session(), entries([dict(step=0, played=800)], 2))
        con = h.connect()         # an open connection keeps the -wal and -shm files
        try:
            con.execute("SELECT COUNT(*) FROM records").fetchone()
            for d in (tmp_path / "new", tmp_path / "new" / "deeper"):
                assert d.stat().st_mode & 0o777 == 0o700, d
            files = sorted(path.parent.iterdir())
            assert {f.name for f in files} >= {"history.sqlite3", "history.sqlite3-wal", "history.sqlite3-shm"}
            for f in files:
                assert f.stat().st_mode & 0o777 == 0o600, f
        finally:
            con.close()
    finally:
        os.umask(old)


def test_an_existing_folder_is_not_changed(tmp_path):
    os.chmod(tmp_path, 0o755)
    History(tmp_path / "h.sqlite3")
    assert tmp_path.stat().st_mode & 0o777 == 0o755
    assert (tmp_path / "h.sqlite3").stat().st_mode & 0o777 == 0o600


def test_the_path_comes_from_the_argument_then_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("MICROWAVE_HISTORY", str(tmp_path / "env.sqlite3"))
    assert History().path == tmp_path / "env.sqlite3" and (tmp_path / "env.sqlite3").exists()
    assert History(tmp_path / "arg.sqlite3").path == tmp_path / "arg.sqlite3"


def test_the_default_path_is_the_user_data_directory(monkeypatch):
    platformdirs = pytest.importorskip("platformdirs", reason="platformdirs (a dependency) is not installed here")
    monkeypatch.delenv("MICROWAVE_HISTORY")
    assert history.default_path() == Path(platformdirs.user_data_dir("microwave", appauthor=False)) / \
        "history.sqlite3"


def test_wal_mode_and_a_busy_timeout(tmp_path):
    h = History(tmp_path / "h.sqlite3")
    con = h.connect()
    try:
        assert con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert con.execute("PRAGMA busy_timeout").fetchone()[0] >= 5000
    finally:
        con.close()


def test_the_schema_version_is_that_of_the_migrations(tmp_path):
    h = History(tmp_path / "h.sqlite3")
    assert h.version == len(history.MIGRATIONS) >= 1


def test_a_later_migration_runs_on_open_and_old_records_still_read(tmp_path, monkeypatch):
    path = tmp_path / "h.sqlite3"
    h = History(path)
    rid = record(h, two_step_session(), entries([dict(step=0, played=RATE, charge_pos_uc=[5, 6])], 2))
    before = h.record(rid)
    v = h.version
    monkeypatch.setattr(history, "MIGRATIONS", history.MIGRATIONS + [
        "ALTER TABLE records ADD COLUMN note TEXT; CREATE TABLE extra (x INTEGER)"])
    h2 = History(path)
    assert h2.version == v + 1
    assert h2.record(rid) == before
    con = h2.connect()
    try:
        assert con.execute("SELECT note FROM records WHERE id = ?", (rid,)).fetchone() == (None,)
        con.execute("SELECT x FROM extra").fetchall()
    finally:
        con.close()
    # a new record after the migration reads too
    rid2 = record(h2, two_step_session(), entries([dict(step=1, played=RATE)], 2))
    assert h2.record(rid2).steps[1].seconds == 1.0


def test_a_newer_schema_is_refused_naming_the_path_and_both_versions(tmp_path):
    path = tmp_path / "h.sqlite3"
    History(path)
    con = sqlite3.connect(path)
    con.execute("PRAGMA user_version = 99")
    con.close()
    with pytest.raises(HistoryVersionError) as e:
        History(path)
    msg = str(e.value)
    assert str(path) in msg and "99" in msg and f"version {len(history.MIGRATIONS)}" in msg


# ---- the recorder -------------------------------------------------------------------------
ENTRY = st.fixed_dictionaries({
    "step": st.integers(0, 2),
    "frames": st.integers(0, 2000),
    "played": st.integers(0, 2000),
    "underflows": st.integers(0, 50),
    "level_sum": st.floats(0, 2000),
    "level_max": st.floats(0, 2),
    "peak_ua": st.lists(st.floats(0, 1000, width=32), min_size=3, max_size=3),
    "charge_pos_uc": st.lists(st.floats(0, 100), min_size=3, max_size=3),
    "charge_neg_uc": st.lists(st.floats(-100, 0), min_size=3, max_size=3),
})


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=st.lists(ENTRY, min_size=1, max_size=60), n_ch=st.integers(1, 3),
       batches=st.lists(st.integers(1, 300), min_size=1, max_size=4), gap=st.integers(0, 3 * RATE))
def test_the_recorder_sums_random_entries_like_an_independent_oracle(tmp_path_factory, rows, n_ch, batches, gap):
    """Whatever the drain's batch sizes, the totals, the per-step rows and
    the per-second rows are the sums of the fed entries (numpy here)."""
    start, starts = 0, []
    for r in rows:          # the session sample moves on by what each entry played, with random jumps
        starts.append(start)
        start += r["played"] + (gap if r["played"] % 7 == 0 else 0)
    a = entries([dict(r, start=s) for r, s in zip(rows, starts)], n_ch)
    a["underflows"] = np.maximum.accumulate(a["underflows"])     # cumulative, as the engine counts them
    h = History(tmp_path_factory.mktemp("rec") / "h.sqlite3")
    session = Session("t", tuple(Step(z, builtin("lift").steps[0].program, 1, label="lift")
                                 for z in ("a", "b", "c")), channels=n_ch)
    rid = h.begin(session, rate=RATE)
    r = Recorder(h, rid, Feed(a, batches), RATE, n_ch, poll_s=0.01)
    r.close("completed")
    rec = h.record(rid)
    approx = dict(rel=1e-9, abs=1e-9)

    assert rec.end == "completed" and rec.ended_at is not None
    assert rec.seconds_delivered == pytest.approx(a["played"].sum() / RATE, **approx)
    assert rec.underflows == a["underflows"].max()
    for c in range(n_ch):
        assert rec.channels[c].peak_ua == pytest.approx(a["peak_ua"][:, c].max(), **approx)
        assert rec.channels[c].charge_pos_uc == pytest.approx(a["charge_pos_uc"][:, c].sum(), **approx)
        assert rec.channels[c].charge_neg_uc == pytest.approx(a["charge_neg_uc"][:, c].sum(), **approx)
    for s in range(3):
        m = a["step"] == s
        st_ = rec.steps[s]
        assert st_.zone == "abc"[s] and st_.mode == "lift"
        assert st_.seconds == pytest.approx(a["played"][m].sum() / RATE, **approx)
        played = a["played"][m].sum()
        assert st_.level_mean == pytest.approx(a["level_sum"][m].sum() / played if played else 0.0, **approx)
        assert st_.level_max == pytest.approx(a["level_max"][m].max(initial=0.0), **approx)
        for c in range(n_ch):
            assert st_.channels[c].peak_ua == pytest.approx(a["peak_ua"][m, c].max(initial=0.0), **approx)
            assert st_.channels[c].charge_pos_uc == pytest.approx(a["charge_pos_uc"][m, c].sum(), **approx)
            assert st_.channels[c].charge_neg_uc == pytest.approx(a["charge_neg_uc"][m, c].sum(), **approx)
    secs = a["start"] // RATE
    timeline = h.timeline(rid)
    assert [t.second for t in timeline] == sorted(set(secs.tolist()))
    for t in timeline:
        m = secs == t.second
        played = a["played"][m].sum()
        assert t.seconds == pytest.approx(played / RATE, **approx)
        assert t.level == pytest.approx(a["level_sum"][m].sum() / played if played else 0.0, **approx)
        assert t.charge_pos_uc == pytest.approx(a["charge_pos_uc"][m, :n_ch].sum(), **approx)
        assert t.charge_neg_uc == pytest.approx(a["charge_neg_uc"][m, :n_ch].sum(), **approx)


def test_close_drains_everything_left_even_one_entry_per_call(tmp_path):
    """A short batch does not mean the ring is empty (it may wrap): close drains until nothing comes."""
    h = History(tmp_path / "h.sqlite3")
    rid = h.begin(two_step_session(), rate=RATE)
    a = entries([dict(step=0, start=i * RATE, played=RATE) for i in range(10)], 2)
    r = Recorder(h, rid, Feed(a, [1]), RATE, 2, poll_s=0.5)
    r.close("completed")              # before the first poll
    assert h.record(rid).seconds_delivered == 10.0


def test_a_writer_error_is_raised_by_close_not_by_the_feed(tmp_path):
    h = History(tmp_path / "h.sqlite3")
    rid = h.begin(two_step_session(), rate=RATE)

    def broken(buf):
        raise OSError("the ring is gone")
    r = Recorder(h, rid, broken, RATE, 2, poll_s=0.01)
    time.sleep(0.05)
    with pytest.raises(RuntimeError, match="the ring is gone"):
        r.close("completed")
    assert h.record(rid).end == "interrupted"     # what it last committed


def test_an_unclosed_record_reads_as_interrupted_with_what_was_committed(tmp_path):
    h = History(tmp_path / "h.sqlite3")
    rid = h.begin(two_step_session(), rate=RATE)
    a = entries([dict(step=0, start=0, played=RATE, charge_pos_uc=[1, 2])], 2)
    Recorder(h, rid, Feed(a), RATE, 2, poll_s=0.01)
    deadline = time.monotonic() + 5
    while h.record(rid).seconds_delivered == 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    rec = h.record(rid)
    assert rec.end == "interrupted" and rec.ended_at is None and rec.seconds_delivered == 1.0
    assert rec.channels[1].charge_pos_uc == 2.0


CHILD = r"""
import sys, time, numpy as np
from microwave.history import History, Recorder, RECORD_DTYPE
from microwave.sessions import builtin
rate, chunk, total_s = {rate}, {rate} // 10, {total_s}
h = History(sys.argv[1])
rid = h.begin(builtin("lift"), rate=rate)
fed = []
def drain(buf):
    n = min(len(buf), len(fed))
    for k in range(n):
        buf[k] = fed.pop(0)
    return n
rec = Recorder(h, rid, drain, rate, 2)
print("record", rid, flush=True)
t0 = time.monotonic()
for i in range(int(total_s * 10)):
    e = np.zeros((), RECORD_DTYPE)
    e["step"], e["n_ch"], e["start"], e["frames"], e["played"] = 0, 2, i * chunk, chunk, chunk
    e["level_sum"], e["level_max"] = chunk, 1.0
    e["charge_pos_uc"][:2], e["charge_neg_uc"][:2] = 1.0, -1.0
    fed.append(e)
    print("fed", (i + 1) * chunk / rate, flush=True)
    time.sleep(max(0.0, t0 + (i + 1) * 0.1 - time.monotonic()))
rec.close("completed")
print("done", flush=True)
"""


def _child(tmp_path, db, total_s):
    return subprocess.Popen([sys.executable, "-c", CHILD.format(rate=RATE, total_s=total_s), str(db)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=dict(os.environ, PYTHONPATH=os.pathsep.join(
                                [SRC] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p])))


def test_processes_opening_a_new_database_at_once_all_open_it(tmp_path):
    """Players started together each open (and create) the same new database: the switch to WAL can
    fail at once with "database is locked" while another process sets the file up, without waiting for
    the busy timeout (a CI run: one of two players failed so; about 1 open in 300 of this test's).
    Each one tries again within the timeout: all of them open it."""
    code = "import sys; from microwave.history import History; print(History(sys.argv[1]).version)"
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([SRC] + [p for p in os.environ.get("PYTHONPATH", "").split(
        os.pathsep) if p]))
    for r in range(15):
        db = tmp_path / f"h{r}.sqlite3"
        procs = [subprocess.Popen([sys.executable, "-c", code, str(db)], stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True, env=env) for _ in range(6)]
        for p in procs:
            out, err = p.communicate(timeout=60)
            assert p.returncode == 0 and out.strip() == str(len(history.MIGRATIONS)), err


def test_a_writer_killed_with_sigkill_leaves_an_interrupted_record_within_a_second(tmp_path):
    db = tmp_path / "h.sqlite3"
    proc = _child(tmp_path, db, total_s=60)
    fed = 0.0
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        assert line, proc.stderr.read()
        if line.startswith("fed"):
            fed = float(line.split()[1])
            if fed >= 3.0:
                break
    proc.send_signal(signal.SIGKILL)
    proc.wait(10)
    (rec,) = History(db).records()
    assert rec.end == "interrupted" and rec.ended_at is None
    assert abs(rec.seconds_delivered - fed) <= 1.0, (rec.seconds_delivered, fed)
    # and the charges are current as of the same commit: 1 uC per channel per chunk
    assert rec.channels[0].charge_pos_uc == pytest.approx(rec.seconds_delivered * 10)
    assert rec.channels[1].charge_neg_uc == pytest.approx(-rec.seconds_delivered * 10)


def test_two_processes_writing_at_once_both_leave_complete_records(tmp_path):
    db = tmp_path / "h.sqlite3"
    procs = [_child(tmp_path, db, total_s=2.0) for _ in range(2)]
    for p in procs:
        out, err = p.communicate(timeout=60)
        assert p.returncode == 0 and "done" in out, err
    recs = History(db).records()
    assert len(recs) == 2
    for r in recs:
        assert r.end == "completed" and r.seconds_delivered == pytest.approx(2.0)
        assert r.channels[0].charge_pos_uc == pytest.approx(20.0)
        assert len(History(db).timeline(r.id)) == 2


# ---- queries and JSON -----------------------------------------------------------------------
def _cli(*args, stdin=subprocess.DEVNULL, **kw):
    return subprocess.run([sys.executable, "-m", "microwave.cli", *args], capture_output=True, text=True,
                          stdin=stdin, timeout=120, **kw)


def test_the_json_has_exactly_the_documented_keys_and_types(tmp_path):
    h = History()
    s = two_step_session()
    a = entries([dict(step=0, start=0, played=RATE, level_sum=0.8 * RATE, level_max=0.9, peak_ua=[100, 50],
                      charge_pos_uc=[10, 5], charge_neg_uc=[-9, -5], underflows=2),
                 dict(step=1, start=RATE, played=RATE // 2, level_sum=RATE // 2, level_max=1.0, peak_ua=[80, 60],
                      charge_pos_uc=[3, 4], charge_neg_uc=[-3, -4], underflows=3)], 2)
    rid = record(h, s, a, end="stopped")
    for args in (("history", "--json"), ("history", "show", str(rid), "--json"), ("history", "--json", "--last", "1")):
        r = _cli(*args)
        assert r.returncode == 0, r.stderr
        (obj,) = json.loads(r.stdout)
        assert list(obj) == ["id", "session", "started_at", "ended_at", "end", "seconds_delivered", "underflows",
                             "channels", "steps"]
        assert obj["id"] == rid and obj["session"] == "t" and obj["end"] == "stopped"
        assert obj["started_at"].endswith("Z") and obj["ended_at"] >= obj["started_at"]
        assert obj["seconds_delivered"] == 1.5 and obj["underflows"] == 3
        ch = obj["channels"]
        assert [list(c) for c in ch] == [["peak_ua", "charge_pos_uc", "charge_neg_uc", "net_uc"]] * 2
        assert ch[0] == {"peak_ua": 100.0, "charge_pos_uc": 13.0, "charge_neg_uc": -12.0, "net_uc": 1.0}
        assert [list(x) for x in obj["steps"]] == [["zone", "mode", "seconds", "level_mean", "level_max",
                                                    "channels"]] * 2
        st0 = obj["steps"][0]
        assert (st0["zone"], st0["mode"], st0["seconds"], st0["level_max"]) == ("forehead", "lift", 1.0, 0.9)
        assert st0["level_mean"] == pytest.approx(0.8)
        assert st0["channels"][1] == {"peak_ua": 50.0, "charge_pos_uc": 5.0, "charge_neg_uc": -5.0, "net_uc": 0.0}
        for key, kind in (("seconds_delivered", float), ("underflows", int), ("id", int)):
            assert isinstance(obj[key], kind)


def test_the_table_and_the_last_records(tmp_path):
    h = History()
    ids = [record(h, two_step_session(), entries([dict(step=0, played=RATE)], 2), end=e) for e in ENDS[:3]]
    assert [r.id for r in h.records(last=2)] == ids[1:]
    r = _cli("history", "--last", "2")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert len(lines) == 3 and "session" in lines[0]
    assert ENDS[1] in lines[1] and ENDS[2] in lines[2] and ENDS[0] not in r.stdout


def test_names_read_from_a_history_are_printed_with_their_escapes_written_out(tmp_path):
    """A session name or a zone stored by an older version (which took
    control characters and bidirectional overrides in names) is printed by
    ``history`` and ``history show`` with each such character written as its
    escape, never raw to the terminal; so is the path of a history that
    does not exist yet (MICROWAVE_HISTORY is whatever the user set)."""
    h = History()
    rid = record(h, two_step_session(), entries([dict(step=0, played=RATE)], 2))
    con = h.connect()
    try:
        con.execute("UPDATE records SET session = ? WHERE id = ?", ("s\x1b[2J\u202eevil\n", rid))
        con.execute("UPDATE steps SET zone = ? WHERE record_id = ?", ("z\x07\u2066", rid))
    finally:
        con.close()
    r = _cli("history")
    assert r.returncode == 0, r.stderr
    assert "s\\x1b[2J\\u202ee" in r.stdout and not TERMINAL_ACTS_ON.search(r.stdout), r.stdout
    assert len(r.stdout.splitlines()) == 2, r.stdout            # (the heading and the record: no forged line)
    shown = _cli("history", "show", str(rid))
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.startswith(f"record {rid}: s\\x1b[2J\\u202eevil\\n, "), shown.stdout
    r = _cli("history", "show", str(rid), "--json")
    assert json.loads(r.stdout)[0]["session"] == "s\x1b[2J\u202eevil\n"      # (the JSON: as stored)
    r = shown
    assert "z\\x07\\u2066" in r.stdout, r.stdout
    assert not TERMINAL_ACTS_ON.search(r.stdout), r.stdout
    missing = tmp_path / "h\x1b]0;x\x07.sqlite3"
    r = _cli("history", env={**os.environ, "MICROWAVE_HISTORY": str(missing)})
    assert r.returncode == 0, r.stderr
    assert "h\\x1b]0;x\\x07.sqlite3 does not exist" in r.stdout and not TERMINAL_ACTS_ON.search(r.stdout), r.stdout


def test_history_show_prints_steps_channels_and_a_text_plot_and_writes_a_png(tmp_path):
    h = History()
    a = entries([dict(step=0 if i < 5 else 1, start=i * RATE, played=RATE, level_sum=RATE * (0.5 + i / 20),
                      charge_pos_uc=[i, 1], charge_neg_uc=[-i, -1]) for i in range(8)], 2)
    rid = record(h, two_step_session(), a)
    png = tmp_path / "rec.png"
    r = _cli("history", "show", str(rid), "--plot", str(png))
    assert r.returncode == 0, r.stderr
    out = r.stdout
    assert "forehead" in out and "jaw" in out and "ch1" in out and "8.0 s delivered" in out
    level_line = next(line for line in out.splitlines() if line.strip().startswith("level"))
    bars = level_line.split("|")[1]
    assert len(bars) == 8 and bars[-1] == "\u2588" and bars[0] < bars[-1]     # rising level, one bar a second
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    r = _cli("history", "show", "999")
    assert r.returncode == 2 and "999" in r.stderr and len(r.stderr.strip().splitlines()) == 1


# ---- overuse ----------------------------------------------------------------------------------
def _age(h, rid, days):
    """Move a record ``days`` back in time."""
    import datetime as dt
    con = h.connect()
    try:
        ts = (dt.datetime.now(dt.UTC) - dt.timedelta(days=days)).isoformat().replace("+00:00", "Z")
        con.execute("UPDATE records SET started_at = ? WHERE id = ?", (ts, rid))
    finally:
        con.close()


def test_overuse_warns_at_the_sessions_a_day_exactly(tmp_path):
    h = History(tmp_path / "h.sqlite3")
    s = two_step_session()
    rec = Recommendations(max_sessions_per_day=2, max_charge_uc_per_zone_week=1e9)
    one = entries([dict(step=0, played=RATE)], 2)
    assert h.overuse(s, rec) == []
    record(h, s, one)
    record(h, s, entries([dict(step=0, played=0)], 2))     # nothing delivered: not a session
    assert h.overuse(s, rec) == []
    rid = record(h, s, one)
    (w,) = h.overuse(s, rec)
    assert "2 sessions already today" in w and "at most 2 a day" in w
    _age(h, rid, 1.5)          # yesterday's does not count today
    assert h.overuse(s, rec) == []


def test_overuse_warns_at_the_weekly_charge_of_a_zone_exactly(tmp_path):
    h = History(tmp_path / "h.sqlite3")
    s = two_step_session(("forehead", "jaw"))
    # forehead: ch0 gets 30 + |-20| = 50 uC, ch1 10; jaw: 5 uC
    a = entries([dict(step=0, played=RATE, charge_pos_uc=[30, 5], charge_neg_uc=[-20, -5]),
                 dict(step=1, played=RATE, charge_pos_uc=[2, 3], charge_neg_uc=[0, -2])], 2)
    rid = record(h, s, a)
    _age(h, rid, 2)            # not today: only the weekly charge can warn
    assert h.overuse(s, Recommendations(max_charge_uc_per_zone_week=50.001)) == []
    (w,) = h.overuse(s, Recommendations(max_charge_uc_per_zone_week=50.0))
    assert "forehead" in w and "50 uC" in w
    ws = h.overuse(s, Recommendations(max_charge_uc_per_zone_week=5.0))
    assert len(ws) == 2 and "jaw" in ws[1]
    # a session on other zones is not warned about the forehead
    assert h.overuse(two_step_session(("neck",)), Recommendations(max_charge_uc_per_zone_week=5.0)) == []
    _age(h, rid, 8)            # beyond the week
    assert h.overuse(s, Recommendations(max_charge_uc_per_zone_week=5.0)) == []


def test_strict_refuses_at_the_threshold_with_one_line_and_exit_2(tmp_path):
    h = History()
    h.acknowledge(ACK_VERSION)
    s = builtin("lift")
    rc, player = _play(s, strict=True)
    assert rc is None and player.called        # below the threshold: no refusal, on to the Player
    record(h, s, entries([dict(step=0, played=RATE)], s.channels))
    r = _cli("play", "lift", "--strict", "--duration", "0.5")
    assert r.returncode == 2
    assert r.stderr.strip().splitlines() == [r.stderr.strip()]
    assert "refused (--strict)" in r.stderr and "1 session already today" in r.stderr
    assert len(h.records()) == 1               # nothing else was recorded
    r = _cli("play", "lift", "--strict", "--max-sessions-per-day", "2", "--duration", "0.5")
    assert "refused" not in r.stderr           # a configured recommendation moves the threshold


class Reached(Exception):
    """Raised in place of making the Player: every check before it passed."""


def _play(session, **kw):
    kw.setdefault("stdin", io.StringIO())
    kw.setdefault("stdout", io.StringIO())
    with mock.patch.object(_terminal, "Player", side_effect=Reached) as player:
        try:
            rc = _terminal.play_cli(session, Stage(), **kw)
        except Reached:
            rc = None
    return rc, player


def test_play_warns_on_overuse_then_plays_with_the_history(capsys):
    h = History()
    h.acknowledge(ACK_VERSION)
    s = builtin("lift")
    record(h, s, entries([dict(step=0, played=RATE)], s.channels))
    rc, player = _play(s)
    assert rc is None and "warning: overuse" in capsys.readouterr().err
    hist = player.call_args.kwargs["history"]
    assert isinstance(hist, History) and hist.path == h.path
    with pytest.raises(ValueError, match="--acknowledge"):
        _play(s, history=False)                # no history: nothing kept, so the acknowledgement is asked each time
    rc, player = _play(s, history=False, acknowledge=True)
    assert rc is None and player.call_args.kwargs["history"] is None


# ---- the acknowledgement ------------------------------------------------------------------------
def test_the_acknowledgement_is_kept_and_asked_again_when_its_version_changes(tmp_path, monkeypatch):
    h = History()
    s = builtin("lift")
    assert not h.acknowledged(ACK_VERSION)
    with pytest.raises(ValueError, match="--acknowledge"):
        _play(s)
    assert not h.acknowledged(ACK_VERSION)
    rc, player = _play(s, acknowledge=True)
    assert rc is None and player.called and h.acknowledged(ACK_VERSION)
    rc, player = _play(s)                      # acknowledged: not asked again
    assert rc is None and player.called
    monkeypatch.setattr(history, "ACK_VERSION", ACK_VERSION + 1)
    assert not h.acknowledged(ACK_VERSION + 1)
    with pytest.raises(ValueError, match="--acknowledge"):
        _play(s)                               # a new text: asked again


def test_without_a_terminal_the_first_play_needs_acknowledge_in_one_line():
    r = _cli("play", "lift")
    assert r.returncode == 2
    assert r.stderr.strip().splitlines() == [r.stderr.strip()] and "--acknowledge" in r.stderr
    assert History().records() == [] and not History().acknowledged(ACK_VERSION)


def _tmux(*args, check=True):
    return subprocess.run(["tmux", "-L", "mw-history-test", *args], capture_output=True, text=True, check=check,
                          timeout=30)


@pytest.fixture
def tmux(tmp_path):
    if shutil.which("tmux") is None:
        pytest.skip("tmux is not installed (scripts/test.sh installs it)")
    yield _tmux
    _tmux("kill-server", check=False)


def _screen(tmux, until, seconds=20):
    end = time.monotonic() + seconds
    text = ""
    while time.monotonic() < end:
        text = tmux("capture-pane", "-p", "-t", "play").stdout
        if until in text:
            return text
        time.sleep(0.1)
    raise AssertionError(f"{until!r} never showed; the screen:\n{text}")


def _start_play(tmux, extra_env=None):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [SRC] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]), **(extra_env or {}))
    keys = {"PYTHONPATH", "MICROWAVE_HISTORY", *(extra_env or {})}
    cmd = " ".join(f"{k}='{v}'" for k, v in env.items() if k in keys)
    tmux("new-session", "-d", "-s", "play", "-x", "120", "-y", "50",
         f"env {cmd} {sys.executable} -m microwave.cli play lift --duration 1; echo EXIT=$?; sleep 30")


def test_the_first_play_asks_on_a_terminal_and_no_exits_without_playing(tmux):
    _start_play(tmux)
    screen = _screen(tmux, "Type yes")
    assert "pacemaker" in screen and "pregnancy" in screen and "epilepsy" in screen and "filler" in screen
    assert "burning" in screen and "headache" in screen and "jaw tension" in screen
    tmux("send-keys", "-t", "play", "no", "Enter")
    screen = _screen(tmux, "EXIT=")
    assert "EXIT=1" in screen and "nothing was played" in screen
    h = History()
    assert not h.acknowledged(ACK_VERSION) and h.records() == []


@pytest.mark.audio
def test_the_first_play_asks_on_a_terminal_and_yes_plays_and_records(tmux, audio):
    from microwave.backends.portaudio import Player
    if "history" not in inspect.signature(Player.__init__).parameters:
        pytest.skip("Player(history=) is not there yet (the engine's record feed, the other half of issue 15)")
    _start_play(tmux, audio.env)
    _screen(tmux, "Type yes")
    tmux("send-keys", "-t", "play", "yes", "Enter")
    screen = _screen(tmux, "EXIT=", seconds=40)
    assert "EXIT=0" in screen and "played" in screen
    h = History()
    assert h.acknowledged(ACK_VERSION)
    (rec,) = h.records()
    assert rec.end == "completed" and rec.seconds_delivered == pytest.approx(1.0, abs=0.1)


def test_a_file_that_is_not_a_database_is_refused_with_its_mode_untouched(tmp_path):
    """A path given by mistake (a document) is refused naming it, and its
    permissions stay as they were (it used to be made 0600 first); an
    empty file or a new one becomes a private database."""
    doc = tmp_path / "notes.txt"
    doc.write_text("my notes\n")
    doc.chmod(0o644)
    with pytest.raises(ValueError, match=r"path='.*notes\.txt' is not a history database"):
        History(doc)
    assert doc.stat().st_mode & 0o777 == 0o644 and doc.read_text() == "my notes\n"
    empty = tmp_path / "empty.db"
    empty.touch(mode=0o644)
    History(empty)
    assert empty.stat().st_mode & 0o777 == 0o600


@pytest.mark.parametrize("app, tables", [(0, ["notes"]), (0, ["notes", "a", "b", "c", "d", "e"]),
                                         (0, ["records"]),       # (a table of that name, no schema version)
                                         (42, []), (42, ["records"])])
def test_another_programs_sqlite_database_is_refused_as_it_was(tmp_path, app, tables):
    """An SQLite database of another program (marked with its own
    application_id, or unmarked with tables but no history's) is refused
    naming it, every byte and its mode as they were (it was read as an
    empty history, and our tables written into it); a history made before
    the mark, and an SQLite file with no table yet, are taken and marked."""
    path = tmp_path / "other.db"
    con = sqlite3.connect(path)
    for t in tables:
        con.execute(f"CREATE TABLE {t} (x INTEGER)")
    con.execute(f"PRAGMA application_id = {app}")
    con.commit()
    con.close()
    path.chmod(0o644)
    before = path.read_bytes()
    shown = ", ".join(sorted(tables)[:5]) + (" and 1 more" if len(tables) > 5 else "")
    with pytest.raises(ValueError, match=re.escape(f"path={str(path)!r} is not a history database: it is another "
                                                   f"program's SQLite database (application_id {app}")
                       + (re.escape(f"; tables {shown})") if tables else r"\)") + ", left as it was"):
        History(path)
    assert path.read_bytes() == before and path.stat().st_mode & 0o777 == 0o644
    assert sorted(p.name for p in tmp_path.iterdir()) == ["other.db"]


@pytest.mark.parametrize("app, marked", [(42, "header"), (-7, "header"), (42, "log"), (0, "none")])
def test_another_programs_database_with_a_log_not_yet_checkpointed_is_refused_untouched(tmp_path, app, marked):
    """Another program's database in WAL mode, its last writes still in its
    log (the program stopped before a checkpoint), is refused and left as
    it was: no byte of the file or of its log changes (a read-write
    connection's close checkpointed the log into the file and removed it).
    Marked in its header, it is judged from the header and nothing is made
    beside it; marked only in its log, or not at all, it is read read-only
    (SQLite may make a -shm file to read the log)."""
    live, path = tmp_path / "live" / "other.db", tmp_path / "other.db"
    live.parent.mkdir()
    con = sqlite3.connect(live, isolation_level=None)
    if marked == "header":
        con.execute(f"PRAGMA application_id = {app}")
    con.execute("CREATE TABLE notes (x INTEGER)")
    con.execute("PRAGMA journal_mode = WAL")
    con.execute("PRAGMA wal_autocheckpoint = 0")
    if marked == "log":
        con.execute(f"PRAGMA application_id = {app}")
    con.execute("INSERT INTO notes VALUES (1)")          # in the log only
    for suffix in ("", "-wal"):                           # as the program left them
        Path(f"{path}{suffix}").write_bytes(Path(f"{live}{suffix}").read_bytes())
    con.close()
    shutil.rmtree(live.parent)
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    assert set(before) == {"other.db", "other.db-wal"} and before["other.db-wal"]
    with pytest.raises(ValueError, match=re.escape(f"another program's SQLite database (application_id {app}; "
                                                   f"tables notes), left as it was")):
        History(path)
    after = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    if marked != "header":
        after.pop("other.db-shm", None)
    assert after == before


def test_the_tables_for_the_refusal_are_read_without_making_a_file(tmp_path):
    """The tables named in a refusal are read read-only and immutable: a
    file gone in between (its program removed it) is not made again."""
    assert history._tables_as_stored(tmp_path / "gone.db") == []
    assert list(tmp_path.iterdir()) == []


def test_a_history_made_before_the_mark_and_an_sqlite_file_with_no_table_are_taken_and_marked(tmp_path):
    old = tmp_path / "old.db"
    rid = record(History(old), two_step_session(), entries([dict(step=1, played=RATE)], 2))
    con = sqlite3.connect(old)
    con.execute("PRAGMA application_id = 0")       # as a history made before the mark was
    con.close()
    assert History(old).record(rid).steps[1].seconds == 1.0
    blank = tmp_path / "blank.db"
    sqlite3.connect(blank).execute("PRAGMA user_version = 0").connection.close()
    History(blank)
    for path in (old, blank):
        con = sqlite3.connect(path)
        assert con.execute("PRAGMA application_id").fetchone()[0] == history.APPLICATION_ID == 0x4D57484C
        con.close()


def test_reading_a_history_that_does_not_exist_creates_nothing(tmp_path):
    """`microwave history` only reads: where no session was ever recorded it says so (JSON: an empty
    list) and creates neither the database nor its folders; `history show ID` is an error naming ID."""
    path = tmp_path / "nodir" / "x" / "h.db"
    env = dict(os.environ, MICROWAVE_HISTORY=str(path))
    r = _cli("history", env=env)
    assert r.returncode == 0 and r.stdout.strip() == f"no sessions recorded yet ({path} does not exist)", r.stdout
    r = _cli("history", "--json", env=env)
    assert r.returncode == 0 and json.loads(r.stdout) == []
    r = _cli("history", "show", "3", env=env)
    assert r.returncode == 2 and r.stderr.startswith("microwave history: error: ID 3 is not in the history"), r.stderr
    assert not (tmp_path / "nodir").exists()
