"""One source of stats entry names: every name the registry layer can report is gateable, and nothing else is.

The registry layer reports only through `RegistryClient.measure(request_type, name, ...)`; reading every such
call in its source (rather than a hand-kept list) is what keeps the gate list from drifting again.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import registry_tasks.registry as registry_package
from registry_tasks.config import GATE_ENTRIES, TOTAL, SettingsError, settings_from
from registry_tasks.registry import names

from ..support.helpers import options

REGISTRY_DIR = Path(registry_package.__file__).parent


REPORTING = ("measure", "send")
"""`measure(request_type, name, ...)`, and `send(method, name, ...)`: a measured request of any other kind."""


def measure_calls(tree: ast.AST) -> list[ast.Call]:
    """Every reporting call, but the one inside `send` itself (which passes its caller's name on)."""
    inside_send = {
        id(call) for node in ast.walk(tree) if isinstance(node, ast.FunctionDef) and node.name == "send"
        for call in ast.walk(node) if isinstance(call, ast.Call)
    }  # fmt: skip
    calls = (node for node in ast.walk(tree) if isinstance(node, ast.Call) and id(node) not in inside_send)
    return [call for call in calls if isinstance(call.func, ast.Attribute) and call.func.attr in REPORTING]


def constant_name(call: ast.Call) -> str | None:
    """The value of the `names.X` constant a measure call names, or None when it names something else."""
    keywords = [keyword.value for keyword in call.keywords if keyword.arg == "name"]
    argument = call.args[1] if len(call.args) > 1 else next(iter(keywords), None)
    if isinstance(argument, ast.Attribute) and isinstance(argument.value, ast.Name) and argument.value.id == "names":
        return str(getattr(names, argument.attr))
    return None


def measured_names() -> dict[str, list[str]]:
    """{name: [where]} for every `.measure(...)` call in registry/; a call naming anything but a names.X constant
    is listed under "<not a names constant>"."""
    found: dict[str, list[str]] = {}
    for path in sorted(REGISTRY_DIR.glob("*.py")):
        for call in measure_calls(ast.parse(path.read_text(), str(path))):
            name = constant_name(call) or "<not a names constant>"
            found.setdefault(name, []).append(f"{path.name}:{call.lineno}")
    return found


def test_every_measure_call_names_a_constant_of_the_names_module() -> None:
    assert "<not a names constant>" not in measured_names()


def test_the_names_module_lists_exactly_what_the_client_reports() -> None:
    assert set(measured_names()) == set(names.ENTRY_NAMES)
    assert len(set(names.ENTRY_NAMES)) == len(names.ENTRY_NAMES)


def test_gates_accept_every_reported_name_and_only_those() -> None:
    assert set(GATE_ENTRIES) == {*names.ENTRY_NAMES, TOTAL}
    for name in GATE_ENTRIES:
        settings = settings_from(options(check_p95=[f"{name}=100"]))
        assert settings.check_p95 == {name: 100.0}


@pytest.mark.parametrize("unreported", ["upload-cancel", "image-pulls", "blob-deletes"])
def test_gates_refuse_a_name_nothing_reports(unreported: str) -> None:
    with pytest.raises(SettingsError, match=f"--check-p99: unknown entry '{unreported}'"):
        settings_from(options(check_p99=[f"{unreported}=5"]))
