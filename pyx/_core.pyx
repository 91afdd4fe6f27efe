# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""microwave's compiled core: one extension over the kernels of csrc/.

The kernels (C, one unit per concern, each header stating its contract)
are compiled once into a static library; this extension links it and wraps
it in two thin classes, each in its own file:

* ``Generator`` (pyx/generator.pxi): one channel's program, built from a
  :class:`microwave.plans.ProgramPlan`, filled block by block;
* ``SessionEngine`` (pyx/session_engine.pxi): steps x channels of programs
  behind the output stage, the live level, the delivered record, and the
  PortAudio callback's address.

A generator hands its C state to the engine in a named capsule
(``"microwave._core.mw_program"``); the engine copies it and owns the copy.
The limits and kinds of csrc/mw_limits.h are exported from here
(``MAX_STATES``, ``SHAPES``, ...), their one source.
"""
include "generator.pxi"
include "session_engine.pxi"
