"""The back ends in one folder (microwave.backends): the old import paths
still work, and the array back end is Session.render.  None of these opens
a device (tests/test_audio.py plays)."""
import numpy as np
import pytest

import microwave.audio
import microwave.files
from microwave.backends import array, file, portaudio
from microwave.sessions import Session, Step, builtin
from microwave.stage import Stage

RATE = 8_000


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
