"""Load shapes picked by option (`--load-shape ramp|step|spike`) instead of a class in the locustfile.

A shape spans the run time (`-t`) and peaks at `-u` users. Steps and spikes are reached at `-r` users per
second; a ramp's slope is the ramp itself. (No Locust here: config/values.py parses shapes; plugin/shapes.py runs them.)

- `ramp[:UP%]`: 0 to -u users over the first UP% of the run (default 50), then -u until the end.
- `step[:N]`: N equal steps (default 4), each 1/N of the run: -u/N users, then 2·-u/N, ... -u.
- `spike[:BASE%]`: BASE% of -u (default 20, at least 1 user), and -u during the middle fifth of the run.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

SHAPES = {"ramp": 50, "step": 4, "spike": 20}  # name -> default parameter
_SPEC = re.compile(r"^(ramp|step|spike)(?::(\d+)(%?))?$")


@dataclass(frozen=True)
class Shape:
    """Users wanted at each moment of a run of `duration` seconds peaking at `peak` users."""

    name: str
    parameter: int

    @classmethod
    def parse(cls, text: str) -> Shape:
        match = _SPEC.match(text.strip())
        if match is None:
            raise ValueError(f"{text!r} is not ramp[:UP%], step[:N] or spike[:BASE%]")
        name, number, percent = match.groups()
        if number is None:
            return cls(name, SHAPES[name])
        value = int(number)
        if name == "step" and (percent or value < 1):
            raise ValueError(f"{text!r}: step takes a number of steps, e.g. step:4")
        if name != "step" and (not percent or not 1 <= value <= 100):
            raise ValueError(f"{text!r}: {name} takes a percentage from 1% to 100%, e.g. {name}:{SHAPES[name]}%")
        return cls(name, value)

    def level(self, elapsed: float, duration: float) -> float:
        """Share of the peak wanted `elapsed` seconds in (0 once the run is over): arrival rates follow it."""
        if elapsed >= duration or duration <= 0:
            return 0.0
        share = elapsed / duration
        if self.name == "ramp":
            return min(1.0, share * 100 / self.parameter)
        if self.name == "step":
            return (math.floor(share * self.parameter) + 1) / self.parameter
        return 1.0 if 0.4 <= share < 0.6 else self.parameter / 100

    def users(self, elapsed: float, duration: float, peak: int) -> int | None:
        """Users wanted `elapsed` seconds in, or None once the run is over."""
        if elapsed >= duration:
            return None
        if self.name == "spike" and not 0.4 <= elapsed / duration < 0.6:
            return min(max(1, round(peak * self.parameter / 100)), peak)
        return math.ceil(peak * self.level(elapsed, duration))

    def spawn_rate(self, duration: float, peak: int, given: float) -> float:
        """Users per second: the ramp's own slope, else -r."""
        if self.name == "ramp":
            return max(peak / (duration * self.parameter / 100), 1.0)
        return given
