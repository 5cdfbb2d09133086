"""(b) A raw FastHttpUser locustfile sending the same requests as the naive one; pick the path with --tags."""

from locust import FastHttpUser, constant

from bench.plain_tasks import TASKS


class FastUser(FastHttpUser):
    wait_time = constant(0)
    tasks = TASKS
