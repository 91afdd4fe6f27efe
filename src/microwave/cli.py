"""The ``microwave`` command line: render, plot, info, devices, play, history, calibrate.

SESSION is a built-in name (full-face, lift, tighten, infuse, fsm) or a
path to a TOML file.  Errors print one line and exit with status 2.
"""
from __future__ import annotations

import argparse
import math
import os
import re
import shlex
import signal
import sys
import threading
import time
from pathlib import Path

from . import _checks, _toml
from .sessions import BUILTINS, resolve
from .stage import Stage

__all__ = ["main", "build_parser"]


def _stage(path):
    """The stage --stage names (a TOML file), or the built-in one when it is not given."""
    if path is None:
        return Stage()
    if not path.strip():
        raise ValueError(f"--stage {shlex.quote(path)} is not allowed: give a stage TOML file (or leave --stage out "
                         f"for the built-in stage)")
    return Stage.from_toml(path)


def _session(text: str):
    """The session SESSION names: a built-in, or a session file that exists."""
    if text not in BUILTINS and text and not Path(text).exists():
        raise ValueError(f"SESSION {shlex.quote(text)} is neither a built-in session ({', '.join(BUILTINS)}) "
                         f"nor an existing file")
    return resolve(text)


def _progress_bar(stream, label: str = "", after_s: float = 0.0):
    """``show(done, total)`` drawing a bar on ``stream``, a terminal (else
    None), from ``after_s`` seconds on (a short task draws none)."""
    if not stream.isatty():
        return None
    start: float | None = None
    shown = ended = False

    def show(done, total):
        nonlocal start, shown, ended
        if ended:
            return          # (a render's tail calls on at the end)
        if start is None:
            start = time.monotonic()         # from the task's first call: not the command's start
        ended = done >= total
        if not shown and time.monotonic() - start < after_s:
            return          # not due yet (and if done already, none at all)
        shown = True
        width = 40
        k = int(width * done / total) if total else width
        tenths = 1000 * done // total if total else 1000       # (never 100.0 % before the end)
        stream.write(f"\r{label}[{'#' * k}{'.' * (width - k)}] {tenths // 10:3d}.{tenths % 10}%")
        if done >= total:
            stream.write("\n")
        stream.flush()
    return show


def _say(line: str) -> None:
    """Print one line on standard output, the characters a terminal would
    act on (an escape sequence, a line break, a bidirectional override)
    written as their escapes (``_checks.showable``): a path or a device's
    name is whatever it holds.  Every line the command prints goes through
    here, but the tables', which escape what they show where they are
    built (history's ``_table`` and ``_show``, ``CalibrationResult.table``),
    and the JSON (``json.dumps`` escapes every such character)."""
    print(_checks.showable(line))


def cmd_render(a) -> int:
    from .backends.file import render_to_file
    session = _session(a.session)
    path = render_to_file(session, a.output, a.rate, _stage(a.stage), a.duration, progress=_progress_bar(sys.stderr))
    _say(f"wrote {path} ({session.name}, {min(a.duration or session.seconds, session.seconds):g} s at {a.rate} Hz)")
    return 0


def cmd_plot(a) -> int:
    from .plot import plot_session
    session = _session(a.session)
    path = plot_session(session, a.output, rate=a.rate, start_s=a.start, span_s=a.span)
    _say(f"wrote {path}")
    return 0


def _digits(x: float) -> str:
    """``x`` to 4 significant digits, in plain digits (never an exponent: 86400, 0.00433)."""
    import numpy as np
    return np.format_float_positional(x, precision=4, unique=False, fractional=False, trim="-")


def _fig(x: float, whole: float = 0.0) -> str:
    """A figure as a person reads it: 4 significant digits, and 0 for one
    that is zero to rounding -- below 1e-6 of ``whole``, the size of what it
    is a part of.  The samples are float32 (a 24-bit mantissa: 6e-8 of full
    scale), so a DC of 3e-16 uA, or of 1e-7 uA, in a 100 uA pulse train is
    the rounding of the samples, not a current."""
    if not math.isfinite(x):
        return f"{x}"
    if x == 0 or abs(x) < 1e-6 * abs(whole):
        return "0"
    return _digits(x)


