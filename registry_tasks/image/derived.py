"""Images derived from another: a deployment's next version, sharing every base layer and adding one on top.

`--rollout-update` rolls nodes from an image to its update: a real update keeps the base layers (a node
already holds them) and brings a small new layer and a new config. The bytes are derived from the base
image's digest alone, so every process derives the same update.
"""

from __future__ import annotations

import gzip
import json
import random
from dataclasses import replace

from .digests import sha256_digest
from .media_types import DOCKER_LAYER_GZIP, DOCKER_MANIFEST, OCI_LAYER_GZIP
from .model import Image, blob_from_bytes, build_image, parse_manifest
from .unique import TAR_END, tar_entry

UPDATE_LAYER_BYTES = 256 << 10


def updated_image(image: Image, size: int = UPDATE_LAYER_BYTES) -> Image:
    """`image` (its pulled platform's manifest) plus one gzip layer of `size` new bytes, and a config whose
    rootfs and history say so; named `<name>-update`."""
    data = random.Random(image.manifest.digest).randbytes(size)
    tar = tar_entry("update/data", data) + TAR_END
    layer_type = DOCKER_LAYER_GZIP if image.manifest.descriptor.media_type == DOCKER_MANIFEST else OCI_LAYER_GZIP
    layer = blob_from_bytes(layer_type, gzip.compress(tar, mtime=0))
    config = parse_manifest(image.config.body.read_all(), f"{image.name}: config")
    rootfs = config.setdefault("rootfs", {"type": "layers", "diff_ids": []})
    rootfs["diff_ids"] = [*rootfs.get("diff_ids", []), sha256_digest(tar)]
    config["history"] = [*config.get("history", []), {"created_by": "registry-tasks rollout update"}]
    config_blob = blob_from_bytes(image.config.descriptor.media_type, json.dumps(config).encode())
    base = replace(image, index=None, siblings=())
    updated = build_image(f"{image.name}-update", base.manifest.descriptor.media_type, config_blob,
                          [*base.layers, layer], image.tag)  # fmt: skip
    return updated
