"""Reading TOML files (sessions, stages) against a schema, with one-line
errors of the form ``FILE:LINE: what is wrong and what is allowed``.

Three parts, each in one place:

* :func:`read_toml` reads a file or says in one line, naming it, why it is
  not a TOML file at all (missing, a directory, empty, too large, binary,
  not UTF-8, nested too deeply, a TOML syntax error at a line).
* :class:`Locator` finds the line where each key path is defined.
  ``tomllib`` gives values but no positions, so the locator scans the text
  itself: table headers (the k-th ``[[step]]`` is path ``("step", k)``),
  dotted keys, inline tables and arrays (element ``i`` of ``step = [...]``
  is ``("step", i)``), skipping strings of every kind so that a ``#``,
  ``=`` or ``{`` inside one does not mislead it.  A path it does not know
  falls back to the nearest enclosing path it does.
* :class:`Key` and :func:`check` describe a table's keys (TOML type, what is
  allowed) and refuse unknown keys and values of the wrong type;
  :func:`build` calls a constructor with a table's values and turns its
  ``ValueError``/``TypeError`` (which names a parameter, ``name=value``)
  into an error at that key's line.
"""
from __future__ import annotations

import bisect
import datetime
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from collections.abc import Callable

from . import _checks

#: a session or stage file is a few hundred lines; a file larger than this is not one
MAX_BYTES = 1 << 20


# ---- reading ---------------------------------------------------------------------------
def read_toml(path, what: str = "session or stage") -> tuple[dict, str]:
    """A TOML file's table and text; any file that is not TOML -- missing,
    a directory, empty, too large, binary, not UTF-8, nested too deeply,
    bad syntax -- is a ValueError of one line that names the file (and the
    line, for a syntax error).  ``what`` names the kind of file expected."""
    path = Path(path)
    try:
        if path.exists() and not path.is_dir() and not path.is_file():
            # a FIFO, a device or a socket: reading it could wait for ever
            raise ValueError(f"{path}: not a regular file (a pipe, a device or a socket): a {what} file is a "
                             f"TOML text file")
        with open(path, "rb") as f:
            raw = f.read(MAX_BYTES + 1)
    except OSError as e:
        raise ValueError(f"{path}: cannot read: {e.strerror or e}") from None
    if len(raw) > MAX_BYTES:
        raise ValueError(f"{path}: larger than {MAX_BYTES >> 20} MiB: not a {what} file")
    try:
        text = raw.decode("utf-8-sig")     # a byte-order mark, which some editors write, is not the text's
    except UnicodeDecodeError as e:
        raise ValueError(f"{path}: not a UTF-8 text file (TOML is UTF-8; byte {e.start} is not): "
                         f"save it as UTF-8 text") from None
    if "\x00" in text:
        raise ValueError(f"{path}: a binary file, not TOML text")
    if not text.strip():
        raise ValueError(f"{path}: the file is empty: a {what} file needs its keys")
    try:
        return tomllib.loads(text), text
    except tomllib.TOMLDecodeError as e:
        raise ValueError(f"{path}:{_syntax_error(str(e), text)}") from None
    except RecursionError:
        raise ValueError(f"{path}: nested too deeply to be a {what} file") from None
    except ValueError as e:   # an integer of more digits than Python converts
        long = re.search(r"[0-9_]{4000,}", text)
        if long is None:
            raise ValueError(f"{path}: {_one_line(str(e))}") from None
        line = text.count("\n", 0, long.start()) + 1
        raise ValueError(f"{path}:{line}: a number of {len(long.group())} digits: no figure needs more than a "
                         f"few") from None


def _syntax_error(message: str, text: str) -> str:
    """tomllib's '... (at line 7, column 3)' as '7: ... (column 3)'."""
    m = re.search(r"\s*\(at line (\d+), column (\d+)\)$", message)
    if m:
        return f"{m.group(1)}: {message[:m.start()]} (column {m.group(2)}); not valid TOML"
    m = re.search(r"\s*\(at end of document\)$", message)
    if m:
        return f"{max(1, len(text.splitlines()))}: {message[:m.start()]} at the end of the file; not valid TOML"
    return f" {_one_line(message)}; not valid TOML"


