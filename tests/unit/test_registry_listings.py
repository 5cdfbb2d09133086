"""Listing walks against in-test servers that page as the registries here do (tests/system/test_registries.py runs
them against the real ones): distribution 3 links every full page; go-containerregistry (v0.22) honours `n=` and
`last=` on a tags list but sends no Link, and on its catalog honours `n=` only; distribution 2.8 answers every tag
whatever `n=` says."""

from __future__ import annotations

import http.server
import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest

from registry_tasks.registry import listings
from registry_tasks.registry.client import RegistryClient
from registry_tasks.registry.listings import walk_catalog, walk_tags

from ..support.helpers import Recorder, serve

TAGS = ["v1", "v2", "v3", "v4", "v5", "v6", "v7"]


def listing_server(style: str, entries: list[str], asked: list[str]) -> type[http.server.BaseHTTPRequestHandler]:
    """One repository's tags (and the catalog) as `entries`, paged in `style`: "linked" (n, last and a Link while
    more remain), "no-link" (n and last, no Link; a `last=` that is the last entry starts over, as
    go-containerregistry's does), "ignores-last" (the first n, no Link) or "ignores-n" (all of them, no Link). Each
    request's path and query goes into `asked`."""

    class Listing(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            asked.append(self.path)
            parts = urlsplit(self.path)
            query = {key: values[0] for key, values in parse_qs(parts.query).items()}
            n, last = int(query.get("n", len(entries))), query.get("last")
            listed = entries
            if last is not None and style in ("linked", "no-link"):
                listed = [entry for entry in entries if entry > last] or (entries if style == "no-link" else [])
            if style != "ignores-n":
                listed = listed[:n]
            key = "repositories" if parts.path == "/v2/_catalog" else "tags"
            body = json.dumps({key: listed}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            if style == "linked" and listed and listed[-1] != entries[-1]:
                self.send_header("Link", f'<{parts.path}?{urlencode({"n": n, "last": listed[-1]})}>; rel="next"')
            self.end_headers()
            self.wfile.write(body)

    return Listing


@contextmanager
def walking(style: str, entries: list[str]) -> Iterator[tuple[RegistryClient, Recorder, list[str]]]:
    recorder, asked = Recorder(), []
    with serve(listing_server(style, entries, asked)) as url:
        client = RegistryClient(url, recorder)
        yield client, recorder, asked
        client.close()
    assert recorder.failures() == []


@pytest.fixture(autouse=True)
def untold() -> None:
    listings._told.clear()  # each test sees its own first warning


def test_links_are_followed_as_distribution_3_sends_them() -> None:
    with walking("linked", TAGS) as (client, recorder, asked):
        assert walk_tags(client, "app", 3) == 7
    assert asked == ["/v2/app/tags/list?n=3", "/v2/app/tags/list?n=3&last=v3", "/v2/app/tags/list?n=3&last=v6"]
    assert len(recorder.named("tags-list")) == 3


@pytest.mark.parametrize(("count", "pages"), [(7, 3), (6, 3), (2, 1)])
def test_a_full_page_without_a_link_goes_on_from_its_last_entry(count: int, pages: int) -> None:
    """go-containerregistry's tags list: pages of n, sorted, after `last=`, and never a Link. After its last tag it
    starts over: that page ends the walk, not counted."""
    with walking("no-link", TAGS[:count]) as (client, recorder, asked):
        assert walk_tags(client, "app", 3) == count
    assert len(asked) == pages  # 6 tags: two full pages, then the first again says it is over
    assert asked[1:] == [f"/v2/app/tags/list?n=3&last=v{3 * page}" for page in range(1, pages)]
    [walk] = recorder.named("tags-walk")
    assert walk["context"]["tags"] == count
    assert walk["context"].get("page_repeated", False) == (count == 6)


def test_a_registry_that_ignores_last_ends_the_walk_with_one_warning(caplog: pytest.LogCaptureFixture) -> None:
    """go-containerregistry's catalog: the first n, whatever `last=` says, and no Link. The page asked with `last=`
    repeats what came before: the walk ends, that page not counted, and the log says so once per process."""
    repositories = ["b/app", "a/app", "d/app", "c/app"]  # in no order, as a Go map is walked
    with caplog.at_level(logging.WARNING), walking("ignores-last", repositories) as (client, recorder, asked):
        assert walk_catalog(client, 2) == 2
        assert walk_catalog(client, 2) == 2
    assert asked == ["/v2/_catalog?n=2", "/v2/_catalog?n=2&last=a%2Fapp"] * 2
    assert all(walk["context"]["page_repeated"] for walk in recorder.named("catalog-walk"))
    warnings = [record.getMessage() for record in caplog.records if record.name == "registry_tasks.registry.listings"]
    assert warnings == ["the registry's catalog: after a full page without a Link, the page asked with last= does not "
                        "come after it; walks end there"]  # fmt: skip


@pytest.mark.parametrize(("count", "pages"), [(7, 1), (3, 2)])
def test_distribution_2_8_answers_every_tag_in_one_page(count: int, pages: int) -> None:
    """It ignores `n=` (and `last=`): more than n tags end the walk at once; exactly n look like a full page, and the
    page asked after it repeats them (one request more, nothing counted twice)."""
    with walking("ignores-n", TAGS[:count]) as (client, _, asked):
        assert walk_tags(client, "app", 3) == count
    assert len(asked) == pages
