"""The `microwave` command line, run as a user runs it (a subprocess)."""
import os
import re
import shlex
import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf

import microwave
from microwave.files import render_to_file
from microwave.sessions import Session, builtin
from microwave.stage import Stage

RATE = 48_000
#: a character a terminal acts on, written raw (a line feed apart: it ends each line printed)
TERMINAL_ACTS_ON = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def cli(*args, **kw):
    return subprocess.run([sys.executable, "-m", "microwave.cli", *args], capture_output=True, text=True,
                          stdin=subprocess.DEVNULL, timeout=300, **kw)


def test_render_equals_the_api_bit_for_bit(tmp_path):
    out = tmp_path / "ff.wav"
    r = cli("render", "full-face", "-o", str(out), "--duration", "70")
    assert r.returncode == 0, r.stderr
    data, rate = sf.read(out, dtype="float32", always_2d=True)
    assert rate == RATE
    expected = builtin("full-face").render(RATE, Stage(), seconds=70)
    assert data.shape == expected.shape
    np.testing.assert_array_equal(data, expected)


def test_python_dash_m_microwave_is_the_command(tmp_path):
    """``python -m microwave`` runs the same command as ``microwave``: a
    render through it equals the one through microwave.cli, and its usage
    names the command."""
    a, b = tmp_path / "a.wav", tmp_path / "b.wav"
    args = ("render", "tighten", "--duration", "2", "--rate", "8000")
    r = subprocess.run([sys.executable, "-m", "microwave", *args, "-o", str(a)], capture_output=True, text=True,
                       stdin=subprocess.DEVNULL, timeout=300)
    assert r.returncode == 0, r.stderr
    assert cli(*args, "-o", str(b)).returncode == 0
    (da, ra), (db, rb) = sf.read(a, dtype="float32"), sf.read(b, dtype="float32")   # (the headers hold a time)
    assert ra == rb == 8000 and da.size > 0
    np.testing.assert_array_equal(da, db)
    h = subprocess.run([sys.executable, "-m", "microwave", "--help"], capture_output=True, text=True, timeout=60)
    assert h.returncode == 0 and h.stdout.startswith("usage: microwave ")


@pytest.mark.parametrize("block", [1, 777, 65536])
def test_file_render_is_block_size_invariant(tmp_path, block):
    s = Session("t", builtin("tighten").steps[:1], auto_off_s=3)
    path = render_to_file(s, tmp_path / "t.wav", RATE, block_frames=block)
    data, _ = sf.read(path, dtype="float32", always_2d=True)
    np.testing.assert_array_equal(data, s.render(RATE))


def test_flac_is_24_bit_lossless_of_the_dac_samples(tmp_path):
    s = Session("t", builtin("tighten").steps[:1], auto_off_s=2)
    path = render_to_file(s, tmp_path / "t.flac", RATE)
    assert sf.info(path).subtype == "PCM_24"
    data, _ = sf.read(path, dtype="float64", always_2d=True)
    np.testing.assert_allclose(data, s.render(RATE), atol=2 ** -23)


def test_render_with_a_stage_file_and_rate(tmp_path):
    stage = tmp_path / "stage.toml"
    stage.write_text("ua_per_v = 500.0\nfull_scale_v = 2.0\nchannel_map = [[0, 1]]\nmax_ua = 300\n")
    out = tmp_path / "x.flac"
    r = cli("render", "lift", "-o", str(out), "--rate", "44100", "--stage", str(stage), "--duration", "3")
    assert r.returncode == 0, r.stderr
    info = sf.info(out)
    assert info.samplerate == 44100 and info.channels == 2 and info.frames == 3 * 44100


def test_interrupted_render_leaves_nothing_behind(tmp_path):
    out = tmp_path / "partial.wav"

    def interrupt(done, total):
        if done > total // 3:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        render_to_file(builtin("full-face"), out, RATE, progress=interrupt)
    assert list(tmp_path.iterdir()) == []


