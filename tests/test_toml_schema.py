"""The schema of session and stage files: every table refuses unknown keys,
keys that would be ignored and values of the wrong TOML type, at the line
of the key, in one line that says what is allowed.

The files are written here with a marker comment ``# <-`` on the line an
error must name: the expected line is found in the text, not computed by
the code under test.
"""
import datetime
import os
import re
from pathlib import Path

import pytest

from microwave import _toml
from microwave.sessions import (BIPHASIC_KEYS, BURST_KEYS, SESSION_KEYS, SPEC_KEYS, STEP_KEYS, SWEEP_KEYS,
                                WAVE_SLOPE_KEYS, load)
from microwave.stage import CALIBRATION_KEYS, STAGE_KEYS, Calibration, Stage
from microwave.calibrate import write_stage_toml

ROOT = Path(__file__).resolve().parents[1]
MARK = "# <-"

STEP = '[[step]]\nzone = "a"\nseconds = 1\n'
SPEC = STEP + '[step.spec]\ntype = "biphasic"\namp_ua = 100\nphase_us = 100\n'
#: (a file with a section whose keys a test replaces, the loader, the schema of that section)
CONTEXTS = {
    "session": ('name = "t"\nchannels = 1\nstep = [{ zone = "a", mode = "lift", seconds = 1 }]\n', load,
                SESSION_KEYS),
    "step": (STEP + 'mode = "lift"\n', load, STEP_KEYS),
    "spec": (SPEC + "freq_hz = 50\n", load, BIPHASIC_KEYS),
    "monophasic spec": (SPEC.replace("biphasic", "monophasic") + "freq_hz = 50\n", load, SPEC_KEYS),
    "burst": (SPEC + "freq_hz = 50\n[step.spec.burst]\non_s = 0.5\noff_s = 0.5\n", load, BURST_KEYS),
    "sweep": (SPEC + "[step.spec.sweep]\nstart_hz = 10\nstop_hz = 20\nseconds = 1\n", load, SWEEP_KEYS),
    "wave_slope": (SPEC + "freq_hz = 50\n[step.spec.wave_slope]\nslope_s = 1\nevery_s = 2\n", load, WAVE_SLOPE_KEYS),
    "stage": ('ua_per_v = 500\ncoupling = "ac"\n', Stage.from_toml, STAGE_KEYS),
    "calibration": ('coupling = "ac"\n[calibration]\nrate = 48000\n', Stage.from_toml, CALIBRATION_KEYS),
}
#: a value of another TOML type than each kind takes
WRONG = {_toml.NUMBER: '"x"', _toml.INTEGER: "1.5", _toml.STRING: "5", _toml.BOOL: "1", _toml.TABLE: "5",
         _toml.TABLES: "5", _toml.ARRAY: "{ a = 1 }", _toml.NUMBERS: '"x"', _toml.NUMBER_OR_STRING: "true",
         _toml.DATE: "true"}


def with_key(base: str, key: str, value: str) -> str:
    """``base`` with ``key = value`` (marked) in its last section, replacing the key if it is there."""
    lines = base.splitlines()
    start = max([i + 1 for i, line in enumerate(lines) if line.startswith("[")] + [0])
    body = [line for line in lines[start:] if not re.match(rf"{re.escape(key)}\s*=", line)]
    return "\n".join(lines[:start] + body + [f"{key} = {value}  {MARK}"]) + "\n"


def marked_line(text: str) -> int:
    return next(i for i, line in enumerate(text.splitlines(), 1) if MARK in line)


def error_of(reader, path) -> str:
    with pytest.raises(ValueError) as e:
        reader(path)
    msg = str(e.value)
    assert "\n" not in msg and "Traceback" not in msg
    return msg


@pytest.mark.parametrize("context", CONTEXTS)
def test_every_base_file_is_valid(tmp_path, context):
    base, reader, _ = CONTEXTS[context]
    p = tmp_path / "f.toml"
    p.write_text(base)
    reader(p)


CASES = [(c, k) for c, (_, _, keys) in CONTEXTS.items() for k in keys]


@pytest.mark.parametrize("context, key", CASES, ids=[f"{c}.{k.name}" for c, k in CASES])
def test_a_value_of_the_wrong_type_is_refused_at_its_line(tmp_path, context, key):
    base, reader, _ = CONTEXTS[context]
    p = tmp_path / "f.toml"
    p.write_text(text := with_key(base, key.name, WRONG[key.kind]))
    msg = error_of(reader, p)
    assert msg.startswith(f"{p}:{marked_line(text)}: "), (msg, text)
    assert f"{key.name}=" in msg and ("must be" in msg or "is not allowed" in msg), msg


