"""The locator finds the line where each key path of a TOML text is defined.

Two oracles, neither of them the locator: files written by hand with their
lines counted by hand, and random nested tables written to TOML by a small
writer of our own in several layouts (headers, arrays of tables, inline
tables and arrays, dotted keys, multi-line arrays and strings, comments),
which notes the line it puts each key on.
"""
import math
import re
import string
import tomllib

from hypothesis import given, settings, strategies as st

from microwave._toml import Locator

SESSION = '''\
# a session "with" = tricky { comments [[step]]
name = "a # not a comment = {"
channels = 2
note = """
[[step]]
zone = "not a step"
"""

[[step]]
zone = 'forehead'   # a comment with = and {
mode = "lift"
seconds = 30

[[step]]
zone = "jaw"
spec = { type = "biphasic", freq_hz = 300, burst = { on_s = 0.6, off_s = 0.4 } }
seconds = 20
specs = [
  { type = "monophasic", amp_ua = 1 },

  { type = "biphasic", "quoted key" = "}", amp_ua = 2 },
]
a.b.c = 1
'''
SESSION_LINES = {
    ("name",): 2, ("channels",): 3, ("note",): 4,
    ("step", 0): 9, ("step", 0, "zone"): 10, ("step", 0, "mode"): 11, ("step", 0, "seconds"): 12,
    ("step", 1): 14, ("step", 1, "zone"): 15, ("step", 1, "spec"): 16, ("step", 1, "spec", "type"): 16,
    ("step", 1, "spec", "burst", "off_s"): 16, ("step", 1, "seconds"): 17, ("step", 1, "specs"): 18,
    ("step", 1, "specs", 0): 19, ("step", 1, "specs", 0, "amp_ua"): 19,
    ("step", 1, "specs", 1): 21, ("step", 1, "specs", 1, "quoted key"): 21, ("step", 1, "specs", 1, "amp_ua"): 21,
    ("step", 1, "a"): 23, ("step", 1, "a", "b", "c"): 23,
}

INLINE_STEPS = '''\
name = "x"
step = [
    {zone = "a", mode = "lift", seconds = 1},
    {zone = "b", mode = "lift",
     seconds = 2},
]
soft_start_s = 1
'''

STAGE = '''\
ua_per_v = 500
channel_map = [
  0,
  [1, 2],
]
coupling = "ac"

[calibration]
date = 2026-12-01T10:00:00
loop_gain = [0.5, 0.5, 0.5]
'''


def test_lines_of_a_hand_written_session():
    found = Locator(SESSION)
    assert {p: found.lines.get(p) for p in SESSION_LINES} == SESSION_LINES
    assert tomllib.loads(SESSION)["note"].startswith("[[step]]")   # the string that looks like a header
    assert ("step", 2) not in found.lines


def test_windows_line_ends_change_no_line():
    found = Locator(SESSION.replace("\n", "\r\n"))
    assert {p: found.lines.get(p) for p in SESSION_LINES} == SESSION_LINES


def test_lines_of_inline_steps_and_a_stage():
    found = Locator(INLINE_STEPS)
    assert found.line(("step", 0, "zone")) == 3
    assert found.line(("step", 1)) == 4
    assert found.line(("step", 1, "seconds")) == 5        # an array's element spans lines
    assert found.line(("soft_start_s",)) == 7
    stage = Locator(STAGE)
    assert [stage.line(p) for p in [("channel_map", 0), ("channel_map", 1), ("channel_map", 1, 1), ("coupling",),
                                    ("calibration",), ("calibration", "date"), ("calibration", "loop_gain", 2)]] \
        == [3, 4, 4, 6, 8, 9, 10]


def test_a_path_not_found_falls_back_to_the_nearest_enclosing_one():
    found = Locator(SESSION)
    assert found.line(("step", 1, "cue_every_s")) == 14       # not given: the step's header
    assert found.line(("step", 1, "spec", "sweep", "start_hz")) == 16
    assert found.line(("nowhere",)) == 1


# ---- random tables, written by our own writer ----------------------------------------------
BARE = string.ascii_letters + string.digits + "_-"
KEY = st.text(alphabet=BARE + " #={}[].\"'\\", min_size=1, max_size=6)
TEXT = st.text(alphabet=string.ascii_letters + " #={}[],.\"'\\\n\t", max_size=10)
SCALAR = st.one_of(st.integers(-10**20, 10**20), st.booleans(),
                   st.floats(allow_nan=False, allow_infinity=False), TEXT)
TREE = st.recursive(SCALAR | st.lists(SCALAR, max_size=3),
                    lambda kids: st.dictionaries(KEY, kids, max_size=4)
                    | st.lists(st.dictionaries(KEY, kids, max_size=3), min_size=1, max_size=3),
                    max_leaves=24)
DOC = st.dictionaries(KEY, TREE, max_size=6)


def _key(k: str) -> str:
    return k if re.fullmatch(r"[A-Za-z0-9_-]+", k) else '"' + k.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _is_tables(v) -> bool:
    return isinstance(v, list) and bool(v) and all(isinstance(x, dict) for x in v)