def test_a_full_disk_names_the_file_and_the_cause_and_leaves_nothing(tmp_path):
    """A render onto a full filesystem (a 256 KiB tmpfs) says which file and
    why, in one line, exits 2, and leaves no partial file."""
    small = tmp_path / "small"
    small.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(small)], capture_output=True)
    if r.returncode != 0:
        if os.environ.get("CI") == "true" and os.geteuid() == 0:
            pytest.fail(f"could not mount a small tmpfs: {r.stderr.decode()}")
        pytest.skip("needs root to mount a small tmpfs")
    try:
        out = small / "ff.wav"
        r = cli("render", "full-face", "-o", str(out), "--duration", "10")
        assert r.returncode == 2
        assert f"cannot write {out}: no space left on device" in r.stderr and r.stderr.count("\n") == 1
        assert list(small.iterdir()) == []
    finally:
        subprocess.run(["umount", str(small)])


BUILTIN_NAMES = "full-face, lift, tighten, infuse, fsm"


@pytest.mark.parametrize("args, words", [
    # the option as typed, its value as typed, and what is allowed, in plain numbers
    (("render", "lift", "-o", "x.wav", "--duration", "0"),
     "--duration 0 is not allowed: it must be a finite number in (0, 180] s"),
    (("render", "lift", "-o", "x.wav", "--duration", "1e308"),
     "--duration 1e308 is not allowed: it must be a finite number in (0, 180] s"),
    (("render", "full-face", "-o", "x.wav", "--duration=1e9"),
     "--duration 1e9 is not allowed: it must be a finite number in (0, 270] s"),
    (("render", "no-such-session", "-o", "x.wav"),
     f"SESSION no-such-session is neither a built-in session ({BUILTIN_NAMES}) nor an existing file"),
    (("info", "missing.toml"),
     f"SESSION missing.toml is neither a built-in session ({BUILTIN_NAMES}) nor an existing file"),
    (("render", "lift", "-o", "x.mp3"), "--output x.mp3 has an unknown extension: use .wav or .flac"),
    (("render", "lift", "-o", "./x.mp3"), "--output ./x.mp3 has an unknown extension: use .wav or .flac"),
    (("plot", "lift", "-o", "./p.svg"),
     "--output ./p.svg has an unknown extension: use .png (plots are written as PNG)"),
    (("render", "lift", "-o", "x.wav", "--rate", "12"),
     "--rate 12 is out of range: it must be an integer in [1000, 768000]"),
    (("info", "lift", "--area", "0"), "--area 0 is not allowed: it must be a finite number in [0.01, 1000] cm2"),
    (("info", "lift", "--area", "5e-324"),        # (the density was infinite)
     "--area 5e-324 is not allowed: it must be a finite number in [0.01, 1000] cm2"),
    (("plot", "tighten", "-o", "x.png", "--start", "-1"),
     "--start -1 is not allowed: it must be a finite number in [0, 180) s"),
    (("plot", "infuse", "-o", "x.png", "--start", "180"),       # (the end: no sample left to draw)
     "--start 180 is not allowed: it must be a finite number in [0, 180) s"),
    (("history", "--last", "-3"), "--last -3 is out of range: it must be an integer >= 1"),
    (("history", "--last", "0"), "--last 0 is out of range: it must be an integer >= 1"),
    (("history", "show", "-3"), "ID -3 is out of range: it must be an integer >= 0"),
    (("play", "tighten", "--duration", "1e9", "--device", "999", "--acknowledge", "--no-history"),
     "--duration 1e9 is not allowed: it must be a finite number in (0, 180] s"),
    (("play", "tighten", "--latency", "5", "--acknowledge", "--no-history"),
     "--latency 5 is not allowed: it must be a finite number in [0.001, 2] s"),
    (("calibrate", "--device", "0", "--tone", "0"),
     "--tone 0 is not allowed: it must be a finite number in [1, 600] s"),
    # checked before anything plays (here: before the device, which does not exist, is opened)
    (("calibrate", "--device", "999", "--input", "999", "--channels", "0", "--input-channels", "0,1"),
     "--input-channels 0,1 has 2 entries for 1 DAC channels: give one input channel per DAC channel measured"),
    (("calibrate", "--device", "999", "--input", "999", "-o", "/tmp"), "/tmp is a folder: give a file name"),
])
def test_errors_are_one_clear_line(tmp_path, args, words):
    """A bad value names the option the user typed (not the API's parameter),
    the value as typed, and what is allowed."""
    r = cli(*args, cwd=tmp_path)
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0] == f"microwave {args[0]}: error: {words}", r.stderr
    assert not any(tmp_path.iterdir())


