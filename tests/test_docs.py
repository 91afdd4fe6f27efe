"""The docs stay true to the code: every test the risk file names exists,
every public definition says what it does, and every public callable's
numpydoc sections name exactly its parameters (with their units), what it
returns and what it raises."""
import builtins
import importlib
import inspect
import re
from pathlib import Path

import pytest

from public_api import params, public_callables, public_modules, unwrap

ROOT = Path(__file__).resolve().parents[1]


def test_every_test_the_hazard_table_names_exists():
    table = (ROOT / "docs" / "safety.md").read_text()
    named = set(re.findall(r"`(test_[a-z0-9_]+)`", table))
    defined = set()
    for f in (ROOT / "tests").glob("test_*.py"):
        defined |= set(re.findall(r"^def (test_[a-z0-9_]+)\(", f.read_text(), re.M))
    assert len(named) > 20
    assert named <= defined, f"docs/safety.md names tests that do not exist: {sorted(named - defined)}"


def test_every_hazard_row_names_a_control_and_a_test():
    rows = [r for r in (ROOT / "docs" / "safety.md").read_text().splitlines() if re.match(r"\| H\d+ \|", r)]
    assert len(rows) >= 19
    for r in rows:
        cells = [c.strip() for c in r.strip("|").split("|")]
        assert len(cells) == 5, r
        assert "`" in cells[3] and "test_" in cells[4], f"row without a control or a test: {r}"


def test_every_public_module_says_what_its_api_is():
    """microwave.__all__ and each public module's __all__ name what exists
    (the public API that validation and the docs cover)."""
    import importlib
    assert {"microwave.calibrate", "microwave.backends", "microwave.backends.portaudio"} <= set(public_modules())
    for name in public_modules():
        mod = importlib.import_module(name)
        assert mod.__all__, name
        missing = [n for n in mod.__all__ if not hasattr(mod, n)]
        assert not missing, f"{name}.__all__ names what it lacks: {missing}"


def test_every_public_definition_has_a_docstring():
    """Every class and function a public module lists, and each public
    method and property of those classes, says what it does (an override
    may inherit its parent's text; a dataclass's generated signature is
    not a docstring)."""
    import importlib
    import inspect
    missing = []
    for name in public_modules()[1:]:
        mod = importlib.import_module(name)
        for n in mod.__all__:
            obj = getattr(mod, n)
            if not (inspect.isclass(obj) or inspect.isfunction(obj)):
                continue
            doc = inspect.getdoc(obj) or ""
            if not doc or doc.startswith(f"{n}("):
                missing.append(f"{name}.{n}")
            if inspect.isclass(obj) and not issubclass(obj, BaseException):
                for k, v in inspect.getmembers(obj):
                    if k.startswith("_") or not (callable(v) or isinstance(inspect.getattr_static(obj, k), property)):
                        continue
                    if not inspect.getdoc(inspect.getattr_static(obj, k)) and not inspect.getdoc(v):
                        missing.append(f"{name}.{n}.{k}")
    assert not missing, f"no docstring: {missing}"


# The parameters' unit suffixes (the house rule: units in parameter names) and
# how a description may write the unit.
UNITS = {
    "_ua": ("uA", "µA", "microamp"), "_ma": ("mA",), "_us": ("us", "µs", "microsecond"), "_ms": ("ms", "millisecond"),
    "_s": ("s", "second"), "seconds": ("s", "second"), "minutes": ("min",),
    "_hz": ("Hz", "per second"), "_v": ("V", "volt"),
    "_ohm": ("ohm", "Ω"), "_cm2": ("cm2", "cm²"), "_db": ("dB",), "_dbfs": ("dBFS",), "_ua_min": ("uA", "µA", "min"),
}
# Public callables that take parameters and refuse none (their inputs are not a
# user's: results the library builds and hands back).
NO_RAISES = {
    "microwave.calibrate.ChannelResult": "a result: built by analyse, which checks its inputs",
    "microwave.calibrate.CalibrationResult": "a result: built by analyse, which checks its inputs",
    "microwave.calibrate.Figure": "a result: one measured figure of a calibration",
    "microwave.calibrate.Plan": "built by Plan.build, which checks its parameters",
    "microwave.audio.Player.stop": "stops a playing stream: its parameters only say how long to wait",
    "microwave.history.Record": "a result: read back from the database",
    "microwave.history.StepRecord": "a result: read back from the database",
    "microwave.history.ChannelDose": "a result: read back from the database",
    "microwave.history.Second": "a result: read back from the database",
}


def _doc(obj):
    from numpydoc.docscrape import ClassDoc, FunctionDoc
    if inspect.isclass(obj):
        return ClassDoc(obj, config={"show_class_members": False})
    return FunctionDoc(obj)


