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
PLUGIN = PACKAGE / "plugin"
PLUGIN_MODULES = sorted(PLUGIN.rglob("*.py"))
PLUGIN_ALLOWED = {
    "run": set(),
    "users": {"run"},
    "open_model": {"run", "users"},
    "reporting": {"run", "open_model"},
}
"""What each sub-package of plugin/ may import from the others. The modules at plugin/'s top (the package,
registry_plugin.py with the one object per environment, start_form.py) may import them all; none imports those."""


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


def plugin_part(path: Path) -> str:
    relative = path.relative_to(PLUGIN).parts
    return relative[0] if len(relative) > 1 else "<top>"


@pytest.mark.parametrize("path", PLUGIN_MODULES, ids=lambda path: str(path.relative_to(PLUGIN)))
def test_plugin_sub_packages_import_one_way(path: Path) -> None:
    """run/ <- users/ <- open_model/ <- reporting/, and the top of plugin/ over them all."""
    own = plugin_part(path)
    if own == "<top>":
        return
    for module, line in imports(path):
        if not module.startswith("registry_tasks.plugin"):
            continue
        where = f"plugin/{path.relative_to(PLUGIN)}:{line} imports {module}"
        parts = module.split(".")
        target = parts[2] if len(parts) > 2 else "<top>"
        assert target in PLUGIN_ALLOWED, f"{where}: a sub-package of plugin/ may not import plugin/'s top"
        assert target == own or target in PLUGIN_ALLOWED[own], f"{where}: plugin/{own}/ may not depend on {target}/"


FROZEN_CALLS = {
    "frozenset", "tuple", "MappingProxyType", "TypeVar", "NamedTuple", "namedtuple", "str", "int", "float",
    "logging.getLogger",  # a logger belongs to the logging module's registry, not to the plugin's run
}  # fmt: skip
"""Module-level values made by a call that are immutable (or, for loggers, not the plugin's state)."""
ALLOWED_MODULE_STATE = {
    ("__init__.py", "__all__"): "the package's public names: a list by Python's convention, never changed",
}
"""Module-level assignments of a mutable value that are allowed, each with its reason."""


def frozen_dataclasses() -> set[str]:
    """Classes of plugin/ declared `@dataclass(frozen=True)`: their instances are immutable values."""
    found = set()
    for path in PLUGIN_MODULES:
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.ClassDef) and any(
                isinstance(decorator, ast.Call) and any(
                    keyword.arg == "frozen" and isinstance(keyword.value, ast.Constant) and keyword.value.value
                    for keyword in decorator.keywords
                )
                for decorator in node.decorator_list
            ):
                found.add(node.name)
    return found


def immutable(node: ast.expr, frozen: set[str]) -> bool:
    """Whether a module-level value is one nobody can change: constants, tuples of them, names of other values,
    type aliases (`Callable[...]`), functions, and the results of FROZEN_CALLS or of frozen dataclasses."""
    if isinstance(node, (ast.Constant, ast.Name, ast.Attribute, ast.Subscript, ast.Lambda, ast.JoinedStr)):
        return True
    if isinstance(node, ast.Tuple):
        return all(immutable(element, frozen) for element in node.elts)
    if isinstance(node, ast.BinOp):
        return immutable(node.left, frozen) and immutable(node.right, frozen)
    if isinstance(node, ast.UnaryOp):
        return immutable(node.operand, frozen)
    if isinstance(node, ast.Starred):
        return immutable(node.value, frozen)
    if isinstance(node, ast.Call):
        return ast.unparse(node.func) in FROZEN_CALLS | frozen
    return False


def module_statements(body: list[ast.stmt]) -> list[ast.stmt]:
    """A module's own statements, those under a module-level `if` or `try` included."""
    found: list[ast.stmt] = []
    for node in body:
        found.append(node)
        if isinstance(node, (ast.If, ast.Try)):
            nested = [*node.body, *node.orelse, *getattr(node, "finalbody", [])]
            nested += [statement for handler in getattr(node, "handlers", []) for statement in handler.body]
            found += module_statements(nested)
    return found


