"""Options and scenario files: each option declared once (a field of Settings), typed values, defaults that agree
with Settings', precedence, and one clear error per bad input."""

from __future__ import annotations

import ast
import dataclasses
import os
from pathlib import Path

import pytest
from locust.argument_parser import LocustArgumentParser

from registry_tasks.config import OPTIONS, Option, Settings, SettingsError, add_arguments, settings_from
from registry_tasks.image import Platform, parse_size
from registry_tasks.load import RolloutSpec

from ..support.helpers import ROOT, options


def scenario(tmp_path: Path, text: str) -> str:
    path = tmp_path / "scenario.yaml"
    path.write_text(text)
    return str(path)


@pytest.mark.parametrize(
    ("text", "size"),
    [("5MiB", 5 << 20), ("512KiB", 512 << 10), ("1048576", 1 << 20), ("2mb", 2_000_000), ("1 GiB", 1 << 30)],
)
def test_sizes(text: str, size: int) -> None:
    assert parse_size(text)[0] == size


def test_defaults() -> None:
    settings = settings_from(options())
    assert settings.chunk_size == 5 << 20
    assert settings.upload_mode == ""
    assert settings.verify_digests is True
    assert settings.platform == Platform("linux", "amd64")
    assert (settings.pull_parallel, settings.push_parallel) == (0, 0)


def test_every_settings_field_has_one_option() -> None:
    keys = [option.key for option in OPTIONS]
    assert len(keys) == len(set(keys))
    assert set(keys) == {field.name for field in dataclasses.fields(Settings)}


def test_settings_fields_and_options_are_one_table() -> None:
    """The same names in the same order (the listing's and the web UI's), each Settings default its option's
    parsed default, a mutable one made anew for each Settings, the secret one out of the repr."""
    fields = dataclasses.fields(Settings)
    assert [field.name for field in fields] == [option.key for option in OPTIONS]
    assert [option.name for option in OPTIONS] == [field.name.replace("_", "-") for field in fields]
    first, second = Settings(), Settings()
    for field, option in zip(fields, OPTIONS, strict=True):
        parsed, default = option.parse(option.default), getattr(first, field.name)
        assert (type(default), default) == (type(parsed), parsed), option.name
        assert field.repr is not option.secret, option.name
        if type(parsed).__hash__ is None:
            assert default is not getattr(second, field.name), f"{option.name}: one mutable default for every Settings"
    assert "registry_password" not in repr(Settings(registry_password="hunter2"))


@pytest.mark.parametrize("option", OPTIONS, ids=lambda option: option.name)
def test_option_default_parses_to_the_settings_default(option: Option) -> None:
    """A default that parsed to something else would make `--help` and `Settings()` (the API's) disagree."""
    parsed, default = option.parse(option.default), getattr(Settings(), option.key)
    assert (type(parsed), parsed) == (type(default), default)


def test_nothing_given_is_the_settings_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [name for name in os.environ if name.startswith("LOCUST_")]:
        monkeypatch.delenv(name)
    parser = LocustArgumentParser()
    add_arguments(parser)
    given = parser.parse_args([])
    assert given == options()  # what the tests' options() stands for: Locust's parse of an empty command line
    assert settings_from(given) == Settings()


def test_web_ui_strings_are_parsed() -> None:
    """The web UI hands values back as strings of the default's type (or raw text)."""
    settings = settings_from(options(chunk_size="1MiB", pull_parallel="4", unique_layers=True))
    assert settings.chunk_size == 1 << 20
    assert settings.pull_parallel == 4
    assert settings.unique_layers is True


def test_scenario_sets_values_and_weights(tmp_path: Path) -> None:
    path = scenario(
        tmp_path,
        "chunk-size: 1MiB\nupload_mode: stream\nunique-layers: true\n"
        "weights: {manifest-get: 5, image-push: 1}\nuser-weights: {pull: 2, push: 1}\n",
    )
    settings = settings_from(options(scenario=path))
    assert settings.chunk_size == 1 << 20
    assert settings.upload_mode == "stream"
    assert settings.unique_layers is True
    assert settings.weights == {"manifest-get": 5, "image-push": 1}
    assert settings.user_weights == {"pull": 2, "push": 1}


def test_scenario_sets_the_open_model(tmp_path: Path) -> None:
    path = scenario(
        tmp_path,
        "arrival-rate: {manifest-get: 80/s, image-pull: 30/m}\narrivals: constant\nmax-in-flight: 50\n",
    )
    settings = settings_from(options(scenario=path))
    assert settings.arrival_rate == {"manifest-get": 80.0, "image-pull": 0.5}
    assert (settings.arrivals, settings.max_in_flight) == ("constant", 50)
    listed = settings_from(options(scenario=scenario(tmp_path, "arrival-rate: [blob-get=2/s, blob-get=1/s]\n")))
    assert listed.arrival_rate == {"blob-get": 3.0}  # one task named twice: its rates add up
    searched = settings_from(options(find_capacity="blob-get", slo="p95=200,fail=0.01", capacity_start="5/s"))
    assert searched.slo is not None and searched.slo.p95_ms == 200 and searched.capacity_start == 5.0
    assert settings_from(options(rollout="60@3s")).rollout == RolloutSpec(60, 3.0)


