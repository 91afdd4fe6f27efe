"""The command line's player: a session played with a live display, on a
terminal with keys (+ / - intensity, space pause, q stop), elsewhere with
plain progress lines (``microwave play``)."""
from __future__ import annotations

import sys

from . import _checks
from .backends.portaudio import Player
from .sessions import Session
from .stage import Stage


def play_cli(session: Session, stage: Stage, device=None, latency: float = 0.02, duration: float | None = None,
             rate: int = _checks.DEFAULT_RATE, stdin=None, stdout=None, history: bool = True, strict: bool = False,
             acknowledge: bool = False, recommendations=None) -> int:
    """Play with a live display: on a terminal, keys + / - change intensity,
    space pauses, q stops; without one, plain progress lines.

    Before it plays: the contraindications are acknowledged (asked on a
    terminal, else ``acknowledge`` is required; kept in the history), and
    the history's overuse warnings are printed -- or, ``strict``, refused.
    With ``history`` False nothing is recorded (and the acknowledgement,
    not kept, is asked every time)."""
    from .history import ACK_TEXT, ACK_VERSION, History
    stdin = stdin or sys.stdin
    stdout = stdout or sys.stdout
    if device is not None and str(device).isdigit():
        device = int(device)
    interactive = stdin.isatty() and stdout.isatty()
    hist = History() if history else None
    if not (hist is not None and hist.acknowledged(ACK_VERSION)):
        if not acknowledge:
            if not interactive:
                raise ValueError("the contraindications and the signs to stop must be acknowledged before the "
                                 "first session: without a terminal, run again with --acknowledge")
            stdout.write(ACK_TEXT + "\n\nType yes to acknowledge and play, anything else to quit: ")
            stdout.flush()
            answer = stdin.readline().strip().lower()
            if answer != "yes":
                stdout.write("not acknowledged: nothing was played\n")
                return 1
        if hist is not None:
            hist.acknowledge(ACK_VERSION)
    if hist is not None:
        warnings = hist.overuse(session, recommendations)
        if warnings and strict:
            raise ValueError("refused (--strict): " + "; ".join(warnings))
        for w in warnings:
            print(f"microwave play: warning: {w}", file=sys.stderr)
    player = Player(session, stage, device=device, rate=rate, latency=latency, duration_s=duration,
                    history=hist)
    cues = (e for e in session.events() if e[1].startswith(("cue", "start")))
    cue = next(cues, None)
    tty = _RawTerminal(stdin) if interactive else None
    last_line = -1.0
    try:
        with player:
            if tty:
                tty.__enter__()
            while not player.wait(0.1):
                pos = player.position_s
                while cue is not None and cue[0] <= pos:
                    t, what, zone = cue
                    cue = next(cues, None)
                    msg = f"{what} ({zone})" if what.startswith("start") else f"move now ({zone})"
                    stdout.write(("\a\r\n" if interactive else "") + f"[{t:6.1f} s] {msg}\n")
                if tty:
                    key = tty.key()
                    if key in ("+", "="):
                        player.up()
                    elif key in ("-", "_"):
                        player.down()
                    elif key == " ":
                        (player.resume if player.stats["paused"] else player.pause)()
                    elif key in ("q", "Q"):
                        player.stop()
                        break
                    st = player.stats
                    stdout.write(f"\r{player.zone:<10} {pos:7.1f} s  left {player.time_left_s:6.1f} s  "
                                 f"level {player.level:4.2f}{'  PAUSED' if st['paused'] else ''}"
                                 f"  underflows {st['underflows']}   ")
                    stdout.flush()
                elif pos - last_line >= 5.0:
                    last_line = pos
                    st = player.stats
                    stdout.write(f"{pos:7.1f} s  {player.zone}  left {player.time_left_s:.1f} s  "
                                 f"level {player.level:.2f}  underflows {st['underflows']}\n")
                    stdout.flush()
    finally:
        if tty:
            tty.__exit__()
    st = player.stats
    stdout.write(f"\nplayed {player.position_s:.1f} s; underflows {st['underflows']}, "
                 f"callback load mean {100 * st['load']:.2f} % max {100 * st['load_max']:.2f} % of the block budget\n")
    return 0


class _RawTerminal:
    """Single keys from a terminal without Enter (termios cbreak)."""

    def __init__(self, stream):
        self.stream = stream

    def __enter__(self):
        import termios
        import tty
        self.fd = self.stream.fileno()
        self.saved = termios.tcgetattr(self.fd)
        tty.setcbreak(self.fd)
        return self

    def __exit__(self, *exc):
        import termios
        termios.tcsetattr(self.fd, termios.TCSADRAIN, self.saved)

    def key(self):
        import select
        import os
        if select.select([self.fd], [], [], 0)[0]:
            return os.read(self.fd, 1).decode(errors="ignore")
        return None
