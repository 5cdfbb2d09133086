"""Whole listings: a repository's tags or the catalog, page after page (`n=`, then each `Link: rel="next"`),
each page a `tags-list` / `catalog` request and the whole walk a `tags-walk` / `catalog-walk` entry. GitLab
found listing 500k tags took 72 s: the walk is the figure an operator feels, the pages are what the registry
serves."""

from __future__ import annotations

from . import names
from .client import RegistryClient
from .errors import RegistryError

MAX_PAGES = 100_000
"""A registry that links page to page forever is stopped here (its walk fails: it did not end)."""


def walk_tags(client: RegistryClient, repository: str, page_size: int) -> int:
    """Every tag of `repository`, page by page; returns how many."""
    method = names.OPERATION_METHODS[names.TAGS_WALK]
    with client.measure(method, names.TAGS_WALK, repository=repository) as outcome:
        count, url = 0, None
        for _ in range(MAX_PAGES):
            tags, url = client.tags_page(repository, page_size, url)
            count += len(tags)
            if url is None:
                outcome.context["tags"] = count
                return count
        raise RegistryError.bad_response(f"more than {MAX_PAGES} pages of tags")


def walk_catalog(client: RegistryClient, page_size: int) -> int:
    """Every repository of the catalog, page by page; returns how many."""
    method = names.OPERATION_METHODS[names.CATALOG_WALK]
    with client.measure(method, names.CATALOG_WALK) as outcome:
        count, url = 0, None
        for _ in range(MAX_PAGES):
            repositories, url = client.catalog_page(page_size, url)
            count += len(repositories)
            if url is None:
                outcome.context["repositories"] = count
                return count
        raise RegistryError.bad_response(f"more than {MAX_PAGES} pages of the catalog")
