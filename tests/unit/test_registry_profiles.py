"""Client profiles are data files: the built-in ones well-formed records named by client and version (the bare
names their aliases), a user's own file read with the same checks, each bad field refused with one line naming the
file and the field; chosen by --client-profile or drawn from --client-mix, bad values refused with one line naming
the option; the docs' table of every profile is the files'."""

from __future__ import annotations

import collections
import dataclasses
import fnmatch
import platform
import random
import re
from pathlib import Path

import pytest
import yaml

from registry_tasks import __version__
from registry_tasks.config import SettingsError, client_config, settings_from
from registry_tasks.config.settings import PROFILE_NAMES
from registry_tasks.plugin.run.state import RegistryRun, load_run
from registry_tasks.registry.profiles import (
    ALIASES,
    BUILT_IN,
    BUILT_IN_DIR,
    CHECKED,
    CONNECTION_POLICIES,
    FIELDS,
    HEAD_ALL,
    HEAD_CONFIG,
    HEAD_NONE,
    PROFILES,
    TAG,
    UPLOAD_STYLES,
    ClientProfile,
    ProfileError,
    Retry,
    is_profile_file,
    read_profile,
    side_by_side,
)
from registry_tasks.sources import synthetic_image

from ..support.helpers import ROOT, options
from ..support.markdown import blocks, section

PAGE = ROOT / "docs" / "client-profiles.md"


@pytest.mark.parametrize("name", list(BUILT_IN))
def test_each_profile_is_a_well_formed_record(name: str) -> None:
    profile = BUILT_IN[name]
    assert profile.name == name and (BUILT_IN_DIR / f"{name}.yaml").is_file()
    client = name.rsplit("-", 1)[0]
    assert profile.user_agent.split("/")[0] == ("registry-tasks" if name == "minimal" else client)
    assert TAG in profile.user_agent and f"registry-tasks/{__version__}" == TAG
    assert profile.connections in CONNECTION_POLICIES
    assert profile.head_before_upload in (HEAD_NONE, HEAD_CONFIG, HEAD_ALL)
    assert profile.upload_style in ("", *UPLOAD_STYLES)
    assert profile.retry.attempts >= 1 and profile.accept


def test_the_default_is_docker_and_the_user_agent_option_replaces_the_profiles() -> None:
    settings = settings_from(options())
    assert settings.client_profile == ""  # the mode's own: docker for users and arrivals, containerd for rollouts
    run = RegistryRun(settings, [synthetic_image("1x1KiB")])
    assert run.pick_profile() is PROFILES["docker"]
    assert run.pick_profile("containerd") is PROFILES["containerd"]
    told = RegistryRun(settings_from(options(client_profile="docker")), [synthetic_image("1x1KiB")])
    assert told.pick_profile("containerd") is PROFILES["docker"]
    custom = settings_from(options(user_agent="acme-ci/2.0"))
    assert client_config(custom, "http://r", PROFILES["containerd"]).user_agent == "acme-ci/2.0"
    assert client_config(settings, "http://r", PROFILES["containerd"]).user_agent.startswith("containerd/1.6.20")


def test_client_mix_draws_profiles_in_its_shares() -> None:
    run = RegistryRun(settings_from(options(client_mix=["containerd=80,docker=20"])), [synthetic_image("1x1KiB")])
    random.seed(3)
    drawn = collections.Counter(run.pick_profile().name for _ in range(10_000))
    assert set(drawn) == {"containerd-1.6", "docker-20.10"}
    assert round(drawn["containerd-1.6"] / 1000) == 8


def test_client_mix_in_a_scenario_is_a_mapping(tmp_path: Path) -> None:
    scenario = tmp_path / "scenario.yaml"
    scenario.write_text("client-mix: {containerd: 3, skopeo: 1}\n")
    assert settings_from(options(scenario=str(scenario))).client_mix == {"containerd": 3, "skopeo": 1}


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ({"client_profile": "podman"}, r"^--client-profile: 'podman' is not one of docker, containerd, skopeo, min"),
        ({"client_mix": ["podman=5"]}, r"^--client-mix: 'podman' is not one of docker, containerd"),
        ({"client_mix": ["docker=x"]}, r"^--client-mix: share of docker must be a whole number >= 0, got 'x'"),
        ({"client_mix": ["docker"]}, r"^--client-mix: 'docker' is not PROFILE=SHARE"),
        ({"client_mix": ["docker=0,skopeo=0"]}, r"^--client-mix: shares sum to 0"),
        ({"upload_mode": "sideways"}, r"^--upload-mode: 'sideways' is not one of chunked, stream, stream-encoded"),
    ],
)
def test_bad_profile_options_name_the_option(given: dict[str, object], message: str) -> None:
    with pytest.raises(SettingsError, match=message):
        settings_from(options(**given))