def _one_line(message: str) -> str:
    """``message``'s lines joined into one (the spaces within a line kept:
    a quoted value is shown as it is)."""
    return " ".join(line.strip() for line in message.splitlines() if line.strip())


def show(value, limit: int = 60) -> str:
    """``repr(value)``, shortened to about ``limit`` characters (a message
    stays readable when the value is a huge array or string)."""
    try:
        r = repr(value)
    except ValueError:          # an int too long to print
        return "<an integer of thousands of digits>"
    return r if len(r) <= limit else r[:limit] + "..."


# ---- where each key is -----------------------------------------------------------------
class Locator:
    """The line (1-based) where each key path of a TOML text is defined.

    >>> Locator('a = 1\\n[[step]]\\nzone = "x"\\n[[step]]\\nzone = "y"\\n').line(("step", 1, "zone"))
    5

    Paths are tuples of keys and array indices: ``("step", 1, "zone")`` is
    the key ``zone`` of the second step, whether the steps are written as
    ``[[step]]`` tables or as ``step = [{...}, {...}]``.  It is a scanner,
    not a parser: run it on text that ``tomllib`` has accepted.
    """

    def __init__(self, text: str):
        self.text = text
        self.lines: dict[tuple, int] = {}
        self._implicit: set[tuple] = set()   # paths only implied (by a longer header or dotted key)
        self._newlines = [i for i, c in enumerate(text) if c == "\n"]
        self.pos = 0
        try:
            self._document()
        except (_Stop, IndexError, RecursionError):
            pass          # keep what was found: every other path falls back to its parent

    def line(self, path) -> int:
        """The line of ``path``, or of the nearest enclosing path found (1 for the top)."""
        path = tuple(path)
        while path:
            if path in self.lines:
                return self.lines[path]
            path = path[:-1]
        return 1

    # -- recording
    def _here(self) -> int:
        return bisect.bisect_left(self._newlines, self.pos) + 1

    def _record(self, path: tuple, line: int, explicit: bool = True) -> None:
        for n in range(1, len(path)):
            if path[:n] not in self.lines:
                self.lines[path[:n]] = line
                self._implicit.add(path[:n])
        if path not in self.lines or (explicit and path in self._implicit):
            self.lines[path] = line
            if explicit:
                self._implicit.discard(path)

    # -- the grammar, as much as is needed
    def _document(self) -> None:
        table: tuple = ()
        arrays: dict[tuple, int] = {}       # path of an array of tables -> index of its last table
        while True:
            self._blank()
            if self.pos >= len(self.text):
                return
            start = self.pos
            line = self._here()
            if self.text.startswith("[[", self.pos):
                self.pos += 2
                keys = self._key()
                self._spaces()
                self._expect("]]")
                table = self._concrete(keys, arrays)
                arrays[table] = arrays.get(table, -1) + 1
                table += (arrays[table],)
                self._record(table, line)
            elif self.text.startswith("[", self.pos):
                self.pos += 1
                keys = self._key()
                self._spaces()
                self._expect("]")
                table = self._concrete(keys, arrays)
                self._record(table, line)
            else:
                self._pair(table)
            self._rest_of_line()
            if self.pos == start:
                raise _Stop

    @staticmethod
    def _concrete(keys: tuple, arrays: dict) -> tuple:
        """A header's path with the current index of each array of tables on the way."""
        path: tuple = ()
        for i, k in enumerate(keys):
            path += (k,)
            if i < len(keys) - 1 and path in arrays:
                path += (arrays[path],)
        return path

    def _pair(self, table: tuple) -> None:
        line = self._here()
        keys = self._key()
        for n in range(1, len(keys)):
            self._record(table + keys[:n], line, explicit=False)
        self._record(table + keys, line)
        self._spaces()
        self._expect("=")
        self._spaces()
        self._value(table + keys)

    def _key(self) -> tuple:
        parts = []
        while True:
            self._spaces()
            c = self.text[self.pos]
            if c in "\"'":
                start = self.pos
                self._string()
                parts.append(tomllib.loads("k = " + self.text[start:self.pos])["k"])
            else:
                m = _BARE.match(self.text, self.pos)
                if not m:
                    raise _Stop
                parts.append(m.group())
                self.pos = m.end()
            self._spaces()
            if self.pos < len(self.text) and self.text[self.pos] == ".":
                self.pos += 1
                continue
            return tuple(parts)

    def _value(self, path: tuple) -> None:
        c = self.text[self.pos]
        if c in "\"'":
            self._string()
        elif c == "{":
            self.pos += 1
            while True:
                self._blank()
                if self.text[self.pos] == "}":
                    self.pos += 1
                    return
                self._pair(path)
                self._blank()
                if self.text[self.pos] == ",":
                    self.pos += 1
        elif c == "[":
            self.pos += 1
            i = 0
            while True:
                self._blank()
                if self.text[self.pos] == "]":
                    self.pos += 1
                    return
                self._record(path + (i,), self._here())
                self._value(path + (i,))
                self._blank()
                if self.text[self.pos] == ",":
                    self.pos += 1
                    i += 1
        else:     # a number, bool or date: up to what ends a value
            m = _SCALAR.match(self.text, self.pos)
            if not m or m.end() == self.pos:
                raise _Stop
            self.pos = m.end()

    def _string(self) -> None:
        t = self.text
        for quote in ('"""', "'''"):
            if t.startswith(quote, self.pos):
                i = self.pos + 3
                while True:
                    if quote == '"""' and t[i] == "\\":
                        i += 2
                        continue
                    if t.startswith(quote, i):
                        i += 3
                        extra = 0
                        while extra < 2 and i < len(t) and t[i] == quote[0]:   # '""""' ends with a quote
                            i += 1
                            extra += 1
                        self.pos = i
                        return
                    i += 1
        quote = t[self.pos]
        i = self.pos + 1
        while t[i] != quote:
            if t[i] == "\n":
                raise _Stop
            i += 2 if quote == '"' and t[i] == "\\" else 1
        self.pos = i + 1

    def _spaces(self) -> None:
        while self.pos < len(self.text) and self.text[self.pos] in " \t":
            self.pos += 1

    def _blank(self) -> None:
        """Spaces, newlines and comments."""
        while self.pos < len(self.text):
            c = self.text[self.pos]
            if c in " \t\r\n":
                self.pos += 1
            elif c == "#":
                end = self.text.find("\n", self.pos)
                self.pos = len(self.text) if end < 0 else end
            else:
                return

    def _rest_of_line(self) -> None:
        self._spaces()
        if self.pos < len(self.text) and self.text[self.pos] == "#":
            end = self.text.find("\n", self.pos)
            self.pos = len(self.text) if end < 0 else end

    def _expect(self, s: str) -> None:
        if not self.text.startswith(s, self.pos):
            raise _Stop
        self.pos += len(s)


