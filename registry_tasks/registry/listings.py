"""Whole listings: a repository's tags or the catalog, page after page (`n=`, then each `Link: rel="next"`),
each page a `tags-list` / `catalog` request and the whole walk a `tags-walk` / `catalog-walk` entry. GitLab
found listing 500k tags took 72 s: the walk is the figure an operator feels, the pages are what the registry
serves.

A registry that pages by `n=` and `last=` but sends no Link (go-containerregistry's, v0.22) answers a full page
and nothing to follow: the walk asks on from the page's last entry (`last=`, the spec lets a client build that
URL), as it would have followed the Link. A page so asked whose entries do not come after it ends the walk, that
page not counted, and the log says so once: distribution 2.8's tags list ignores `n=` and `last=` (a walk of
exactly n tags asks once more, and gets them again), go-containerregistry's tags list answers a `last=` that is
the last tag with the first page again, and its catalog answers n repositories at random whatever `last=` says
(a walk goes on while the page drawn comes after the last one, so it sees a part of the catalog).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from urllib.parse import urlencode

from . import names
from .client import RegistryClient
from .errors import RegistryError
from .session import Outcome

log = logging.getLogger(__name__)

MAX_PAGES = 100_000
"""A registry that links page to page forever is stopped here (its walk fails: it did not end)."""

Page = Callable[[str | None], tuple[list[str], str | None]]
"""One page of a listing: its URL (None: the first) -> its entries and the URL of the next (from its Link)."""

_told: set[str] = set()  # the listings whose walk the log has said ends so (once per process)


def walk_tags(client: RegistryClient, repository: str, page_size: int) -> int:
    """Every tag of `repository`, page by page; returns how many."""
    method = names.OPERATION_METHODS[names.TAGS_WALK]
    with client.measure(method, names.TAGS_WALK, repository=repository) as outcome:
        base = f"{client.base_url}/v2/{repository}/tags/list"
        count = _walk(lambda url: client.tags_page(repository, page_size, url), base, page_size, outcome, "tags list")
        outcome.context["tags"] = count
        return count


def walk_catalog(client: RegistryClient, page_size: int) -> int:
    """Every repository of the catalog, page by page; returns how many."""
    method = names.OPERATION_METHODS[names.CATALOG_WALK]
    with client.measure(method, names.CATALOG_WALK) as outcome:
        base = f"{client.base_url}/v2/_catalog"
        count = _walk(lambda url: client.catalog_page(page_size, url), base, page_size, outcome, "catalog")
        outcome.context["repositories"] = count
        return count


def _walk(page: Page, base: str, page_size: int, outcome: Outcome, what: str) -> int:
    """Count the entries of every page: each Link followed; a full page without one continued with `last=`."""
    count, url, after = 0, None, None
    for _ in range(MAX_PAGES):
        entries, following = page(url)
        if after is not None and any(entry <= after for entry in entries):
            _warn_once(what)
            outcome.context["page_repeated"] = True
            return count
        count += len(entries)
        if following is not None:
            url, after = following, None
        elif page_size > 0 and len(entries) == page_size:
            after = entries[-1]
            url = f"{base}?{urlencode({'n': page_size, 'last': after})}"
        else:
            return count
    raise RegistryError.bad_response(f"more than {MAX_PAGES} pages of the {what}")


def _warn_once(what: str) -> None:
    if what not in _told:
        _told.add(what)
        log.warning("the registry's %s: after a full page without a Link, the page asked with last= does not come "
                    "after it; walks end there", what)  # fmt: skip
