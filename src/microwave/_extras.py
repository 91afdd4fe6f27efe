"""The optional extras (audio, files, plot): imported where they are used,
with an error that says what to install when one is missing."""
from __future__ import annotations

import importlib


def require(module: str, extra: str, what: str, library: str = ""):
    """``module``, imported; or an ImportError naming the pip extra that
    brings it (and the system library it wraps, when that is missing)."""
    try:
        return importlib.import_module(module)
    except OSError as e:       # the Python module is there, the C library it loads is not
        raise ImportError(f"{what} needs the {library} library ({e}); on Debian: apt-get install {library}") from None
    except ImportError:
        raise ImportError(f"{what} needs {module}: pip install \"microwave[{extra}]\"") from None
