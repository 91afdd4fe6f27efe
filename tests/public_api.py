"""The public API, found rather than listed: the modules whose dotted name
has no part starting with _, the callables their __all__ names, and the
public methods (and properties) of those classes.  tests/test_docs.py
checks each one's documentation and tests/test_fuzz_api.py fuzzes each one,
so a new public definition is covered by both without editing either."""
from __future__ import annotations

import importlib
import inspect
import pkgutil
from collections.abc import Iterable, Iterator
from types import ModuleType


def public_modules() -> list[str]:
    """microwave and every module of it, in subpackages too (microwave.backends.portaudio),
    whose name has no part starting with _."""
    import microwave
    return ["microwave"] + [m.name for m in pkgutil.walk_packages(microwave.__path__, "microwave.")
                            if not any(part.startswith("_") for part in m.name.split("."))]


def unwrap(x):
    """The plain function under a classmethod, staticmethod or bound method."""
    return getattr(x, "__func__", x)


def params(fn) -> list[str]:
    """The parameters a user gives (not self or cls, not *args or **kwargs)."""
    sig = inspect.signature(fn if isinstance(fn, type) else unwrap(fn))
    out = [p.name for p in sig.parameters.values() if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]
    return [p for p in out if p not in ("self", "cls")]


def public_callables(modules: Iterable[ModuleType] | None = None, excluded: Iterable = ()) \
        -> Iterator[tuple[str, object]]:
    """(where, object) for every callable in a public module's __all__ and
    every public method (or property, as its raw descriptor) of those classes
    that takes a parameter, inherited ones too (from microwave's classes);
    ``excluded`` objects (functions, classes or raw descriptors) are left out."""
    skip = [unwrap(e) for e in excluded]
    mods = modules if modules is not None else [importlib.import_module(n) for n in public_modules()]
    for mod in mods:
        for name in mod.__all__:
            obj = getattr(mod, name)
            if not callable(obj) or any(unwrap(obj) is e for e in skip):
                continue
            yield f"{mod.__name__}.{name}", obj
            if isinstance(obj, type):
                for attr in sorted({a for klass in obj.__mro__[:-1] if klass.__module__.startswith("microwave")
                                    for a in vars(klass)}):
                    raw = inspect.getattr_static(obj, attr)
                    if attr.startswith("_") or any(unwrap(raw) is e for e in skip):
                        continue
                    if isinstance(raw, property) or (inspect.isfunction(unwrap(raw)) and params(raw)):
                        yield f"{mod.__name__}.{name}.{attr}", raw
