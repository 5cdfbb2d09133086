"""A `docker save` tarball (Docker <= 24's layout) of a synthetic image, for the bench's fixture-backed rows:
its layers are then tar members read in place, which is what `os.sendfile` of file ranges is measured on."""

from __future__ import annotations

import json
import tarfile
from collections.abc import Iterable
from pathlib import Path
from typing import BinaryIO

from registry_tasks.image import Image


def write_docker_save(image: Image, path: Path, repo_tag: str) -> Path:
    """Write `image` as `manifest.json`, `<config>.json` and `<n>/layer.tar` members; returns `path`."""
    config = image.config.body.read_all()
    config_name = image.config.digest.removeprefix("sha256:") + ".json"
    layer_names = [f"{index}/layer.tar" for index in range(len(image.layers))]
    manifest = [{"Config": config_name, "RepoTags": [repo_tag], "Layers": layer_names}]
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as out:
        _member(out, "manifest.json", len(data := json.dumps(manifest).encode()), [data])
        _member(out, config_name, len(config), [config])
        for name, layer in zip(layer_names, image.layers, strict=True):
            _member(out, name, layer.size, layer.body.chunks())
        out.write(tarfile.NUL * (2 * tarfile.BLOCKSIZE))  # the end-of-archive blocks
    return path


def _member(out: BinaryIO, name: str, size: int, chunks: Iterable[bytes | memoryview]) -> None:
    """One regular-file member, its bytes streamed (the bench driver must stay small: its children inherit
    its resident size in their peak RSS until they exec)."""
    info = tarfile.TarInfo(name)
    info.size = size
    out.write(info.tobuf(tarfile.USTAR_FORMAT))
    for chunk in chunks:
        out.write(chunk)
    out.write(tarfile.NUL * (-size % tarfile.BLOCKSIZE))
