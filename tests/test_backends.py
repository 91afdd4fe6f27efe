"""The back ends in one folder (microwave.backends): the old import paths
still work, the array back end is Session.render, and the sound-card back
end -- the only module that touches sounddevice's internals -- checks the
sounddevice release before it does, and never drops real-time scheduling
silently.  None of these opens a device (tests/test_audio.py plays)."""
import ctypes.util
import re
import types
import warnings

import numpy as np
import pytest

import microwave.audio
import microwave.files
from microwave.backends import array, file, portaudio
from microwave.sessions import Session, Step, builtin
from microwave.stage import Stage

RATE = 8_000


class DeviceReached(Exception):
    """Raised where a device would open."""


def test_the_old_import_paths_name_the_back_ends():
    for old, new in ((microwave.audio, portaudio), (microwave.files, file)):
        assert old.__all__ and set(old.__all__) <= set(new.__all__)
        for name in old.__all__:
            assert getattr(old, name) is getattr(new, name), f"{old.__name__}.{name}"
    from microwave.audio import Player  # noqa: F401  (the path users have)
    from microwave.files import publish, render_to_file  # noqa: F401


def test_the_array_back_end_is_session_render():
    s = Session("t", (Step("z", builtin("tighten").steps[0].program, 0.5),), channels=1)
    stage = Stage(coupling="ac", corner_hz=5.0, channel_map=(0,))
    assert np.array_equal(array.render(s, RATE, stage), s.render(RATE, stage))
    assert np.array_equal(array.render(s, RATE, stage, seconds=0.3), s.render(RATE, stage, seconds=0.3))
    assert np.array_equal(array.render_ua(s, RATE), s.render_ua(RATE))
    with pytest.raises(TypeError, match="session="):
        array.render("tighten", RATE)


def fake_sounddevice(version, **drop):
    """A stand-in for sounddevice: its version, and a _StreamBase that stops
    the test where a device would open."""
    def _StreamBase(kind, samplerate=None, blocksize=None, device=None, channels=None, dtype=None, latency=None,
                    extra_settings=None, callback=None, finished_callback=None, clip_off=None, dither_off=None,
                    never_drop_input=None, prime_output_buffers_using_stream_callback=None, userdata=None,
                    wrap_callback=None):
        raise DeviceReached
    import sounddevice
    sd = types.SimpleNamespace(__version__=version, _StreamBase=_StreamBase, _ffi=sounddevice._ffi,
                               _lib=sounddevice._lib, _libname=sounddevice._libname,
                               PortAudioError=sounddevice.PortAudioError)
    for name in drop:
        delattr(sd, name)
    return sd


@pytest.mark.parametrize("version", ["0.6.0", "1.0", "0.4.6", "0.3.15", "unknown"])
def test_an_unknown_sounddevice_is_refused_naming_its_version(monkeypatch, version):
    """Outside KNOWN_SOUNDDEVICE the Player refuses before a device opens,
    naming the installed release and the known ones -- realtime or not."""
    pytest.importorskip("sounddevice")
    monkeypatch.setattr(portaudio, "_sd", lambda what="playing": fake_sounddevice(version))
    lo, hi = (".".join(map(str, v)) for v in portaudio.KNOWN_SOUNDDEVICE)
    for realtime in (True, False):
        with pytest.raises(RuntimeError, match=rf"sounddevice {version} is not a release microwave knows.*"
                                               rf"known for {lo} up to \(not including\) {hi}"):
            portaudio.Player(builtin("tighten"), rate=RATE, realtime=realtime)


def test_a_known_sounddevice_reaches_the_device_and_a_missing_internal_is_refused(monkeypatch):
    pytest.importorskip("sounddevice")
    for version in ("0.4.7", "0.5.6", "0.5.99rc1"):
        monkeypatch.setattr(portaudio, "_sd", lambda what="playing", v=version: fake_sounddevice(v))
        with pytest.raises(DeviceReached):
            portaudio.Player(builtin("tighten"), rate=RATE)
    for internal in ("_libname", "_lib"):      # (_lib: a Player closes its stream through it)
        monkeypatch.setattr(portaudio, "_sd", lambda what="playing", n=internal: fake_sounddevice("0.5.6", **{n: None}))
        with pytest.raises(RuntimeError, match=f"sounddevice 0.5.6 lacks {internal}, "):
            portaudio.Player(builtin("tighten"), rate=RATE)


