"""Validation helpers: every bad value raises ValueError naming the
parameter, the value given, and what is allowed."""
from __future__ import annotations

import math
from numbers import Real

DEFAULT_RATE = 48_000
MIN_RATE, MAX_RATE = 1_000, 768_000
#: The library refuses any spec asking for more than this (microcurrent is
#: commonly defined as 1-999 uA; docs/references.md: clinical FSM "never more than 500 uA").
MAX_SPEC_UA = 1000.0


def number(name: str, value, lo: float | None = None, hi: float | None = None, *,
           lo_open: bool = False, hi_open: bool = False, unit: str = "") -> float:
    """Check that ``value`` is a finite real number within [lo, hi] and return it as float."""
    if isinstance(value, bool) or not isinstance(value, Real):
        raise ValueError(f"{name}={value!r} must be a real number{_range(lo, hi, lo_open, hi_open, unit)}")
    try:
        v = float(value)
    except OverflowError:      # an int or Fraction beyond any float
        v = math.inf
    bad = not math.isfinite(v)
    if lo is not None and (v < lo or (lo_open and v == lo)):
        bad = True
    if hi is not None and (v > hi or (hi_open and v == hi)):
        bad = True
    if bad:
        raise ValueError(f"{name}={value!r} is not allowed: it must be finite{_range(lo, hi, lo_open, hi_open, unit)}")
    return v


def integer(name: str, value, lo: int | None = None, hi: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{name}={value!r} must be an integer{_range(lo, hi, False, False, '')}")
    if (lo is not None and value < lo) or (hi is not None and value > hi):
        raise ValueError(f"{name}={value!r} is out of range{_range(lo, hi, False, False, '')}")
    return value


def sequence(name: str, value, what: str) -> tuple:
    """``value`` as a tuple, or a TypeError naming the parameter when it is
    not a list, tuple or other iterable (a string is not one)."""
    if isinstance(value, (str, bytes)) or not hasattr(value, "__iter__"):
        raise TypeError(f"{name}={value!r} must be a list or tuple of {what}")
    return tuple(value)


def rate(value) -> int:
    """A sample rate in Hz: a whole number between MIN_RATE and MAX_RATE."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return integer("rate", value, MIN_RATE, MAX_RATE)


def choice(name: str, value, allowed):
    if value not in allowed:
        raise ValueError(f"{name}={value!r} is not allowed: choose one of {', '.join(map(repr, allowed))}")
    return value


def _range(lo, hi, lo_open, hi_open, unit) -> str:
    u = f" {unit}" if unit else ""
    if lo is not None and hi is not None:
        return f" in {'(' if lo_open else '['}{lo:g}, {hi:g}{')' if hi_open else ']'}{u}"
    if lo is not None:
        return f" {'>' if lo_open else '>='} {lo:g}{u}"
    if hi is not None:
        return f" {'<' if hi_open else '<='} {hi:g}{u}"
    return ""
