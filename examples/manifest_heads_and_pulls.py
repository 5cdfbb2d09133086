"""Deploy controllers: mostly "is my image up to date?" manifest HEADs, and now and then a whole pull.

Each user polls the tag of a seeded image (or of a --pull-image target) with a HEAD and pulls the image
when its digest differs from the one it last pulled (so at its first look), as a controller rolling out a
new version would; one task in ten is a plain pull, a new node fetching the image it is told to run.
Entries: manifest-head, image-pull and the pulls' manifest-get and blob-get.

    locust -f examples/manifest_heads_and_pulls.py -H http://127.0.0.1:5000 --headless -u 50 -r 10 -t 2m

Read-only against images already in the registry (nothing is seeded then):

    locust -f examples/manifest_heads_and_pulls.py -H https://registry.example.com --headless -u 50 -t 2m \
           --pull-image team/app:1.4 --pull-image team/worker:1.4
"""

from __future__ import annotations

from locust import between, task

from registry_tasks import PullTarget, RegistryUser, pull_image, registry_task


class DeployController(RegistryUser):
    wait_time = between(0.5, 2)

    def on_start(self) -> None:
        super().on_start()
        self.deployed: dict[tuple[str, str], str] = {}  # (repository, reference) -> digest last pulled

    def pull(self, target: PullTarget) -> None:
        settings = self.shared.settings
        pull_image(self.registry, target.repository, target.reference, settings.platform, settings.pull_parallel)

    @task(9)
    @registry_task
    def poll(self) -> None:
        target = self.shared.pick_target()
        digest = self.registry.head_manifest(target.repository, target.reference)  # None: no such tag (a 404)
        where = (target.repository, target.reference)
        if digest is not None and digest != self.deployed.get(where):
            self.pull(target)
            self.deployed[where] = digest

    @task(1)
    @registry_task
    def node_pull(self) -> None:
        self.pull(self.shared.pick_target())