def _us(us: float) -> str:
    """A duration given in us, in the unit that fits it: us below 1 ms, ms
    below 1 s, s from 1 s (4 significant digits: 450000 -> '450 ms')."""
    if not math.isfinite(us):
        return f"{us} us"
    us = float(_digits(us))          # rounded first, so that 999.96 us is '1 ms', not '1000 us'
    for unit, scale in (("s", 1e6), ("ms", 1e3)):
        if abs(us) >= scale:
            return f"{_digits(us / scale)} {unit}"
    return f"{_digits(us)} us"


def cmd_info(a) -> int:
    from .report import report
    session = _session(a.session)
    stage = _stage(a.stage)
    r = report(session, stage, a.rate, a.area)
    p = _say
    played = ("" if r["played_channels"] == r["channels"] else
              f" ({r['played_channels']} played: the stage's channel_map routes {r['played_channels']})")
    p(f"session {r['name']}: {r['seconds']:g} s, {r['channels']} channels{played}, auto-off at {r['auto_off_s']:g} s")
    p(f"stage: {stage.mode} mode, {stage.coupling.upper()}-coupled"
      + (f" ({stage._corner_words()})" if stage.coupling == "ac" else "")
      + (f", load {stage.load_ohm_min:g}-{stage.load_ohm_max:g} ohm" if stage.mode == "voltage" else "")
      + f"; max {_fig(r['max_ua'])} uA; session peak {_fig(r['peak_ua'])} uA asked")
    p(f"worst current predicted to flow (between samples, every corner and load, abrupt stops included): "
      f"{_fig(r['worst_ua'])} uA at the session's level, {_fig(r['worst_ua_at_max_level'])} uA at its highest "
      f"level ({r['max_level']:.3g}x)")
    p("steps:")
    for s in r["steps"]:
        p(f"  {s['start_s']:7.1f} s  {s['zone']:<10} {s['label'] or 'custom':<10} {s['seconds']:6.1f} s")
        for c, ch in enumerate(s["channels"]):
            peak = ch["peak_ua"]
            phases = ", ".join(f"{'+' if a > 0 else ''}{_fig(a)} uA x {_us(w)}"
                               for a, w in zip(ch["phase_amps_ua"], ch["phase_widths_us"]))
            rate = (f"{_fig(ch['burst_rate_hz'])} pulses/s in bursts ({_fig(ch['pulse_rate_hz'])} on average)"
                    if ch["burst_rate_hz"] else f"{_fig(ch['pulse_rate_hz'])} pulses/s")
            alternating = ", polarity alternating pulse to pulse" if ch["alternating"] else ""
            p(f"      ch{c}: {rate}; phases {phases}{alternating}")
            p(f"           peak {_fig(peak)} uA, rms {_fig(ch['rms_ua'])} uA, DC {_fig(ch['dc_ua'], peak)} uA as "
              f"rendered ({_fig(ch['spec_dc_ua'], peak)} uA by the spec); net charge/pulse "
              f"{_fig(ch['net_charge_per_pulse_uc'], ch['max_phase_charge_uc'])} uC, max phase charge "
              f"{_fig(ch['max_phase_charge_uc'])} uC; density peak {_fig(ch['peak_density_ma_cm2'])} / rms "
              f"{_fig(ch['rms_density_ma_cm2'])} mA/cm2")
    p("DC component over the session: "
      + ", ".join(f"ch{c} {_fig(v, r['peak_ua'])} uA" for c, v in enumerate(r["dc_ua"])))
    p(f"net dose (net DC x time): {_fig(r['dose_ua_min'])} uA*min on the most dosed channel "
      f"(limit {_fig(r['max_dose_ua_min'])})")
    p("maximum output by load (FDA): " + "; ".join(
        f"{x['load_ohm']:g} ohm: {_fig(x['max_ua'])} uA, {_fig(x['max_v'])} V" for x in r["loads"]))
    p(f"electrode area {r['electrode_area_cm2']:g} cm2: peak density {_fig(r['peak_density_ma_cm2'])} mA/cm2"
      + ("  ** above 2 mA/cm2 (IEC 60601-2-10): needs the operator's attention **" if r["density_warning"] else ""))
    p("timeline:")
    for t, what, zone in r["timeline"]:
        p(f"  {t:7.1f} s  {what}{' ' + zone if zone else ''}")
    return 0