@pytest.mark.parametrize("context", CONTEXTS)
def test_an_unknown_key_is_refused_at_its_line_with_what_is_allowed(tmp_path, context):
    base, reader, keys = CONTEXTS[context]
    p = tmp_path / "f.toml"
    p.write_text(text := with_key(base, "colour", "1"))
    msg = error_of(reader, p)
    assert msg.startswith(f"{p}:{marked_line(text)}: unknown key 'colour' in "), msg
    allowed = msg.split("; allowed: ")[1].split(", ")
    assert allowed == [k.name for k in keys]


@pytest.mark.parametrize("text, words", [
    (STEP + 'mode = "fsm"\nlevel = 2  # <-\n', "level=2 is not allowed with mode='fsm'"),
    (STEP + 'mode = "fsm"\namp_ua = 100  # <-\n', "amp_ua=100 is not allowed with mode='fsm'"),
    (SPEC.replace('[step.spec]', 'level = 3  # <-\n[step.spec]') + "freq_hz = 50\n",
     "level=3 is not allowed with spec"),
    (STEP + 'specs = [{ type = "monophasic", amp_ua = 1, phase_us = 10, freq_hz = 1 }]\namp_ua = 9  # <-\n',
     "amp_ua=9 is not allowed with specs"),
    (STEP + 'mode = "lift"\nspec = { type = "biphasic" }  # <-\n', "give exactly one of mode, spec or specs"),
    (STEP.replace('seconds = 1\n', '') + 'mode = "lift"\n', "missing key 'seconds'"),
    ('name = "x"\nstep = []  # <-\n', "a session needs at least one step"),
    ('name = "x"\nstep = [{ zone = "a", mode = "lift", seconds = 1 }, 5]  # <-\n', "step[1]=5 must be a table"),
])
def test_keys_that_would_be_ignored_or_are_missing_are_refused_at_their_line(tmp_path, text, words):
    p = tmp_path / "s.toml"
    p.write_text(text)
    msg = error_of(load, p)
    line = marked_line(text) if MARK in text else text.splitlines().index("[[step]]") + 1
    assert msg.startswith(f"{p}:{line}: ") and words in msg, msg


@pytest.mark.parametrize("text", [
    'corner_hz = 4  # <-\n', 'coupling = "dc"\ncorner_tolerance = 0.1  # <-\n', 'headroom = 0.5  # <-\n',
])
def test_a_dc_stage_refuses_the_keys_only_an_ac_stage_uses(tmp_path, text):
    p = tmp_path / "stage.toml"
    p.write_text(text)
    msg = error_of(Stage.from_toml, p)
    assert msg.startswith(f"{p}:{marked_line(text)}: ") and "it would be ignored" in msg, msg
    p.write_text('coupling = "ac"\n' + text.replace('coupling = "dc"\n', ""))
    Stage.from_toml(p)


def test_a_stage_file_given_as_a_session_and_a_session_file_given_as_a_stage_say_which_reader_takes_them(tmp_path):
    """Each reader, given the other kind of file, names what it found there (at its line) and which reader,
    in Python and on the command line, takes it."""
    p = tmp_path / "x.toml"
    p.write_text('# a stage\nmax_ua = 300  # <-\nchannel_map = [0, 1]\n')
    msg = error_of(load, p)
    assert msg.startswith(f"{p}:2: a stage file (it has 'max_ua'), not a session: load it with Stage.from_toml "
                          f"(the command's --stage)"), msg
    p.write_text('name = "s"\n\n[[step]]\nzone = "jaw"\nmode = "lift"\nseconds = 1\n')
    msg = error_of(Stage.from_toml, p)
    assert msg.startswith(f"{p}:3: a session file (it has steps), not a stage: load it with microwave.sessions.load "
                          f"(the command's SESSION)") and "(the command's --stage)" in msg, msg


