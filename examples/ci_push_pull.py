"""A CI runner: every iteration builds a new image, pushes it under a new tag, then pulls it back.

Each build is new bytes (a unique tail per layer, so the registry cannot deduplicate it), pushed as docker
does, checked to be what the tag now points at, and pulled back by tag with every byte hashed. Besides the
usual entries (image-push, image-pull and their requests), the whole round trip is one `build-round-trip`
entry of type CI. The plugin's options, seeding, gates and reports apply as with locustfile.py;
--upload-mode, --chunk-size, --push-parallel, --pull-parallel and --cleanup shape and tidy the pushes.

    locust -f examples/ci_push_pull.py -H http://127.0.0.1:5000 --headless -u 4 -r 2 -t 1m --csv reports/ci
"""

from __future__ import annotations

from locust import between, task

from registry_tasks import (
    RegistryError,
    RegistryUser,
    UniqueImageTemplate,
    image_exists,
    pull_image,
    push_image,
    registry_task,
    synthetic_image,
)

# The app's build: 2 MiB + 128 KiB of layers; each make(token) is a new image tagged `token`.
BUILD = UniqueImageTemplate.of(synthetic_image("1x2MiB,1x128KiB", name="ci-app"))


class CIRunner(RegistryUser):
    wait_time = between(1, 3)  # the rest of the pipeline

    @task
    @registry_task
    def build_push_pull(self) -> None:
        settings = self.shared.settings
        image = BUILD.make(self.push_name())  # tag: unique across runs, workers and users
        repository = self.shared.push_repository("ci-app")  # <prefix>/push-ci-app, where --cleanup looks
        with self.registry.measure("CI", "build-round-trip", repository=repository, reference=image.tag):
            mode, chunk, parallel = settings.upload_mode, settings.chunk_size, settings.push_parallel
            push_image(self.registry, repository, image.tag, image, mode, chunk, parallel)
            if not image_exists(self.registry, repository, image):
                raise RegistryError("the tag does not point at the build just pushed")
            pull_image(self.registry, repository, image.tag, settings.platform, settings.pull_parallel)
