"""The type stubs beside each extension say what the extension has: every
public name of the compiled module, and of each class, is in its .pyi, and
nothing the .pyi names (a private one too) is missing at run time.  py.typed
ships too."""
import ast
import importlib
from pathlib import Path

import pytest

import microwave


def _stub_names(path: Path) -> dict[str, set[str]]:
    tree = ast.parse(path.read_text())
    names: dict[str, set[str]] = {"": set()}
    for node in tree.body:
        if isinstance(node, ast.ClassDef):
            names[""].add(node.name)
            names[node.name] = {n.name for n in node.body if isinstance(n, ast.FunctionDef)
                                and not n.name.startswith("_")} | {
                n.target.id for n in node.body if isinstance(n, ast.AnnAssign)}
        elif isinstance(node, ast.AnnAssign):
            names[""].add(node.target.id)
        elif isinstance(node, ast.FunctionDef):
            names[""].add(node.name)
    return names


def _public(obj) -> set[str]:
    return {n for n in dir(obj) if not n.startswith("_")}


@pytest.mark.parametrize("name", ["_core"])
def test_each_extension_has_a_true_stub(name):
    module = importlib.import_module(f"microwave.{name}")
    stub = Path(microwave.__file__).parent / f"{name}.pyi"
    assert stub.is_file(), f"{stub} is not installed beside the extension"
    names = _stub_names(stub)
    runtime = {n for n in _public(module) if getattr(getattr(module, n), "__module__", f"microwave.{name}")
               == f"microwave.{name}" and n not in ("np",)}
    public = {n for n in names[""] if not n.startswith("_")}
    assert runtime == public, f"{name}: runtime {sorted(runtime ^ public)} differ from the stub"
    # a private name the stub declares (for the package's own imports, type-checked) exists too
    assert all(hasattr(module, n) for n in names[""] - public), f"{name}: {sorted(names[''] - public)}"
    for cls, members in names.items():
        if cls:
            assert _public(getattr(module, cls)) == members, (
                f"{name}.{cls}: {sorted(_public(getattr(module, cls)) ^ members)}")


def test_the_package_says_it_is_typed():
    assert (Path(microwave.__file__).parent / "py.typed").is_file()