def test_a_player_with_no_sound_card_at_all_says_so():
    """Where PortAudio sees no device (no card, no audio server), opening a Player says that, not
    PortAudio's "Error querying device -1"; run in a process of its own whose libpulse finds no server."""
    pytest.importorskip("sounddevice")
    import os
    import subprocess
    import sys
    code = ("import microwave.audio as a, microwave.sessions as s\n"
            "if a.list_devices(): print('devices'); raise SystemExit\n"
            "try:\n    a.Player(s.builtin('tighten'), history=False)\n"
            "except Exception as e:\n    print(type(e).__name__, e)\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PULSE_", "ALSA_"))}
    env.update(PULSE_SERVER="unix:/nonexistent/microwave-test", PULSE_RUNTIME_PATH="/nonexistent")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60,
                       stdin=subprocess.DEVNULL)
    if r.stdout.startswith("devices"):
        pytest.skip("PortAudio sees a device here without an audio server")
    assert r.stdout.startswith("PortAudioError no output device: PortAudio sees no sound card and no audio "
                               "server"), (r.stdout, r.stderr[-2000:])


def test_the_installed_sounddevice_is_one_the_back_end_knows():
    sd = pytest.importorskip("sounddevice")
    assert portaudio._internals(sd) is sd


def fake_stream_on(hostapi, libname):
    sd = types.SimpleNamespace(
        query_devices=lambda d: {"hostapi": 0}, query_hostapis=lambda i: {"name": hostapi},
        _libname=libname, _ffi=None)
    return sd, types.SimpleNamespace(device=3, _ptr=None)


def test_a_failure_to_enable_realtime_scheduling_is_a_warning():
    """On ALSA, a PortAudio that cannot enable real-time scheduling says so
    (RealtimeWarning; Player.realtime is False): it is never dropped silently."""
    libc = ctypes.util.find_library("c")       # loads, and has no PaAlsa_EnableRealtimeScheduling
    sd, stream = fake_stream_on("ALSA", libc)
    with pytest.warns(portaudio.RealtimeWarning, match="PaAlsa_EnableRealtimeScheduling"):
        assert portaudio._enable_realtime(sd, stream) is False
    sd, stream = fake_stream_on("ALSA", "/nonexistent/libportaudio.so.2")
    with pytest.warns(portaudio.RealtimeWarning, match="real-time scheduling not enabled"):
        assert portaudio._enable_realtime(sd, stream) is False
    # another host API has nothing to enable: False, and nothing to warn about
    sd, stream = fake_stream_on("JACK Audio Connection Kit", libc)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert portaudio._enable_realtime(sd, stream) is False


def test_the_audio_extra_asks_for_the_known_sounddevice_releases():
    """pip installs a release the back end knows: the extras' bounds are KNOWN_SOUNDDEVICE."""
    import tomllib
    from pathlib import Path
    meta = tomllib.loads((Path(__file__).resolve().parents[1] / "pyproject.toml").read_text())["project"]
    lo, hi = (".".join(map(str, v)) for v in portaudio.KNOWN_SOUNDDEVICE)
    for extra in ("audio", "all", "test", "docs"):
        assert f"sounddevice>={lo},<{hi}" in meta["optional-dependencies"][extra], extra