def test_command_line_wins_over_scenario(tmp_path: Path) -> None:
    path = scenario(tmp_path, "upload-mode: stream\n")
    assert settings_from(options(scenario=path, upload_mode="monolithic")).upload_mode == "monolithic"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("chunk-size: -3\n", r"key 'chunk-size': -3 must be more than 0 bytes"),
        ("chunk-size: 0\n", r"key 'chunk-size': 0 must be more than 0 bytes"),
        ("upload-mode: sideways\n", r"key 'upload-mode': 'sideways' is not one of chunked, stream, stream-enc"),
        ("pull-parallel: two\n", r"key 'pull-parallel': .*not a whole number|invalid literal"),
        ("verify-digests: maybe\n", r"key 'verify-digests': 'maybe' is not true or false"),
        ("bogus: 1\n", r"unknown key 'bogus'"),
        ("weights: {manifest-get: 0, blob-get: 0}\n", r"key 'weights': weights sum to 0"),
        ("weights: {fly: 1}\n", r"key 'weights': unknown name 'fly'"),
        ("weights: [1, 2]\n", r"key 'weights': expected a mapping"),
        ("platform: linux\n", r"key 'platform': platform 'linux': expected os/architecture"),
        ("repository-prefix: Bad Name\n", r"key 'repository-prefix': 'Bad Name' is not a repository path"),
        ("- a list\n", r"expected a mapping of settings at the top level"),
        ("arrival-rate: {push: 1/s}\n", r"key 'arrival-rate': unknown task 'push'"),
        ("arrival-rate: {blob-get: fast}\n", r"key 'arrival-rate': 'fast' is not a rate"),
        ("arrivals: bursty\n", r"key 'arrivals': 'bursty' is not one of poisson, constant"),
        ("rollout: 0@5s\n", r"key 'rollout': '0@5s': a rollout needs at least 1 node"),
        ("capacity-step-time: 0\n", r"key 'capacity-step-time': 0 must be more than 0 seconds"),
        ("chunk-size: [unclosed\n", r"not valid YAML at line \d+"),
    ],
)
def test_bad_scenarios_name_the_file_and_key(tmp_path: Path, text: str, message: str) -> None:
    path = scenario(tmp_path, text)
    with pytest.raises(SettingsError, match=message) as caught:
        settings_from(options(scenario=path))
    assert path in str(caught.value)


def test_missing_scenario_file(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match=r"scenario .*nope.yaml: cannot read it"):
        settings_from(options(scenario=str(tmp_path / "nope.yaml")))


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ({"chunk_size": "0"}, r"--chunk-size: '0' must be more than 0 bytes"),
        ({"chunk_size": "lots"}, r"--chunk-size: 'lots' is not a size"),
        ({"platform": "windows"}, r"--platform: platform 'windows'"),
        ({"push_parallel": "-1"}, r"--push-parallel: '-1' must be 0 \(the client profile's\) or more"),
        ({"image_mix": "20/70/x"}, r"^--image-mix: '20/70/x' is not whole-number shares such as 20/70/10"),
        ({"image_mix": "0/0"}, r"^--image-mix: '0/0' is not whole-number shares"),
        ({"pull_push_ratio": "75/20/5"}, r"^--pull-push-ratio: '75/20/5' is not whole-number shares such as 50/50"),
    ],
)
def test_bad_options_name_the_option(given: dict[str, object], message: str) -> None:
    with pytest.raises(SettingsError, match=message):
        settings_from(options(**given))


def test_worker_reads_the_password_from_its_own_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """A master overwrites workers' options with its own: an empty password there must not win."""
    monkeypatch.setenv("LOCUST_REGISTRY_PASSWORD", "from-worker-env")
    assert settings_from(options(registry_password="")).registry_password == "from-worker-env"
    assert settings_from(options(registry_password="given")).registry_password == "given"
    assert "from-worker-env" not in repr(settings_from(options()))


PACKAGE = ROOT / "registry_tasks"
OPTION_TABLE = PACKAGE / "config" / "settings.py"
"""The one place options are declared: the fields of `Settings`, each made by `option()`."""
OPTION_TYPE = PACKAGE / "config" / "option.py"
"""Where `option()` makes each field's Option (the only `Option(` call)."""
SOURCES = sorted(
    [*PACKAGE.rglob("*.py"), ROOT / "locustfile.py", *(ROOT / "examples").rglob("*.py"),
     *(ROOT / "bench").rglob("*.py"), *(ROOT / "tests").rglob("*.py")]
)  # fmt: skip
FLAGS_PASSED_ON = {
    ("bench/soak.py", "--arrival-rate"): "the soak script's own flag, handed on to locust as it was given",
}
"""A literal `add_argument` of a plugin flag outside the table that is allowed, each with its reason."""


def called(node: ast.AST) -> str:
    """The name a call calls (`Option`, `add_argument`), or ""."""
    if not isinstance(node, ast.Call):
        return ""
    func = node.func
    return func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else ""