class Writer:
    """Writes a table as TOML, choosing a layout for each part with
    ``choose`` and noting the line where it puts each key path."""

    def __init__(self, choose):
        self.choose = choose
        self.out = ""
        self.lines: dict[tuple, int] = {}

    def line(self) -> int:
        return self.out.count("\n") + 1

    def note(self, path):
        self.lines.setdefault(path, self.line())

    def document(self, doc: dict):
        self.body((), (), doc, headers=True)
        return self.out

    def body(self, path, keys, table, headers):
        """Key/value lines of a table; with ``headers``, its sub-tables and
        arrays of tables may follow as [headers] and [[headers]]."""
        later = []
        for k, v in table.items():
            if headers and isinstance(v, dict) and self.choose(["pair", "header"]) == "header":
                later.append((k, v))
            elif headers and _is_tables(v) and self.choose(["pair", "header"]) == "header":
                later.append((k, v))
            else:
                self.pair(path, (), k, v)
                self.out += self.choose(["\n", "   # a = {comment}\n", "\n\n"])
        for k, v in later:
            if isinstance(v, dict):
                self.note(path + (k,))
                self.out += "[" + ".".join(map(_key, keys + (k,))) + "]\n"
                self.body(path + (k,), keys + (k,), v, headers=True)
            else:
                self.note(path + (k,))
                for i, x in enumerate(v):
                    self.note(path + (k, i))
                    self.out += "[[" + " . ".join(map(_key, keys + (k,))) + "]]  # [[x]]\n"
                    self.body(path + (k, i), keys + (k,), x, headers=True)

    def pair(self, path, dotted, k, v):
        """``k = v`` at the body's level; a table may be written as dotted keys."""
        if isinstance(v, dict) and v and self.choose(["inline", "dotted"]) == "dotted":
            self.note(path + (k,))
            for i, (k2, v2) in enumerate(v.items()):
                if i:
                    self.out += "\n"
                self.pair(path + (k,), dotted + (k,), k2, v2)
            return
        self.note(path + (k,))
        self.out += ".".join(map(_key, dotted + (k,))) + " = "
        self.value(path + (k,), v, inline=False)

    def value(self, path, v, inline):
        if isinstance(v, dict):
            self.out += "{ "
            for i, (k, x) in enumerate(v.items()):
                self.note(path + (k,))
                self.out += (", " if i else "") + _key(k) + " = "
                self.value(path + (k,), x, inline=True)
            self.out += " }"
        elif isinstance(v, list):
            multi = not inline and self.choose([False, True])
            self.out += "["
            for i, x in enumerate(v):
                if multi:
                    self.out += self.choose(["\n  ", "\n  # = { [\n  "])
                self.note(path + (i,))
                self.value(path + (i,), x, inline=True)
                self.out += ","
            self.out += "\n]" if multi else "]"
        elif isinstance(v, bool):
            self.out += "true" if v else "false"
        elif isinstance(v, (int, float)):
            self.out += repr(v)
        else:
            self.string(v, inline)

    def string(self, s, inline):
        kinds = ["basic"] + (["literal"] if "'" not in s and "\n" not in s else [])
        if not inline:
            kinds += ["multi"] + (["multi literal"] if "'" not in s else [])
        kind = self.choose(kinds)
        esc = s.replace("\\", "\\\\").replace('"', '\\"')
        if kind == "basic":
            self.out += '"' + esc.replace("\n", "\\n").replace("\t", "\\t") + '"'
        elif kind == "literal":
            self.out += "'" + s + "'"
        elif kind == "multi":
            self.out += '"""\n' + esc + '"""'
        else:
            self.out += "'''\n" + s + "'''"


def _leaves(value, path=()):
    if isinstance(value, dict):
        for k, v in value.items():
            yield path + (k,)
            yield from _leaves(v, path + (k,))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield path + (i,)
            yield from _leaves(v, path + (i,))


def _same(a, b) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return a == b or (math.isnan(a) and math.isnan(b))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    return type(a) is type(b) and a == b


@settings(max_examples=200, deadline=None, database=None)
@given(DOC, st.data())
def test_the_locator_finds_every_key_where_the_writer_put_it(doc, data):
    writer = Writer(lambda options: data.draw(st.sampled_from(options)))
    text = writer.document(doc)
    assert _same(tomllib.loads(text), doc), text         # the writer writes what it means
    found = Locator(text).lines
    for path in _leaves(doc):
        assert found.get(path) == writer.lines[path], (path, text)


def test_the_property_is_not_vacuous():
    """The writer's layouts all occur, and a locator that knew only the first
    line of each table would fail the property."""
    doc = {"s": [1, 2], "a": {"b": 1, "c": "x\ny"}, "t": [{"k": 1}, {"k": 2}]}
    prefer = ["header", "multi", True, "\n  # = { [\n  ", "   # a = {comment}\n"]
    writer = Writer(lambda options: next((p for p in prefer if p in options), options[0]))
    text = writer.document(doc)
    assert "[a]" in text and "[[t]]" in text and '"""' in text and "s = [\n" in text, text
    assert writer.lines[("t", 1, "k")] > writer.lines[("t", 0, "k")] > writer.lines[("a", "c")]
    assert writer.lines[("s", 1)] > writer.lines[("s", 0)] > writer.lines[("s",)]
    found = Locator(text).lines
    assert all(found[p] == writer.lines[p] for p in _leaves(doc))
