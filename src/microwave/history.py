"""A record of what was delivered: every session played, kept in a private
SQLite database on this machine (docs: history.md).

:class:`History` is the database: at ``path``, else ``$MICROWAVE_HISTORY``,
else ``history.sqlite3`` in the user data directory (platformdirs).  Its
folder is created with mode 0700 and its files 0600, whatever the umask;
nothing in it leaves the machine.  It is in WAL mode with a busy timeout,
so that two players in two processes can write at once.

A play opens a record with :meth:`History.begin` (as ``interrupted``: a
process that dies leaves it so), then a :class:`Recorder` -- a daemon
writer thread fed with the session engine's entries (:data:`RECORD_DTYPE`,
one per step per chunk of about 0.1 s, drained from a lock-free ring) --
sums them into totals, per-step and per-second rows and commits at least
once a second; :meth:`Recorder.close` writes how the session ended.

>>> import tempfile, pathlib
>>> from microwave.sessions import builtin
>>> h = History(pathlib.Path(tempfile.mkdtemp()) / "h.sqlite3")
>>> rid = h.begin(builtin("lift"), rate=48_000)
>>> h.record(rid).end
'interrupted'
"""
from __future__ import annotations

import datetime as _dt
import json
import os
import sqlite3
import threading
import time
from collections.abc import Callable
from contextlib import closing, contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import _checks
from ._core import MAX_CHANNELS, RECORD_DTYPE as _RECORD_DTYPE
from .sessions import Session

__all__ = ["History", "Recorder", "Record", "StepRecord", "ChannelDose", "Second", "Recommendations",
           "RECORD_DTYPE", "ENDS", "ACK_TEXT", "ACK_VERSION", "MIGRATIONS", "APPLICATION_ID", "HistoryVersionError"]

#: MW_MAX_CH: the most program channels an entry carries (only the first ``n_ch`` mean anything)
MAX_CH = MAX_CHANNELS

#: one entry of the session engine's record ring (csrc/mw_record.h, checked against the C struct at
#: import): what flowed in one step over one chunk (~0.1 s)
RECORD_DTYPE = _RECORD_DTYPE

#: how a session ended ("interrupted": the process died; a record is opened so)
ENDS = ("completed", "stopped", "auto-off", "contact-lost", "device-lost", "interrupted")

#: the contraindications and the signs to stop, acknowledged before the first session
ACK_TEXT = """\
Before you use microcurrent on your face, read this.

Do not use it:
  - with a pacemaker or any implanted electronic device;
  - during pregnancy;
  - with epilepsy;
  - on open wounds, active infections or broken skin;
  - soon after filler injections (ask a professional first).

Stop at once on burning, headache or jaw tension.  Mild redness or
tingling is normal.  Overuse can lead to irritation or muscle fatigue:
follow the recommended frequency (several sessions a week; consistency
matters more than intensity)."""
#: the version of :data:`ACK_TEXT`: raised whenever the text changes, so that it is acknowledged again
ACK_VERSION = 1

#: the schema, one migration per version, applied in order on open (``PRAGMA user_version`` is how many ran);
#: never edit one that shipped: append a new one
MIGRATIONS: list[str] = [
    """
    CREATE TABLE records (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        session TEXT NOT NULL,
        started_at TEXT NOT NULL,
        ended_at TEXT,
        updated_at TEXT NOT NULL,
        end_reason TEXT NOT NULL,
        seconds_delivered REAL NOT NULL DEFAULT 0,
        underflows INTEGER NOT NULL DEFAULT 0,
        rate INTEGER NOT NULL,
        dac_time REAL,
        n_ch INTEGER NOT NULL
    );
    CREATE INDEX records_started ON records(started_at);
    CREATE TABLE record_channels (
        record_id INTEGER NOT NULL REFERENCES records(id) ON DELETE CASCADE,
        ch INTEGER NOT NULL,
        peak_ua REAL NOT NULL, charge_pos_uc REAL NOT NULL, charge_neg_uc REAL NOT NULL,
        PRIMARY KEY (record_id, ch)
    );
    CREATE TABLE steps (
        record_id INTEGER NOT NULL REFERENCES records(id) ON DELETE CASCADE,
        step INTEGER NOT NULL,
        zone TEXT NOT NULL, mode TEXT NOT NULL,
        seconds REAL NOT NULL DEFAULT 0, level_mean REAL NOT NULL DEFAULT 0, level_max REAL NOT NULL DEFAULT 0,
        PRIMARY KEY (record_id, step)
    );
    CREATE TABLE step_channels (
        record_id INTEGER NOT NULL REFERENCES records(id) ON DELETE CASCADE,
        step INTEGER NOT NULL, ch INTEGER NOT NULL,
        peak_ua REAL NOT NULL, charge_pos_uc REAL NOT NULL, charge_neg_uc REAL NOT NULL,
        PRIMARY KEY (record_id, step, ch)
    );
    CREATE TABLE timeline (
        record_id INTEGER NOT NULL REFERENCES records(id) ON DELETE CASCADE,
        second INTEGER NOT NULL,
        seconds REAL NOT NULL, level REAL NOT NULL, charge_pos_uc REAL NOT NULL, charge_neg_uc REAL NOT NULL,
        PRIMARY KEY (record_id, second)
    );
    CREATE TABLE acknowledgements (
        version INTEGER PRIMARY KEY,
        acknowledged_at TEXT NOT NULL
    );
    """,
]

