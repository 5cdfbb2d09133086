"""The image model: platform choice by docker's rules, streamed bodies, unique layers."""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import tarfile
from collections.abc import Iterable
from pathlib import Path

import pytest

from registry_tasks.image import (
    OCI_LAYER_GZIP,
    OCI_LAYER_TAR,
    Body,
    BodyReader,
    Descriptor,
    FileSegment,
    FileSpan,
    ImageError,
    MemorySegment,
    Platform,
    SyntheticSegment,
    blob_from_body,
    blob_from_bytes,
    choose_platform,
)
from registry_tasks.image.unique import unique_template

from ..support import fixture_builders as fb

MANIFEST = "application/vnd.oci.image.manifest.v1+json"


def child(number: int, platform: str | None, **annotations: str) -> Descriptor:
    parts = Platform(*platform.split("/")) if platform else None
    return Descriptor(MANIFEST, f"sha256:{number:064x}", 100, parts, annotations or None)


@pytest.mark.parametrize(
    ("wanted", "children", "chosen"),
    [
        ("linux/amd64", ["linux/arm64/v8", "linux/amd64", "linux/amd64"], 1),  # first of equals
        ("linux/x86_64", ["linux/arm64", "linux/amd64"], 1),  # alias
        ("linux/aarch64", ["linux/amd64", "linux/arm64"], 1),  # arm64 without variant means v8
        ("linux/arm/v7", ["linux/arm/v5", "linux/arm/v6"], 1),  # v7 runs v6 before v5
        ("linux/arm/v6", ["linux/arm/v7", "linux/arm/v5"], 1),  # v6 cannot run v7
        ("linux/amd64", ["linux/386", "linux/amd64"], 1),  # exact beats the 386 fallback
        ("linux/amd64", ["linux/386"], 0),
        ("linux/amd64", [None, "linux/arm64"], 0),  # a platform-less child, as docker keeps it
        ("windows/amd64", ["linux/amd64"], None),
        ("linux/s390x", ["linux/amd64", "linux/arm64"], None),
    ],
)
def test_platform_choice(wanted: str, children: list[str | None], chosen: int | None) -> None:
    descriptors = [child(i, platform) for i, platform in enumerate(children)]
    result = choose_platform(descriptors, Platform.parse(wanted))
    assert result == (None if chosen is None else descriptors[chosen])


def test_attestations_are_never_chosen() -> None:
    attestation = child(1, "unknown/unknown", **{"vnd.docker.reference.type": "attestation-manifest"})
    amd64 = child(2, "linux/amd64")
    assert choose_platform([attestation, amd64], Platform.parse("linux/amd64")) == amd64
    assert choose_platform([attestation], Platform.parse("linux/amd64")) is None


@pytest.mark.parametrize("text", ["linux", "linux/", "linux/sparc99", "plan9/amd64", "a/b/c/d"])
def test_unknown_platforms_are_refused(text: str) -> None:
    with pytest.raises(ImageError, match=f"platform {text!r}"):
        Platform.parse(text)


def test_body_chunks_across_segments(tmp_path: Path) -> None:
    path = tmp_path / "file.bin"
    path.write_bytes(b"0123456789" * 1000)
    body = Body((MemorySegment(b"head"), FileSegment(str(path), 5, 9000), SyntheticSegment(1, 2, 3 << 20)))
    whole = body.read_all()
    assert len(whole) == body.size == 4 + 9000 + (3 << 20)
    assert whole[4:14] == b"5678901234"
    assert b"".join(bytes(c) for c in body.chunks(10, 5000, bytearray(777))) == whole[10:5000]
    reader = BodyReader(body, 100, 2 << 20, views=True)
    pieces = []
    while piece := reader.read(8192):
        pieces.append(bytes(piece))
    assert b"".join(pieces) == whole[100 : 2 << 20]
    other_stream = Body((SyntheticSegment(1, 3, 3 << 20),)).read_all()
    assert other_stream != whole[-(3 << 20) :]


def test_truncated_file_segment_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "short.bin"
    path.write_bytes(b"x" * 10)
    with pytest.raises(ImageError, match="short.bin: file ends before byte 10"):
        Body((FileSegment(str(path), 0, 20),)).read_all()


def test_unique_tar_layer_is_a_valid_tar_with_a_correct_digest() -> None:
    layer = blob_from_body(OCI_LAYER_TAR, Body((MemorySegment(fb.layer_tar({"a": b"x" * 3000, "b": b"y"})),)))
    template = unique_template(layer, "test layer")
    first, second = template.make("one"), template.make("two")
    assert first.digest != second.digest != layer.digest
    for blob in (first, second):
        data = blob.body.read_all()
        assert "sha256:" + hashlib.sha256(data).hexdigest() == blob.digest
        assert len(data) == blob.size
        with tarfile.open(fileobj=io.BytesIO(data)) as archive:
            assert [(m.name, archive.extractfile(m).read()) for m in archive] == [  # type: ignore[union-attr]
                ("a", b"x" * 3000),
                ("b", b"y"),
                (f".registry-tasks/{'one' if blob is first else 'two'}", b"one" if blob is first else b"two"),
            ]


def test_unique_gzip_layer_keeps_its_content() -> None:
    content = fb.layer_tar({"a": b"z" * 5000})
    layer = blob_from_bytes(OCI_LAYER_GZIP, gzip.compress(content, mtime=0))
    unique = unique_template(layer, "gzip layer").make("token-1")
    data = unique.body.read_all()
    assert unique.digest == "sha256:" + hashlib.sha256(data).hexdigest() != layer.digest
    assert gzip.decompress(data) == content  # the diff_id stays, only the compressed digest is new


def test_unique_template_refuses_a_non_tar_layer() -> None:
    layer = blob_from_bytes(OCI_LAYER_TAR, b"not a tar at all" * 100)
    with pytest.raises(ImageError, match="bad layer: layer is not a readable tar"):
        unique_template(layer, "bad layer")


def _span_bytes(pieces: Iterable[memoryview | FileSpan]) -> bytes:
    """What a sender of these pieces puts on the wire: views as they are, file spans read from their fd."""
    out = bytearray()
    for piece in pieces:
        out += os.pread(piece.fd, piece.length, piece.offset) if isinstance(piece, FileSpan) else piece
    return bytes(out)


def test_spans_carry_the_same_bytes_as_chunks_for_every_kind_of_segment(tmp_path: Path) -> None:
    """Memory, a file range (a tar member read in place) and synthetic bytes (whose pool lives in a memfd):
    the spans a sender hands to os.sendfile hold exactly the bytes that reading gives, for any sub-range."""
    path = tmp_path / "fixture.tar"
    path.write_bytes(os.urandom(3000))
    body = Body((MemorySegment(b"head"), FileSegment(str(path), 100, 2500), SyntheticSegment(7, 3, 3 << 20)))
    whole = b"".join(bytes(chunk) for chunk in body.chunks())
    for start, end in ((0, body.size), (2, 2000), (2504, (2 << 20) + 17), (body.size - 5, body.size)):
        assert _span_bytes(body.spans(start, end)) == whole[start:end]  # each piece used before the next
    assert any(isinstance(piece, FileSpan) for piece in body.spans(10, 20))  # the file range, not a copy
    reader = BodyReader(body, 1, body.size, views=True)
    assert _span_bytes(reader.spans()) == whole[1:]
    reader.seek(0)
    assert _span_bytes(reader.spans()) == whole[1:]  # rewound for a retry: the same bytes again
