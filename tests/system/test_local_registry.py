"""The local reference registry: start, answer, keep data in its own temp dir, stop without leftovers; its CLI; and
skopeo pushing into it. Without a registry binary (missing, never ready): tests/unit/test_local_registry.py."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from registry_tasks.tools.local_registry import LocalRegistry, RegistryStartError, start_registry

from ..support import fixture_builders as fb
from ..support.helpers import ROOT, RunSkopeo


def get(url: str) -> tuple[int, dict[str, str], bytes]:
    with urllib.request.urlopen(url, timeout=5) as response:
        return response.status, dict(response.headers), response.read()


def pid_alive(pid: int) -> bool:
    """Exists and is not a zombie waiting for init to reap it."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def test_session_registry_answers_v2(registry: LocalRegistry) -> None:
    status, headers, _ = get(f"{registry.url}/v2/")
    assert status == 200
    assert headers["Docker-Distribution-Api-Version"] == "registry/2.0"
    assert registry.host_port.startswith("127.0.0.1:")
    assert registry.url == f"http://{registry.host_port}"


def test_stop_ends_process_and_removes_its_directory(registry_binary: str, tmp_path: Path) -> None:
    running = start_registry(str(tmp_path), binary=registry_binary)
    assert running.process.poll() is None
    assert running.storage_dir.is_dir() and running.root_dir in running.storage_dir.parents
    assert running.root_dir.parent == tmp_path
    running.stop()
    assert running.process.poll() is not None
    assert not running.root_dir.exists()
    running.stop()  # idempotent
    assert list(tmp_path.iterdir()) == []


def test_relative_workdir(registry_binary: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    with start_registry("state", binary=registry_binary) as running:
        assert running.root_dir.is_absolute() and running.root_dir.parent == tmp_path / "state"
        assert get(f"{running.url}/v2/")[0] == 200


def test_extra_config_is_deep_merged(registry_binary: str) -> None:
    with start_registry(binary=registry_binary, extra_config={"http": {"headers": {"X-Merged": ["yes"]}}}) as running:
        status, headers, _ = get(f"{running.url}/v2/")
        config = json.loads(running.config_path.read_text())
    assert status == 200 and headers["X-Merged"] == "yes"
    assert config["http"]["addr"] == running.host_port and config["http"]["secret"]  # defaults kept


def test_exit_during_start_reports_its_output(registry_binary: str, tmp_path: Path) -> None:
    with pytest.raises(RegistryStartError, match="(?s)exited with code 1.*invalid loglevel"):
        start_registry(str(tmp_path), binary=registry_binary, extra_config={"log": {"level": "nonsense"}})
    assert list(tmp_path.iterdir()) == []


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    command = [sys.executable, "-m", "registry_tasks.tools.local_registry", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=60, env=env, check=False)


def test_cli_start_stop_round_trip(registry_binary: str, tmp_path: Path) -> None:
    state = tmp_path / "state"
    started = cli("start", "--state-dir", str(state))
    assert started.returncode == 0, started.stderr
    url = started.stdout.strip()
    pid = int((state / "pid").read_text())
    try:
        assert (state / "url").read_text().strip() == url
        assert get(f"{url}/v2/")[0] == 200  # still serving after the CLI process has exited
        again = cli("start", "--state-dir", str(state))
        assert again.returncode == 1 and "still running" in again.stderr
    finally:
        stopped = cli("stop", "--state-dir", str(state))
    assert stopped.returncode == 0, stopped.stderr
    assert not pid_alive(pid)
    assert not state.exists()
    assert "no registry was running" in cli("stop", "--state-dir", str(state)).stderr


def test_skopeo_push_lands_in_the_registry_storage(
    fresh_registry: LocalRegistry, run_skopeo: RunSkopeo, tmp_path: Path
) -> None:
    files, built = fb.oci_layout(ref_name="v1")
    fb.write_dir(tmp_path / "layout", files)
    digest = built.manifest["digest"]
    ref = f"docker://{fresh_registry.host_port}/local-registry-test/tiny:v1"
    run_skopeo("copy", "--preserve-digests", "--dest-tls-verify=false", f"oci:{tmp_path / 'layout'}:v1", ref)

    assert json.loads(get(f"{fresh_registry.url}/v2/_catalog")[2]) == {"repositories": ["local-registry-test/tiny"]}
    raw = run_skopeo("inspect", "--raw", "--tls-verify=false", ref).stdout.encode()
    assert fb.digest(raw) == digest  # pushed unchanged
    assert (fresh_registry.storage_dir / "docker/registry/v2/repositories/local-registry-test/tiny").is_dir()
    with pytest.raises(AssertionError, match="manifest unknown"):
        run_skopeo("inspect", "--raw", "--tls-verify=false", ref.replace(":v1", ":missing"))