def test_a_mix_and_a_profile_together_are_refused() -> None:
    with pytest.raises(SettingsError, match="--client-mix and --client-profile both choose the clients: keep one"):
        load_run(None, options(client_mix=["docker=1"], client_profile="skopeo", synthetic_images="1x1KiB"))


# --- names: versioned, and the bare names their aliases ------------------------------------------------------


def test_the_bare_names_are_aliases_of_the_versioned_profiles() -> None:
    assert list(BUILT_IN) == ["docker-20.10", "containerd-1.6", "skopeo-1.9", "minimal"]
    for alias, name in ALIASES.items():
        assert PROFILES[alias] is PROFILES[name] is BUILT_IN[name]
    assert set(PROFILES) == {*ALIASES, *BUILT_IN} and tuple(PROFILES) == PROFILE_NAMES
    run = RegistryRun(settings_from(options(client_profile="skopeo-1.9")), [synthetic_image("1x1KiB")])
    assert run.pick_profile() is PROFILES["skopeo"]
    assert RegistryRun(settings_from(options()), []).pick_profile("containerd") is BUILT_IN["containerd-1.6"]


def test_every_built_in_file_spells_out_every_field_and_what_it_was_checked_against() -> None:
    assert sorted(path.stem for path in BUILT_IN_DIR.iterdir()) == sorted(BUILT_IN)  # no stray file
    for name in BUILT_IN:
        document = yaml.safe_load((BUILT_IN_DIR / f"{name}.yaml").read_text())
        assert list(document) == ["name", "checked_against", *list(FIELDS)[1:]], name
        assert list(document["retry"]) == [field.name for field in dataclasses.fields(Retry)], name
        assert "{tag}" in document["user_agent"] and CHECKED[name] == document["checked_against"]
        assert re.search(r"\d|no real client", CHECKED[name]), name  # a version, or says it is none
    assert "kernel/{kernel} " in (BUILT_IN_DIR / "docker-20.10.yaml").read_text()
    assert f"kernel/{platform.release()} " in BUILT_IN["docker-20.10"].user_agent


def test_the_package_ships_the_profile_files() -> None:
    """pyproject.toml's package-data holds every built-in file (else an installed wheel would have none)."""
    text = (ROOT / "pyproject.toml").read_text()
    table = text.split("[tool.setuptools.package-data]\n", 1)[1].split("\n[", 1)[0]
    patterns = re.findall(r'^"registry_tasks\.registry" = \[(.*)\]$', table, re.M)
    assert patterns, table
    globs = re.findall(r'"([^"]+)"', patterns[0])
    for path in BUILT_IN_DIR.iterdir():
        assert any(fnmatch.fnmatch(f"profiles/{path.name}", glob) for glob in globs), (path.name, globs)


@pytest.mark.parametrize(
    ("value", "is_file"),
    [("docker", False), ("docker-20.10", False), ("./ci.yaml", True), ("ci.yml", True), ("conf/ci", True),
     ("ci.yaml.txt", False)],
)  # fmt: skip
def test_a_path_is_a_file_and_a_name_is_a_profile(value: str, is_file: bool) -> None:
    assert is_profile_file(value) is is_file


# --- a user's own file ---------------------------------------------------------------------------------------

GOOD = {
    "name": "ci-runner-1.0",
    "checked_against": "our runner 1.0, its registry log",
    "user_agent": "ci-runner/1.0 on {kernel} ({tag})",
    "accept": ["application/vnd.oci.image.manifest.v1+json", "application/vnd.oci.image.index.v1+json"],
    "accept_joined": True,
    "ping": False,
    "resolve_by_head": True,
    "config_first": True,
    "download_parallel": 8,
    "upload_parallel": 2,
    "connections": "pool-per-operation",
    "head_before_upload": "all",
    "upload_style": "chunked",
    "head_after_upload": False,
    "manifest_head_before_put": True,
    "mounts": False,
    "token_per_operation": False,
}