def test_bad_toml_error_names_the_line(tmp_path):
    p = tmp_path / "s.toml"
    p.write_text('[[step]]\nzone = "jaw"\nmode = "tighten"\nseconds = -5\n')
    r = cli("info", str(p))
    assert r.returncode == 2 and f"{p}:4:" in r.stderr and "seconds=-5" in r.stderr


def test_an_option_error_from_a_session_file_names_the_option_not_the_file(tmp_path):
    """The session file loaded: the refusal is about the option, and says so
    (the file is named only for a refusal of what the file asks)."""
    session = tmp_path / "s.toml"
    session.write_text('[[step]]\nzone = "jaw"\nmode = "tighten"\nseconds = 5\n')
    r = cli("render", str(session), "-o", str(tmp_path / "x.wav"), "--duration", "9")
    assert r.returncode == 2 and r.stderr.count("\n") == 1, r.stderr
    assert r.stderr == "microwave render: error: --duration 9 is not allowed: it must be a finite number in (0, 5] s\n"


def test_every_option_has_help_with_its_default():
    """``microwave <command> --help`` documents every option: a help string,
    and the default of an option that has one."""
    import argparse

    from microwave.cli import build_parser

    def parsers(p, name):
        yield name, p
        for a in p._actions:
            if isinstance(a, argparse._SubParsersAction):
                for sub, q in a.choices.items():
                    yield from parsers(q, f"{name} {sub}")

    for name, p in parsers(build_parser(), "microwave"):
        text = " ".join(p.format_help().split())
        for a in p._actions:
            if isinstance(a, (argparse._HelpAction, argparse._VersionAction, argparse._SubParsersAction)):
                assert a.help or isinstance(a, argparse._SubParsersAction), f"{name} {a.option_strings}: no help"
                continue
            assert a.help, f"{name} {a.option_strings or a.dest}: no help"
            if a.default not in (None, False):
                assert f"default {a.default}" in text, f"{name} {a.option_strings}: its default is not told"
            elif a.option_strings and not a.required and a.const is None:
                assert "(default" in a.help or "(required" in a.help, \
                    f"{name} {a.option_strings}: what happens without it is not told"
    r = cli("render", "--help")
    assert r.returncode == 0 and "sample rate, Hz (1000 to 768000; default 48000)" in " ".join(r.stdout.split())
    r = cli("--version")
    assert r.returncode == 0 and r.stdout.strip() == f"microwave {microwave.__version__}", r.stdout


@pytest.mark.parametrize("name", ["full-face", "lift", "tighten", "infuse", "fsm"])
def test_info_prints_figures_a_person_reads(name):
    """No float noise (a DC of 3.234e-16 uA is 0) and no exponents
    (450000 us is 450 ms): every figure in plain digits."""
    import re
    r = cli("info", name)
    assert r.returncode == 0, r.stderr
    assert not re.search(r"\de[+-]?\d", r.stdout), [x for x in r.stdout.splitlines() if re.search(r"\de[+-]?\d", x)]
    dc = next(x for x in r.stdout.splitlines() if x.startswith("DC component"))
    if name == "infuse":
        assert dc == "DC component over the session: ch0 15.8 uA, ch1 15.8 uA"
    else:
        assert dc == "DC component over the session: ch0 0 uA, ch1 0 uA"
        channel_lines = [x for x in r.stdout.splitlines() if x.startswith(" ") and " DC " in x]
        assert channel_lines and all("DC 0 uA as rendered (0 uA by the spec)" in x for x in channel_lines)
    phases = {"full-face": "+240 uA x 450 ms", "lift": "+240 uA x 450 ms", "infuse": "+80 uA x 4 ms",
              "tighten": "+140 uA x 500 us, -140 uA x 500 us", "fsm": "+150 uA x 2.174 ms, -150 uA x 2.174 ms"}
    assert f"phases {phases[name]}" in r.stdout


@pytest.mark.parametrize("us, text", [(0.5, "0.5 us"), (500, "500 us"), (999.96, "1 ms"), (2173.913, "2.174 ms"),
                                      (450_000, "450 ms"), (1_500_000, "1.5 s"), (86_400e6, "86400 s")])
def test_info_durations_in_the_unit_that_fits(us, text):
    from microwave.cli import _us
    assert _us(us) == text