@pytest.mark.parametrize("writer", ["render_to_file", "write_current"])
def test_a_wav_whose_samples_pass_what_riff_can_tell_is_written_as_rf64(tmp_path, monkeypatch, writer):
    """A RIFF WAV's 32-bit sizes tell at most 4 GiB of samples: past that its
    header wraps and a reader stops early, mid-session (found by a review: a
    3600 s render at 192 kHz read back as 2796 s).  Such a .wav is written
    as RF64, which libsndfile reads back whole; a smaller one stays WAV.
    The threshold is lowered here so that a small file crosses it (the
    writing, by libsndfile, is real)."""
    sf = pytest.importorskip("soundfile")
    session = builtin("lift")
    rate, seconds = 8000, 2.0

    def write(path):
        if writer == "render_to_file":
            return file.render_to_file(session, path, rate=rate, seconds=seconds)
        return file.write_current(path, np.sin(np.arange(int(rate * seconds)) / 7.0) * 100.0, rate=rate)

    small = write(tmp_path / "small.wav")
    assert sf.info(str(small)).format == "WAV"
    monkeypatch.setattr(file, "_WAV_MAX_DATA_BYTES", 1000)
    big = write(tmp_path / "big.wav")
    assert sf.info(str(big)).format == "RF64" and big.read_bytes()[:4] == b"RF64"
    a, _ = sf.read(str(small), dtype="float32")
    b, _ = sf.read(str(big), dtype="float32")
    np.testing.assert_array_equal(a, b)
    flac = (tmp_path / "x.flac")
    write(flac)
    assert sf.info(str(flac)).format == "FLAC"


