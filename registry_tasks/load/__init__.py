"""What is due when: closed-loop users' task choice and load shapes (arrival schedules come here too).

No HTTP and no Locust: the plugin layer runs these.
"""

from .shapes import SHAPES, Shape
from .tasks import PULL_TASKS, PUSH_TASKS, TASK_NAMES, USER_NAMES

__all__ = ["PULL_TASKS", "PUSH_TASKS", "SHAPES", "TASK_NAMES", "USER_NAMES", "Shape"]