def written(tmp_path: Path, document: object, name: str = "ci.yaml") -> str:
    path = tmp_path / name
    path.write_text(document if isinstance(document, str) else yaml.safe_dump(document, sort_keys=False))
    return str(path)


def test_a_good_user_file_is_a_profile_users_send_as(tmp_path: Path) -> None:
    path = written(tmp_path, {**GOOD, "retry": {"attempts": 3, "first-wait": 2}, "resume_wait": 1})
    profile, checked_against = read_profile(path)
    assert checked_against == GOOD["checked_against"]
    assert profile == ClientProfile(
        name="ci-runner-1.0", user_agent=f"ci-runner/1.0 on {platform.release()} ({TAG})",
        accept=("application/vnd.oci.image.manifest.v1+json", "application/vnd.oci.image.index.v1+json"),
        accept_joined=True, ping=False, resolve_by_head=True, config_first=True,
        download_parallel=8, upload_parallel=2, connections="pool-per-operation", head_before_upload="all",
        upload_style="chunked", head_after_upload=False, manifest_head_before_put=True, mounts=False,
        token_per_operation=False, retry=Retry(attempts=3, first_wait=2.0), range_resume=False, resume_wait=1.0,
    )  # fmt: skip
    assert isinstance(profile.resume_wait, float) and isinstance(profile.retry.first_wait, float)
    run = RegistryRun(settings_from(options(client_profile=path)), [synthetic_image("1x1KiB")])
    assert run.pick_profile() == profile and run.pick_profile() is run.pick_profile()  # read once
    mixed = RegistryRun(settings_from(options(client_mix=[f"{path}=1,docker=0"])), [synthetic_image("1x1KiB")])
    assert mixed.pick_profile() == profile


def test_a_user_file_is_read_again_when_the_options_are(tmp_path: Path) -> None:
    """A run started anew (the web UI's start form parses the options again) sends as the file says now."""
    path = written(tmp_path, GOOD)
    first = RegistryRun(settings_from(options(client_profile=path)), []).pick_profile()
    written(tmp_path, {**GOOD, "download_parallel": 2})
    assert first.download_parallel == 8
    assert RegistryRun(settings_from(options(client_profile=path)), []).pick_profile().download_parallel == 2


def test_a_user_file_named_as_a_built_in_one_keeps_its_own_user_agent(tmp_path: Path) -> None:
    """Two profiles of one name (a copy of docker's, edited) are two clients: each user sends its own."""
    path = written(tmp_path, {**GOOD, "name": "docker-20.10"})
    run = RegistryRun(settings_from(options(client_mix=[f"{path}=1,docker=1"])), [synthetic_image("1x1KiB")])
    mine, docker = read_profile(path)[0], PROFILES["docker"]
    assert run.client_config("http://r", mine).user_agent.startswith("ci-runner/1.0")
    assert run.client_config("http://r", docker).user_agent.startswith("docker/20.10.24")


