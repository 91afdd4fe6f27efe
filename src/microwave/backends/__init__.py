"""Back ends: where a session's samples go.

A back end takes a :class:`~microwave.sessions.Session` and a
:class:`~microwave.stage.Stage` and runs the session's compiled engine
(``Session.engine``: the generators, the output stage and its supervisor,
checked first by :meth:`Stage.assess <microwave.stage.Stage.assess>`) into
one destination.  It adds no signal processing of its own, so every back
end delivers the same DAC samples, bit for bit:

* :mod:`~microwave.backends.array`: numpy arrays in memory
  (``Session.render`` and ``Session.render_ua``);
* :mod:`~microwave.backends.file`: WAV or FLAC files, streamed in blocks
  (soundfile, the ``files`` extra);
* :mod:`~microwave.backends.portaudio`: a sound card, live, through
  PortAudio's callback in compiled code (python-sounddevice, the ``audio``
  extra).  It is the only module that touches sounddevice's internals, and
  it checks the sounddevice version it knows before it does.

Importing a back end imports none of the optional extras: each loads its
library when first used.  ``microwave.files`` and ``microwave.audio`` are
the file and sound-card back ends under their first names.
"""
from . import array, file, portaudio

__all__ = ["array", "file", "portaudio"]
