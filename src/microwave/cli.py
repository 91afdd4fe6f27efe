"""The ``microwave`` command line: render, plot, info, devices, play, history, calibrate.

SESSION is a built-in name (full-face, lift, tighten, infuse, fsm) or a
path to a TOML file.  Errors print one line and exit with status 2.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from . import _checks
from .sessions import BUILTINS, resolve
from .stage import Stage

__all__ = ["main", "build_parser"]


def _stage(path):
    return Stage.from_toml(path) if path else Stage()


def _progress_bar(stream):
    if not stream.isatty():
        return None

    def show(done, total):
        width = 40
        k = int(width * done / total) if total else width
        stream.write(f"\r[{'#' * k}{'.' * (width - k)}] {100 * done / max(total, 1):5.1f}%")
        if done >= total:
            stream.write("\n")
        stream.flush()
    return show


def cmd_render(a) -> int:
    from .backends.file import render_to_file
    session = resolve(a.session)
    path = render_to_file(session, a.output, a.rate, _stage(a.stage), a.duration, progress=_progress_bar(sys.stderr))
    print(f"wrote {path} ({session.name}, {min(a.duration or session.seconds, session.seconds):g} s at {a.rate} Hz)")
    return 0


def cmd_plot(a) -> int:
    from .plot import plot_session
    session = resolve(a.session)
    path = plot_session(session, a.output, rate=a.rate, start_s=a.start, span_s=a.span)
    print(f"wrote {path}")
    return 0


def cmd_info(a) -> int:
    from .report import report
    session = resolve(a.session)
    stage = _stage(a.stage)
    r = report(session, stage, a.rate, a.area)
    p = print
    p(f"session {r['name']}: {r['seconds']:g} s, {r['channels']} channels, auto-off at {r['auto_off_s']:g} s")
    p(f"stage: {stage.mode} mode, {stage.coupling.upper()}-coupled"
      + (f" (corner {stage.corner_hz:g} Hz +-{100 * stage.corner_tolerance:g} %)" if stage.coupling == "ac" else "")
      + (f", load {stage.load_ohm_min:g}-{stage.load_ohm_max:g} ohm" if stage.mode == "voltage" else "")
      + f"; max {r['max_ua']:g} uA; session peak {r['peak_ua']:g} uA asked")
    p(f"worst current predicted to flow (every corner and load, abrupt stops included): {r['worst_ua']:.4g} uA "
      f"at the session's level, {r['worst_ua_at_max_level']:.4g} uA at its highest level ({r['max_level']:.3g}x)")
    p("steps:")
    for s in r["steps"]:
        p(f"  {s['start_s']:7.1f} s  {s['zone']:<10} {s['label'] or 'custom':<9} {s['seconds']:6.1f} s")
        for c, ch in enumerate(s["channels"]):
            phases = ", ".join(f"{a:+.4g} uA x {w:.4g} us" for a, w in zip(ch["phase_amps_ua"], ch["phase_widths_us"]))
            p(f"      ch{c}: {ch['pulse_rate_hz']:.4g} pulses/s; phases {phases}")
            p(f"           peak {ch['peak_ua']:.4g} uA, rms {ch['rms_ua']:.4g} uA, DC {ch['dc_ua']:.4g} uA as rendered "
              f"({ch['spec_dc_ua']:.4g} uA by the spec); net charge/pulse {ch['net_charge_per_pulse_uc']:.4g} uC, "
              f"max phase charge {ch['max_phase_charge_uc']:.4g} uC; "
              f"density peak {ch['peak_density_ma_cm2']:.3g} / rms {ch['rms_density_ma_cm2']:.3g} mA/cm2")
    p("DC component over the session: " + ", ".join(f"ch{c} {v:.4g} uA" for c, v in enumerate(r["dc_ua"])))
    p(f"net dose (INFUSE): {r['dose_ua_min']:.4g} uA*min on the most dosed channel (limit {r['max_dose_ua_min']:g})")
    p("maximum output by load (FDA): " + "; ".join(
        f"{x['load_ohm']:g} ohm: {x['max_ua']:.4g} uA, {x['max_v']:.3g} V" for x in r["loads"]))
    p(f"electrode area {r['electrode_area_cm2']:g} cm2: peak density {r['peak_density_ma_cm2']:.3g} mA/cm2"
      + ("  ** above 2 mA/cm2 (IEC 60601-2-10): needs the operator's attention **" if r["density_warning"] else ""))
    p("timeline:")
    for t, what, zone in r["timeline"]:
        p(f"  {t:7.1f} s  {what}{' ' + zone if zone else ''}")
    return 0


def cmd_devices(a) -> int:
    from .backends.portaudio import list_devices
    devices = list_devices()
    if not devices:
        print("microwave devices: no output device found: PortAudio sees no sound card and no audio server "
              "(is PulseAudio or PipeWire running, or a card plugged in?)", file=sys.stderr)
        return 1
    for d in devices:
        p = (f"{d['index']:3d}  {d['name']}  out {d['max_output_channels']} in {d['max_input_channels']}  "
             f"{d['default_samplerate']:g} Hz")
        print(p)
    return 0


def cmd_play(a) -> int:
    from ._terminal import play_cli
    return play_cli(resolve(a.session), _stage(a.stage), device=a.device, latency=a.latency,
                    duration=a.duration, rate=a.rate, history=not a.no_history, strict=a.strict,
                    acknowledge=a.acknowledge, recommendations=_recommendations(a))


def _recommendations(a):
    from .history import Recommendations
    given = {k: v for k, v in (("max_sessions_per_day", a.max_sessions_per_day),
                               ("max_charge_uc_per_zone_week", a.max_charge_uc_per_zone_week)) if v is not None}
    return Recommendations(**given)


def cmd_history(a) -> int:
    from . import history as hist
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
            print(f"wrote {a.plot}")
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
        print(f"played the calibration tone: {cal.REFERENCE_TONE_HZ:g} Hz at {cal.LEVEL:g} of full scale (peak) on "
              f"program channel 0 for {a.tone:g} s; the stage asks {ua:.4g} uA rms of it: give the meter's reading "
              f"as --reference-ua")
        return 0
    if a.input is None:
        raise ValueError("--input is required: the input the output is looped back into (or the sense resistor's)")
    r = cal.calibrate(a.device, a.input, stage=stage, rate=a.rate, channels=a.channels,
                      input_channels=a.input_channels, input_corner_hz=a.input_corner, reference_ua=a.reference_ua,
                      lowest_corner_hz=a.lowest_corner)
    print(r.table())
    if not r.passed:
        if a.output:
            print(f"not written: {a.output} (a failed calibration makes no stage)")
        return 1
    if a.output:
        r.write_stage(a.output)
        print(f"wrote {a.output}")
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
    sub = ap.add_subparsers(dest="command", required=True)
    sess_help = f"a built-in session ({', '.join(BUILTINS)}) or a .toml file"

    r = sub.add_parser("render", help="write what goes to the DAC to a WAV or FLAC file")
    r.add_argument("session", help=sess_help)
    r.add_argument("-o", "--output", required=True, help="OUT.wav or OUT.flac")
    r.add_argument("--rate", type=int, default=_checks.DEFAULT_RATE)
    r.add_argument("--stage", help="stage TOML file")
    r.add_argument("--duration", type=float, help="seconds to render (default: the whole session)")
    r.set_defaults(func=cmd_render)

    p = sub.add_parser("plot", help="plot the waveform and its envelope to a PNG")
    p.add_argument("session", help=sess_help)
    p.add_argument("-o", "--output", required=True)
    p.add_argument("--rate", type=int, default=_checks.DEFAULT_RATE)
    p.add_argument("--start", type=float, default=None, help="start of the zoomed view, s")
    p.add_argument("--span", type=float, default=None, help="length of the zoomed view, s")
    p.set_defaults(func=cmd_plot)

    i = sub.add_parser("info", help="steps, timeline and safety figures")
    i.add_argument("session", help=sess_help)
    i.add_argument("--stage", help="stage TOML file")
    i.add_argument("--rate", type=int, default=_checks.DEFAULT_RATE)
    i.add_argument("--area", type=float, default=1.0, help="electrode area, cm2 (default 1)")
    i.set_defaults(func=cmd_info)

    d = sub.add_parser("devices", help="list sound-card output devices")
    d.set_defaults(func=cmd_devices)

    pl = sub.add_parser("play", help="play a session through a sound card")
    pl.add_argument("session", help=sess_help)
    pl.add_argument("--device", default=None)
    pl.add_argument("--stage", help="stage TOML file")
    pl.add_argument("--latency", type=float, default=0.02, help="output latency, s")
    pl.add_argument("--duration", type=float, default=None)
    pl.add_argument("--rate", type=int, default=_checks.DEFAULT_RATE)
    pl.add_argument("--no-history", action="store_true",
                    help="keep no record of this session (default: recorded in the history database, "
                         "$MICROWAVE_HISTORY or the user data directory)")
    pl.add_argument("--strict", action="store_true",
                    help="refuse to play (exit 2) when the history shows overuse, instead of warning")
    pl.add_argument("--max-sessions-per-day", type=int, default=None, metavar="N",
                    help="overuse: sessions a day before a warning (default 1; docs: history)")
    pl.add_argument("--max-charge-uc-per-zone-week", type=float, default=None, metavar="UC",
                    help="overuse: charge on a zone's most dosed electrode pair over 7 days before a warning, uC "
                         "(default 120000; docs: history)")
    pl.add_argument("--acknowledge", action="store_true",
                    help="acknowledge the contraindications and the signs to stop without being asked "
                         "(required the first time without a terminal)")
    pl.set_defaults(func=cmd_play)

    h = sub.add_parser("history", help="the sessions played: a table, or JSON",
                       description="The record of the sessions played, kept private on this machine "
                                   "($MICROWAVE_HISTORY, else the user data directory).")
    h.add_argument("--json", action="store_true", help="print the records as a JSON list")
    h.add_argument("--last", type=int, default=None, metavar="N", help="only the N most recent records")
    hs = h.add_subparsers(dest="history_command")
    show = hs.add_parser("show", help="one record: its steps, channels, and its level and charge over time")
    show.add_argument("id", type=int, help="the record's id (see microwave history)")
    show.add_argument("--json", action="store_true", help="print the record as a JSON list of one")
    show.add_argument("--plot", metavar="FILE.png", help="also plot its level and charge over time to a PNG")
    h.set_defaults(func=cmd_history)

    c = sub.add_parser("calibrate", help="measure the card's coupling, corner and loop through a loopback "
                                         "(into a loopback or a dummy load, NEVER a person)",
                       description="Play test signals (at most 0.25 of full scale, ramped) on --device and record "
                                   "them on --input, wired as a loopback (output to input) or across the stage's "
                                   "sense resistor into a dummy load -- never into a person.  Prints a table of "
                                   "figures with PASS/FAIL; exits 0 when all pass, 1 when one fails, 2 on bad input.")
    c.add_argument("--device", required=True, help="output device (name or index)")
    c.add_argument("--input", help="input device (name or index), wired to the output")
    c.add_argument("--stage", help="base stage TOML file: its fields are kept")
    c.add_argument("-o", "--output", help="write the measured stage TOML here")
    c.add_argument("--rate", type=int, default=_checks.DEFAULT_RATE)
    c.add_argument("--channels", type=_indices, help="DAC channels to measure, e.g. 0,1 (default: all)")
    c.add_argument("--input-channels", type=_indices, help="the input channel wired to each (default: the same)")
    c.add_argument("--input-corner", type=float, help="the input's own high-pass corner, Hz (default: DC-coupled)")
    c.add_argument("--reference-ua", type=float, help="a meter's RMS reading (uA) of the calibration tone's current "
                                                     "(see --tone): sets ua_per_v")
    c.add_argument("--tone", type=float, metavar="SECONDS", help="only play the calibration tone (400 Hz, 0.25 of "
                                                                  "full scale on program channel 0) into the dummy "
                                                                  "load for a meter")
    c.add_argument("--lowest-corner", type=float, default=1.0, help="the lowest corner to size the signals for, "
                                                                     "Hz (default 1; about 12 s per channel)")
    c.set_defaults(func=cmd_calibrate)
    return ap


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
        for an error (one line on stderr), 130 when interrupted.

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
    try:
        return args.func(args)
    except (ValueError, TypeError, OSError, ImportError, RuntimeError, *_sound_card_errors()) as e:
        msg = str(e)
        if isinstance(e, _sound_card_errors()):
            msg = f"sound card: {msg} (PortAudio; `microwave devices` lists the output devices)"
        src = getattr(args, "session", None)
        if src and src not in BUILTINS and Path(src).is_file() and not msg.startswith(src):
            msg = f"{src}: {msg}"      # a refusal after the file loaded still names the file
        print(f"microwave {args.command}: error: {msg}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"microwave {args.command}: interrupted", file=sys.stderr)
        return 130


def _sound_card_errors() -> tuple:
    """sounddevice's PortAudioError once sounddevice is loaded (a device
    PortAudio cannot open, no sound card at all): a user's error, told in
    one line like the others."""
    err = getattr(sys.modules.get("sounddevice"), "PortAudioError", None)
    return (err,) if isinstance(err, type) and issubclass(err, BaseException) else ()


if __name__ == "__main__":
    sys.exit(main())
