"""(a) The naive locustfile: HttpUser (requests) with plain `self.client` calls; pick the path with --tags."""

from locust import HttpUser, constant

from bench.plain_tasks import TASKS


class NaiveUser(HttpUser):
    wait_time = constant(0)
    tasks = TASKS
