"""The state a load-generator process shares between its users: which images are pushed and pulled, in the shares
of --image-mix."""

from __future__ import annotations

import collections
import random

from registry_tasks.config import settings_from
from registry_tasks.plugin.run.seeding import seeded_target
from registry_tasks.plugin.run.state import RegistryRun
from registry_tasks.sources import synthetic_image

from ..support.helpers import options


def test_image_mix_weighs_pushes_and_pulls_of_seeded_images() -> None:
    images = [synthetic_image(spec) for spec in ("1x1KiB", "1x2KiB", "1x3KiB")]
    run = RegistryRun(settings_from(options(image_mix="20/70/10")), images)
    run.targets = [seeded_target(run, image) for image in images]
    random.seed(5)
    pushed = collections.Counter(run.pick_image().name for _ in range(10_000))
    pulled = collections.Counter(run.pick_target().repository for _ in range(10_000))
    assert [round(pushed[image.name] / 1000) for image in images] == [2, 7, 1]
    assert [round(pulled[run.seed_repository(image)] / 1000) for image in images] == [2, 7, 1]
