"""Render a session of STEPS steps lasting SECONDS in all to a WAV at PATH in
this process (tests/test_memory.py runs it in a subprocess), delete the
file, and print the process's peak resident memory (VmHWM, KiB).

The steps cycle through INFUSE (the mode with the longest repeat, hence
the largest tile), TIGHTEN, LIFT and FSM; one step is INFUSE alone."""
import sys
from pathlib import Path

from microwave import modes
from microwave.files import render_to_file
from microwave.sessions import Session, Step

PROGRAMS = (modes.infuse(3), modes.tighten(3), modes.lift(3), modes.fsm())


def stepped(steps: int, seconds: float) -> Session:
    return Session(f"{steps}-steps", tuple(Step(f"zone{i}", PROGRAMS[i % len(PROGRAMS)], seconds / steps)
                                           for i in range(steps)),
                   auto_off_s=seconds, max_dose_ua_min=1e9)


def peak_rss_kib() -> int:
    # VmHWM is this process's own high-water mark (getrusage's ru_maxrss
    # carries the parent's over a fork)
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise RuntimeError("no VmHWM in /proc/self/status")


if __name__ == "__main__":
    steps, seconds, path = int(sys.argv[1]), float(sys.argv[2]), Path(sys.argv[3])
    render_to_file(stepped(steps, seconds), path, rate=int(sys.argv[4]) if len(sys.argv) > 4 else 48_000)
    path.unlink()
    print(peak_rss_kib())