def test_info_reports_the_safety_figures_and_the_dc_that_renders(tmp_path):
    r = cli("info", "infuse", "--area", "2")
    assert r.returncode == 0, r.stderr
    text = r.stdout
    for words in ("peak", "rms", "net charge/pulse", "max phase charge", "DC", "mA/cm2", "500 ohm", "10000 ohm",
                  "cue: move", "pulses/s"):
        assert words in text
    # the DC that info prints equals the mean of what render writes
    out = tmp_path / "i.wav"
    assert cli("render", "infuse", "-o", str(out)).returncode == 0
    data, _ = sf.read(out, dtype="float64", always_2d=True)
    measured = data[:, 0].mean() / Stage().dac_per_ua(0)
    line = next(x for x in text.splitlines() if x.startswith("DC component"))
    printed = float(line.split("ch0")[1].split("uA")[0])
    assert printed == pytest.approx(measured, rel=1e-3)


def test_info_tells_the_channels_played_the_rate_within_bursts_and_alternation(tmp_path):
    """A two-channel session through a stage that routes one bridged pair plays one channel: info says
    so and lists that one; a train in bursts gives its rate within a burst and its average (300 Hz,
    0.6 s on of 1 s: 180); an alternating train says that its polarity alternates."""
    session = tmp_path / "evening.toml"
    session.write_text('name = "evening"\nchannels = 2\n[[step]]\nzone = "forehead"\nmode = "lift"\nseconds = 6\n'
                       '[[step]]\nzone = "jaw"\nseconds = 5\nspec = { type = "biphasic", freq_hz = 300, '
                       'amp_ua = 150, phase_us = 500, burst = { on_s = 0.6, off_s = 0.4 } }\n')
    stage = tmp_path / "stage.toml"
    stage.write_text('channel_map = [[0, 1]]\nmax_ua = 400.0\n')
    r = cli("info", str(session), "--stage", str(stage))
    assert r.returncode == 0, r.stderr
    text = r.stdout
    assert "2 channels (1 played: the stage's channel_map routes 1)" in text, text
    assert "ch1" not in text and text.count("ch0:") == 2
    assert "ch0: 300 pulses/s in bursts (180 on average); phases +150 uA x 500 us, -150 uA x 500 us" in text, text
    assert "phases +240 uA x 450 ms, polarity alternating pulse to pulse" in text, text


def test_a_session_with_more_programs_than_the_stage_routes_is_told_at_the_stage_files_channel_map(tmp_path):
    """Two programs through a stage file that routes one bridged pair: the error points at the stage
    file's channel_map line (where a route is added), not at the session file."""
    session = tmp_path / "two.toml"
    session.write_text('name = "two"\nchannels = 2\n[[step]]\nzone = "jaw"\nseconds = 5\nspecs = ['
                       '{ type = "biphasic", freq_hz = 100, amp_ua = 100, phase_us = 100 }, '
                       '{ type = "biphasic", freq_hz = 100, amp_ua = 50, phase_us = 100 }]\n')
    stage = tmp_path / "stage.toml"
    stage.write_text('max_ua = 400.0\n\nchannel_map = [[0, 1]]\n')
    for command in (("info",), ("render", "-o", str(tmp_path / "two.wav"))):
        r = cli(command[0], str(session), *command[1:], "--stage", str(stage))
        assert r.returncode == 2
        assert re.match(rf"microwave {command[0]}: error: {re.escape(str(stage))}:3: the session has 2 channels "
                        r"with their own programs .* channel_map=\(\(0, 1\),\) routes only 1", r.stderr), r.stderr
    assert not (tmp_path / "two.wav").exists()


def test_plot_writes_a_png(tmp_path):
    out = tmp_path / "p.png"
    r = cli("plot", "tighten", "-o", str(out), "--start", "10", "--span", "0.02")
    assert r.returncode == 0, r.stderr
    import matplotlib.image as mpimg
    img = mpimg.imread(out)
    assert img.shape[0] > 300 and img.shape[1] > 600
    assert img[..., :3].std() > 0.05     # not a blank canvas


def test_written_files_get_the_usual_permissions(tmp_path):
    old = os.umask(0o022)
    try:
        assert cli("render", "tighten", "-o", str(tmp_path / "t.wav"), "--duration", "1").returncode == 0
        assert cli("plot", "tighten", "-o", str(tmp_path / "t.png")).returncode == 0
    finally:
        os.umask(old)
    for name in ("t.wav", "t.png"):
        assert (tmp_path / name).stat().st_mode & 0o777 == 0o644


