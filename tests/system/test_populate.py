"""A registry as it lives, through real `locust` runs: --populate fills it (idempotently), --popularity zipf
makes a few repositories hot (counted in the registry's own log), and listings walk every page."""

from __future__ import annotations

import collections
import json
import statistics
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from registry_tasks.tools.local_registry import LocalRegistry, start_registry

from ..support.helpers import run_locust, stats
from ..support.registry_log import REQUEST_LOG_CONFIG, read_requests, settled_offset

PREFIX = "lives"


@pytest.fixture(scope="module")
def logged_registry(registry_binary: str) -> Iterator[LocalRegistry]:
    with start_registry(binary=registry_binary, extra_config=REQUEST_LOG_CONFIG) as running:
        yield running


def run(tmp_path: Path, registry: LocalRegistry, *args: str) -> tuple[Any, dict[str, Any]]:
    tmp_path.mkdir(exist_ok=True)
    summary = tmp_path / "summary.json"
    result = run_locust(
        tmp_path, "-H", registry.url, "--repository-prefix", PREFIX, "--client-profile", "minimal",
        "--summary-file", str(summary), "--csv", str(tmp_path / "run"), *args,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Traceback" not in result.stderr
    return result, json.loads(summary.read_text())


@pytest.fixture(scope="module")
def populated(logged_registry: LocalRegistry, tmp_path_factory: pytest.TempPathFactory) -> LocalRegistry:
    """The registry with 40 repositories x 10 tags written by a run that ends by itself once it has (a one-node
    rollout): the runs below populate again, which only checks each tag with a HEAD, so their -t is the load's, not
    a guess at how long writing 400 tags takes on a busy machine."""
    result, _ = run(tmp_path_factory.mktemp("populate"), logged_registry, "--rollout", "1", "--populate", "40x10")
    assert "populated 40 repositories x 10 tags" in result.stderr
    return logged_registry


def tags_of(registry: LocalRegistry, repository: str) -> list[str]:
    with urllib.request.urlopen(f"{registry.url}/v2/{repository}/tags/list?n=1000") as answer:  # noqa: S310
        return list(json.loads(answer.read())["tags"] or [])


def test_populate_then_zipf_pulls_make_hot_repositories(populated: LocalRegistry, tmp_path: Path) -> None:
    logged_registry = populated
    start = settled_offset(logged_registry.log_path)
    result, _ = run(tmp_path, logged_registry, "-u", "4", "-r", "4", "-t", "8s", "--tags", "manifest-get",
                    "--populate", "40x10", "--popularity", "zipf:1.2")  # fmt: skip
    assert "populated 40 repositories x 10 tags" in result.stderr
    assert sum(len(tags_of(logged_registry, f"{PREFIX}/pop-{index}")) for index in range(40)) >= 400
    requests = read_requests(logged_registry.log_path, start, settled_offset(logged_registry.log_path))
    gets = collections.Counter(
        r.path.split("/manifests/")[0].removeprefix(f"/v2/{PREFIX}/") for r in requests
        if r.method == "GET" and "/manifests/" in r.path and r.user_agent.startswith("registry-tasks")
    )  # fmt: skip
    per_repository = [gets.get(f"pop-{index}", 0) for index in range(40)]
    assert per_repository[0] == max(per_repository)
    assert per_repository[0] >= 3 * statistics.median(per_repository), per_repository
    print("manifest GETs per repository, hottest first:", per_repository)


def test_listings_walk_every_page_and_populate_is_idempotent(populated: LocalRegistry, tmp_path: Path) -> None:
    logged_registry = populated
    start = settled_offset(logged_registry.log_path)
    result, summary = run(tmp_path, logged_registry, "-u", "2", "-r", "2", "-t", "4s", "--tags", "tags-list", "catalog",
                          "--populate", "40x10", "--page-size", "3")  # fmt: skip
    assert "populated 40 repositories x 10 tags under lives/pop-* (0 tags written)" in result.stderr
    requests = read_requests(logged_registry.log_path, start, settled_offset(logged_registry.log_path))
    pages = [r for r in requests if "/tags/list" in r.path or r.path == "/v2/_catalog"]
    assert any("last=" in r.uri and r.path == "/v2/_catalog" for r in pages)  # the catalog's pages follow Link
    assert all("n=3" in r.uri for r in pages)
    table = stats(tmp_path / "run")
    catalog_walks, catalog_pages = table[("WALK", "catalog-walk")], table[("GET", "catalog")]
    assert int(catalog_pages["Request Count"]) >= 14 * int(catalog_walks["Request Count"])  # 40+ repositories, n=3
    # distribution 2.8 ignores n= on a tags list (it answers every tag, with no Link): one page a walk there
    tag_walks, tag_pages = table[("WALK", "tags-walk")], table[("GET", "tags-list")]
    assert int(tag_pages["Request Count"]) == int(tag_walks["Request Count"]) > 0
    entries = {(entry["method"], entry["name"]) for entry in summary["entries"]}
    assert {("WALK", "catalog-walk"), ("GET", "catalog"), ("WALK", "tags-walk"), ("GET", "tags-list")} <= entries


def test_populate_is_idempotent(logged_registry: LocalRegistry, tmp_path: Path) -> None:
    # a one-node rollout ends each run by itself once populated and pulled: no run time to guess (-t 1s once ended
    # a run on a busy machine before its populate did, with no request made: exit 1, rightly)
    first, _ = run(tmp_path / "first", logged_registry, "--rollout", "1", "--populate", "3x4")
    again, _ = run(tmp_path / "again", logged_registry, "--rollout", "1", "--populate", "3x4")
    assert "populated 3 repositories x 4 tags" in first.stderr
    assert "(0 tags written)" in again.stderr  # already there: one HEAD per tag, nothing written
