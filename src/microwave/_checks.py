"""Validation helpers: the one place every public parameter is checked.

The rules (README.md, "Errors", says them to users):

* a value of the wrong *type* -- a str, None, a bool or a numpy bool where a
  number is wanted, an array where one number is, a non-iterable where a
  list is, an object of another class -- raises ``TypeError``;
* a value of the right type that is not allowed -- NaN, an infinity, out of
  range, too large for a float, not whole where a count is wanted, not one
  of the choices -- raises ``ValueError``;
* both messages read ``name=value`` and say what is allowed, so that the
  TOML and command-line layers can point at the key or option.

Numbers are compared with their range *before* anything converts them, so
an int or a Fraction beyond any float is a ValueError, never an
OverflowError.  numpy scalars (``np.float32(3)``, ``np.int64(5)``) are
numbers; every checker returns a plain Python value.
"""
from __future__ import annotations

import itertools
import math
import os
import re
from collections.abc import Mapping, Set
from numbers import Integral, Real
from pathlib import Path

import numpy as np

DEFAULT_RATE = 48_000
MIN_RATE, MAX_RATE = 1_000, 768_000
#: The library refuses any spec asking for more than this (microcurrent is
#: commonly defined as 1-999 uA; docs/references.md: clinical FSM "never more than 500 uA").
MAX_SPEC_UA = 1000.0


def shown(value) -> str:
    """``repr(value)`` for a message; an int too long to read at a glance
    (over 200 bits, about 60 digits; over 4300 digits ``repr`` itself
    raises) is shown by its size, a str of over 200 characters by its
    start and its length."""
    if isinstance(value, int) and value.bit_length() > 200:
        return f"<{'a negative' if value < 0 else 'an'} int of {value.bit_length()} bits>"
    if isinstance(value, str) and len(value) > 200:
        return f"{value[:60]!r}... (a str of {len(value)} characters)"
    return repr(value)


def no_room(asked: str, n_bytes: int, instead: str) -> MemoryError:
    """The MemoryError for an array that does not fit: what ``asked`` for it
    (``"seconds=604800"``), its size and ``instead``, the way out."""
    gib = n_bytes / 2 ** 30
    return MemoryError(f"{asked} asks for an array of {f'{gib:,.0f}' if gib >= 10 else f'{gib:.3g}'} GiB, more "
                       f"than this machine can give now (at most half the memory it has free): {instead}")


def memory_free() -> int | None:
    """The memory this machine can give now, bytes: Linux's MemAvailable
    (free memory and the caches it can drop), else the free pages
    (sysconf), else None (unknown)."""
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):
        return None


def new_f32(shape: tuple, asked: str, instead: str) -> np.ndarray:
    """A new float32 array of ``shape``, or the MemoryError of :func:`no_room`
    when it is more than half the memory free now (:func:`memory_free`):
    numpy allocates lazily, so an array that fits the address space is
    given, and the machine runs out of memory as it is filled (a review:
    a day at 768 kHz, 21 GiB of a 23 GiB machine)."""
    n_bytes = 4 * math.prod(int(k) for k in shape)
    free = memory_free()
    if free is not None and n_bytes > free // 2:
        raise no_room(asked, n_bytes, instead)
    try:
        return np.empty(shape, dtype=np.float32)
    except MemoryError:
        raise no_room(asked, n_bytes, instead) from None


def _is_real(value) -> bool:
    """A real number that is not a bool (Python's or numpy's)."""
    return isinstance(value, Real) and not isinstance(value, (bool, np.bool_))