@pytest.mark.parametrize("text, words", [
    # errors the constructors raise, at the line of the key they name: nested tables, arrays, inline steps
    (SPEC + "freq_hz = 50\n[step.spec.burst]\non_s = 0.5\noff_s = -1  # <-\n", "step 1 spec.burst: off_s=-1"),
    (SPEC + "freq_hz = 50\n[step.spec.sweep]  # <-\nstart_hz = 10\n", "missing key 'stop_hz'"),
    (SPEC + "freq_hz = 50\n[step.spec.sweep]  # <-\nstart_hz = 10\nstop_hz = 20\nseconds = 1\n",
     "sweep= sets the pulse rate"),
    (SPEC + "freq_hz = 50\nrise_us = 1e9  # <-\n", "rise_us=1000000000.0"),
    (SPEC + 'freq_hz = 50\npattern = "3s+ 7q"  # <-\n', "pattern token '7q'"),
    ('channels = 2\nstep = [\n  { zone = "a", mode = "lift", seconds = 1 },\n'
     '  { zone = "b", mode = "lift", seconds = nan },  # <-\n]\n', "step 2: seconds=nan"),
    ('soft_start_s = 1\nauto_off_s = inf  # <-\nstep = [{ zone = "a", mode = "lift", seconds = 1 }]\n',
     "auto_off_s=inf"),
    (STEP + 'mode = "tighten"\nlevel = 9  # <-\n', "step 1: level=9"),
    (STEP + 'specs = [{ type = "monophasic", amp_ua = 1, phase_us = 10, freq_hz = 1 }]  # <-\n',
     "specs has 1 programs for a 2-channel session"),
    (STEP + 'specs = [\n  { type = "monophasic", amp_ua = 1, phase_us = 10, freq_hz = 1 },\n'
     '  { type = "monophasic", amp_ua = 1e300, phase_us = 10, freq_hz = 1 },  # <-\n]\n',
     "step 1 specs[1]: amp_ua=1e+300"),
])
def test_constructor_errors_name_the_line_of_their_key(tmp_path, text, words):
    p = tmp_path / "s.toml"
    p.write_text(text)
    msg = error_of(load, p)
    assert msg.startswith(f"{p}:{marked_line(text)}: ") and words in msg, msg


@pytest.mark.parametrize("text, words", [
    ("channel_map = [\n  0,\n  -1,  # <-\n]\n", "channel_map[1]=-1"),
    ("ua_per_v = 100  # <-\nload_ohm = 1000\n", "ua_per_v=100 and load_ohm=1000"),
    ("ua_per_v = 100\nload_ohm_min = 10  # <-\n", "only for a voltage-mode stage"),
    ('coupling = "ac"\ncorner_hz = 5\n[calibration]\nloop_gain = [1.0, 0.0]  # <-\n', "loop_gain[1]=0.0"),
    ('coupling = "ac"\ncorner_hz = 5  # <-\n[calibration]\ncorner_hz = 7.5\n',
     "corner_hz=5 disagrees with the measured [calibration] corner_hz=7.5"),
    ('coupling = "ac"\n[calibration]\ncorner_hz = 7.5  # <-\n', "disagrees with the measured"),
    ('[calibration]\ncorner_hz = 7.5  # <-\n', "coupling='dc'"),
    ('coupling = "ac"\ncorner_tolerance = 0.1  # <-\n[calibration]\ncorner_uncertainty = 0.2\n',
     "narrower than the measured"),
    ('channel_map = [0, 1]\n[calibration]\ndc_offset = [0.0]  # <-\n', "dc_offset has 1 entries"),
    ('coupling = "ac"\n[calibration]\ncorner_hz = 5\ndc_offset = [0.9, 0.0]  # <-\n',     # (it lacked its line)
     "dc_offset=(0.9, 0.0) drives 900 uA through program channel 0"),
    ('[calibration]\ndate = "yesterday"  # <-\n', "date='yesterday'"),
    ('[calibration]\ndate = 10:30:00  # <-\n', "date=datetime.time(10, 30)"),
    ('[calibration]\nrate = 12  # <-\n', "[calibration]: rate=12"),
    ('[[step]]  # <-\nzone = "a"\n', "a session file"),
])
def test_stage_and_calibration_errors_name_their_line(tmp_path, text, words):
    p = tmp_path / "stage.toml"
    p.write_text(text)
    msg = error_of(Stage.from_toml, p)
    assert msg.startswith(f"{p}:{marked_line(text)}: ") and words in msg, msg


