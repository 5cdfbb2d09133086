"""The local reference registry where no registry binary runs: a missing binary says how to install one, and a
program that never gets ready is bounded and killed. With the real binary: tests/system/test_local_registry.py."""

from __future__ import annotations

from pathlib import Path

import pytest

from registry_tasks.tools.local_registry import RegistryStartError, start_registry


def test_missing_binary_says_how_to_install(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(RegistryStartError, match="apt-get install docker-registry"):
        start_registry(binary=str(tmp_path / "no-such-registry"))
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(RegistryStartError, match=r"docker compose up -d registry"):
        start_registry()


def test_never_ready_is_bounded_and_killed(tmp_path: Path) -> None:
    silent = tmp_path / "silent-registry"
    silent.write_text("#!/bin/sh\necho 'pretending to start'\nexec sleep 60\n")
    silent.chmod(0o755)
    workdir = tmp_path / "work"
    with pytest.raises(RegistryStartError, match="(?s)not ready after 0.5s.*pretending to start"):
        start_registry(str(workdir), binary=str(silent), timeout=0.5)
    assert list(workdir.iterdir()) == []
