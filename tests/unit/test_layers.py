"""The layers of DESIGN.md hold in the imports: data flows one way, and only plugin/ knows Locust.

    sources/ -> image/ -> registry/ -> plugin/ (Locust);  load/ and config/ beside;  tools/ on top (no Locust)
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

import registry_tasks

PACKAGE = Path(registry_tasks.__file__).parent
MODULES = sorted(PACKAGE.rglob("*.py"))
MAX_LINES = 450

# What each subpackage may import from the others (beyond itself and the standard library).
ALLOWED = {
    "image": set(),
    "sources": {"image"},
    "registry": {"image"},
    "load": set(),
    "config": {"image", "load", "registry"},
    "plugin": {"image", "sources", "registry", "load", "config"},
    "tools": {"image", "sources", "registry", "config"},
}
LOCUST_WORLD = ("locust", "flask", "geventhttpclient", "zmq")
EVERYWHERE = ("__version__", "errors")
"""Top-level names every layer may import: the version, and the one exception root (a leaf: it imports nothing)."""


def layer(path: Path) -> str:
    relative = path.relative_to(PACKAGE).parts
    return relative[0] if len(relative) > 1 else "<top>"


def imports(path: Path) -> list[tuple[str, int]]:
    """(absolute module name, line) of every import in a module, relative ones resolved."""
    package = ["registry_tasks", *path.relative_to(PACKAGE).parts[:-1]]
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            module = ".".join([*base, node.module] if node.module else base)
            found += [(f"{module}.{alias.name}" if not node.module else module, node.lineno) for alias in node.names]
    return found


@pytest.mark.parametrize("path", MODULES, ids=lambda path: str(path.relative_to(PACKAGE)))
def test_module_imports_follow_the_layers(path: Path) -> None:
    own = layer(path)
    for module, line in imports(path):
        where = f"{path.relative_to(PACKAGE)}:{line} imports {module}"
        if module.split(".")[0] in LOCUST_WORLD:
            assert own == "plugin", f"{where}: only plugin/ may import Locust"
        if module.startswith("registry_tasks.") and own in ALLOWED:
            target = module.split(".")[1]
            if target in EVERYWHERE:
                continue
            assert target == own or target in ALLOWED[own], f"{where}: {own}/ may not depend on {target}/"


def test_the_exception_root_is_a_leaf_every_layer_may_import() -> None:
    """registry_tasks/errors.py imports nothing of ours, so that image/, load/ and registry/ alike derive from it."""
    ours = [module for module, _ in imports(PACKAGE / "errors.py") if module.startswith("registry_tasks")]
    assert ours == []


@pytest.mark.parametrize("path", MODULES, ids=lambda path: str(path.relative_to(PACKAGE)))
def test_no_module_is_over_the_size_limit(path: Path) -> None:
    assert len(path.read_text().splitlines()) <= MAX_LINES


def private_names_defined(tree: ast.AST) -> set[str]:
    """Underscore names our code defines: functions, classes, names and `self.` attributes assigned, annotated
    fields, __slots__ entries. (Assigning `other._x` defines nothing: that is how the old code patched
    geventhttpclient's pool.)"""
    defined: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.ClassDef, ast.FunctionDef)):
            defined.add(node.name)
        elif isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                for leaf in ast.walk(target):
                    if isinstance(leaf, ast.Attribute) and isinstance(leaf.value, ast.Name) and leaf.value.id == "self":
                        defined.add(leaf.attr)
                    elif isinstance(leaf, ast.Name):
                        defined.add(leaf.id)
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value.startswith("_"):
            defined.add(node.value)  # __slots__ = ("_conn", ...)
    return {name for name in defined if name.startswith("_")}


def test_no_private_attribute_of_another_library_is_touched() -> None:
    """`x._name` is allowed only for names our own code defines: nothing reaches into Locust's, gevent's or
    geventhttpclient's internals (which is what tied the plugin to one exact Locust version)."""
    trees = {path: ast.parse(path.read_text(), str(path)) for path in MODULES}
    ours = set().union(*(private_names_defined(tree) for tree in trees.values()))
    offenders = [
        f"{path.relative_to(PACKAGE)}:{node.lineno} .{node.attr}"
        for path, tree in trees.items()
        for node in ast.walk(tree)
        if isinstance(node, ast.Attribute) and node.attr.startswith("_") and not node.attr.startswith("__")
        and node.attr not in ours
    ]  # fmt: skip
    assert not offenders, "private attributes of other libraries touched:\n" + "\n".join(offenders)


def test_the_public_api_loads_without_locust_until_a_user_class_is_taken() -> None:
    names = set(registry_tasks.__all__)
    assert {"RegistryUser", "RegistryClient", "pull_image", "push_image", "load_fixtures", "synthetic_image"} <= names
    for name in names:
        assert getattr(registry_tasks, name) is not None


def test_the_audit_command_imports_no_locust_and_registers_no_listener() -> None:
    """`python -m registry_tasks audit` runs without Locust: importing it must not load (or patch) anything of it."""
    probe = (
        "import sys, registry_tasks.__main__, registry_tasks.tools.audit;"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('locust', 'flask')))"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True)
    assert result.stdout.strip() == "[]"
