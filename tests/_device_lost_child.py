"""Run by test_audio.py in its own process: play on a private audio server,
kill the server mid-session, and report what the Player said."""
import os
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from audio_server import audio_server  # noqa: E402

import microwave as mw  # noqa: E402
from microwave.audio import DeviceLost, Player  # noqa: E402
from microwave.sessions import Session, Step  # noqa: E402
from microwave.stage import Stage  # noqa: E402

with audio_server() as srv:
    session = Session("sq", (Step("z", mw.Biphasic(freq_hz=1000, amp_ua=100, phase_us=500), 10.0),), channels=1)
    p = Player(session, Stage(channel_map=(0,)), device=srv.play_device, latency=0.02).start()
    time.sleep(1.0)
    for pid in subprocess.run(["pgrep", "-f", f"pulseaudio.*{srv.directory}"],
                              capture_output=True, text=True).stdout.split():
        os.kill(int(pid), signal.SIGKILL)
    t = time.time()
    try:
        p.wait(8)
        print("no error")
    except DeviceLost as e:
        print(f"DeviceLost after {time.time() - t:.1f} s: {e}")
    p.close()