def test_a_calibration_is_typed_and_changes_nothing_the_stage_does(tmp_path):
    p = tmp_path / "stage.toml"
    p.write_text('coupling = "ac"\ncorner_hz = 7.5\ncorner_tolerance = 0.1\n[calibration]\ndate = 2026-11-30\n'
                 'output_device = "USB Audio"\ninput_device = "USB Audio"\nrate = 48000\nlatency_ms = 12.5\n'
                 'loop_gain = [0.98, 1]\ncorner_hz = 7.5\ncorner_uncertainty = 0.05\nnoise_floor_dbfs = -96\n'
                 'crosstalk_db = -80\ndc_offset = [0.001, -0.002]\npassed = true\n')
    s = Stage.from_toml(p)
    c = s.calibration
    assert c == Calibration(date=datetime.date(2026, 11, 30), output_device="USB Audio", input_device="USB Audio",
                            rate=48000, latency_ms=12.5, loop_gain=(0.98, 1.0), corner_hz=7.5,
                            corner_uncertainty=0.05, noise_floor_dbfs=-96.0, crosstalk_db=-80.0,
                            dc_offset=(0.001, -0.002), passed=True)
    assert isinstance(c.loop_gain[1], float)
    # (but the measured offset, which lowers the limit of an AC stage too: its coupling may be absent)
    plain = Stage(coupling="ac", corner_hz=7.5, corner_tolerance=0.1, calibration=Calibration(dc_offset=c.dc_offset))
    assert s.plan(2, 48_000) == plain.plan(2, 48_000) and s.limit_ua == plain.limit_ua
    assert Calibration(date="2026-11-30T10:00:00").date == datetime.datetime(2026, 11, 30, 10, 0)
    assert Calibration(date="2026-11-30").date == datetime.date(2026, 11, 30)


@pytest.mark.parametrize("field, value", [
    ("date", 5), ("output_device", ""), ("input_device", 3), ("rate", 48000.5), ("latency_ms", -1),
    ("loop_gain", ()), ("loop_gain", (1.0, float("nan"))), ("corner_hz", 0), ("corner_uncertainty", 1.5),
    ("noise_floor_dbfs", 3), ("crosstalk_db", float("inf")), ("dc_offset", (2.0,)), ("dc_offset", "0.1"),
    ("passed", 1),
])
def test_calibration_refuses_what_it_cannot_hold_naming_the_field(field, value):
    with pytest.raises((ValueError, TypeError)) as e:
        Calibration(**{field: value})
    assert field in str(e.value) and "\n" not in str(e.value)


# ---- files that are not session or stage files at all -----------------------------------------
@pytest.mark.parametrize("make, words", [
    (lambda p: p.mkdir(), "cannot read"),
    (lambda p: None, "cannot read"),
    (lambda p: p.write_text(""), "empty"),
    (lambda p: p.write_text("\n  \n# only a comment\n".replace("# only a comment", "")), "empty"),
    (lambda p: p.write_bytes(b"a = 1\n" * 300_000), "larger than"),
    (lambda p: p.write_bytes(b"a = " + b"[" * 3000 + b"]" * 3000), "nested"),
    (lambda p: p.write_bytes("zone = 'caf\u00e9'".encode("latin-1")), "not a UTF-8"),
    (lambda p: p.write_bytes(b"name = 'x'\x00\n"), "binary"),
    (lambda p: p.write_text("channels = " + "9" * 5000 + "\n"), "digits"),
    (lambda p: p.write_text("a = 1\n[a]\n"), "not valid TOML"),
    (lambda p: os.mkfifo(p), "not a regular file"),          # reading a pipe waited for ever
])
def test_a_file_that_is_not_toml_is_one_line_naming_it(tmp_path, make, words):
    p = tmp_path / "odd.toml"
    make(p)
    for reader in (load, Stage.from_toml):
        msg = error_of(reader, p)
        assert msg.startswith(f"{p}:") and words in msg, msg


def test_a_byte_order_mark_is_not_the_files_text_and_a_long_number_and_spaces_are_told_as_they_are(tmp_path):
    """A UTF-8 byte-order mark (Notepad writes one) is read past, not a
    syntax error at 1:1; a number of thousands of digits is named with its
    line; a quoted value keeps its spaces in a message (they were
    collapsed, so 'lift   x' read 'lift x')."""
    p = tmp_path / "s.toml"
    p.write_bytes(b"\xef\xbb\xbf" + b'name = "bom"\n[[step]]\nzone = "a"\nmode = "lift"\nseconds = 5\n')
    assert load(p).name == "bom"
    p.write_text('name = "x"\n[[step]]\nzone = "a"\nmode = "lift"\nseconds = ' + "9" * 5000 + "\n")
    assert error_of(load, p).startswith(f"{p}:5: a number of 5000 digits")
    p.write_text('name = "x"\n[[step]]\nzone = "a"\nmode = "lift   x"\nseconds = 5\n')
    assert "mode='lift   x'" in error_of(load, p)