BUSY_TIMEOUT_MS = 30_000
#: the writer commits at least this often, s (a SIGKILL loses at most this much)
COMMIT_S = 0.5


class HistoryVersionError(RuntimeError):
    """The database was written by a newer microwave (its schema version is beyond this code's)."""


def _now() -> str:
    return _dt.datetime.now(_dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _parse(ts: str) -> _dt.datetime:
    return _dt.datetime.fromisoformat(ts.replace("Z", "+00:00"))


def default_path() -> Path:
    """Where the history lives: ``$MICROWAVE_HISTORY`` if set, else
    ``history.sqlite3`` in the user data directory (platformdirs)."""
    env = os.environ.get("MICROWAVE_HISTORY")
    if env:
        return Path(env)
    import platformdirs
    return Path(platformdirs.user_data_dir("microwave", appauthor=False)) / "history.sqlite3"


#: the first bytes of every SQLite 3 database file
SQLITE_HEADER = b"SQLite format 3\x00"
#: ``PRAGMA application_id`` of a microwave history ("MWHL"): what tells it
#: from another program's SQLite database (read as an empty history before,
#: and written into)
APPLICATION_ID = 0x4D57484C


def _private_file(path: Path) -> None:
    """Create ``path`` (and its missing folders) private to the user: folders 0700, the file 0600."""
    missing = []
    d = path.parent
    while not d.exists():
        missing.append(d)
        d = d.parent
    for d in reversed(missing):
        try:
            os.mkdir(d, 0o700)
        except FileExistsError:
            pass
        os.chmod(d, 0o700)           # the umask may have taken bits away; never adds any
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        # an existing file is made private only once it is known to be a database (or empty):
        # a path given by mistake (a document, say) is refused as it was, its mode untouched
        with open(path, "rb") as f:
            head = f.read(100)          # (SQLite's header: its application_id at byte 68)
        if head and head[:len(SQLITE_HEADER)] != SQLITE_HEADER:
            raise sqlite3.DatabaseError("file is not a database (it does not start as an SQLite file does)") from None
        if head:
            _not_foreign(path, head)
        fd = os.open(path, os.O_RDWR)
    try:
        os.fchmod(fd, 0o600)
    finally:
        os.close(fd)


def _not_foreign(path: Path, head: bytes) -> None:
    """Refuse an SQLite database of another program, read as it is (nothing
    written, its mode untouched): one marked with another application_id in
    its header (``head``, the file's first bytes), or unmarked with tables
    but not a history's ``records`` and schema version (a history made
    before the mark has both, and is marked when it is opened).  One marked
    in its header is refused from it, never opened as a database; any other
    is read read-only (``mode=ro``): its write-ahead log read, never
    checkpointed into it nor removed (a read-write connection's close did
    both), a journal never rolled back (SQLite may make a ``-shm`` file
    beside a database in WAL mode to read its log)."""
    app = int.from_bytes(head[68:72], "big", signed=True) if len(head) >= 72 else 0   # (as PRAGMA application_id)
    if app not in (0, APPLICATION_ID):
        raise _foreign(app, _tables_as_stored(path))
    with closing(_read_only(path, "mode=ro")) as con:
        # one read transaction: the three from one snapshot (read apart, another process creating the
        # history committed in between: its tables were seen, and its mark from before, as a stranger's)
        con.execute("BEGIN")
        app = con.execute("PRAGMA application_id").fetchone()[0]
        version = con.execute("PRAGMA user_version").fetchone()[0]
        tables = _tables(con)
        con.execute("ROLLBACK")
    if app == APPLICATION_ID:
        return
    # (every migration sets user_version in its own transaction: a history has its tables and a version)
    if app == 0 and (not tables or ("records" in tables and 1 <= version <= len(MIGRATIONS))):
        return
    raise _foreign(app, tables)


def _tables_as_stored(path: Path) -> list[str]:
    """The tables of an SQLite file as its main file holds them, for a
    message: read with ``mode=ro&immutable=1`` (no lock, no journal or log
    read, no file made or written; what only a log holds is not seen),
    none if it cannot be read so."""
    try:
        with closing(_read_only(path, "mode=ro&immutable=1")) as con:
            return _tables(con)
    except sqlite3.Error:
        return []


def _read_only(path: Path, query: str) -> sqlite3.Connection:
    """A connection to ``path`` opened by URI with ``query`` (its read-only
    flags), autocommit, waiting out another's lock as every connection does."""
    return sqlite3.connect(f"{path.resolve().as_uri()}?{query}", uri=True, timeout=BUSY_TIMEOUT_MS / 1000,
                           isolation_level=None)


def _tables(con: sqlite3.Connection) -> list[str]:
    """The names of the database's tables, sorted."""
    return sorted(r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'"))


def _foreign(app: int, tables: list[str]) -> sqlite3.DatabaseError:
    shown = ", ".join(tables[:5]) + (f" and {len(tables) - 5} more" if len(tables) > 5 else "")
    return sqlite3.DatabaseError(f"it is another program's SQLite database (application_id {app}"
                                 + (f"; tables {shown}" if tables else "") + "), left as it was: give another path")


@contextmanager
def _transaction(con: sqlite3.Connection):
    """``BEGIN IMMEDIATE`` (the write lock at once: two players wait their
    turn rather than fail mid-transaction), ``COMMIT`` at the block's end,
    ``ROLLBACK`` on any exception."""
    con.execute("BEGIN IMMEDIATE")
    try:
        yield con
    except BaseException:
        con.execute("ROLLBACK")
        raise
    con.execute("COMMIT")


def _connect(path: Path) -> sqlite3.Connection:
    # Two processes opening a new database at once: the switch to WAL (and the first read of a WAL file
    # another connection is still setting up) can fail with "database is locked" at once, without waiting
    # for the busy timeout (a CI run: a second player's History() failed so).  Such a connection is tried
    # again, within the same timeout.
    deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000
    while True:
        con = sqlite3.connect(path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None, check_same_thread=False)
        try:
            con.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            con.execute("PRAGMA foreign_keys = ON")
            mode = con.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            break
        except sqlite3.OperationalError as e:
            con.close()
            if "locked" not in str(e) or time.monotonic() > deadline:
                raise
            time.sleep(0.01)
    if mode.lower() != "wal":
        con.close()
        raise RuntimeError(f"{path}: the history database could not be put in WAL mode (it is in {mode!r} mode)")
    con.execute("PRAGMA synchronous = NORMAL")
    for suffix in ("-wal", "-shm"):     # SQLite gives them the database's mode; make sure
        side = Path(str(path) + suffix)
        if side.exists() and side.stat().st_mode & 0o077:
            os.chmod(side, 0o600)
    return con


@dataclass(frozen=True)
class ChannelDose:
    """What flowed through one program channel (electrode pair).

    Parameters
    ----------
    peak_ua : float
        The largest current that flowed, either way, uA.
    charge_pos_uc : float
        The charge of the positive current, uC (>= 0).
    charge_neg_uc : float
        The charge of the negative current, uC (<= 0).
    """

    peak_ua: float
    charge_pos_uc: float
    charge_neg_uc: float

    @property
    def net_uc(self) -> float:
        """The net charge, uC (positive plus negative)."""
        return self.charge_pos_uc + self.charge_neg_uc

    def to_json(self) -> dict:
        """``{peak_ua, charge_pos_uc, charge_neg_uc, net_uc}``."""
        return {"peak_ua": self.peak_ua, "charge_pos_uc": self.charge_pos_uc, "charge_neg_uc": self.charge_neg_uc,
                "net_uc": self.net_uc}


@dataclass(frozen=True)
class StepRecord:
    """One step of a record: where, which mode, what it delivered.

    Parameters
    ----------
    zone : str
        The step's zone.
    mode : str
        Its mode's name (the step's label; "custom" without one).
    seconds : float
        Seconds delivered in it (pauses excluded).
    level_mean, level_max : float
        The mean and largest live level multiplier over those seconds.
    channels : tuple of ChannelDose
        Per program channel.
    """

    zone: str
    mode: str
    seconds: float
    level_mean: float
    level_max: float
    channels: tuple

    def to_json(self) -> dict:
        """``{zone, mode, seconds, level_mean, level_max, channels}``."""
        return {"zone": self.zone, "mode": self.mode, "seconds": self.seconds, "level_mean": self.level_mean,
                "level_max": self.level_max, "channels": [c.to_json() for c in self.channels]}


@dataclass(frozen=True)
class Second:
    """One second of a record's timeline (entries counted in the second they start in).

    Parameters
    ----------
    second : int
        Seconds from the session's start (pauses excluded).
    seconds : float
        Seconds delivered in it.
    level : float
        The mean live level over it.
    charge_pos_uc, charge_neg_uc : float
        The positive and negative charge that flowed in it, every channel summed, uC.
    """

    second: int
    seconds: float
    level: float
    charge_pos_uc: float
    charge_neg_uc: float


@dataclass(frozen=True)
class Record:
    """One session played.

    Parameters
    ----------
    id : int
        The record's number in the database.
    session : str
        The session's name.
    started_at, ended_at : str
        ISO 8601, UTC; ``ended_at`` is None while it plays or when the process died.
    end : str
        How it ended: one of :data:`ENDS`.
    seconds_delivered : float
        Seconds of the session played (pauses excluded).
    underflows : int
        Output underflows in the stream.
    rate : int
        Sample rate, Hz.
    dac_time : float or None
        PortAudio's DAC time of the start, s, where the host gives it.
    channels : tuple of ChannelDose
        Totals per program channel.
    steps : tuple of StepRecord
        Per step of the session.
    """

    id: int
    session: str
    started_at: str
    ended_at: str | None
    end: str
    seconds_delivered: float
    underflows: int
    rate: int
    dac_time: float | None
    channels: tuple
    steps: tuple

    def to_json(self) -> dict:
        """The documented JSON object: ``id, session, started_at, ended_at,
        end, seconds_delivered, underflows, channels, steps``."""
        return {"id": self.id, "session": self.session, "started_at": self.started_at, "ended_at": self.ended_at,
                "end": self.end, "seconds_delivered": self.seconds_delivered, "underflows": self.underflows,
                "channels": [c.to_json() for c in self.channels], "steps": [s.to_json() for s in self.steps]}


@dataclass(frozen=True)
class Recommendations:
    """How much is too much: the figures ``play`` warns beyond (docs: history.md).

    Parameters
    ----------
    max_sessions_per_day : int
        Sessions a calendar day (local time) before another is overuse
        (default 1: the usage guides advise several sessions a week).
    max_charge_uc_per_zone_week : float
        Delivered charge (positive plus the magnitude of the negative) on
        the most dosed electrode pair of one zone over the last 7 days, uC,
        at which another session on that zone is overuse (default 120000:
        400 uA, the highest cleared consumer current, for one minute per
        zone per session, five sessions a week).

    Raises
    ------
    ValueError, TypeError
        A figure out of range or of the wrong type (named in the message).
    """

    max_sessions_per_day: int = 1
    max_charge_uc_per_zone_week: float = 120_000.0

    def __post_init__(self):
        object.__setattr__(self, "max_sessions_per_day",
                           _checks.integer("max_sessions_per_day", self.max_sessions_per_day, 1, 1000))
        object.__setattr__(self, "max_charge_uc_per_zone_week",
                           _checks.number("max_charge_uc_per_zone_week", self.max_charge_uc_per_zone_week, 0,
                                          lo_open=True, unit="uC"))


class History:
    """The history database: records of the sessions played, and the
    acknowledgement of the contraindications.

    Opening it creates it (private: folder 0700, file 0600), applies the
    :data:`MIGRATIONS` it lacks, and refuses one written by a newer microwave
    (:class:`HistoryVersionError`, naming the path and both versions).

    Parameters
    ----------
    path : str or path-like, optional
        The database file (default: ``$MICROWAVE_HISTORY``, else
        ``history.sqlite3`` in the user data directory).

    Raises
    ------
    TypeError
        ``path`` is not a path.
    HistoryVersionError
        The database's schema is newer than this code reads.
    """

    def __init__(self, path=None):
        self.path = default_path() if path is None else _checks.path("path", path)
        try:
            _private_file(self.path)
            with closing(_connect(self.path)) as con:
                self._migrate(con)
        except (OSError, sqlite3.OperationalError) as e:
            raise OSError(f"path={str(self.path)!r}: cannot open the history database: {e}") from None
        except sqlite3.DatabaseError as e:    # a file that is not one
            raise ValueError(f"path={str(self.path)!r} is not a history database: {e}") from None

    def _migrate(self, con: sqlite3.Connection) -> None:
        have = len(MIGRATIONS)
        v = con.execute("PRAGMA user_version").fetchone()[0]
        if v > have:
            raise HistoryVersionError(f"{self.path}: the history database's schema is version {v}, newer than this "
                                      f"microwave reads (version {have}): upgrade microwave")
        if v == have and con.execute("PRAGMA application_id").fetchone()[0] == APPLICATION_ID:
            return
        with _transaction(con):
            v = con.execute("PRAGMA user_version").fetchone()[0]   # another process may have migrated meanwhile
            for i in range(v, have):
                for stmt in MIGRATIONS[i].split(";"):
                    if stmt.strip():
                        con.execute(stmt)
                con.execute(f"PRAGMA user_version = {i + 1}")
            con.execute(f"PRAGMA application_id = {APPLICATION_ID}")     # (a history made before the mark too)

    def connect(self) -> sqlite3.Connection:
        """A new connection to the database (WAL, busy timeout, autocommit; close it)."""
        return _connect(self.path)

    @property
    def version(self) -> int:
        """The database's schema version."""
        with closing(self.connect()) as con:
            return con.execute("PRAGMA user_version").fetchone()[0]

    # ---- writing ---------------------------------------------------------------
    def begin(self, session: Session, *, rate: int, dac_time: float | None = None,
              channels: int | None = None) -> int:
        """Open a record of ``session`` as ``interrupted`` (a process that
        dies leaves it so), with its steps' zones and modes; return its id.

        Parameters
        ----------
        session : Session
            What is about to play.
        rate : int
            The sample rate, Hz.
        dac_time : float, optional
            PortAudio's DAC time of the start, s, where the host gives it.
        channels : int, optional
            The program channels that play (default ``session.channels``;
            fewer when the stage routes fewer: ``Session.channels_on``).

        Returns
        -------
        int
            The new record's id.

        Raises
        ------
        ValueError, TypeError
            A parameter out of range or of the wrong type (named in the message).
        OSError
            The database cannot be written.
        """
        _checks.instance("session", session, Session, "a microwave.sessions.Session")
        rate = _checks.rate(rate)
        if dac_time is not None:
            dac_time = _checks.number("dac_time", dac_time, unit="s")
        n_ch = session.channels if channels is None else _checks.integer("channels", channels, 1, session.channels)
        now = _now()
        with closing(self.connect()) as con, _transaction(con):
            cur = con.execute("INSERT INTO records (session, started_at, updated_at, end_reason, rate, dac_time, n_ch)"
                              " VALUES (?, ?, ?, 'interrupted', ?, ?, ?)",
                              (session.name, now, now, rate, dac_time, n_ch))
            rid = cur.lastrowid
            assert rid is not None
            con.executemany("INSERT INTO steps (record_id, step, zone, mode) VALUES (?, ?, ?, ?)",
                            [(rid, i, s.zone, s.label or "custom") for i, s in enumerate(session.steps)])
        return rid

    def acknowledge(self, version: int = ACK_VERSION) -> None:
        """Keep the acknowledgement of the text's ``version`` (with today's date, UTC).

        Parameters
        ----------
        version : int
            The version of the text acknowledged (:data:`ACK_VERSION`).

        Raises
        ------
        ValueError, TypeError
            ``version`` is not a positive int.
        """
        version = _checks.integer("version", version, 1, 1 << 31)
        with closing(self.connect()) as con:
            con.execute("INSERT OR REPLACE INTO acknowledgements (version, acknowledged_at) VALUES (?, ?)",
                        (version, _now()))

    def acknowledged(self, version: int = ACK_VERSION) -> bool:
        """Whether the text's ``version`` was acknowledged (a new version asks again).

        Parameters
        ----------
        version : int
            The version of the text (:data:`ACK_VERSION`).

        Returns
        -------
        bool
            True once that version was acknowledged.

        Raises
        ------
        ValueError, TypeError
            ``version`` is not a positive int.
        """
        version = _checks.integer("version", version, 1, 1 << 31)
        with closing(self.connect()) as con:
            return con.execute("SELECT 1 FROM acknowledgements WHERE version = ?", (version,)).fetchone() is not None

    # ---- reading ---------------------------------------------------------------
    def records(self, last: int | None = None) -> list[Record]:
        """The records, oldest first (the ``last`` ones only, when given).

        Parameters
        ----------
        last : int, optional
            How many of the most recent records (default: all).

        Returns
        -------
        list of Record
            Oldest first.

        Raises
        ------
        ValueError, TypeError
            ``last`` is not a positive int.
        """
        if last is not None:
            last = _checks.integer("last", last, 1, 1 << 62)
        with closing(self.connect()) as con:
            ids = [r[0] for r in con.execute("SELECT id FROM records ORDER BY id DESC LIMIT ?",
                                             (-1 if last is None else last,))]
            return [self._record(con, i) for i in reversed(ids)]

    def record(self, record_id: int) -> Record:
        """The record numbered ``record_id`` (ValueError when there is none).

        Parameters
        ----------
        record_id : int
            Its id.

        Returns
        -------
        Record
            With its channels and steps.

        Raises
        ------
        ValueError, TypeError
            ``record_id`` is not an int, or no record has it.
        """
        record_id = _checks.integer("record_id", record_id, 0, 1 << 62)
        with closing(self.connect()) as con:
            return self._record(con, record_id)

    def timeline(self, record_id: int) -> list[Second]:
        """A record's per-second timeline (level and charge), in time order.

        Parameters
        ----------
        record_id : int
            Its id.

        Returns
        -------
        list of Second
            One per second played, in time order.

        Raises
        ------
        ValueError, TypeError
            ``record_id`` is not an int, or no record has it.
        """
        record_id = _checks.integer("record_id", record_id, 0, 1 << 62)
        with closing(self.connect()) as con:
            return [Second(*r) for r in con.execute(
                "SELECT second, seconds, level, charge_pos_uc, charge_neg_uc FROM timeline WHERE record_id = ? "
                "ORDER BY second", (record_id,))]

    def _record(self, con: sqlite3.Connection, rid: int) -> Record:
        row = con.execute("SELECT id, session, started_at, ended_at, end_reason, seconds_delivered, underflows, rate,"
                          " dac_time, n_ch FROM records WHERE id = ?", (rid,)).fetchone()
        if row is None:
            raise ValueError(f"record_id={rid!r} is not allowed: there is no such record in {self.path}")
        n_ch = row[9]
        chans = _channels(con.execute("SELECT ch, peak_ua, charge_pos_uc, charge_neg_uc FROM record_channels "
                                      "WHERE record_id = ?", (rid,)), n_ch)
        per_step: dict[int, list] = {}
        for step, *rest in con.execute("SELECT step, ch, peak_ua, charge_pos_uc, charge_neg_uc FROM step_channels "
                                       "WHERE record_id = ?", (rid,)):
            per_step.setdefault(step, []).append(rest)
        steps = tuple(StepRecord(zone, mode, secs, lmean, lmax, _channels(per_step.get(i, ()), n_ch))
                      for i, zone, mode, secs, lmean, lmax in con.execute(
                          "SELECT step, zone, mode, seconds, level_mean, level_max FROM steps WHERE record_id = ? "
                          "ORDER BY step", (rid,)))
        return Record(row[0], row[1], row[2], row[3], row[4], row[5], row[6], row[7], row[8], chans, steps)

    # ---- overuse ---------------------------------------------------------------
    def overuse(self, session: Session, recommendations: Recommendations | None = None) -> list[str]:
        """Warnings (empty: none) for playing ``session`` now: the sessions
        already played today (local calendar day) reach
        ``max_sessions_per_day``, or the charge delivered on one of its
        zones over the last 7 days reaches ``max_charge_uc_per_zone_week``.

        Parameters
        ----------
        session : Session
            What is about to play (its zones are checked).
        recommendations : Recommendations, optional
            The limits (default ``Recommendations()``).

        Returns
        -------
        list of str
            One warning per limit reached (empty: none).

        Raises
        ------
        ValueError, TypeError
            A parameter of the wrong type (named in the message).
        """
        _checks.instance("session", session, Session, "a microwave.sessions.Session")
        rec = _checks.instance("recommendations", recommendations, Recommendations, "a Recommendations", none=True)
        rec = rec or Recommendations()
        now = _dt.datetime.now(_dt.UTC)
        today = now.astimezone().date()
        week_ago = now - _dt.timedelta(days=7)
        out = []
        with closing(self.connect()) as con:
            rows = con.execute("SELECT id, started_at FROM records WHERE seconds_delivered > 0 AND started_at >= ?",
                               ((week_ago - _dt.timedelta(days=1)).isoformat(),)).fetchall()
            n_today = sum(1 for _, ts in rows if _parse(ts).astimezone().date() == today)
            if n_today >= rec.max_sessions_per_day:
                out.append(f"overuse: {n_today} session{'s' if n_today != 1 else ''} already today; the "
                           f"recommendation is at most {rec.max_sessions_per_day} a day (overuse can lead to "
                           f"irritation or muscle fatigue)")
            week = [i for i, ts in rows if _parse(ts) >= week_ago]
            zones = list(dict.fromkeys(s.zone for s in session.steps))
            if week:
                marks = ",".join("?" * len(week))
                dose: dict[str, dict[int, float]] = {}
                for zone, ch, q in con.execute(
                        f"SELECT s.zone, c.ch, SUM(c.charge_pos_uc - c.charge_neg_uc) FROM step_channels c "
                        f"JOIN steps s ON s.record_id = c.record_id AND s.step = c.step "
                        f"WHERE c.record_id IN ({marks}) GROUP BY s.zone, c.ch", week):
                    dose.setdefault(zone, {})[ch] = q
                for z in zones:
                    q = max(dose.get(z, {}).values(), default=0.0)
                    if q >= rec.max_charge_uc_per_zone_week:
                        out.append(f"overuse: {q:.0f} uC delivered on the {z} over the last 7 days (its most dosed "
                                   f"electrode pair); the recommendation is at most "
                                   f"{rec.max_charge_uc_per_zone_week:.0f} uC a week per zone")
        return out


def _channels(rows, n_ch: int) -> tuple:
    by = {ch: ChannelDose(float(p), float(qp), float(qn)) for ch, p, qp, qn in rows}
    return tuple(by.get(c, ChannelDose(0.0, 0.0, 0.0)) for c in range(n_ch))


class _Sum:
    """Running sums of entries: played frames, level, and per channel peak and charges."""

    __slots__ = ("played", "level_sum", "level_max", "peak", "pos", "neg")

    def __init__(self, n_ch: int):
        self.played = 0
        self.level_sum = 0.0
        self.level_max = 0.0
        self.peak = np.zeros(n_ch)
        self.pos = np.zeros(n_ch)
        self.neg = np.zeros(n_ch)

    def add(self, e, n: int) -> None:
        self.played += int(e["played"])
        self.level_sum += float(e["level_sum"])
        self.level_max = max(self.level_max, float(e["level_max"]))
        np.maximum(self.peak, e["peak_ua"][:n], out=self.peak)
        self.pos += e["charge_pos_uc"][:n]
        self.neg += e["charge_neg_uc"][:n]

    def level_mean(self) -> float:
        return self.level_sum / self.played if self.played else 0.0


class Recorder:
    """The writer: a daemon thread that polls ``drain(buf)`` every
    ``poll_s``, sums the entries into the record's totals, per-step and
    per-second rows, and commits at least every :data:`COMMIT_S` (so a
    process killed mid-session loses at most its last second).

    It never touches the audio: an error in the thread stops the recording
    (the record stays as last committed) and is raised by :meth:`close`.

    Parameters
    ----------
    history : History
        The database.
    record_id : int
        The record :meth:`History.begin` opened.
    drain : callable
        ``drain(buf) -> int``: copies up to ``len(buf)`` entries of
        :data:`RECORD_DTYPE` into ``buf`` and returns how many
        (``SessionEngine.drain_record``).
    rate : int
        The sample rate, Hz.
    n_ch : int
        Program channels (1 to 32).
    poll_s : float
        How often the ring is drained, s (0.01 to 0.5; default 0.1).

    Raises
    ------
    ValueError, TypeError
        A parameter out of range or of the wrong type, or a ``record_id``
        the database does not hold.
    """

    def __init__(self, history: History, record_id: int, drain: Callable, rate: int, n_ch: int,
                 poll_s: float = 0.1):
        self.history = _checks.instance("history", history, History, "a microwave.history.History")
        self.record_id = _checks.integer("record_id", record_id, 0, 1 << 62)
        if not callable(drain):
            raise TypeError(f"drain={drain!r} must be a callable drain(buf) -> int, not {type(drain).__name__}")
        self.drain = drain
        self.rate = _checks.rate(rate)
        self.n_ch = _checks.integer("n_ch", n_ch, 1, MAX_CH)
        self.poll_s = _checks.number("poll_s", poll_s, 0.01, 0.5, unit="s")
        history.record(self.record_id)         # it exists (ValueError naming it otherwise)
        self.error: BaseException | None = None
        self._buf = np.zeros(256, RECORD_DTYPE)
        self._total = _Sum(self.n_ch)
        self._underflows = 0
        self._steps: dict[int, _Sum] = {}
        self._seconds: dict[int, list] = {}
        self._dirty_steps: set[int] = set()
        self._dirty_seconds: set[int] = set()
        self._end: tuple | None = None
        self._stop = threading.Event()
        self._closed = False
        self._thread = threading.Thread(target=self._run, name=f"microwave-history-{self.record_id}", daemon=True)
        self._thread.start()

    # ---- the thread ------------------------------------------------------------
    def _run(self) -> None:
        try:
            with closing(self.history.connect()) as con:
                last = time.monotonic()
                dirty = False
                while not self._stop.wait(self.poll_s):
                    dirty |= self._drain_all()
                    if dirty and time.monotonic() - last >= COMMIT_S:
                        self._write(con)
                        last, dirty = time.monotonic(), False
                self._drain_all()
                self._write(con, self._end)
        except BaseException as e:   # noqa: BLE001 -- kept for close(); the audio never sees it
            self.error = e

    def _drain_all(self) -> bool:
        got = False
        while True:
            n = int(self.drain(self._buf))
            if n < 0 or n > len(self._buf):
                raise RuntimeError(f"drain returned {n}, not a count within 0..{len(self._buf)}")
            for e in self._buf[:n]:
                self._add(e)
            if n == 0:        # empty now (a short batch is not proof of that: the ring may wrap)
                return got
            got = True

    def _add(self, e) -> None:
        n = self.n_ch
        self._total.add(e, n)
        self._underflows = max(self._underflows, int(e["underflows"]))
        s = int(e["step"])
        self._steps.setdefault(s, _Sum(n)).add(e, n)
        self._dirty_steps.add(s)
        sec = int(e["start"]) // self.rate
        row = self._seconds.setdefault(sec, [0, 0.0, 0.0, 0.0])
        row[0] += int(e["played"])
        row[1] += float(e["level_sum"])
        row[2] += float(e["charge_pos_uc"][:n].sum())
        row[3] += float(e["charge_neg_uc"][:n].sum())
        self._dirty_seconds.add(sec)

    def _write(self, con: sqlite3.Connection, end: tuple | None = None) -> None:
        rid, t, rate = self.record_id, self._total, self.rate
        with _transaction(con):
            now = _now()
            con.execute("UPDATE records SET seconds_delivered = ?, underflows = ?, updated_at = ? WHERE id = ?",
                        (t.played / rate, self._underflows, now, rid))
            if end is not None:
                con.execute("UPDATE records SET end_reason = ?, ended_at = ?, dac_time = COALESCE(?, dac_time) "
                            "WHERE id = ?", (end[0], now, end[1], rid))
            con.executemany("INSERT OR REPLACE INTO record_channels VALUES (?, ?, ?, ?, ?)",
                            [(rid, c, float(t.peak[c]), float(t.pos[c]), float(t.neg[c])) for c in range(self.n_ch)])
            for s in sorted(self._dirty_steps):
                st = self._steps[s]
                con.execute("UPDATE steps SET seconds = ?, level_mean = ?, level_max = ? WHERE record_id = ? AND "
                            "step = ?", (st.played / rate, st.level_mean(), st.level_max, rid, s))
                con.executemany("INSERT OR REPLACE INTO step_channels VALUES (?, ?, ?, ?, ?, ?)",
                                [(rid, s, c, float(st.peak[c]), float(st.pos[c]), float(st.neg[c]))
                                 for c in range(self.n_ch)])
            con.executemany("INSERT OR REPLACE INTO timeline VALUES (?, ?, ?, ?, ?, ?)",
                            [(rid, sec, r[0] / rate, r[1] / r[0] if r[0] else 0.0, r[2], r[3])
                             for sec, r in ((k, self._seconds[k]) for k in sorted(self._dirty_seconds))])
        self._dirty_steps.clear()
        self._dirty_seconds.clear()

    # ---- the control side -------------------------------------------------------
    def close(self, end: str, dac_time: float | None = None) -> None:
        """Drain what is left, write how the session ended (and when),
        commit, and join the thread; raise the writer's error, if it had one.

        Parameters
        ----------
        end : str
            How it ended: one of :data:`ENDS`.
        dac_time : float, optional
            PortAudio's DAC time of the start, s, if it was not known at :meth:`History.begin`.

        Raises
        ------
        ValueError, TypeError
            ``end`` is not one of :data:`ENDS`, or ``dac_time`` not a number.
        RuntimeError
            The writer thread failed (the record holds what it last committed).
        """
        end = _checks.choice("end", end, ENDS)
        if dac_time is not None:
            dac_time = _checks.number("dac_time", dac_time, unit="s")
        if self._closed:
            return
        self._closed = True
        self._end = (end, dac_time)
        self._stop.set()
        self._thread.join()
        if self.error is not None:
            raise RuntimeError(f"the history writer failed; record {self.record_id} in {self.history.path} holds "
                               f"what it last committed: {self.error}") from self.error


def to_json(records: list[Record]) -> str:
    """``records`` as the documented JSON list."""
    return json.dumps([r.to_json() for r in records], indent=2)



# ---- what the command line prints ------------------------------------------------
def _local(ts: str | None) -> str:
    return _parse(ts).astimezone().strftime("%Y-%m-%d %H:%M:%S") if ts else "-"


def _table(records: list[Record]) -> str:
    """The records as a table (``microwave history``)."""
    if not records:
        return "no sessions recorded yet"
    head = f"{'id':>5}  {'started (local)':<19}  {'session':<16} {'end':<12} {'seconds':>8} {'underflows':>10}" \
           f"  {'peak uA':>8} {'charge uC (+ / -)':>22}"
    lines = [head]
    for r in records:
        peak = max((c.peak_ua for c in r.channels), default=0.0)
        pos = sum(c.charge_pos_uc for c in r.channels)
        neg = sum(c.charge_neg_uc for c in r.channels)
        # (texts read from the database as a terminal shows them: an older version stored names with
        # control characters and bidirectional overrides, and another program may have written any)
        session, end = _checks.showable(r.session[:16]), _checks.showable(r.end)
        lines.append(f"{r.id:>5}  {_local(r.started_at):<19}  {session:<16} {end:<12} "
                     f"{r.seconds_delivered:>8.1f} {r.underflows:>10d}  {peak:>8.1f} {pos:>10.1f} / {neg:<10.1f}")
    return "\n".join(lines)


def _bars(values, width: int) -> str:
    """``values`` (>= 0) as one line of block characters, ``width`` wide at most (means of equal spans)."""
    ticks = " \u2581\u2582\u2583\u2584\u2585\u2586\u2587\u2588"
    v = np.asarray(values, float)
    if not len(v):
        return ""
    if len(v) > width:
        edges = np.linspace(0, len(v), width + 1).astype(int)
        v = np.array([v[a:b].mean() for a, b in zip(edges[:-1], edges[1:])])
    top = v.max()
    if top <= 0:
        return ticks[0] * len(v)
    return "".join(ticks[int(round(x / top * (len(ticks) - 1)))] for x in v)


def _text_plot(timeline: list[Second], width: int = 60) -> str:
    """The level and the charge per second as two lines of bars, with their scales."""
    if not timeline:
        return "  (no timeline: nothing was played)"
    level = [s.level for s in timeline]
    charge = [s.charge_pos_uc - s.charge_neg_uc for s in timeline]
    span = f"0 .. {timeline[-1].second + 1} s"
    return (f"  level  |{_bars(level, width)}| max {max(level):.2f}\n"
            f"  charge |{_bars(charge, width)}| max {max(charge):.1f} uC/s (+ and - together)\n"
            f"          {span}")


def _show(r: Record, timeline: list[Second]) -> str:
    """One record, its steps and channels and its timeline (``microwave history show``)."""
    shown = _checks.showable        # (texts read from the database: see _table)
    lines = [f"record {r.id}: {shown(r.session)}, {shown(r.end)}",
             f"  started {shown(r.started_at)} (UTC), ended {shown(r.ended_at or '-')}; {r.seconds_delivered:.1f} s "
             f"delivered at "
             f"{r.rate} Hz; {r.underflows} underflows"
             + (f"; DAC time of the start {r.dac_time:.6f} s" if r.dac_time is not None else "")]
    lines.append("  channels (electrode pairs):")
    for c, ch in enumerate(r.channels):
        lines.append(f"    ch{c}: peak {ch.peak_ua:.1f} uA; charge +{ch.charge_pos_uc:.1f} / "
                     f"{ch.charge_neg_uc:.1f} uC, net {ch.net_uc:+.2f} uC")
    lines.append("  steps:")
    for i, s in enumerate(r.steps):
        lines.append(f"    {i:3d} {shown(s.zone):<10} {shown(s.mode):<9} {s.seconds:7.1f} s  "
                     f"level mean {s.level_mean:.2f} max {s.level_max:.2f}")
        for c, ch in enumerate(s.channels):
            if s.seconds:
                lines.append(f"          ch{c}: peak {ch.peak_ua:.1f} uA; +{ch.charge_pos_uc:.1f} / "
                             f"{ch.charge_neg_uc:.1f} uC, net {ch.net_uc:+.2f} uC")
    lines.append("  over time:")
    lines.append(_text_plot(timeline))
    return "\n".join(lines)


def _plot_png(r: Record, timeline: list[Second], path: Path) -> Path:
    """The level and the cumulative charge of record ``r`` over time, to the PNG ``path`` (matplotlib)."""
    from ._extras import require
    from .backends.file import png_target, save_png
    from .plot import _figure
    path = png_target("path", path)
    require("matplotlib", "plot", "plotting")
    Figure = _figure()
    t = np.array([s.second for s in timeline], float)
    fig = Figure(figsize=(9, 5), layout="constrained")
    ax1, ax2 = fig.subplots(2, 1, sharex=True)
    level = [s.level for s in timeline]
    ax1.step(np.append(t, t[-1] + 1) if len(t) else t, level + level[-1:], where="post")
    ax1.set(title=f"record {r.id}: {r.session} ({r.end}, {r.seconds_delivered:.1f} s)", ylabel="level")
    te = np.append(t[:1], t + 1)      # each second's charge counted at its end, from 0 at the start
    pos = [s.charge_pos_uc for s in timeline]
    neg = [s.charge_neg_uc for s in timeline]
    for label, q in (("positive", pos), ("negative", neg), ("net", np.add(pos, neg))):
        ax2.plot(te, np.append(0.0, np.cumsum(q)) if len(t) else te, label=label)
    ax2.set(xlabel="time (s, pauses excluded)", ylabel="charge, all channels (uC)")
    ax2.legend(loc="upper left", fontsize=8)
    return save_png(fig, path, 100)