def cmd_devices(a) -> int:
    from .backends.portaudio import NO_SOUND_CARD, list_devices
    devices = list_devices("any")      # (inputs too: a calibration's --input, a sense's)
    if not devices:
        print(f"microwave devices: no device found: {NO_SOUND_CARD}", file=sys.stderr)
        return 1
    for d in devices:
        p = (f"{d['index']:3d}  {d['name']}  out {d['max_output_channels']} in {d['max_input_channels']}  "
             f"{d['default_samplerate']:g} Hz")
        _say(p)     # (a name is a device's own: a Bluetooth one is whatever it advertises)
    return 0


def cmd_play(a) -> int:
    from ._terminal import play_cli
    return play_cli(_session(a.session), _stage(a.stage), device=a.device, latency=a.latency,
                    duration=a.duration, rate=a.rate, history=not a.no_history, strict=a.strict,
                    acknowledge=a.acknowledge, recommendations=_recommendations(a))


def _recommendations(a):
    from .history import Recommendations
    given = {k: v for k, v in (("max_sessions_per_day", a.max_sessions_per_day),
                               ("max_charge_uc_per_zone_week", a.max_charge_uc_per_zone_week)) if v is not None}
    return Recommendations(**given)


def cmd_history(a) -> int:
    from . import history as hist
    if a.history_command == "show":
        _checks.integer("record_id", a.id, 0, 1 << 62)
    elif a.last is not None:
        _checks.integer("last", a.last, 1, 1 << 62)
    if not hist.default_path().exists():    # a read creates nothing: no database yet, no sessions
        if a.history_command == "show":
            raise ValueError(f"record_id={a.id} is not in the history: no session has been recorded yet "
                             f"({hist.default_path()} does not exist)")
        _say("[]" if a.json else f"no sessions recorded yet ({hist.default_path()} does not exist)")
        return 0
    h = hist.History()
    if a.history_command == "show":
        rec = h.record(a.id)
        if a.plot:
            hist._plot_png(rec, h.timeline(a.id), Path(a.plot))
        if a.json:
            print(hist.to_json([rec]))
            return 0
        print(hist._show(rec, h.timeline(a.id)))
        if a.plot:
            _say(f"wrote {a.plot}")
        return 0
    records = h.records(a.last)
    if a.json:
        print(hist.to_json(records))
        return 0
    print(hist._table(records))
    return 0


def cmd_calibrate(a) -> int:
    from . import calibrate as cal
    stage = _stage(a.stage)
    if a.tone is not None:
        ua = cal.play_reference_tone(a.device, stage=stage, seconds=a.tone, rate=a.rate)
        _say(f"played the calibration tone: {cal.REFERENCE_TONE_HZ:g} Hz at {cal.LEVEL:g} of full scale (peak) on "
             f"program channel 0 for {a.tone:g} s; the stage asks {ua:.4g} uA rms of it: give the meter's reading "
             f"as --reference-ua")
        return 0
    if a.input is None:
        raise ValueError("--input is required: the input the output is looped back into (or the sense resistor's)")
    if a.output:      # checked before anything plays: a calibration is not run twice for a typo
        from .backends.file import writable
        writable(_checks.path("path", a.output))
    r = cal.calibrate(a.device, a.input, stage=stage, rate=a.rate, channels=a.channels,
                      input_channels=a.input_channels, input_corner_hz=a.input_corner, reference_ua=a.reference_ua,
                      lowest_corner_hz=a.lowest_corner)
    print(r.table())
    if not r.passed:
        if a.output:
            _say(f"not written: {a.output} (a failed calibration makes no stage)")
        return 1
    if a.output:
        r.write_stage(a.output)
        _say(f"wrote {a.output}")
    return 0