def test_a_syntax_error_names_its_line(tmp_path):
    p = tmp_path / "s.toml"
    p.write_text('name = "x"\n\n[[step]]\nzone = "a" "b"\n')
    assert error_of(load, p).startswith(f"{p}:4: ")
    p.write_text('name = "x\n')
    assert error_of(load, p).startswith(f"{p}:1: ")


def test_a_stage_file_given_as_a_session_says_so(tmp_path):
    p = tmp_path / "stage.toml"
    p.write_text("# my card\nua_per_v = 500\n")
    assert error_of(load, p).startswith(f"{p}:2: a stage file")


# ---- the documentation lists every key -------------------------------------------------------
DOC_SECTIONS = {"Session file: top level": SESSION_KEYS, "[[step]]": STEP_KEYS, "spec": BIPHASIC_KEYS,
                "burst": BURST_KEYS, "sweep": SWEEP_KEYS, "wave_slope": WAVE_SLOPE_KEYS,
                "Stage file: top level": STAGE_KEYS, "[calibration]": CALIBRATION_KEYS}


def test_docs_toml_lists_every_key_of_every_table():
    text = (ROOT / "docs" / "toml.md").read_text()
    sections = re.split(r"^### ", text, flags=re.M)[1:]
    documented = {}
    for s in sections:
        title, body = s.split("\n", 1)
        documented[title.strip()] = re.findall(r"^\| `([a-z_0-9]+)` \|", body, re.M)
    for title, keys in DOC_SECTIONS.items():
        assert title in documented, f"docs/toml.md has no section '### {title}'"
        assert documented[title] == [k.name for k in keys], title


def test_the_examples_in_docs_toml_load(tmp_path):
    """The example session and stage in docs/toml.md are valid and play together."""
    blocks = re.findall(r"```toml\n(.*?)```", (ROOT / "docs" / "toml.md").read_text(), re.S)
    session, stage = tmp_path / "evening.toml", tmp_path / "card.toml"
    session.write_text(blocks[0])
    stage.write_text(blocks[1])
    s, st = load(session), Stage.from_toml(stage)
    assert s.name == "evening" and len(s.steps) == 3 and st.calibration.passed
    s.check(st, 8000)


@pytest.mark.parametrize("depth", [50, 300, 480])
def test_nesting_tomllib_accepts_is_still_one_line_naming_the_file(tmp_path, depth):
    nested = "[" * depth + "0" + "]" * depth
    p = tmp_path / "deep.toml"
    for text, reader in [(f"channel_map = {nested}\n", Stage.from_toml),
                         (f'[[step]]\nzone = {nested}\nseconds = 1\nmode = "lift"\n', load),
                         (f'name = "x"\nstep = [{{ zone = "a", mode = "lift", seconds = 1, '
                          f'level = {nested} }}]\n', load)]:
        p.write_text(text)
        assert error_of(reader, p).startswith(f"{p}:")


def test_an_empty_specs_list_is_refused_by_its_key(tmp_path):
    """``specs = []`` names specs and its line, whatever channels says (found
    by the review: with channels = 0 it was reported as an empty program)."""
    p = tmp_path / "s.toml"
    p.write_text('channels = 0\n[[step]]\nzone = "a"\nseconds = 1\nspecs = []\n')
    with pytest.raises(ValueError, match=rf"^{re.escape(str(p))}:5: .*specs=\[\] is empty"):
        load(p)


@pytest.mark.parametrize("field, value, match", [
    ("output_device", "card\udc80", "lone surrogate"),
    ("input_device", "\ud800", "lone surrogate"),
    ("date", datetime.datetime(2026, 1, 1, tzinfo=datetime.timezone(datetime.timedelta(hours=5, seconds=30))),
     r"UTC offset \(5:00:30\) is not a whole number of minutes"),
])
def test_a_calibration_a_stage_file_cannot_hold_is_refused_when_made(tmp_path, field, value, match):
    """A lone surrogate in a device's name, or a UTC offset of seconds, used
    to be accepted and to fail only when the stage file was written."""
    with pytest.raises(ValueError, match=f"{field}=.*{match}"):
        Calibration(**{field: value})
    ok = Calibration(output_device="Card \u00e9 (hw:0,0)", date="2026-12-01T14:30:00+05:30")
    write_stage_toml(Stage(calibration=ok), tmp_path / "s.toml")
    assert Stage.from_toml(tmp_path / "s.toml").calibration == ok
