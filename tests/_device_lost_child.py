"""Run by test_audio.py and test_record_audio.py in its own process: play on
a private audio server, lose the device mid-session, and report what the
Player said and what it had played.

``python _device_lost_child.py [kill|unload]``: ``kill`` (the default)
kills the server (SIGKILL); ``unload`` unloads the null sink's module
(``pactl unload-module``) while the server lives on -- a card unplugged.
The session (:func:`session`) is recorded into ``$MICROWAVE_HISTORY``, and
the null sink's monitor meanwhile; the last line printed is
``RESULT {json}``: the record's id, the Player's end, the session's frames
played when it ended (``position``), how many frames the monitor heard from
the first sound to the last (``heard_frames``), and the underflows and the
recording's flags (with either, the figures say nothing)."""
import contextlib
import json
import os
import signal
import subprocess
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from audio_server import MonitorRecorder, audio_server  # noqa: E402

import microwave as mw  # noqa: E402
from microwave.audio import DeviceLost, Player  # noqa: E402
from microwave.sessions import Session, Step  # noqa: E402
from microwave.stage import Stage  # noqa: E402


def session():
    """What the child plays (a test works out what it delivers from this)."""
    return Session("sq", (Step("z", mw.Biphasic(freq_hz=1000, amp_ua=100, phase_us=500), 10.0),), channels=1,
                   soft_start_s=0.1)


def lose(srv, how):
    if how == "kill":
        for pid in subprocess.run(["pgrep", "-f", f"pulseaudio.*{srv.directory}"],
                                  capture_output=True, text=True).stdout.split():
            os.kill(int(pid), signal.SIGKILL)
    else:   # os.environ points pactl at this process's own server (audio_server put it there)
        modules = subprocess.run(["pactl", "list", "short", "modules"], capture_output=True, text=True,
                                 check=True).stdout.splitlines()
        (sink,) = [m.split()[0] for m in modules if "module-null-sink" in m and "sink_name=microwave_null" in m]
        subprocess.run(["pactl", "unload-module", sink], check=True)


def main(how):
    with audio_server() as srv:
        rec = MonitorRecorder(srv, srv.rate, channels=2)
        rec.stream.start()
        p = Player(session(), Stage(channel_map=(0,)), device=srv.play_device, rate=srv.rate, latency=0.02).start()
        time.sleep(1.0)
        lose(srv, how)
        t = time.time()
        try:
            p.wait(8)
            print("no error")
        except DeviceLost as e:
            print(f"DeviceLost after {time.time() - t:.1f} s: {e}")
        p.close()
        st = p.stats
        with contextlib.suppress(Exception):      # its source may have gone with the server
            rec.stream.close(ignore_errors=True)
        x = rec.frames() if rec.chunks else np.zeros((0, 2), np.float32)
        heard = np.nonzero(np.abs(x).max(axis=1) > 1e-6)[0]
        print("RESULT " + json.dumps(dict(record_id=p.record_id, end=p.end, position=int(st["position"]),
                                          heard_frames=int(heard[-1] - heard[0] + 1) if len(heard) else 0,
                                          underflows=int(st["underflows"]), flags=sorted(rec.flags))), flush=True)


if __name__ == "__main__":
    how = sys.argv[1] if len(sys.argv) > 1 else "kill"
    if how not in ("kill", "unload"):
        sys.exit(f"usage: {sys.argv[0]} [kill|unload]")
    main(how)