WHERE = r"^--client-profile: client profile \S+/ci\.yaml: "


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"download_parallel": "x"}, r"field 'download_parallel': expected a whole number >= 0, got 'x'$"),
        ({"upload_parallel": -1}, r"field 'upload_parallel': expected a whole number >= 0, got -1$"),
        ({"upload_parallel": True}, r"field 'upload_parallel': expected a whole number >= 0, got True$"),
        ({"ping": "sometimes"}, r"field 'ping': expected true or false, got 'sometimes'$"),
        ({"mounts": 1}, r"field 'mounts': expected true or false, got 1$"),
        ({"connections": "keep-alive"}, r"field 'connections': expected one of 'per-request', 'pooled', 'pool-per-"),
        ({"head_before_upload": "some"}, r"field 'head_before_upload': expected one of 'none', 'config', 'all', got"),
        ({"upload_style": "PUT"}, r"field 'upload_style': expected one of 'chunked', .*'monolithic', '', got 'PUT'$"),
        ({"accept": "application/json"}, r"field 'accept': expected a list of one or more media types, got 'appl"),
        ({"accept": []}, r"field 'accept': expected a list of one or more media types, got \[\]$"),
        ({"user_agent": 5}, r"field 'user_agent': expected text, got 5$"),
        ({"user_agent": "x ({Tag})"}, r"field 'user_agent': expected only the placeholders \{tag\} and \{kernel\}, "),
        ({"name": "my client"}, r"field 'name': expected a name of letters, digits, '\.', '_' or '-', got 'my c"),
        ({"checked_against": ["x"]}, r"field 'checked_against': expected text saying what the profile was checked "),
        ({"checked_against": ""}, r"field 'checked_against': expected text .* \(or 'nothing yet'\), got ''$"),
        ({"resume_wait": "1s"}, r"field 'resume_wait': expected a number of seconds >= 0, got '1s'$"),
        ({"retry": 3}, r"field 'retry': expected a mapping of attempts, first_wait, growth, got 3$"),
        ({"retry": {"attempts": 0}}, r"field 'retry\.attempts': expected a whole number >= 1, got 0$"),
        ({"retry": {"first_wait": -1}}, r"field 'retry\.first_wait': expected a number of seconds >= 0, got -1$"),
        ({"retry": {"tries": 2}}, r"field 'retry': unknown field 'tries' \(fields: attempts, first_wait, growth\)$"),
        ({"pings": True}, r"unknown field 'pings' \(fields: checked_against, name, user_agent, accept, "),
        ({"head-after-upload": True}, r"field 'head_after_upload' given twice$"),
        ({"ping": None}, r"field 'ping': expected true or false, got None$"),
    ],
)
def test_each_bad_field_is_refused_with_one_line_naming_the_file_and_the_field(
    tmp_path: Path, change: dict[str, object], message: str
) -> None:
    path = written(tmp_path, {**GOOD, **change})
    with pytest.raises(SettingsError, match=WHERE + message) as refused:
        settings_from(options(client_profile=path))
    assert "\n" not in str(refused.value)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("name: x\n", r"missing field 'checked_against' \(and 15 more\)$"),
        ("", r"empty; expected a mapping of fields \(checked_against, name, user_agent, "),
        ("[docker]\n", r"expected a mapping of fields, got \['docker'\]$"),
        ("name: [x\n", r"not valid YAML at line 2 \(expected ',' or ']', but got '<stream end>'\)$"),
        ("name: x\n\tping: true\n", r"not valid YAML at line 2"),
    ],
)
def test_a_file_that_is_not_a_whole_profile_is_refused_with_one_line(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(SettingsError, match=WHERE + message) as refused:
        settings_from(options(client_profile=written(tmp_path, text)))
    assert "\n" not in str(refused.value)


def test_a_missing_field_is_named(tmp_path: Path) -> None:
    document = {key: value for key, value in GOOD.items() if key != "upload_style"}
    with pytest.raises(SettingsError, match=WHERE + r"missing field 'upload_style'$"):
        settings_from(options(client_profile=written(tmp_path, document)))


def test_a_missing_or_unreadable_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match=r"^--client-profile: client profile \./nope\.yaml: no such file$"):
        settings_from(options(client_profile="./nope.yaml"))
    with pytest.raises(SettingsError, match=r"^--client-mix: client profile \S+: a directory, not a file$"):
        settings_from(options(client_mix=[f"{tmp_path}/=1"]))
    (tmp_path / "latin1.yaml").write_bytes(b"name: caf\xe9\n")
    with pytest.raises(ProfileError, match=r"latin1\.yaml: not UTF-8 text$"):
        read_profile(tmp_path / "latin1.yaml")


# --- the docs --------------------------------------------------------------------------------------------------


def test_the_page_shows_every_profile_side_by_side_as_the_files_write_them() -> None:
    """Regenerate: python -c 'from registry_tasks.registry.profiles import side_by_side; print(side_by_side())'."""
    table = side_by_side()
    assert table in PAGE.read_text(), "docs/client-profiles.md: the table of every profile is not the files' own"
    for name in BUILT_IN:
        assert f"`{name}`" in table.splitlines()[0] and CHECKED[name] in table


def test_the_page_says_what_every_field_means_and_its_example_is_a_good_profile(tmp_path: Path) -> None:
    own = section(PAGE, "Write your own")
    for key in ("checked_against", *FIELDS):
        assert re.search(rf"[-;,]\s+`{key}`", own), f"'Write your own' does not say what {key} means"
    (example,) = [block for block in blocks(PAGE) if block.lang == "yaml"]
    assert example.text.startswith("# my-client.yaml:")
    profile, _ = read_profile(written(tmp_path, example.text, "my-client.yaml"))
    assert "--client-profile ./my-client.yaml" in own and profile.name
