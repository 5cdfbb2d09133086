"""Popularity: parsing, and a Zipf law's hottest repository drawn as often as its weight says."""

from __future__ import annotations

import collections
import random

import pytest

from registry_tasks.load.popularity import Picker, Popularity


@pytest.mark.parametrize(("text", "parsed"), [("uniform", Popularity()), ("zipf:1.2", Popularity("zipf", 1.2)),
                                              ("zipf", Popularity("zipf", 1.0))])  # fmt: skip
def test_specs(text: str, parsed: Popularity) -> None:
    assert Popularity.parse(text) == parsed


BAD = [("zipf:-1", "must be more than 0"), ("zipf:0", "must be more than 0"), ("pareto", "not uniform or zipf"),
       ("zipf:x", "not uniform or zipf")]  # fmt: skip


@pytest.mark.parametrize(("text", "error"), BAD)
def test_bad_specs(text: str, error: str) -> None:
    with pytest.raises(ValueError, match=error):
        Popularity.parse(text)


def test_zipf_draws_repositories_by_rank_and_tags_alike() -> None:
    groups = [repository for repository in range(40) for _ in range(10)]  # 40 repositories x 10 tags
    picker = Picker(groups, Popularity("zipf", 1.2))
    chance = random.Random(5)
    draws = [picker.pick(chance) for _ in range(200_000)]
    by_repository = collections.Counter(groups[index] for index in draws)
    total = sum(1 / rank**1.2 for rank in range(1, 41))
    assert by_repository[0] / 200_000 == pytest.approx(1 / total, rel=0.03)
    assert by_repository[0] / by_repository[19] == pytest.approx(20**1.2, rel=0.15)
    tags_of_top = collections.Counter(index for index in draws if groups[index] == 0)
    assert len(tags_of_top) == 10 and max(tags_of_top.values()) / min(tags_of_top.values()) < 1.2


def test_uniform_weighs_repositories_alike_whatever_their_tags() -> None:
    picker = Picker([0, 0, 1, 2], Popularity())  # repository 0 has two tags, each half of its share
    assert picker.cumulative == [0.5, 1.0, 2.0, 3.0]
    chance = random.Random(2)
    draws = collections.Counter(picker.pick(chance) for _ in range(30_000))
    assert draws[0] + draws[1] == pytest.approx(draws[2], rel=0.06)
    assert draws[2] == pytest.approx(draws[3], rel=0.06)
