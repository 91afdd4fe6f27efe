"""Mutation fuzz of session and stage files through the command line.

Valid session files (and stage files given with ``--stage``) are mutated
-- lines deleted, duplicated, swapped; values replaced with hostile ones;
keys renamed; unknown keys inserted; the file truncated; random bytes,
non-UTF-8 and NUL inserted -- and rendered with ``microwave render``.
Whatever the mutation, the command either writes a valid WAV file and
returns 0, or returns 2 with exactly one line on stderr, no traceback, and
no output file left behind.  A refusal of the file names it, and a line
that is a real line of it -- the very line mutated when the refusal is
about the key mutated there.  A file that loads may still be refused when
rendered (a peak beyond the stage's limit, a phase shorter than a sample):
that refusal is one line too.
"""
import contextlib
import io
import re
import shutil
import tempfile
import tomllib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf
from hypothesis import HealthCheck, given, settings, strategies as st

from microwave.cli import main
from microwave.sessions import load
from microwave.stage import Stage

# a backslash at the end of a line joins it with the next: the TOML has one line there (an inline table)
SESSIONS = [
    '''\
name = "fuzz"
channels = 2
soft_start_s = 0.2
soft_stop_s = 0.2

[[step]]
zone = "forehead"
mode = "tighten"
level = 2
seconds = 1
cue_every_s = 0.5

[[step]]
zone = "jaw"
seconds = 1
[step.spec]
type = "biphasic"
freq_hz = 300
amp_ua = 150
phase_us = 500
interphase_us = 100
[step.spec.burst]
on_s = 0.3
off_s = 0.2
''',
    '''\
name = "inline"   # steps = [ in a comment
channels = 2
auto_off_s = 30
step = [
  { zone = "a", mode = "lift", amp_ua = 100, seconds = 1 },
  { zone = "b", seconds = 1, specs = [
      { type = "monophasic", freq_hz = 8, amp_ua = 150, phase_us = 60000, polarity = "alternate" },
      { type = "biphasic", amp_ua = 100, phase_us = 400, \
sweep = { start_hz = 10, stop_hz = 100, seconds = 1, scale = "log" } },
  ] },
]
''',
    '''\
name = "fsm and infuse"
channels = 2
max_dose_ua_min = 100

[[step]]
zone = "neck"
mode = "fsm"
seconds = 1

[[step]]
zone = "cheeks"
mode = "infuse"
level = 1
seconds = 1

[[step]]
zone = "brows"
seconds = 1
spec = { type = "monophasic", freq_hz = 50, amp_ua = 80, phase_us = 2000, pattern = "3+ 3-", \
wave_slope = { slope_s = 0.2, every_s = 0.5 } }
''',
]
STAGES = [
    "ua_per_v = 500.0\nfull_scale_v = 2.0\nchannel_map = [[0, 1]]\nmax_ua = 300\ncompliance_v = 12\n",
    "load_ohm = 2000\nload_ohm_min = 800\nload_ohm_max = 10000\nmax_ua = 400\nchannel_map = [0, 1]\n",
    '''\
coupling = "ac"
corner_hz = 5
corner_tolerance = 0.3
headroom = 1.0
channel_map = [0, 1]

[calibration]
date = 2026-11-30
output_device = "card"
rate = 48000
loop_gain = [1.0, 1.0]
corner_hz = 5.0
corner_uncertainty = 0.1
dc_offset = [0.0, 0.001]
passed = true
''',
]
HOSTILE = ["nan", "inf", "-inf", "-1", "0", "1e308", "-1e308", "1e-320", "99999999999999999999999",
           '"x"', '""', "true", "false", "[]", "[1, 2]", '["a"]', "{}", "{ a = 1 }", "1979-05-27",
           "1979-05-27T07:32:00Z", "07:32:00", '"""\nmulti\n"""', "'lit'", '"\\u0000"', "0x10", "1_000",
           "+5", "-0.0", "2.5", "3", "1000", "1001", '"alternate"', '"fsm"', '"ac"', "[[0, 1], [0, 1]]",
           "[{ zone = \"x\" }]", "5"]
KEY_LINE = re.compile(r"^(\s*)([A-Za-z0-9_.-]+)(\s*=\s*)(.*)$")


def is_about(msg: str, words: str) -> bool:
    """Whether a refusal is about ``words`` (``key=value``): the first
    ``name=value`` it names, after the file, line and table."""
    first = re.search(r"[A-Za-z_][\w\[\]]*=", msg.split(": ", 1)[-1])
    return first is not None and msg.split(": ", 1)[-1][first.start():].startswith(words)


