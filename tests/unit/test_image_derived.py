"""A derived update: the base layers kept, one new gzip layer, a config that says so, the same in every process."""

from __future__ import annotations

import gzip
import json

from registry_tasks.image import sha256_digest
from registry_tasks.image.derived import updated_image
from registry_tasks.sources import synthetic_image


def test_the_update_keeps_every_base_layer_and_adds_one() -> None:
    base = synthetic_image("2x64KiB", seed=3)
    update = updated_image(base)
    assert update.name == f"{base.name}-update" and update.tag == base.tag
    assert [layer.digest for layer in update.layers[:-1]] == [layer.digest for layer in base.layers]
    new = update.layers[-1]
    assert new.descriptor.media_type.endswith("tar+gzip") and new.digest == sha256_digest(new.body.read_all())
    config = json.loads(update.config.body.read_all())
    assert config["rootfs"]["diff_ids"][-1] == sha256_digest(gzip.decompress(new.body.read_all()))
    assert config["rootfs"]["diff_ids"][:-1] == json.loads(base.config.body.read_all())["rootfs"]["diff_ids"]
    manifest = json.loads(update.manifest.body.read_all())
    assert [layer["digest"] for layer in manifest["layers"]] == [layer.digest for layer in update.layers]
    assert manifest["config"]["digest"] == update.config.digest
    assert updated_image(synthetic_image("2x64KiB", seed=3)).manifest.digest == update.manifest.digest
    assert updated_image(synthetic_image("2x64KiB", seed=4)).layers[-1].digest != new.digest
