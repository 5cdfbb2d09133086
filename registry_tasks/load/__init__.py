"""What is due when: closed-loop users' task choice, load shapes, arrival schedules, rollouts, capacity search.

No HTTP and no Locust: the plugin layer runs these.
"""

from .arrivals import ARRIVAL_PROCESSES, ArrivalSchedule, format_rate, parse_rate
from .capacity import CapacitySearch, Slo, StepFigures
from .histogram import Histogram
from .rollout import RolloutFigures, RolloutSpec
from .shapes import SHAPES, Shape
from .tasks import PULL_TASKS, PUSH_TASKS, TASK_NAMES, USER_NAMES

__all__ = [
    "ARRIVAL_PROCESSES", "PULL_TASKS", "PUSH_TASKS", "SHAPES", "TASK_NAMES", "USER_NAMES", "ArrivalSchedule",
    "CapacitySearch", "Histogram", "RolloutFigures", "RolloutSpec", "Shape", "Slo", "StepFigures", "format_rate",
    "parse_rate",
]  # fmt: skip