@dataclass
class Mutated:
    """A mutated file, and what a refusal of it must say: when the message
    contains ``words``, the line it names is ``line``."""

    data: bytes
    words: str | None = None
    line: int | None = None


def _lines(text):
    return text.split("\n")


@st.composite
def mutation(draw, text: str) -> Mutated:
    lines = _lines(text)
    n = len(lines)
    i = draw(st.integers(0, n - 1))
    kind = draw(st.sampled_from(["delete", "duplicate", "swap", "value", "value", "value", "rename", "insert",
                                 "truncate", "bytes"]))
    if kind == "delete":
        return Mutated("\n".join(lines[:i] + lines[i + 1:]).encode())
    if kind == "duplicate":
        return Mutated("\n".join(lines[:i + 1] + lines[i:]).encode())
    if kind == "swap":
        j = draw(st.integers(0, n - 1))
        lines[i], lines[j] = lines[j], lines[i]
        return Mutated("\n".join(lines).encode())
    keyed = [k for k, line in enumerate(lines) if KEY_LINE.match(line) and not line.lstrip().startswith("#")]
    if kind in ("value", "rename") and keyed:
        k = draw(st.sampled_from(keyed))
        indent, key, eq, value = KEY_LINE.match(lines[k]).groups()
        if kind == "value":
            hostile = draw(st.sampled_from(HOSTILE) | st.integers(-10**30, 10**30).map(str)
                           | st.floats().map(lambda x: {"nan": "nan", "inf": "inf",
                                                        "-inf": "-inf"}.get(repr(x), repr(x))))
            lines[k] = f"{indent}{key}{eq}{hostile}"
            new = "\n".join(lines)
            words = None
            try:   # the key's value as messages show it: 'key=value'
                shown = repr(tomllib.loads(f"x = {hostile}")["x"])
                if "\n" not in hostile and len(shown) < 50 and "." not in key:
                    words = f"{key}={shown}"
            except (tomllib.TOMLDecodeError, ValueError):
                pass
            return Mutated(new.encode(), words, k + 1)
        name = draw(st.sampled_from(["colour", "secs", "Zone", "level_", "amp_uA", "corner"]))
        lines[k] = f"{indent}{name}{eq}{value}"
        return Mutated("\n".join(lines).encode(), f"unknown key '{name}'", k + 1)
    if kind == "insert" or kind in ("value", "rename"):
        lines.insert(i, "wires = 2")
        return Mutated("\n".join(lines).encode(), "unknown key 'wires'", i + 1)
    raw = text.encode()
    if kind == "truncate":
        return Mutated(raw[:draw(st.integers(0, len(raw)))])
    at = draw(st.integers(0, len(raw)))
    junk = draw(st.sampled_from([b"\x00", b"\xff\xfe", b"\xc3", b"\x80abc", b"\r", b"\x0c", b"\x1b[31m"])
                | st.binary(min_size=1, max_size=8))
    return Mutated(raw[:at] + junk + raw[at:])


@st.composite
def case(draw):
    session = draw(st.sampled_from(SESSIONS))
    stage = draw(st.sampled_from([None] + STAGES))
    target = "stage" if stage is not None and draw(st.booleans()) else "session"
    m = draw(mutation(stage if target == "stage" else session))
    if draw(st.integers(0, 4)) == 0:     # now and then a second mutation, elsewhere
        again = draw(mutation(m.data.decode("utf-8", "replace")))
        m = Mutated(again.data, None, None)
    if draw(st.integers(0, 5)) == 0:     # Windows line ends: no line moves
        m = Mutated(m.data.replace(b"\n", b"\r\n"), m.words, m.line)
    return session, stage, target, m


def run(argv) -> tuple[int, str]:
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        code = main(argv)
    return code, err.getvalue()


def loads_fine(session: Path, stage: Path | None) -> bool:
    try:
        load(session)
        if stage is not None:
            Stage.from_toml(stage)
        return True
    except ValueError:
        return False