def documented_callables() -> list[tuple[str, object]]:
    """(where, function or class) for each public callable that takes
    parameters or returns something, once (a re-export is the same object);
    properties are attributes, and exceptions take no user's parameters."""
    pytest.importorskip("numpydoc")
    out, seen = [], set()
    for where, obj in public_callables():
        f = unwrap(obj)
        if isinstance(obj, property) or id(f) in seen:
            continue
        seen.add(id(f))
        if inspect.isclass(f) and issubclass(f, BaseException):
            continue
        out.append((where, f))
    return out


def _names(section) -> list[str]:
    """The names an entry list gives (a Raises entry is its type alone)."""
    return [n.strip().lstrip("*") for p in section for n in (p.name or p.type).split(",")]


def _returns_something(f) -> bool:
    if inspect.isclass(f):
        return False
    ann = inspect.signature(f).return_annotation
    return ann not in (None, "None")


def test_the_walk_finds_the_api():
    """The check below covers what a newcomer uses (not an empty walk)."""
    found = {where.split(".")[-1] for where, _ in documented_callables()}
    assert {"Biphasic", "Session", "Stage", "render", "engine", "report", "calibrate", "play", "lift", "builtin",
            "from_toml", "write_current", "plot_session", "render_to_file", "Player"} <= found


def test_every_public_callable_documents_its_parameters():
    """Each public function, class and method that takes parameters has a
    numpydoc Parameters section naming exactly its signature's parameters,
    so that the API reference cannot drift from the signatures."""
    wrong = []
    for where, f in documented_callables():
        named, wanted = _names(_doc(f)["Parameters"]), params(f)
        extra = {"args", "kwargs"} & {p.name for p in inspect.signature(f).parameters.values()
                                       if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD)}
        if sorted(set(named) - extra) != sorted(wanted) or len(named) != len(set(named)):
            wrong.append(f"{where}: documents {sorted(named)}, takes {sorted(wanted)}")
    assert not wrong, "Parameters sections that differ from the signature:\n" + "\n".join(wrong)


def _states(text: str, units: tuple[str, ...]) -> bool:
    """Whether ``text`` writes one of ``units`` (a symbol as a word of its own,
    case-sensitive: s, us, Hz; a name in any case: Seconds), or points to
    the definition that does (As for :class:`Biphasic`)."""
    if re.search(r":(class|func|meth|attr):`", text):
        return True
    return any(re.search(rf"(?<![A-Za-z]){re.escape(u)}", text, 0 if len(u) <= 4 else re.I) for u in units)


def test_every_physical_parameter_states_its_unit():
    """A parameter whose name carries a unit (amp_ua, phase_us, freq_hz,
    seconds, ...) says that unit in its description too."""
    wrong = []
    for where, f in documented_callables():
        for p in _doc(f)["Parameters"]:
            text = " ".join([p.type, *p.desc])
            for name in (n.strip() for n in p.name.split(",")):
                suffix = max((u for u in UNITS if name.endswith(u)), key=len, default=None)
                if suffix and not _states(text, UNITS[suffix]):
                    wrong.append(f"{where}({name}): {text[:60]!r} names none of {UNITS[suffix]}")
    assert not wrong, "parameters without their unit:\n" + "\n".join(wrong)


def test_every_public_callable_that_returns_says_what():
    """A function or method annotated to return something has a Returns (or
    Yields) section; one that returns None has none."""
    wrong = []
    for where, f in documented_callables():
        doc = _doc(f)
        has = bool(doc["Returns"] or doc["Yields"])
        if has != _returns_something(f):
            wrong.append(f"{where}: returns {inspect.signature(f).return_annotation!r}, Returns section: {has}")
    assert not wrong, "\n".join(wrong)


def test_every_public_callable_says_what_it_raises():
    """Each public callable that takes parameters has a Raises section (bad
    input raises ValueError or TypeError naming the parameter), naming
    exception classes that exist; the few that refuse nothing say why here."""
    import microwave
    wrong = []
    for where, f in documented_callables():
        if not params(f) or where in NO_RAISES:
            continue
        raises = _names(_doc(f)["Raises"])
        if not raises:
            wrong.append(f"{where}: no Raises section")
        module = inspect.getmodule(f)
        for name in raises:
            if "." in name:        # another package's, as it is spelled there (sounddevice.PortAudioError)
                home, _, attr = name.rpartition(".")
                try:
                    exc = getattr(importlib.import_module(home), attr, None)
                except ImportError:
                    exc = None
            else:
                exc = getattr(builtins, name, None) or getattr(module, name, None) or getattr(microwave, name, None)
            if not (inspect.isclass(exc) and issubclass(exc, BaseException)):
                wrong.append(f"{where}: Raises names {name!r}, no exception class")
    assert not wrong, "\n".join(wrong)


def test_the_exemptions_are_still_needed():
    """Each NO_RAISES entry exists and still takes parameters."""
    found = dict(documented_callables())
    for where in NO_RAISES:
        assert where in found and params(found[where]), where