def table_fields(tree: ast.Module) -> list[ast.stmt]:
    """The statements of the `Settings` class of an option table module (its docstring left out)."""
    (table,) = [node for node in tree.body if isinstance(node, ast.ClassDef) and node.name == "Settings"]
    body = table.body
    if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
        body = body[1:]
    return body


def table_problems(source: str) -> list[str]:
    """What makes an option table declare something other than each option once, as an `option()` field."""
    problems, seen = [], set()
    for statement in table_fields(ast.parse(source)):
        if not (isinstance(statement, ast.AnnAssign) and isinstance(statement.target, ast.Name)):
            problems.append(f"line {statement.lineno}: not a field `name: type = option(...)`")
            continue
        name = statement.target.id
        if statement.value is None or called(statement.value) != "option":
            problems.append(f"line {statement.lineno}: {name} is not declared with option()")
        if name in seen:  # Python keeps the last silently: the first would be a declaration nobody reads
            problems.append(f"line {statement.lineno}: {name} declared a second time")
        seen.add(name)
    return problems


def second_declarations(path: Path, source: str, flags: set[str]) -> list[str]:
    """`Option(` or `option(` calls outside their one place, and `add_argument` calls naming a plugin flag."""
    where = str(path.relative_to(ROOT))
    tree = ast.parse(source, where)
    table = table_fields(tree) if path == OPTION_TABLE else []
    in_table = {id(node) for statement in table for node in ast.walk(statement)}
    found = []
    for node in ast.walk(tree):
        name = called(node)
        if name == "Option" and path != OPTION_TYPE or name == "option" and id(node) not in in_table:
            found.append(f"{where}:{node.lineno} {name}(...) outside the option table")
        elif name == "add_argument" and isinstance(node, ast.Call):
            literal = [argument.value for argument in node.args if isinstance(argument, ast.Constant)]
            found += [
                f"{where}:{node.lineno} add_argument({flag!r}) declares a plugin flag"
                for flag in literal
                if flag in flags and (where, flag) not in FLAGS_PASSED_ON
            ]
    return found


def plugin_flags() -> set[str]:
    return {flag for option in OPTIONS for flag in (f"--{option.name}", f"--no-{option.name}")}


def test_each_option_is_declared_once_in_the_table() -> None:
    """Every field of `Settings` is one `option()`, none declared twice (a second `name: type = option(...)` in the
    class would silently replace the first), no two naming the same flag, variable or scenario key."""
    assert table_problems(OPTION_TABLE.read_text()) == []
    for attribute in ("name", "key", "env"):
        values = [getattr(option, attribute) for option in OPTIONS]
        assert len(values) == len(set(values)), f"two options with the same {attribute}"


def test_no_option_is_declared_outside_the_table() -> None:
    """No `Option(...)` or `option(...)` anywhere but the table (and `option()` itself), and no `add_argument`
    of a plugin flag: the flags are registered from OPTIONS (`add_arguments`, `audit`'s shared ones)."""
    flags = plugin_flags()
    found = [problem for path in SOURCES for problem in second_declarations(path, path.read_text(), flags)]
    assert not found, "options declared outside the table (config/settings.py):\n" + "\n".join(found)


def test_the_declaration_checks_catch_a_second_declaration() -> None:
    table = (
        "class Settings:\n    '''doc'''\n\n    chunk_size: int = option('5MiB', positive_size, 'help')\n"
        "    chunk_size: int = option('1MiB', positive_size, 'again')\n    page_size = option(100, positive_int, 'h')\n"
        "    plain: int = 3\n"
    )
    assert table_problems(table) == [
        "line 5: chunk_size declared a second time",
        "line 6: not a field `name: type = option(...)`",
        "line 7: plain is not declared with option()",
    ]
    elsewhere = (
        "p.add_argument('--chunk-size', default='5MiB')\np.add_argument('--no-verify-digests')\n"
        "p.add_argument('--other')\nextra = Option('chunk-size', '5MiB', int, 'again')\nx = option(1, int, 'h')\n"
    )
    found = second_declarations(PACKAGE / "tools" / "example.py", elsewhere, plugin_flags())
    assert [problem.split(" ", 1)[0] for problem in found] == [
        "registry_tasks/tools/example.py:1", "registry_tasks/tools/example.py:2", "registry_tasks/tools/example.py:4",
        "registry_tasks/tools/example.py:5",
    ]  # fmt: skip
    assert any("add_argument('--chunk-size')" in problem for problem in found)


def test_the_flags_passed_on_are_still_there() -> None:
    """Each allowance names a literal `add_argument` that exists (a stale one would allow its flag's return)."""
    for (where, flag), reason in FLAGS_PASSED_ON.items():
        assert reason
        tree = ast.parse((ROOT / where).read_text())
        literal = [
            argument.value for node in ast.walk(tree) if called(node) == "add_argument" and isinstance(node, ast.Call)
            for argument in node.args if isinstance(argument, ast.Constant)
        ]  # fmt: skip
        assert flag in literal, (where, flag)
