"""The examples in the docstrings run, and show what they say: each public
module's doctests pass (the audio example, which needs a sound card, is
marked to skip; the real audio tests play through a null sink)."""
import doctest
import importlib

import pytest

MODULES = ["microwave", "microwave.pulses", "microwave.envelopes", "microwave.patterns", "microwave.modes",
           "microwave.stage", "microwave.sessions", "microwave.report", "microwave.files", "microwave.plot",
           "microwave.audio", "microwave.backends.array", "microwave.backends.file", "microwave.backends.portaudio",
           "microwave.cli", "microwave.calibrate", "microwave._toml"]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_run(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE, report=True)
    assert result.failed == 0, f"{name}: {result.failed} of {result.attempted} examples failed"


def test_the_examples_are_there():
    """At least the modules a newcomer starts from carry runnable examples."""
    for name in ("microwave", "microwave.pulses", "microwave.patterns", "microwave.sessions"):
        finder = doctest.DocTestFinder()
        tests = finder.find(importlib.import_module(name))
        assert sum(len(t.examples) for t in tests) >= 2, name