@pytest.mark.parametrize("what, call, match", [
    ("rate", lambda p: file.render_to_file(builtin("lift"), p / "new" / "x.flac", 768_000, seconds=0.5),
     r"rate=768000 is more than FLAC holds \(at most 655350 Hz\): write x\.wav"),
    ("channels", lambda p: file.render_to_file(Session("t", (Step("z", builtin("lift").steps[0].program, 0.5),),
                                                       channels=1), p / "new" / "x.flac", RATE,
                                               Stage(channel_map=(0,), out_channels=9)),
     r"stage\.out_channels=9: more than FLAC holds \(at most 8 channels\)"),
    ("current", lambda p: file.write_current(p / "new" / "x.flac", np.zeros((10, 9))),
     r"current_ua has 9 channels: more than FLAC holds"),
    # (libsndfile wrote a FLAC of no frames as an empty file, and it was reported written: a review)
    ("no frames", lambda p: file.write_current(p / "new" / "x.flac", np.zeros(0)),
     r"current_ua has shape \(0,\): no frames to write; give at least one"),
    ("no frames wav", lambda p: file.write_current(p / "new" / "x.wav", np.zeros((0, 2))),
     r"current_ua has shape \(0, 2\): no frames to write"),
])
def test_a_file_its_format_cannot_hold_is_refused_naming_why_and_nothing_is_left(tmp_path, what, call, match):
    """FLAC holds at most 655350 Hz and 8 channels: asked for more, the
    writers refuse before writing, naming the figure and WAV as the way
    out (libsndfile's message named the temporary file), and leave no
    folder behind.  An array of no frames is refused the same way, for
    either format."""
    pytest.importorskip("soundfile")
    with pytest.raises(ValueError, match=match):
        call(tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_a_failed_write_leaves_no_folder_it_made_and_a_file_on_the_way_is_named(tmp_path):
    """A write that fails removes the folders it made for its file (only
    those, and only if empty); a file where a folder should be is named as
    such (mkdir said "File exists")."""
    pytest.importorskip("soundfile")
    (tmp_path / "kept").mkdir()
    with pytest.raises(OSError, match="cannot write"):          # an I/O error midway
        file.render_to_file(builtin("lift"), tmp_path / "kept" / "a" / "b" / "x.wav", RATE, seconds=0.5,
                            progress=_fail_midway)
    assert [p.name for p in tmp_path.rglob("*")] == ["kept"]
    (tmp_path / "f").write_text("a file")
    with pytest.raises(OSError, match=r"cannot write .*: .*/f is not a folder \(nothing was written\)"):
        file.render_to_file(builtin("lift"), tmp_path / "f" / "x.wav", RATE, seconds=0.5)


def test_a_write_through_a_symlink_keeps_the_link_and_a_read_only_file_is_refused(tmp_path):
    """Every output (a sound file, a plot, a stage TOML) is written beside
    the file it replaces and moved into place; through a symlink that is
    the link's target (the link stays, as a shell's ``>`` keeps it), and a
    read-only file is refused naming it, not replaced behind its mode."""
    sf = pytest.importorskip("soundfile")
    from microwave.calibrate import write_stage_toml
    (tmp_path / "data").mkdir()
    (tmp_path / "x.wav").symlink_to("data/real.wav")             # a link to a file not yet there
    file.write_current(tmp_path / "x.wav", np.linspace(-50, 50, 100), rate=RATE)
    assert (tmp_path / "x.wav").is_symlink() and sf.info(str(tmp_path / "data" / "real.wav")).frames == 100
    file.write_current(tmp_path / "x.wav", np.linspace(-50, 50, 10), rate=RATE)      # and again, replacing it
    assert (tmp_path / "x.wav").is_symlink() and sf.info(str(tmp_path / "data" / "real.wav")).frames == 10
    ro = tmp_path / "ro.toml"
    ro.write_text("max_ua = 100\n")
    ro.chmod(0o444)
    with pytest.raises(PermissionError, match=rf"{re.escape(str(ro))} is read-only: make it writable"):
        write_stage_toml(Stage(), ro)
    ro_wav = tmp_path / "ro.wav"
    ro_wav.symlink_to(ro.name)        # (a link to it is the same file)
    with pytest.raises(OSError, match=rf"^cannot write {re.escape(str(ro_wav))}: .* is read-only"):
        file.write_current(ro_wav, np.zeros(10), rate=RATE)
    assert ro.read_text() == "max_ua = 100\n"
    (tmp_path / "loop.wav").symlink_to("loop.wav")                       # a loop: refused, as a shell's > is
    with pytest.raises(OSError, match=r"loop\.wav is a symlink that cannot be followed"):
        file.write_current(tmp_path / "loop.wav", np.zeros(10), rate=RATE)
    (tmp_path / "away.wav").symlink_to("gone/deep/x.wav")                # into a folder that does not exist
    with pytest.raises(OSError, match=r"away\.wav links to .*gone/deep/x\.wav, in a folder that does not exist"):
        file.write_current(tmp_path / "away.wav", np.zeros(10), rate=RATE)
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["away.wav", "data", "loop.wav", "real.wav", "ro.toml",
                                                           "ro.wav", "x.wav"]


def _fail_midway(done, total):
    if done > 0:
        raise OSError(5, "Input/output error")


def test_an_output_path_the_system_cannot_take_is_named_or_written_as_given(tmp_path):
    """Output paths a review found unclear: a NUL in the path was the bare
    "embedded null byte"; a name that is not UTF-8 (bytes a filesystem may
    hold, decoded by Python as surrogates) was a UnicodeEncodeError from
    the sound file library; a file larger than the process may write
    (ulimit -f) was libsndfile's "System error".  The first is refused by
    name, the second written under the name given, the third named as
    what it is, with nothing left behind."""
    import os
    import subprocess
    import sys
    sf = pytest.importorskip("soundfile")
    with pytest.raises(ValueError, match=r"^path='.*a\\x00b\.wav' is not allowed: a file path cannot hold a NUL"):
        file.write_current(str(tmp_path / "a\0b.wav"), np.zeros(10))
    odd = os.fsdecode(os.fsencode(str(tmp_path)) + b"/\xff\xfe.flac")
    file.write_current(odd, np.linspace(-50, 50, 100), rate=RATE)
    assert os.listdir(os.fsencode(str(tmp_path))) == [b"\xff\xfe.flac"]
    assert sf.info(os.fsencode(odd)).frames == 100
    code = ("import resource, numpy as np\n"
            "from microwave.files import write_current\n"
            "resource.setrlimit(resource.RLIMIT_FSIZE, (1 << 16, resource.RLIM_INFINITY))\n"
            f"write_current({str(tmp_path / 'big.wav')!r}, np.zeros(100_000))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode != 0
    assert "cannot write" in out.stderr and "larger than this process may write (ulimit -f: 65536 bytes" in out.stderr
    assert os.listdir(os.fsencode(str(tmp_path))) == [b"\xff\xfe.flac"]       # nothing left of big.wav