class _Stop(Exception):
    """The scanner met what it does not understand: it keeps what it found."""


_BARE = re.compile(r"[A-Za-z0-9_-]+")
_SCALAR = re.compile(r"[^,\]}\n#\r]*[^,\]}\n#\r \t]")


# ---- a schema: the keys of a table -----------------------------------------------------------
@dataclass(frozen=True)
class Kind:
    """A TOML type a key takes: its name in messages and a test of a value."""

    name: str
    accepts: Callable[[object], bool]


def _is_number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


NUMBER = Kind("a number", _is_number)
INTEGER = Kind("an integer", lambda v: isinstance(v, int) and not isinstance(v, bool))
STRING = Kind("a string", lambda v: isinstance(v, str))
BOOL = Kind("true or false", lambda v: isinstance(v, bool))
TABLE = Kind("a table", lambda v: isinstance(v, dict))
TABLES = Kind("an array of tables", lambda v: isinstance(v, list))        # each element checked by check()
ARRAY = Kind("an array", lambda v: isinstance(v, list))
NUMBERS = Kind("an array of numbers", lambda v: isinstance(v, list))      # each element checked by check()
NUMBER_OR_STRING = Kind("a number or a string", lambda v: _is_number(v) or isinstance(v, str))
DATE = Kind("a date, a date-time or an ISO date string",
            lambda v: isinstance(v, (datetime.date, str)))   # a datetime is a date