def _indices(text: str) -> tuple:
    try:
        return tuple(int(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a comma-separated list of channel indices") from None


def build_parser() -> argparse.ArgumentParser:
    """The ``microwave`` command's argument parser (the docs' command-line page is generated from it).

    Returns
    -------
    argparse.ArgumentParser
    """
    ap = argparse.ArgumentParser(prog="microwave",
                                 description="Microcurrent waveforms: render, plot, inspect and play sessions.")
    from . import __version__
    ap.add_argument("--version", action="version", version=f"microwave {__version__}",
                    help="print the version and exit")
    typed: dict = {}
    ap.set_defaults(typed=typed)      # each converted value's text as the user typed it, by dest: main() quotes it

    def arg(parser, *flags, type=None, **kw):
        action = parser.add_argument(*flags, **kw)
        if type is not None:
            def convert(text):
                value = type(text)
                typed[action.dest] = text
                return value
            convert.__name__ = type.__name__          # argparse's "invalid float value: 'x'"
            action.type = convert
        return action

    sub = ap.add_subparsers(dest="command", required=True)
    sess_help = f"a built-in session ({', '.join(BUILTINS)}) or a session .toml file"
    stage_help = ("a stage TOML file (default: none, the built-in stage: current mode, 1000 uA/V, DC-coupled, "
                  "max 500 uA)")
    rate_help = f"sample rate, Hz ({_checks.MIN_RATE} to {_checks.MAX_RATE}; default %(default)s)"

    r = sub.add_parser("render", help="write what goes to the DAC to a WAV or FLAC file")
    arg(r, "session", metavar="SESSION", help=sess_help)
    arg(r, "-o", "--output", required=True, help="the file to write: OUT.wav or OUT.flac (required)")
    arg(r, "--rate", type=int, default=_checks.DEFAULT_RATE, help=rate_help)
    arg(r, "--stage", help=stage_help)
    arg(r, "--duration", type=float, help="seconds to render, s (default: the whole session)")
    r.set_defaults(func=cmd_render)

    p = sub.add_parser("plot", help="plot the waveform and its envelope to a PNG")
    arg(p, "session", metavar="SESSION", help=sess_help)
    arg(p, "-o", "--output", required=True, help="the PNG file to write: OUT.png (required)")
    arg(p, "--rate", type=int, default=_checks.DEFAULT_RATE, help=rate_help)
    arg(p, "--start", type=float, default=None,
        help="start of the zoomed view, s (default: the middle of the first step)")
    arg(p, "--span", type=float, default=None,
        help="length of the zoomed view, s, > 0 and up to the session's length (default: three pulses "
             "of the first step, kept within 5 ms to 5 s)")
    p.set_defaults(func=cmd_plot)

    i = sub.add_parser("info", help="steps, timeline and safety figures")
    arg(i, "session", metavar="SESSION", help=sess_help)
    arg(i, "--stage", help=stage_help)
    arg(i, "--rate", type=int, default=_checks.DEFAULT_RATE, help=rate_help)
    arg(i, "--area", type=float, default=1.0, help="electrode area, cm2, 0.01 to 1000 (default %(default)s)")
    i.set_defaults(func=cmd_info)

    d = sub.add_parser("devices", help="list the sound-card devices, their output and input channels")
    d.set_defaults(func=cmd_devices)

    pl = sub.add_parser("play", help="play a session through a sound card")
    arg(pl, "session", metavar="SESSION", help=sess_help)
    arg(pl, "--device", default=None,
        help="output device, a name or an index from `microwave devices` (default: the system's default output)")
    arg(pl, "--stage", help=stage_help)
    arg(pl, "--latency", type=float, default=0.02, help="output latency, s (default %(default)s)")
    arg(pl, "--duration", type=float, default=None, help="seconds to play, s (default: the whole session)")
    arg(pl, "--rate", type=int, default=_checks.DEFAULT_RATE, help=rate_help)
    arg(pl, "--no-history", action="store_true",
        help="keep no record of this session (default: recorded in the history database, "
             "$MICROWAVE_HISTORY or the user data directory)")
    arg(pl, "--strict", action="store_true",
        help="refuse to play (exit 2) when the history shows overuse, instead of warning")
    arg(pl, "--max-sessions-per-day", type=int, default=None, metavar="N",
        help="overuse: sessions a day before a warning (default 1; docs: history)")
    arg(pl, "--max-charge-uc-per-zone-week", type=float, default=None, metavar="UC",
        help="overuse: charge on a zone's most dosed electrode pair over 7 days before a warning, uC "
             "(default 120000; docs: history)")
    arg(pl, "--acknowledge", action="store_true",
        help="acknowledge the contraindications and the signs to stop without being asked "
             "(required the first time without a terminal)")
    pl.set_defaults(func=cmd_play)

    h = sub.add_parser("history", help="the sessions played: a table, or JSON",
                       description="The record of the sessions played, kept private on this machine "
                                   "($MICROWAVE_HISTORY, else the user data directory).")
    arg(h, "--json", action="store_true", help="print the records as a JSON list")
    arg(h, "--last", type=int, default=None, metavar="N", help="only the N most recent records (default: all)")
    hs = h.add_subparsers(dest="history_command")
    show = hs.add_parser("show", help="one record: its steps, channels, and its level and charge over time")
    arg(show, "id", type=int, metavar="ID", help="the record's id (see microwave history)")
    arg(show, "--json", action="store_true", help="print the record as a JSON list of one")
    arg(show, "--plot", metavar="FILE.png", help="also plot its level and charge over time to a PNG (default: no plot)")
    h.set_defaults(func=cmd_history)

    c = sub.add_parser("calibrate", help="measure the card's coupling, corner and loop through a loopback "
                                         "(into a loopback or a dummy load, NEVER a person)",
                       description="Play test signals (at most 0.25 of full scale, ramped) on --device and record "
                                   "them on --input, wired as a loopback (output to input) or across the stage's "
                                   "sense resistor into a dummy load -- never into a person.  Prints a table of "
                                   "figures with PASS/FAIL; exits 0 when all pass, 1 when one fails, 2 on bad input.")
    arg(c, "--device", required=True, help="output device, a name or an index from `microwave devices` (required)")
    arg(c, "--input", help="input device (name or index), wired to the output (required, except with --tone)")
    arg(c, "--stage", help="base stage TOML file: its fields are kept (default: the built-in stage)")
    arg(c, "-o", "--output", help="write the measured stage TOML here (default: not written)")
    arg(c, "--rate", type=int, default=_checks.DEFAULT_RATE, help=rate_help)
    arg(c, "--channels", type=_indices, help="DAC channels to measure, e.g. 0,1 (default: all)")
    arg(c, "--input-channels", type=_indices, help="the input channel wired to each (default: the same)")
    arg(c, "--input-corner", type=float, help="the input's own high-pass corner, Hz (default: DC-coupled)")
    arg(c, "--reference-ua", type=float, help="a meter's RMS reading (uA) of the calibration tone's current "
                                              "(see --tone): sets ua_per_v (default: none, the base stage's "
                                              "ua_per_v is kept)")
    arg(c, "--tone", type=float, metavar="SECONDS", help="only play the calibration tone (400 Hz, 0.25 of full "
                                                         "scale on program channel 0) into the dummy load for a "
                                                         "meter, for SECONDS s (default: no tone, calibrate)")
    arg(c, "--lowest-corner", type=float, default=1.0, help="the lowest corner to size the signals for, Hz "
                                                            "(default %(default)s; about 12 s per channel)")
    c.set_defaults(func=cmd_calibrate)
    return ap


#: The API's name of each value a command-line argument gives, by command:
#: an error the API raises about it (``seconds=1000000000.0 is not allowed:
#: ...``) is told with the argument as typed (``--duration 1e9 is not
#: allowed: ...``).  Positionals go by their metavar.
_ARGUMENTS = {
    "render": {"name_or_path": "SESSION", "path": "--output", "rate": "--rate", "seconds": "--duration"},
    "plot": {"name_or_path": "SESSION", "path": "--output", "rate": "--rate", "start_s": "--start",
             "span_s": "--span"},
    "info": {"name_or_path": "SESSION", "rate": "--rate", "electrode_area_cm2": "--area"},
    "play": {"name_or_path": "SESSION", "rate": "--rate", "latency": "--latency", "duration_s": "--duration",
             "max_sessions_per_day": "--max-sessions-per-day",
             "max_charge_uc_per_zone_week": "--max-charge-uc-per-zone-week"},
    "history": {"last": "--last", "record_id": "ID", "path": "--plot"},
    "calibrate": {"rate": "--rate", "seconds": "--tone", "channels": "--channels", "input_channels": "--input-channels",
                  "input_corner_hz": "--input-corner", "reference_ua": "--reference-ua",
                  "lowest_corner_hz": "--lowest-corner", "path": "--output"},
}
#: sounddevice's words for a device it does not know, and the option that named it
_NO_DEVICE = (("No output device matching", "--device", "output"), ("No input device matching", "--input", "input"))


def _as_typed(msg: str, args) -> str | None:
    """``msg`` told with the command-line argument it is about, as typed, or
    None when it is about no argument the user gave (a TOML file's key, a
    derived value, a default): those are left as they are."""
    typed = getattr(args, "typed", {})
    for name, option in _ARGUMENTS.get(args.command, {}).items():
        dest = option.lstrip("-").replace("-", "_").lower()
        value = getattr(args, dest, None)
        text = typed.get(dest, value if isinstance(value, str) else None)
        if value is None or text is None:
            continue                            # not given: the API's default, or a default of the option's
        shown = f"{option} {shlex.quote(text)}"
        # (a path is told as pathlib writes it: ./x.txt as 'x.txt')
        for told in {repr(value), repr(str(Path(value)))} if isinstance(value, str) else {repr(value)}:
            head = f"{name}={told}"
            if msg.startswith(head + " ") or msg.startswith(head + ":"):
                return shown + msg[len(head):]     # "--duration 1e9 is not allowed: it must be ..."
        if re.match(rf"{re.escape(name)}\[\d+\]=", msg):
            return f"{shown}: {msg}"             # an item of a list: "--channels 0,-1: channels[1]=-1 is ..."
    for words, option, kind in _NO_DEVICE:
        value = getattr(args, option[2:], None)
        if isinstance(value, str) and words in msg:
            return f"{option} {shlex.quote(value)}: no {kind} device matches it (`microwave devices` lists them)"
    return None


def main(argv=None) -> int:
    """Run the ``microwave`` command.

    Parameters
    ----------
    argv : sequence of str or None
        The arguments, without the program's name (default None: ``sys.argv[1:]``).

    Returns
    -------
    int
        The exit status: 0, 1 for a figure that failed (no device found), 2
        for an error (one line on stderr), 130 when interrupted (143 when
        terminated: SIGTERM is taken as Ctrl-C is), 141 (quietly,
        as a shell's own commands do) when the reader of its output has gone
        (``microwave info ... | head``).

    Raises
    ------
    SystemExit
        From argparse: arguments it cannot parse (status 2, with the usage), or ``--help`` (status 0).

    Examples
    --------
    >>> main(["info", "lift"]) == 0   # doctest: +ELLIPSIS
    session lift...
    True
    """
    args = build_parser().parse_args(argv)
    # SIGTERM (kill, a service manager) ends a command as Ctrl-C does: a play
    # ramps down, a render removes its part-written file, then status 143
    main_thread = threading.current_thread() is threading.main_thread()
    before = signal.signal(signal.SIGTERM, _terminate) if main_thread else None
    from .stage import _check_progress
    # an AC stage's whole-session check (info, render, play) shows a bar when it lasts
    checking = _check_progress.set(_progress_bar(sys.stderr, "checking the session through the AC coupling ", 1.0))
    try:
        return args.func(args)
    except _Terminated:
        print(f"microwave {args.command}: terminated", file=sys.stderr)
        return 143
    except BrokenPipeError as e:
        if e.filename is not None:      # a file's, not standard output's: an error like any other
            return _error(args, e)
        # the reader went away: nothing to tell it, and nothing for Python to flush at exit
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    except (ValueError, TypeError, OSError, ImportError, RuntimeError, *_sound_card_errors()) as e:
        return _error(args, e)
    except KeyboardInterrupt:
        print(f"microwave {args.command}: interrupted", file=sys.stderr)
        return 130
    finally:
        _check_progress.reset(checking)
        if main_thread:
            signal.signal(signal.SIGTERM, before)


class _Terminated(KeyboardInterrupt):
    """SIGTERM, raised where the command is, so that what it does on Ctrl-C
    (a ramp to silence, a part-written file removed) happens."""


def _terminate(signum, frame):
    raise _Terminated


def _error(args, e: BaseException) -> int:
    """Print ``e`` as the command's one-line error (naming the option, or
    the session file, it concerns) and return the status 2."""
    msg = re.sub(r"^\[Errno \d+\] ", "", str(e)) if isinstance(e, OSError) else str(e)
    if isinstance(e, _sound_card_errors()):
        msg = f"sound card: {msg} (PortAudio; `microwave devices` lists the devices)"
    told = _as_typed(msg, args)
    src = getattr(args, "session", None)
    routes = _stage_routes_line(args, msg)
    if told is not None:
        msg = told
    elif routes is not None:
        msg = f"{routes}: {msg}"     # the stage file's routes refused for the session: where to add one
    elif (src and src not in BUILTINS and Path(src).is_file()
          and not any(msg.startswith(x) for x in (src, str(Path(src))))     # (./s.toml is told as s.toml)
          and not (getattr(args, "stage", None)
                   and any(msg.startswith(f"{x}:") for x in (args.stage, str(Path(args.stage)))))):
        msg = f"{src}: {msg}"      # a refusal after the file loaded still names the file (not a stage file's)
    print(f"microwave {args.command}: error: {_checks.showable(msg)}", file=sys.stderr)   # (a path may hold an escape)
    return 2


def _stage_routes_line(args, msg: str) -> str | None:
    """``FILE:LINE`` of the --stage file's channel_map when ``msg`` refuses
    it (a session with more programs than it routes), else None."""
    path = getattr(args, "stage", None)
    if not path or "channel_map=" not in msg or msg.startswith(path) or not Path(path).is_file():
        return None
    try:
        src = _toml.Source(path, "stage")
    except ValueError:
        return None
    return f"{path}:{src.where.line(('channel_map',))}"


def _sound_card_errors() -> tuple:
    """sounddevice's PortAudioError once sounddevice is loaded (a device
    PortAudio cannot open, no sound card at all): a user's error, told in
    one line like the others."""
    err = getattr(sys.modules.get("sounddevice"), "PortAudioError", None)
    return (err,) if isinstance(err, type) and issubclass(err, BaseException) else ()


if __name__ == "__main__":
    sys.exit(main())