def number(name: str, value, lo: float | None = None, hi: float | None = None, *,
           lo_open: bool = False, hi_open: bool = False, unit: str = "") -> float:
    """``value`` as a float: a finite real number within [lo, hi] (the ends
    excluded when ``lo_open``/``hi_open``); TypeError when it is not a
    number at all, ValueError when it is one that is not allowed."""
    allowed = _range(lo, hi, lo_open, hi_open, unit)
    if not _is_real(value):
        raise TypeError(f"{name}={shown(value)} must be a real number{allowed}, not {type(value).__name__}")
    try:
        v = float(value)
    except OverflowError:      # an int or Fraction beyond any float
        raise ValueError(f"{name}={shown(value)} is not allowed: too large for a float; it must be a "
                         f"finite number{allowed}") from None
    bad = not math.isfinite(v)
    if lo is not None and (v < lo or (lo_open and v == lo)):
        bad = True
    if hi is not None and (v > hi or (hi_open and v == hi)):
        bad = True
    if bad:
        raise ValueError(f"{name}={shown(value)} is not allowed: it must be a finite number{allowed}")
    return v + 0.0        # -0.0 is 0.0: equal values compile to the same bits


def span(name: str, value, session_s: float, *, lo_open: bool = False) -> float:
    """``value``, seconds of a session: a finite number from 0 (excluded
    when ``lo_open``) to the session's length ``session_s``, else a
    ValueError naming the parameter, its value and that range."""
    return number(name, value, 0, session_s, lo_open=lo_open, unit="s")


def integer(name: str, value, lo: int | None = None, hi: int | None = None) -> int:
    """``value`` as an int within [lo, hi].  A whole float (``3.0``) counts
    as its integer; a fraction (``2.5``), NaN or an infinity is a ValueError."""
    allowed = _range(lo, hi, False, False, "")
    if not _is_real(value):
        raise TypeError(f"{name}={shown(value)} must be an integer{allowed}, not {type(value).__name__}")
    if not isinstance(value, Integral):
        try:
            f = float(value)
        except OverflowError:
            f = math.inf
        if not f.is_integer():
            raise ValueError(f"{name}={shown(value)} is not allowed: it must be a whole number{allowed}")
        value = f
    value = int(value)
    if (lo is not None and value < lo) or (hi is not None and value > hi):
        if hi is not None and value > hi and not _told(hi):
            raise ValueError(f"{name}={shown(value)} is out of range: too large; it must be an integer{allowed} "
                             f"and at most {hi}")
        raise ValueError(f"{name}={shown(value)} is out of range: it must be an integer{allowed}")
    return value


def flag(name: str, value) -> bool:
    """``value`` as a bool: True or False (numpy's bools too), nothing else."""
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name}={shown(value)} must be True or False, not {type(value).__name__}")
    return bool(value)


#: what a name shown on a terminal, in a table or a record may not hold: the
#: control characters (a newline, an escape sequence that moves the cursor
#: or recolours the screen) and the bidirectional overrides that reorder
#: what is shown ("Trojan Source", CVE-2021-42574)
_UNSHOWABLE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def showable(message: str) -> str:
    """``message`` with each character a name may not hold (see ``text``)
    written as its escape (``\\x1b``, ``\\n``, ``\\u202e``): what is printed
    on a terminal, where a path or a value given by the user may hold one."""
    return _UNSHOWABLE.sub(lambda m: repr(m.group())[1:-1], message)


def text(name: str, value, *, empty: bool = True, line: bool = False) -> str:
    """``value``, a str (non-blank unless ``empty``; with ``line``, a name
    shown as it is: no control character nor bidirectional override)."""
    if not isinstance(value, str):
        raise TypeError(f"{name}={shown(value)} must be a str, not {type(value).__name__}")
    bad = _UNSHOWABLE.search(value) if line else None
    if bad:
        kind = ("a bidirectional override" if bad.group() >= "\u202a" else
                "a line separator" if bad.group() >= "\u2028" else "a control character")
        raise ValueError(f"{name}={shown(value)} is not allowed: a name is shown as it is, and "
                         f"{bad.group()!r} at {bad.start()} is {kind} (give printable text)")
    if not empty and not value.strip():
        raise ValueError(f"{name}={shown(value)} is not allowed: it must be a non-empty name")
    return value


