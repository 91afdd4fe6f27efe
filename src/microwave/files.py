"""The file back end under its first name: :mod:`microwave.backends.file`.

``from microwave.files import render_to_file`` keeps working; the code, and
the documentation, are in :mod:`microwave.backends.file`.
"""
from __future__ import annotations

from .backends.file import BLOCK_FRAMES, SUBTYPES, render_to_file, write_current
from .backends.file import publish  # noqa: F401  (importable from here before the move; not public)

__all__ = ["render_to_file", "write_current", "BLOCK_FRAMES", "SUBTYPES"]
