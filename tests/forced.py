"""Plans forced past their own checks, to test the guards of the compiled layer behind them."""
from __future__ import annotations

import dataclasses


def forced(plan, **fields):
    """A copy of the frozen plan ``plan`` with ``fields`` set without running
    its checks (``__post_init__``): what a plan that slipped past them would
    be, for the generator's and the engine's own checks."""
    unknown = set(fields) - {f.name for f in dataclasses.fields(plan)}
    if unknown:
        raise TypeError(f"{type(plan).__name__} has no field {sorted(unknown)}")
    copy = object.__new__(type(plan))
    for f in dataclasses.fields(plan):
        object.__setattr__(copy, f.name, fields.get(f.name, getattr(plan, f.name)))
    return copy
