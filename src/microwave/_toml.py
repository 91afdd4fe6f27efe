"""Reading TOML files (sessions, stages): one-line errors that name the
file, and the line of the key an error is about."""
from __future__ import annotations

import re
import tomllib
from pathlib import Path


def read_toml(path) -> tuple[dict, str]:
    """A TOML file's table and text; any file that is not TOML -- unreadable,
    binary, not UTF-8, nested too deeply -- is a ValueError of one line that
    names the file."""
    path = Path(path)
    try:
        text = path.read_bytes().decode("utf-8")
    except OSError as e:
        raise ValueError(f"{path}: cannot read: {e.strerror}") from None
    except UnicodeDecodeError as e:
        raise ValueError(f"{path}: not a UTF-8 text file (TOML is UTF-8; byte {e.start} is not): "
                         f"save it as UTF-8 text") from None
    if "\x00" in text:
        raise ValueError(f"{path}: a binary file, not TOML text")
    try:
        return tomllib.loads(text), text
    except tomllib.TOMLDecodeError as e:
        raise ValueError(f"{path}: {e}") from None
    except RecursionError:
        raise ValueError(f"{path}: nested too deeply to be a session or stage file") from None


def line_of(text: str, key: str, start: int = 1) -> int:
    """The line (1-based) where ``key = ...`` is first written at or after
    line ``start`` (a top-level key, or one in an inline table), else ``start``."""
    pattern = re.compile(rf"(^|[{{,\s]){re.escape(key)}\s*=")
    for i, line in enumerate(text.splitlines()[start - 1:], start):
        if pattern.search(line.split("#", 1)[0]):
            return i
    return start


def named_line(text: str, message: str, keys, start: int = 1) -> int:
    """The line of the key an error message names (``key=value`` or
    ``key 'name'``) among ``keys``, at or after ``start``; else ``start``."""
    def every(table):      # the keys of a table and of the tables inside it
        for k, v in (table.items() if isinstance(table, dict) else ((k, None) for k in table)):
            yield k
            for sub in (v if isinstance(v, list) else [v]):
                if isinstance(sub, dict):
                    yield from every(sub)
    for key in sorted(set(every(keys)), key=len, reverse=True):
        if re.search(rf"\b{re.escape(key)}=|key '{re.escape(key)}'", message):
            return line_of(text, key, start)
    return start
