"""`--load-shape`: Locust's LoadTestShape driven by a `load.Shape` and the common options (-u, -r, -t)."""

from __future__ import annotations

from typing import Any

from locust import LoadTestShape
from locust.env import Environment
from locust.runners import WorkerRunner

from ...config import SettingsError
from ...load import Shape


class OptionShape(LoadTestShape):
    """--load-shape: a Shape driven by Locust's common options (-u, -r, -t), read at every tick, so the
    web UI's fields steer it too."""

    abstract = True  # built from options at init, never found and instantiated from a locustfile
    use_common_options = True

    def __init__(self, shape: Shape, options: Any) -> None:
        super().__init__()
        self.shape = shape
        self.options = options

    def tick(self) -> tuple[int, float] | None:
        peak, duration = int(self.options.num_users or 1), float(self.options.run_time or 0)
        users = self.shape.users(self.get_run_time(), duration, peak)
        if users is None:
            return None
        return users, self.shape.spawn_rate(duration, peak, float(self.options.spawn_rate or 1))


def install_shape(environment: Environment, shape: Shape) -> None:
    """The master (or a local runner) runs the shape; it spans -t, so -t is required."""
    if isinstance(environment.runner, WorkerRunner):
        return
    options = environment.parsed_options
    if not getattr(options, "run_time", None):
        raise SettingsError("--load-shape needs -t/--run-time: the shape spans the run")
    environment.shape_class = OptionShape(shape, options)
    environment.shape_class.runner = environment.runner