# a missing extra, as a user without it meets it: the module blocked in a child
BLOCK = ("import sys, runpy; sys.modules[{mod!r}] = None; sys.argv = ['microwave', *{args!r}]; "
         "runpy.run_module('microwave.cli', run_name='__main__')")


@pytest.mark.parametrize("mod, extra, args", [
    ("soundfile", "files", ["render", "tighten", "-o", "{out}/x.wav", "--duration", "1"]),
    ("matplotlib", "plot", ["plot", "tighten", "-o", "{out}/x.png"]),
    ("sounddevice", "audio", ["play", "tighten", "--duration", "1", "--acknowledge"]),
    ("sounddevice", "audio", ["devices"]),
])
def test_a_missing_extra_says_what_to_install(tmp_path, mod, extra, args):
    args = [a.format(out=tmp_path) for a in args]
    r = subprocess.run([sys.executable, "-c", BLOCK.format(mod=mod, args=args)], capture_output=True, text=True,
                       stdin=subprocess.DEVNULL, timeout=120)
    assert r.returncode == 2, r.stderr
    assert r.stderr.count("\n") == 1 and "Traceback" not in r.stderr, r.stderr
    assert f'pip install "microwave[{extra}]"' in r.stderr
    assert list(tmp_path.iterdir()) == []


def test_a_refusal_after_the_file_loaded_names_the_file(tmp_path):
    session = tmp_path / "hot.toml"
    session.write_text('[[step]]\nzone = "jaw"\nseconds = 5\n[step.spec]\ntype = "biphasic"\n'
                       'freq_hz = 50\namp_ua = 600\nphase_us = 200\n')
    r = cli("render", str(session), "-o", str(tmp_path / "x.wav"))
    assert r.returncode == 2 and r.stderr.count("\n") == 1, r.stderr
    assert r.stderr.startswith(f"microwave render: error: {session}: ") and "600 uA" in r.stderr, r.stderr
    assert not (tmp_path / "x.wav").exists()


@pytest.mark.parametrize("stem", ["a\x1b[2Jb", "tab\there", "rtl\u202eevil", " "])
def test_a_session_named_by_a_file_name_it_cannot_bear_is_refused_naming_the_file(tmp_path, stem):
    """A session file with no ``name`` is named by its file name; one that
    no name may be (a control character, a bidirectional override, blank)
    is refused as that, naming the file and the way out (``name = ...``),
    not as a key at line 1; the command prints the path with its escapes
    written out, never the raw characters; with a name given, the same
    file loads."""
    steps = '[[step]]\nzone = "jaw"\nmode = "tighten"\nseconds = 5\n'
    p = tmp_path / f"{stem}.toml"
    p.write_text(steps)
    with pytest.raises(ValueError) as e:
        microwave.sessions.load(p)
    assert str(e.value).startswith(f"{p}: no name = \"...\" is given, and the file's name cannot stand for it: "
                                   f"name={stem!r} is not allowed: ") and str(e.value).endswith(
        'give name = "..." in the file'), e.value
    r = cli("info", str(p))
    shown = f"{tmp_path}/{repr(stem)[1:-1]}.toml"         # (\x1b, \t, \u202e: as repr writes them)
    assert r.returncode == 2 and r.stderr.count("\n") == 1, r.stderr
    assert r.stderr.startswith(f"microwave info: error: {shown}: no name"), r.stderr
    r = cli("info", f"./{p.name}", cwd=tmp_path)         # (named once, as the user spelt it or as Python does)
    assert r.returncode == 2 and r.stderr.count(".toml") == 1, r.stderr
    assert not TERMINAL_ACTS_ON.search(r.stderr), r.stderr
    p.write_text('name = "ok"\n' + steps)
    assert microwave.sessions.load(p).name == "ok"


def test_a_written_path_is_told_with_its_escapes_written_out(tmp_path):
    """``wrote PATH``: a path holding a character a terminal acts on (an
    escape sequence, a line break, a bidirectional override) is printed with it written
    as its escape, the file written where it was asked."""
    out = tmp_path / "a\x1b[2J\u202eb\nwrote evil.wav"
    r = cli("render", "tighten", "-o", str(out), "--duration", "1")
    assert r.returncode == 0, r.stderr
    assert out.is_file()
    assert r.stdout.startswith(f"wrote {tmp_path}/a\\x1b[2J\\u202eb\\nwrote evil.wav (tighten, "), r.stdout
    assert len(r.stdout.splitlines()) == 1, r.stdout             # (a line break in a path forges no line)
    assert not TERMINAL_ACTS_ON.search(r.stdout), r.stdout