@settings(max_examples=150, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(case())
def test_a_mutated_file_renders_or_is_refused_in_one_line_naming_it(c):
    session_text, stage_text, target, m = c
    d = Path(tempfile.mkdtemp(prefix="mwfuzz"))
    try:
        session, stage = d / "session.toml", (d / "stage.toml" if stage_text is not None else None)
        session.write_bytes(m.data if target == "session" else session_text.encode())
        if stage is not None:
            stage.write_bytes(m.data if target == "stage" else stage_text.encode())
        out_dir = d / "out"
        out_dir.mkdir()
        out = out_dir / "o.wav"
        argv = ["render", str(session), "-o", str(out), "--duration", "0.05", "--rate", "8000"]
        code, err = run(argv + (["--stage", str(stage)] if stage is not None else []))
        if code == 0:
            data, rate = sf.read(out, dtype="float32", always_2d=True)
            assert rate == 8000 and len(data) >= 400 and np.all(np.isfinite(data)) and np.abs(data).max() <= 1
            return
        assert code == 2, (code, err)
        assert err.endswith("\n") and err.count("\n") == 1 and "Traceback" not in err, err
        assert err.startswith("microwave render: error: "), err
        assert list(out_dir.iterdir()) == [], "a refused render left a file"
        msg = err[len("microwave render: error: "):-1]
        mutated = session if target == "session" else stage
        named = next((p for p in (session, stage) if p is not None and msg.startswith(f"{p}:")), None)
        if named is None:   # not about a file: then both files load, and the session is refused as played
            assert loads_fine(session, stage), msg
            return
        line = re.match(rf"{re.escape(str(named))}:(\d+):", msg)
        if line:
            text = named.read_bytes().decode("utf-8", "replace")
            assert 1 <= int(line.group(1)) <= text.count("\n") + 1, msg
        if named == mutated and m.words is not None and (m.words in msg if "unknown" in m.words
                                                           else is_about(msg, m.words)):
            assert line and int(line.group(1)) == m.line, (msg, m)
    finally:
        shutil.rmtree(d)


def test_the_base_files_render_and_the_fuzz_reaches_both_outcomes(tmp_path):
    """Every base session renders with no stage; the fuzz's refusals are
    not all of one kind (a mutation at a known line is reported there)."""
    out = tmp_path / "o.wav"
    for i, text in enumerate(SESSIONS):
        p = tmp_path / f"s{i}.toml"
        p.write_text(text)
        code, err = run(["render", str(p), "-o", str(out), "--duration", "0.05", "--rate", "8000"])
        assert code == 0, err
    for i, text in enumerate(STAGES):
        p = tmp_path / f"t{i}.toml"
        p.write_text(text)
        Stage.from_toml(p)
    p = tmp_path / "bad.toml"
    p.write_text(SESSIONS[0].replace("level = 2", "level = nan"))
    code, err = run(["render", str(p), "-o", str(tmp_path / "x.wav")])
    assert code == 2 and f"{p}:9: step 1: level=nan must be an integer" in err


def test_a_subprocess_refusal_is_one_line_with_status_2(tmp_path):
    import subprocess
    import sys
    p = tmp_path / "s.toml"
    p.write_text('name = "x"\nstep = 5\n')
    out = tmp_path / "o.wav"
    # the installed package, as a user runs it (src/ is not on the path)
    r = subprocess.run([sys.executable, "-m", "microwave.cli", "render", str(p), "-o", str(out)],
                       capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=120)
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and f"{p}:2: step=5 must be" in r.stderr, r.stderr
    assert not out.exists()


def test_every_hostile_value_on_every_key_line_loads_or_is_refused_at_that_line(tmp_path):
    """Exhaustively, what the random fuzz may miss (it once missed
    ``type = []``, an unhashable spec type that escaped as a TypeError):
    each hostile value on each key line of each base file, loaded."""
    p = tmp_path / "f.toml"
    for base, reader in [(s, load) for s in SESSIONS] + [(s, Stage.from_toml) for s in STAGES]:
        lines = _lines(base)
        for k, line in enumerate(lines):
            m = KEY_LINE.match(line)
            if not m or line.lstrip().startswith("#"):
                continue
            indent, key, eq, _ = m.groups()
            for hostile in HOSTILE:
                p.write_text("\n".join(lines[:k] + [f"{indent}{key}{eq}{hostile}"] + lines[k + 1:]))
                try:
                    reader(p)
                except ValueError as e:
                    msg = str(e)
                    assert msg.startswith(f"{p}:") and "\n" not in msg, msg
                    shown = repr(tomllib.loads(f"x = {hostile}")["x"])
                    if is_about(msg, f"{key}={shown}") and "." not in key and "\n" not in hostile:
                        assert msg.startswith(f"{p}:{k + 1}:"), (msg, hostile, base)