@dataclass(frozen=True)
class Key:
    """One key of a table: its TOML type, whether it must be given, and what
    is allowed (unit, range, default: said in every message about it)."""

    name: str
    kind: Kind
    allowed: str
    required: bool = False


@dataclass(frozen=True)
class Table:
    """A table of a file, where it is and how errors name it: ``title`` in
    'unknown key ... in TITLE', ``prefix`` before every other message."""

    source: Source
    path: tuple
    title: str
    prefix: str = ""

    def error(self, key, message: str, *, prefixed: bool = True) -> ValueError:
        """``FILE:LINE: message`` at ``key`` (a name, a path within this table, or None for the table)."""
        rel = () if key is None else (key if isinstance(key, tuple) else (key,))
        return self.source.error(self.path + rel, (self.prefix if prefixed else "") + message)

    def sub(self, key, title: str) -> Table:
        """The table at ``key`` (a name or a relative path) in this one."""
        rel = key if isinstance(key, tuple) else (key,)
        return Table(self.source, self.path + rel, title, f"{title}: ")


class Source:
    """A TOML file being read: its table, its text, and where each key is."""

    def __init__(self, path, what: str):
        self.path = _checks.path("path", path)
        self.data, self.text = read_toml(self.path, what)
        self.where = Locator(self.text)

    def error(self, path: tuple, message: str) -> ValueError:
        return ValueError(f"{self.path}:{self.where.line(path)}: {_one_line(message)}")

    def top(self, title: str) -> Table:
        return Table(self, (), title)


def check(table: Table, value: dict, keys) -> None:
    """Refuse unknown keys, missing required ones, and values of the wrong
    TOML type (arrays of tables and of numbers element by element)."""
    by_name = {k.name: k for k in keys}
    for name, v in value.items():
        k = by_name.get(name)
        if k is None:
            raise table.error(name, f"unknown key {name!r} in {table.title}; allowed: {', '.join(by_name)}",
                              prefixed=False)
        if not k.kind.accepts(v):
            raise table.error(name, f"{name}={show(v)} must be {k.kind.name} ({k.allowed})")
        if k.kind in (TABLES, NUMBERS):
            element = TABLE if k.kind is TABLES else NUMBER
            for i, x in enumerate(v):
                if not element.accepts(x):
                    raise table.error((name, i), f"{name}[{i}]={show(x)} must be {element.name} ({k.allowed})")
    for k in keys:
        if k.required and k.name not in value:
            raise table.error(None, f"missing key {k.name!r}: {k.kind.name} ({k.allowed})")


def refuse(table: Table, value: dict, names, why: str) -> None:
    """Refuse the first of ``names`` given in ``value`` (a key that would be
    ignored), saying ``why``."""
    for name in names:
        if name in value:
            raise table.error(name, f"{name}={show(value[name])} is not allowed {why}")


def build(table: Table, constructor, value: dict, *, at=None, **kwargs):
    """``constructor(**kwargs)`` (default: the table's values); its
    ValueError or TypeError becomes one at the line of ``at(error)`` (a
    path, or None), else of the key it names."""
    try:
        return constructor(**(kwargs or value))
    except (ValueError, TypeError) as e:
        raise table.error((at and at(e)) or named_key(str(e), value), str(e)) from None


def named_key(message: str, value: dict) -> tuple | None:
    """The path (within ``value``) of the key a message names first, as
    ``name=...`` or ``name[i]=...`` (else as a word: "pattern token ...");
    keys of nested tables count too, the table's own first.  None when it
    names none."""
    for pattern in (r"(?<![\w.']){}(?:\[(\d+)\])?=", r"(?<![\w.']){}()(?![\w=])"):
        best = None
        for path in _paths(value):
            m = re.search(pattern.format(re.escape(str(path[-1]))), message)
            if m and (best is None or m.start() < best[0]):
                best = (m.start(), path + ((int(m.group(1)),) if m.group(1) else ()))
        if best:
            return best[1]
    return None


def _paths(value: dict, prefix: tuple = ()):
    """Every key path in a table: its own keys first, then those of tables within."""
    for k in value:
        yield prefix + (k,)
    for k, v in value.items():
        if isinstance(v, dict):
            yield from _paths(v, prefix + (k,))
