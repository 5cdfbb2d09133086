"""Our users' request events carry the user's own `context()` under the request's, as Locust's clients merge it."""

from __future__ import annotations

from typing import Any

from locust.env import Environment

from registry_tasks.plugin.users.classes import RegistryPullUser


class TaggedPuller(RegistryPullUser):
    def context(self) -> dict[str, Any]:
        return {"team": "ci", "repository": "overridden by the request's"}


def test_the_users_context_is_merged_under_the_requests() -> None:
    seen: list[dict[str, Any]] = []
    fire = TaggedPuller(Environment()).with_user_context(lambda **event: seen.append(event))
    fire(name="manifest-get", context={"repository": "a/b"}, response_time=1.0)
    assert seen == [{"name": "manifest-get", "context": {"team": "ci", "repository": "a/b"}, "response_time": 1.0}]


def test_a_user_without_a_context_of_its_own_reports_as_it_is() -> None:
    def fire(**event: Any) -> None:
        """Locust's request event, as far as the user knows."""

    assert RegistryPullUser(Environment()).with_user_context(fire) is fire
