"""Load shapes and mixes in real `locust` runs: a mix that does not fit the images stops Locust before any load,
and a run follows its shape and mixes. Their parsing and figures: tests/unit/test_shapes.py, test_plugin_state.py."""

from __future__ import annotations

import csv
import json
from pathlib import Path

from registry_tasks.tools.local_registry import LocalRegistry

from ..support.helpers import run_locust


def test_mix_not_matching_the_images_stops_before_any_load(registry: LocalRegistry, tmp_path: Path) -> None:
    result = run_locust(tmp_path, "-H", registry.url, "-t", "3s", "--synthetic-images", "1x1KiB", "--image-mix", "1/1")
    assert result.returncode == 1
    assert "--image-mix: 2 shares for 1 images (synthetic-1x1kib)" in result.stderr
    assert "Traceback" not in result.stderr


def test_step_shape_and_mixes_steer_a_run(registry: LocalRegistry, tmp_path: Path) -> None:
    """Users follow step:2 (2, then 4); push users weighted 0 never start; only the second image is pulled."""
    prefix, summary = tmp_path / "shaped", tmp_path / "summary.json"
    result = run_locust(
        tmp_path,
        "-H", registry.url, "-u", "4", "-r", "100", "-t", "4s", "--load-shape", "step:2",
        "--pull-push-ratio", "100/0", "--synthetic-images", "1x10KiB 1x60KiB", "--image-mix", "0/100",
        "--tags", "blob-get", "image-push", "--repository-prefix", "shapes/step",
        "--csv", str(prefix), "--summary-file", str(summary),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    with open(f"{prefix}_stats_history.csv", newline="") as handle:
        users = [int(row["User Count"]) for row in csv.DictReader(handle)]
    assert set(users) <= {0, 2, 4} and 2 in users and 4 in users
    assert users.index(4) > users.index(2)
    assert '"RegistryPushUser"' not in result.stderr
    entries = {entry["name"]: entry for entry in json.loads(summary.read_text())["entries"]}
    assert "image-push" not in entries
    blob_get = entries["blob-get"]
    assert (
        blob_get["bytes"] / blob_get["requests"] > 20_000
    )  # the 60 KiB image's layer and config, never the 10 KiB one
