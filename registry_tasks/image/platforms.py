"""Platforms (os/architecture/variant) and choosing an index's child by docker's rules (containerd's platforms)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .digests import ImageError

if TYPE_CHECKING:
    from .model import Descriptor

KNOWN_OS = frozenset(("linux", "windows", "darwin", "freebsd", "netbsd", "openbsd", "solaris", "illumos", "aix"))
KNOWN_ARCHITECTURES = frozenset(
    ("amd64", "386", "arm64", "arm", "ppc64le", "ppc64", "s390x", "riscv64", "mips64le", "mips64", "loong64", "wasm")
)
ARCHITECTURE_ALIASES = {"x86_64": "amd64", "x86-64": "amd64", "i386": "386", "aarch64": "arm64", "armhf": "arm"}
#: What a platform also runs, best first (containerd's platforms.Only): arm/v7 runs v6 and v5, amd64 runs 386.
COMPATIBLE = {("arm", "v7"): ("v6", "v5"), ("arm", "v6"): ("v5",), ("arm64", "v8"): ()}


@dataclass(frozen=True)
class Platform:
    """An OCI platform; `parse("linux/arm64/v8")`."""

    os: str
    architecture: str
    variant: str = ""

    @classmethod
    def parse(cls, text: str) -> Platform:
        """A platform the user asked for: known os and architecture (aliases such as x86_64 accepted)."""
        parts = text.strip().lower().split("/")
        if len(parts) not in (2, 3) or not all(parts):
            raise ImageError(f"platform {text!r}: expected os/architecture[/variant], e.g. linux/amd64")
        platform = cls(*parts).normalized()
        if platform.os not in KNOWN_OS or platform.architecture not in KNOWN_ARCHITECTURES:
            raise ImageError(f"platform {text!r}: unknown os or architecture (e.g. linux/amd64, linux/arm64/v8)")
        return platform

    def normalized(self) -> Platform:
        """containerd's normalization: x86_64 -> amd64, aarch64 -> arm64 (v8 by default), arm -> v7."""
        architecture = ARCHITECTURE_ALIASES.get(self.architecture, self.architecture)
        variant = self.variant or {"arm64": "v8", "arm": "v7"}.get(architecture, "")
        if architecture == "arm64" and variant == "8":
            variant = "v8"
        return Platform(self.os, architecture, variant)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Platform:
        return cls(str(data.get("os", "")), str(data.get("architecture", "")), str(data.get("variant", "")))

    def __str__(self) -> str:
        return "/".join(p for p in (self.os, self.architecture, self.variant) if p)


def is_attestation(descriptor: Descriptor) -> bool:
    platform = descriptor.platform
    annotations = descriptor.annotations or {}
    return annotations.get("vnd.docker.reference.type") == "attestation-manifest" or (
        platform is not None and platform.os == "unknown" and platform.architecture == "unknown"
    )


def platform_rank(got: Platform, wanted: Platform) -> int | None:
    """How well an image for `got` suits `wanted` (0 is exact), or None when it cannot run there."""
    got, wanted = got.normalized(), wanted.normalized()
    if got.os != wanted.os:
        return None
    if got.architecture == wanted.architecture:
        if got.variant == wanted.variant:
            return 0
        fallbacks = COMPATIBLE.get((wanted.architecture, wanted.variant), ())
        return 1 + fallbacks.index(got.variant) if got.variant in fallbacks else None
    if (got.architecture, wanted.architecture) == ("386", "amd64"):
        return 10
    return None


def choose_platform(children: Sequence[Descriptor], wanted: Platform) -> Descriptor | None:
    """The best child for `wanted`, by docker's rules; the first of equals wins (image-index.md), attestations
    never, and a child without a platform only when nothing names one that fits."""
    best: tuple[int, Descriptor] | None = None
    for child in children:
        if is_attestation(child):
            continue
        rank = 100 if child.platform is None else platform_rank(child.platform, wanted)
        if rank is not None and (best is None or rank < best[0]):
            best = (rank, child)
    return best[1] if best else None



def platform_child(children: Sequence[Descriptor], wanted: Platform, where: str) -> Descriptor:
    """The index entry for `wanted` (`choose_platform`), or an ImageError naming `where` and what is there."""
    chosen = choose_platform(children, wanted)
    if chosen is None:
        listed = [child for child in children if not is_attestation(child)]
        if not listed:
            raise ImageError(f"{where}: lists no image manifest")
        present = ", ".join(sorted({str(child.platform) for child in listed if child.platform}))
        raise ImageError(f"{where}: no manifest for platform {wanted}; present: {present}")
    return chosen