def test_a_device_name_is_listed_with_its_escapes_written_out(monkeypatch, capsys):
    """``microwave devices`` prints each device's name as PortAudio gives
    it, but a character a terminal acts on written as its escape: a
    Bluetooth device's name is whatever the device advertises.  (No sound
    server here makes such a name: the list is given in place of
    PortAudio's.)"""
    from microwave import cli as command
    from microwave.backends import portaudio
    monkeypatch.setattr(portaudio, "list_devices", lambda kind: [dict(
        index=3, name="Buds\x1b]0;owned\x07 \u202eevil\n  4  Speakers", max_output_channels=2, max_input_channels=1,
        default_samplerate=48000.0)])
    assert command.main(["devices"]) == 0
    out = capsys.readouterr().out
    assert out == "  3  Buds\\x1b]0;owned\\x07 \\u202eevil\\n  4  Speakers  out 2 in 1  48000 Hz\n", out


def test_a_calibrations_table_is_printed_with_its_escapes_written_out(monkeypatch, capsys, tmp_path):
    """``microwave calibrate`` prints its table with the device names as
    PortAudio gives them, a character a terminal acts on written as its
    escape, a line break in a name too (the table's own line breaks kept:
    a name cannot forge a line of the table).  (No sound
    server here makes such a name: the calibration, one that failed, is
    given in place of one measured through the card.)"""
    import datetime

    from microwave import calibrate
    from microwave import cli as command
    from microwave.stage import Stage
    r = calibrate.CalibrationResult(
        date=datetime.datetime.now(datetime.UTC), output_device="Buds\x1b]0;owned\x07\nPASSED",
        input_device="mic\u202eevil",
        rate=48000, input_corner_hz=None, base=Stage(), channels=(), coupling=None, corner_hz=None,
        corner_uncertainty=None, ua_per_v=None, reference_ua=None, failures=("no loopback",))
    monkeypatch.setattr(calibrate, "calibrate", lambda *args, **kw: r)
    assert command.main(["calibrate", "--device", "Buds", "--input", "mic", "-o", str(tmp_path / "s.toml")]) == 1
    out = capsys.readouterr().out
    lines = out.splitlines()
    head = "microwave calibrate: Buds\\x1b]0;owned\\x07\\nPASSED -> mic\\u202eevil at 48000 Hz"
    assert lines[0].startswith(head), out
    assert len(lines) == 5 and lines[-2].startswith("FAILED: ") and lines[-1].startswith("not written: "), out
    assert not TERMINAL_ACTS_ON.search(out), out
    assert not (tmp_path / "s.toml").exists()


def test_a_stage_files_error_names_the_stage_file_not_the_session_file(tmp_path):
    session = tmp_path / "evening.toml"
    session.write_text('[[step]]\nzone = "jaw"\nmode = "tighten"\nseconds = 2\n')
    stage = tmp_path / "card.toml"
    stage.write_text('max_ua = 400\nwires = 3\n')
    r = cli("info", str(session), "--stage", str(stage))
    assert r.returncode == 2 and r.stderr.startswith(f"microwave info: error: {stage}:2: unknown key 'wires'"), r.stderr
    r = cli("info", "./evening.toml", "--stage", "./card.toml", cwd=tmp_path)     # (as pathlib spells it: card.toml)
    assert r.returncode == 2 and r.stderr.startswith("microwave info: error: card.toml:2: unknown key"), r.stderr


def test_specs_and_sessions_show_as_pictures_in_a_notebook():
    """Jupyter calls _repr_png_: a PNG (its signature and a sensible size),
    and None without matplotlib (the notebook falls back to the text)."""
    import struct

    import microwave as mw
    for obj in (mw.Biphasic(freq_hz=30, amp_ua=200, phase_us=500), builtin("tighten")):
        png = obj._repr_png_()
        assert png[:8] == b"\x89PNG\r\n\x1a\n"
        width, height = struct.unpack(">II", png[16:24])
        assert 300 <= width <= 1000 and 100 <= height <= 400
    code = ("import sys; sys.modules['matplotlib'] = None; import microwave as mw; "
            "print(mw.Biphasic(freq_hz=30, amp_ua=200, phase_us=500)._repr_png_())")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and r.stdout.strip() == "None", r.stderr


