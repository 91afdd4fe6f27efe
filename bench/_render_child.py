"""Render the bench's mixed session of SECONDS to a WAV at PATH in this
process, delete the file, and print the process's peak RSS as JSON
(bench/test_memory.py runs it in a subprocess)."""
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests" / "oracle"))   # families.py

from families import RATE, mixed_session, stage  # noqa: E402
from microwave.files import render_to_file  # noqa: E402



def peak_rss_kib() -> int:
    # VmHWM: this process's own high-water mark.  (getrusage's ru_maxrss is
    # not: Linux carries the parent's RSS at fork/exec over into it.)
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise RuntimeError("no VmHWM in /proc/self/status")


seconds, path = float(sys.argv[1]), Path(sys.argv[2])
before = peak_rss_kib()
t0 = time.perf_counter()
render_to_file(mixed_session(seconds), path, rate=RATE, stage=stage())
wall = time.perf_counter() - t0
size = path.stat().st_size
path.unlink()
print(json.dumps({"peak_rss_kib": peak_rss_kib(), "before_kib": before,
                  "wall_s": wall, "bytes": size}))