def path(name: str, value) -> Path:
    """``value`` as a Path: a str or an os.PathLike (not bytes)."""
    if not isinstance(value, (str, os.PathLike)) or isinstance(value, bytes):
        raise TypeError(f"{name}={shown(value)} must be a file path (str or pathlib.Path), not {type(value).__name__}")
    p = Path(value)
    if str(p) == ".":           # "" and "." name no file
        raise ValueError(f"{name}={shown(value)} is not allowed: give a file name")
    if "\0" in str(p):          # (the system's calls said only "embedded null byte")
        raise ValueError(f"{name}={shown(value)} is not allowed: a file path cannot hold a NUL character")
    return p


def instance(name: str, value, types, what: str, *, none: bool = False):
    """``value`` when it is an instance of ``types`` (or None, if ``none``);
    else a TypeError saying it must be ``what``."""
    if (none and value is None) or isinstance(value, types):
        return value
    raise TypeError(f"{name}={shown(value)} must be {what}{' or None' if none else ''}, not {type(value).__name__}")


def sequence(name: str, value, what: str, max_len: int | None = None) -> tuple:
    """``value`` as a tuple: a list, tuple, 1-D array or other ordered
    iterable (not a str, bytes, dict or set); at most ``max_len`` items,
    counted without reading more than that from an endless iterator."""
    if (isinstance(value, (str, bytes, Mapping, Set)) or not hasattr(value, "__iter__")
            or (isinstance(value, np.ndarray) and value.ndim != 1)):
        raise TypeError(f"{name}={shown(value)} must be a list or tuple of {what}, not {type(value).__name__}")
    try:
        items = tuple(value if max_len is None else itertools.islice(value, max_len + 1))
    except TypeError:
        raise TypeError(f"{name}={shown(value)} must be a list or tuple of {what}") from None
    if max_len is not None and len(items) > max_len:
        raise ValueError(f"{name} has more than {max_len} items: at most {max_len} {what} are allowed")
    return items


def rate(value, name: str = "rate") -> int:
    """A sample rate in Hz: a whole number between MIN_RATE and MAX_RATE."""
    return integer(name, value, MIN_RATE, MAX_RATE)


def choice(name: str, value, allowed):
    """``value`` when it is one of ``allowed`` (all of them str); a value of
    another type is a TypeError, another str a ValueError."""
    listed = ", ".join(map(repr, allowed))
    if not isinstance(value, str):
        raise TypeError(f"{name}={shown(value)} must be a str, one of {listed}; not {type(value).__name__}")
    if value not in allowed:
        raise ValueError(f"{name}={shown(value)} is not allowed: choose one of {listed}")
    return value


def keyed(name: str, value, table: dict, allowed: str):
    """``table[value]`` for a value that is a str or a whole number among
    ``table``'s keys (``allowed`` says which in words); TypeError for a bool
    or any other type, ValueError for a str or number not in the table."""
    key: str | int | None
    if isinstance(value, str):
        key = value
    elif _is_real(value):
        try:
            f = float(value)
        except OverflowError:
            f = math.inf
        key = int(f) if f.is_integer() else None
    else:
        raise TypeError(f"{name}={shown(value)} must be {allowed}, not {type(value).__name__}")
    if key not in table:
        raise ValueError(f"{name}={shown(value)} is not allowed: use {allowed}")
    return table[key]


def _told(bound) -> bool:
    """Whether a range's bound is worth telling a person: not a technical
    ceiling such as an SQLite integer's (2**62 reads as 4.61169e+18)."""
    return bound is None or abs(bound) < 2 ** 53


def _range(lo, hi, lo_open, hi_open, unit) -> str:
    u = f" {unit}" if unit else ""
    lo, hi = (lo if _told(lo) else None), (hi if _told(hi) else None)
    if lo is not None and hi is not None:
        return f" in {'(' if lo_open else '['}{lo:g}, {hi:g}{')' if hi_open else ']'}{u}"
    if lo is not None:
        return f" {'>' if lo_open else '>='} {lo:g}{u}"
    if hi is not None:
        return f" {'<' if hi_open else '<='} {hi:g}{u}"
    return ""