@pytest.mark.parametrize("args", [
    ("play", "tighten", "--device", "999", "--duration", "1", "--acknowledge", "--no-history"),
    ("calibrate", "--device", "999", "--tone", "1"),
])
def test_a_device_portaudio_cannot_open_is_one_line(tmp_path, args):
    """A device PortAudio cannot open (an index it does not have; with no
    sound card, any device) is one line and exit 2, not a traceback of
    sounddevice.PortAudioError."""
    r = cli(*args, cwd=tmp_path)
    assert r.returncode == 2, r.stderr
    assert r.stderr.count("\n") == 1 and "Traceback" not in r.stderr, r.stderr
    assert r.stderr.startswith(f"microwave {args[0]}: error: ")
    assert list(tmp_path.iterdir()) == []


def test_a_long_ac_check_shows_a_bar_on_a_terminal_and_a_short_one_none(tmp_path):
    """An AC stage's whole-session check lasting over a second (here 60 s
    of a session at 768 kHz, 46 M samples) draws a bar on a terminal's standard error up
    to 100 % (it said nothing for minutes); a short one draws none, nor
    does a check whose standard error is not a terminal."""
    import pty
    import select
    (tmp_path / "ac.toml").write_text('coupling = "ac"\ncorner_hz = 5.0\n')
    (tmp_path / "s.toml").write_text('channels = 1\n[[step]]\nzone = "jaw"\nmode = "tighten"\nseconds = 60\n')

    def on_a_terminal(*args):
        master, slave = pty.openpty()
        proc = subprocess.Popen([sys.executable, "-m", "microwave.cli", *args], cwd=tmp_path, stdin=subprocess.DEVNULL,
                                stdout=subprocess.DEVNULL, stderr=slave)
        os.close(slave)
        out = b""
        while True:
            if select.select([master], [], [], 0.1)[0]:
                try:
                    chunk = os.read(master, 4096)
                except OSError:
                    break
                if not chunk:
                    break
                out += chunk
            elif proc.poll() is not None:
                break
        os.close(master)
        assert proc.wait(120) == 0, out
        return out.decode()

    err = on_a_terminal("info", "s.toml", "--stage", "ac.toml", "--rate", "768000")
    assert "checking the session through the AC coupling [" in err and "] 100.0%" in err, err
    assert on_a_terminal("info", "s.toml", "--stage", "ac.toml", "--rate", "8000") == ""
    r = cli("info", "s.toml", "--stage", "ac.toml", "--rate", "768000", cwd=tmp_path)
    assert r.returncode == 0 and r.stderr == ""


def test_calibrate_refuses_a_read_only_output_before_anything_plays(tmp_path):
    """``-o`` naming a read-only file (or a link to one) is refused before
    the calibration plays, not after its minutes of recording; the file is
    left as it was."""
    kept = tmp_path / "card.toml"
    kept.write_text("max_ua = 100\n")
    kept.chmod(0o444)
    (tmp_path / "link.toml").symlink_to(kept.name)
    for name in ("card.toml", "link.toml"):
        r = cli("calibrate", "--device", "999", "--input", "999", "-o", name, cwd=tmp_path)
        assert r.returncode == 2
        assert r.stderr == f"microwave calibrate: error: {name} is read-only: make it writable, or give another name\n"
    assert kept.read_text() == "max_ua = 100\n" and sorted(p.name for p in tmp_path.iterdir()) == ["card.toml",
                                                                                                "link.toml"]


def test_write_current_that_cannot_write_raises_oserror_naming_the_file_and_leaves_nothing(tmp_path):
    from microwave.files import write_current
    target = tmp_path / "x.wav"
    target.mkdir()                  # a directory where the file should go
    with pytest.raises(OSError, match=f"cannot write {target}: "):
        write_current(target, np.linspace(-50, 50, 1000))
    assert [p.name for p in tmp_path.iterdir()] == ["x.wav"] and not any(target.iterdir())


def test_write_current_onto_a_full_disk_leaves_no_partial_file(tmp_path):
    from microwave.files import write_current
    small = tmp_path / "small"
    small.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(small)],
                      capture_output=True).returncode != 0:
        pytest.skip("needs root to mount a small tmpfs")
    try:
        with pytest.raises(OSError, match="no space left on device"):
            write_current(small / "big.wav", np.full(200_000, 50.0))
        assert list(small.iterdir()) == []
    finally:
        subprocess.run(["umount", str(small)])


