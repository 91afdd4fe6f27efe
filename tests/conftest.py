"""Shared pytest configuration for microwave's tests.

Real-audio tests take the session fixture ``audio`` (an
``audio_server.AudioServer``: ``.play_device``, ``.record_device``, ``.rate``,
``.play_and_record(signal)``) and are marked ``@pytest.mark.audio``
(deselect them with ``-m "not audio"``). Without PulseAudio/PortAudio they are
skipped -- except under CI (``CI=true``), where that is a failure: run
``bash scripts/audio-server.sh install`` first.
"""
import contextlib
import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from audio_server import AudioUnavailable, audio_server  # noqa: E402


def pytest_configure(config):
    # no test ever writes the user's real history (each test gets its own below; this is the floor)
    import tempfile
    os.environ["MICROWAVE_HISTORY"] = os.path.join(tempfile.mkdtemp(prefix="mw-history-"), "history.sqlite3")
    config.addinivalue_line(
        "markers",
        "audio: plays and records real audio through PortAudio and a private "
        "PulseAudio null sink (fixture `audio`)",
    )


def _audio_unavailable(reason):
    reason = f"real audio unavailable: {reason}"
    if os.environ.get("CI") == "true":
        pytest.fail(reason + "\n(CI=true: audio tests must run, not skip)", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def audio():
    with contextlib.ExitStack() as stack:
        try:
            server = stack.enter_context(audio_server())
        except AudioUnavailable as exc:
            _audio_unavailable(str(exc))
        yield server


@pytest.fixture(autouse=True)
def _private_history(tmp_path_factory, monkeypatch):
    """Every test (and what it spawns) writes a history of its own, never the user's."""
    monkeypatch.setenv("MICROWAVE_HISTORY", str(tmp_path_factory.mktemp("history") / "history.sqlite3"))
