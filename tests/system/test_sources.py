"""Fixture sources meeting real processes: a docker-archive written by skopeo, and synthetic images that are the
same bytes in every Python process (workers must agree with their master without talking)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from registry_tasks.image import DOCKER_LAYER_GZIP, DOCKER_LAYER_TAR, Platform
from registry_tasks.sources import BUILTIN_SPEC, load_docker_save, synthetic_image

from ..support import fixture_builders as fb
from ..support.helpers import ROOT, RunSkopeo
from ..support.images import assert_truthful

AMD64 = Platform("linux", "amd64")


def test_skopeo_docker_archive_loads(tmp_path: Path, run_skopeo: RunSkopeo) -> None:
    """A real tool's docker-archive (legacy layout, symlinked layers) of a layout with a gzip layer."""
    layout = fb.Layout()
    built = layout.image([*fb.SAMPLE_LAYERS, fb.SAMPLE_LAYERS[0]], gzip_layers=[1])
    built.manifest["annotations"] = {"org.opencontainers.image.ref.name": "latest"}
    source = fb.write_dir(tmp_path / "layout", layout.files([built.manifest]))
    archive = tmp_path / "x.tar"
    run_skopeo("copy", "-q", f"oci:{source}:latest", f"docker-archive:{archive}:example/x:1")
    image = load_docker_save(str(archive), AMD64)
    assert (image.name, image.tag) == ("example/x", "1")
    assert image.config.digest == built.config_digest
    by_type = {DOCKER_LAYER_TAR: built.diff_ids, DOCKER_LAYER_GZIP: built.layer_digests}
    for i, layer in enumerate(image.layers):
        assert layer.digest == by_type[layer.descriptor.media_type][i]
    assert_truthful(image)


SYNTHETIC_DIGEST = (
    "from registry_tasks.sources import synthetic_image; print(synthetic_image({!r}, {}).manifest.digest)"
)


def synthetic_digest_in_subprocess(spec: str, seed: int) -> str:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONHASHSEED": "random"}
    code = SYNTHETIC_DIGEST.format(spec, seed)
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_synthetic_image_is_identical_in_every_process() -> None:
    first = synthetic_digest_in_subprocess(BUILTIN_SPEC, 7)
    second = synthetic_digest_in_subprocess(BUILTIN_SPEC, 7)
    assert first == second == synthetic_image(BUILTIN_SPEC, 7).manifest.digest
    assert synthetic_image(BUILTIN_SPEC, 8).manifest.digest != first