def test_an_error_with_its_own_cause_is_not_called_a_full_disk(tmp_path, monkeypatch):
    """A filesystem that reports no free space (/proc, a read-only image)
    but failed for another reason says that reason."""
    import shutil
    target = tmp_path / "x.wav"
    target.mkdir()
    monkeypatch.setattr(shutil, "disk_usage", lambda p: shutil._ntuple_diskusage(0, 0, 0))
    s = Session("t", builtin("tighten").steps[:1], auto_off_s=1)
    with pytest.raises(OSError) as e:
        render_to_file(s, target, RATE)
    assert "no space" not in str(e.value) and "is a folder" in str(e.value), e.value


@pytest.mark.parametrize("name", ["p.svg", "p.jpg", "p"])
def test_plot_refuses_a_file_that_is_not_a_png(tmp_path, name):
    from microwave.plot import plot_session
    with pytest.raises(ValueError, match=rf"path=.*{name}.*\.png"):
        plot_session(builtin("tighten"), tmp_path / name)
    r = cli("plot", "tighten", "-o", str(tmp_path / name))
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and ".png" in r.stderr, r.stderr
    assert list(tmp_path.iterdir()) == []


def test_plot_that_cannot_write_names_the_file_not_its_temporary(tmp_path):
    pytest.importorskip("matplotlib")
    from microwave.plot import plot_session
    target = tmp_path / "p.png"
    target.mkdir()
    with pytest.raises(OSError) as e:
        plot_session(builtin("tighten"), target, rate=8000)
    assert str(e.value).startswith(f"cannot write {target}: ") and ".part" not in str(e.value) \
        and f".{target.name}." not in str(e.value), e.value
    assert [p.name for p in tmp_path.iterdir()] == ["p.png"]


@pytest.mark.parametrize("command", [["info", "lift"], ["render", "lift", "-o", "x.wav"]])
@pytest.mark.parametrize("stage", ["", " "])
def test_an_empty_stage_option_is_refused_not_read_as_the_built_in_stage(tmp_path, command, stage):
    """`--stage ''` (an unset $STAGE in a script, say) once ran silently
    with the built-in stage; it is refused, naming --stage, and nothing is
    written."""
    r = cli(*command, "--stage", stage, cwd=tmp_path)
    assert r.returncode == 2
    assert f"--stage {shlex.quote(stage)} is not allowed" in r.stderr
    assert list(tmp_path.iterdir()) == []


def test_a_reader_that_goes_away_ends_the_command_quietly(tmp_path):
    """``microwave info long.toml | head -1``: once the reader has gone the
    command ends with status 141 and says nothing (it used to say
    "error: long.toml: [Errno 32] Broken pipe", blaming the session file)."""
    f = tmp_path / "long.toml"
    f.write_text('name = "long"\n' + "".join(f'[[step]]\nzone = "z{i}"\nmode = "lift"\nseconds = 5\n'
                                              for i in range(300)))
    p = subprocess.Popen([sys.executable, "-m", "microwave.cli", "info", str(f)], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)
    assert p.stdout is not None and p.stderr is not None
    assert p.stdout.readline().startswith(b"session long:")
    p.stdout.close()                     # the reader goes
    assert p.wait(timeout=300) == 141
    assert p.stderr.read() == b""


def test_sigterm_during_a_render_leaves_nothing_and_says_so(tmp_path):
    """SIGTERM is taken as Ctrl-C is: a render being written removes its
    part-written file and ends with status 143, one line on stderr (it used
    to die at once, leaving the hidden .part file behind)."""
    import signal
    import time
    p = subprocess.Popen([sys.executable, "-m", "microwave.cli", "render", "fsm", "--rate", "96000",
                          "-o", str(tmp_path / "fsm.wav")], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         stdin=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while not any(f.name.endswith(".part.wav") for f in tmp_path.iterdir()):
        assert p.poll() is None and time.monotonic() < deadline, p.communicate()
        time.sleep(0.01)
    p.send_signal(signal.SIGTERM)
    out, err = p.communicate(timeout=120)
    assert p.returncode == 143, err
    assert err.decode().strip() == "microwave render: terminated"
    assert list(tmp_path.iterdir()) == []
