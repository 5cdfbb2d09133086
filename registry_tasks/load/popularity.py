"""Which image a pull takes: `--popularity uniform|zipf:S`. Production registries see a few images take most
pulls (the FAST'18 IBM study); a Zipf law over repositories (rank r weighs 1/r^S) gives hot and cold
repositories, which is what caches and storage locality meet. No Locust, no HTTP."""

from __future__ import annotations

import bisect
import itertools
import random
import re
from collections.abc import Sequence
from dataclasses import dataclass

_SPEC = re.compile(r"^\s*(uniform|zipf(?::(-?\d+(?:\.\d+)?))?)\s*$")
DEFAULT_ZIPF = 1.0


@dataclass(frozen=True)
class Popularity:
    """uniform, or zipf with exponent `s` (> 0)."""

    name: str = "uniform"
    s: float = 0.0

    @classmethod
    def parse(cls, text: str) -> Popularity:
        match = _SPEC.match(text)
        if match is None:
            raise ValueError(f"{text!r} is not uniform or zipf:S (e.g. zipf:1.2)")
        if match.group(1) == "uniform":
            return cls()
        s = float(match.group(2)) if match.group(2) is not None else DEFAULT_ZIPF
        if s <= 0:
            raise ValueError(f"{text!r}: the Zipf exponent must be more than 0, e.g. zipf:1.2")
        return cls("zipf", s)

    def weights(self, groups: int) -> list[float]:
        """The weight of each of `groups` repositories, hottest first."""
        if self.name == "uniform":
            return [1.0] * groups
        return [1.0 / (rank**self.s) for rank in range(1, groups + 1)]


class Picker:
    """Draws an index of `group_of` items (e.g. tags), each group (repository) weighted by popularity and the
    items of a group alike; cumulative weights once, a bisection per draw."""

    def __init__(self, group_of: Sequence[int], popularity: Popularity) -> None:
        groups = max(group_of, default=-1) + 1
        sizes = [0] * groups
        for group in group_of:
            sizes[group] += 1
        weights = popularity.weights(groups)
        per_item = [weights[group] / sizes[group] for group in group_of]
        self.cumulative = list(itertools.accumulate(per_item))

    def pick(self, chance: random.Random | None = None) -> int:
        draw = (chance or random).random() * self.cumulative[-1]
        return min(bisect.bisect_right(self.cumulative, draw), len(self.cumulative) - 1)