MUTABLE_DISPLAYS = (ast.List, ast.Dict, ast.Set, ast.ListComp, ast.DictComp, ast.SetComp)


@pytest.mark.parametrize("path", PLUGIN_MODULES, ids=lambda path: str(path.relative_to(PLUGIN)))
def test_plugin_keeps_no_state_in_modules(path: Path) -> None:
    """A run's state lives in the environment's RegistryPlugin, never in a module: no `global`, no module-level
    mutable value (a list, dict or set, or what a call returns unless it is frozen), no mutable class attribute
    (shared by every instance, in every environment of the process)."""
    name = str(path.relative_to(PLUGIN))
    tree = ast.parse(path.read_text(), str(path))
    frozen = frozen_dataclasses()
    offenders = [f"{name}:{node.lineno} global {', '.join(node.names)}"
                 for node in ast.walk(tree) if isinstance(node, ast.Global)]  # fmt: skip
    for node in module_statements(tree.body):
        if isinstance(node, ast.AugAssign):
            offenders.append(f"{name}:{node.lineno} {ast.unparse(node.target)} changed at module level")
        elif isinstance(node, (ast.Assign, ast.AnnAssign)) and node.value is not None:
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                if (name, ast.unparse(target)) not in ALLOWED_MODULE_STATE and not immutable(node.value, frozen):
                    offenders.append(f"{name}:{node.lineno} {ast.unparse(target)} = {ast.unparse(node.value)[:60]}")
        elif isinstance(node, ast.ClassDef):
            for statement in node.body:
                value = getattr(statement, "value", None)
                if isinstance(statement, (ast.Assign, ast.AnnAssign)) and isinstance(value, MUTABLE_DISPLAYS):
                    offenders.append(f"{name}:{statement.lineno} {node.name}: a mutable class attribute")
    assert not offenders, "module-level mutable state in plugin/:\n" + "\n".join(offenders)


def test_the_allowed_module_state_is_still_there() -> None:
    """Each allowance names an assignment that exists (a stale one would allow its name's return unnoticed)."""
    for (name, target), reason in ALLOWED_MODULE_STATE.items():
        assert reason
        tree = ast.parse((PLUGIN / name).read_text())
        assigned = {ast.unparse(t) for node in tree.body if isinstance(node, ast.Assign) for t in node.targets}
        assert target in assigned, (name, target)


SHARED_NAMES = {"log"}
"""Top-level names every module may declare for itself: its logger."""


def test_no_two_plugin_modules_declare_the_same_name() -> None:
    """One declaration per public name in plugin/: two modules defining `check`, `merged` or `HEADLINES` read as
    one thing and are two, and an import of one shadows the other."""
    declared: dict[str, list[str]] = {}
    for path in PLUGIN_MODULES:
        for node in ast.parse(path.read_text(), str(path)).body:
            if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
                names = [node.name]
            elif isinstance(node, (ast.Assign, ast.AnnAssign)):
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                names = [leaf.id for target in targets for leaf in ast.walk(target) if isinstance(leaf, ast.Name)]
            else:
                continue
            for name in names:
                if not name.startswith("_") and name not in SHARED_NAMES:
                    declared.setdefault(name, []).append(str(path.relative_to(PLUGIN)))
    twice = {name: where for name, where in declared.items() if len(where) > 1}
    assert not twice, f"declared in more than one module of plugin/: {twice}"


def test_each_task_is_declared_once_by_its_constant() -> None:
    """A task is declared by one `@declared_task(tasks.NAME, ...)` in plugin/, its name the constant of load/tasks.py
    (a string spelled again would be a second declaration that no rename follows); every task of the table has one."""
    from registry_tasks.load import tasks

    declared: list[str] = []
    for path in PLUGIN_MODULES:
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "declared_task":
                first = node.args[0] if node.args else None
                where = f"{path.relative_to(PLUGIN)}:{node.lineno}"
                assert isinstance(first, ast.Attribute) and ast.unparse(first.value) == "tasks", where
                declared.append(getattr(tasks, first.attr))
    assert sorted(declared) == sorted(tasks.TASK_NAMES), declared
