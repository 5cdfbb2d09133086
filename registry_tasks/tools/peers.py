"""Real registries and clients, built from their Go modules at pinned versions, as peers for the tests (`make peers`).

PEERS is the one place their versions are pinned. Each is built once into a cache outside the work tree,
`$REGISTRY_TASKS_PEERS` or else ~/.cache/registry-tasks/peers, one directory per `name-version`, with the user's own
Go setup (GOPATH, module cache, proxy): `go install module/pkg@version` where that works, `go build` in a copy of
the module where its go.mod has replace directives that `go install` refuses, `go build` in the repository's
peers/ directory for a program of ours. Builds run one at a time (they take all the CPUs there are).

    python -m registry_tasks.tools.peers build [NAME...]   # builds what is not built yet at its version
    python -m registry_tasks.tools.peers path NAME [BINARY] # the binary's path (exit 1 if not built)
    python -m registry_tasks.tools.peers list               # name, version, built or not (or why it cannot be)

Without Go (or with a Go older than 1.22) peers are skipped with one line and exit 0, but for `build` under CI.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from ..errors import RegistryTasksError

MIN_GO = (1, 22)
BUILD_TIMEOUT = 1800
"""Seconds one program's build may take (module downloads included) before it counts as failed."""
STAMP = ".built"
REPOSITORY = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Peer:
    """One program to build: where its source is, at which version, how, and what comes out."""

    name: str
    module: str
    """The Go module (for a program of ours in peers/: the library it is about, at `version`)."""
    version: str
    what: str
    packages: tuple[str, ...] = (".",)
    """Package paths inside the module (or inside `local`), each a main package."""
    binaries: tuple[str, ...] = ()
    """What the build produces, the first the default of `path`."""
    tags: tuple[str, ...] = ()
    cgo: bool = False
    ldflags: str = ""
    """Linker flags; `{version}` is replaced by the version."""
    method: str = "install"
    """install: `go install module/pkg@version`; copy: `go build` in a copy of the module (replace directives);
    local: `go build` in the repository's `local` directory."""
    local: str = ""
    renames: tuple[tuple[str, str], ...] = ()
    """Files renamed in the copy before building (a repository whose module file is not go.mod)."""
    removes: tuple[str, ...] = ()
    """Paths removed from the copy before building."""
    replaces: tuple[str, ...] = ()
    """`go mod edit -replace` arguments for the copy: a requirement the proxy does not serve, by one it does."""
    blocked: str = ""
    """Why this one is not built here (no build is tried); empty when it is buildable."""

    @property
    def directory_name(self) -> str:
        return f"{self.name}-{self.version}"

    def key(self) -> str:
        """What the build depends on: a change makes an earlier build stale (a program of ours: its sources)."""
        parts = [self.module, self.version, *self.packages, *self.tags, str(self.cgo), self.ldflags, self.method,
                 *[f"{old}>{new}" for old, new in self.renames], *self.removes, *self.replaces]  # fmt: skip
        if self.method == "local":
            source = REPOSITORY / self.local
            for path in sorted(source.rglob("*")):
                if path.is_file():
                    parts += [str(path.relative_to(source)), hashlib.sha256(path.read_bytes()).hexdigest()]
        return hashlib.sha256("\0".join(parts).encode()).hexdigest()


PEERS = (
    Peer(
        "distribution", "github.com/distribution/distribution/v3", "v3.1.2",
        "distribution's registry, the program inside `registry:3`",
        packages=("cmd/registry",), binaries=("registry",),
        ldflags="-X github.com/distribution/distribution/v3/version.version={version}",
    ),
    Peer(
        "crane", "github.com/google/go-containerregistry", "v0.22.1",
        "go-containerregistry's client; `crane registry serve` is its in-memory registry, a third implementation",
        packages=("cmd/crane",), binaries=("crane",),
    ),
    Peer(
        "containerd", "github.com/containerd/containerd/v2", "v2.4.2",
        "containerd 2 (its CRI image service, what kubelet pulls through) and its client ctr",
        packages=("cmd/containerd", "cmd/ctr"), binaries=("containerd", "ctr"),
        tags=("no_btrfs", "no_devmapper", "no_zfs", "urfave_cli_no_docs"),
        ldflags="-X github.com/containerd/containerd/v2/version.Version={version}",
    ),
    Peer(
        "crictl", "sigs.k8s.io/cri-tools", "v1.37.0",
        "the CRI client: pulls through a runtime's CRI image service as kubelet does",
        packages=("cmd/crictl",), binaries=("crictl",),
        ldflags="-X sigs.k8s.io/cri-tools/pkg/version.Version={version}",
    ),
    Peer(
        "containers-image", "go.podman.io/image/v5", "v5.42.1",
        "ours (peers/containers-image-copy): copy.Image of containers/image, as skopeo, podman and CRI-O pull",
        binaries=("containers-image-copy",), tags=("containers_image_openpgp",),
        method="local", local="peers/containers-image-copy",
    ),  # fmt: skip
    Peer(
        "dockerd", "github.com/moby/moby/v2", "v2.0.0-beta.24",
        "the Docker 29.8 daemon (its releases/versions.yaml: last 29.8.0), on an external containerd",
        packages=("cmd/dockerd", "cmd/docker-proxy"), binaries=("dockerd", "docker-proxy"),
        tags=("netgo", "osusergo", "static_build", "nri_no_wasm", "exclude_graphdriver_btrfs"), cgo=True,
        ldflags="-w -X github.com/moby/moby/v2/dockerversion.Version=29.8.0-{version}"
        " -X github.com/moby/moby/v2/dockerversion.GitCommit={version} -extldflags -static",
        method="copy",
    ),
    Peer(
        "docker", "github.com/docker/cli", "v29.10.0+incompatible", "the docker 29.10 command line",
        packages=("cmd/docker",), binaries=("docker",), tags=("grpcnotrace", "osusergo", "netgo"),
        ldflags="-w -X github.com/docker/cli/cli/version.Version=29.10.0"
        " -X github.com/docker/cli/cli/version.GitCommit=modproxy",
        method="copy", renames=(("vendor.mod", "go.mod"), ("vendor.sum", "go.sum")), removes=("vendor",),
        replaces=(  # what vendor.mod asks for is not served; moby v2.0.0-beta.24 pins these, which are
            "github.com/moby/swarmkit/v2=github.com/moby/swarmkit/v2@v2.1.3-0.20260828175525-ad0357aedfca",
            "github.com/Azure/go-ansiterm=github.com/Azure/go-ansiterm@v0.0.0-20250102033503-faa5f7b0171c",
        ),
    ),
    Peer(
        "zot", "zotregistry.dev/zot/v2", "v2.1.20", "zot, an OCI-native registry",
        packages=("cmd/zot",), binaries=("zot",),
        blocked="module zotregistry.dev/zot is not served by the Go module proxy here (403 Forbidden)",
    ),
    Peer(
        "zb", "zotregistry.dev/zot/v2", "v2.1.20", "zot's registry benchmark client",
        packages=("cmd/zb",), binaries=("zb",),
        blocked="module zotregistry.dev/zot is not served by the Go module proxy here (403 Forbidden)",
    ),
    Peer(
        "k6", "go.k6.io/k6", "v1.8.1", "Grafana's load generator",
        binaries=("k6",), blocked="k6 is AGPL-3.0: this workplace does not allow using it",
    ),
    Peer(
        "skopeo", "go.podman.io/skopeo", "v1.22.2", "skopeo, the containers/image command line",
        packages=("cmd/skopeo",), binaries=("skopeo",),
        blocked="module go.podman.io/skopeo (and github.com/containers/skopeo) is not served here; "
        "containers-image stands in for it",
    ),
)  # fmt: skip


def cache_dir() -> Path:
    return Path(os.environ.get("REGISTRY_TASKS_PEERS") or Path.home() / ".cache" / "registry-tasks" / "peers")


def find(name: str) -> Peer | None:
    return next((peer for peer in PEERS if peer.name == name), None)


def built(peer: Peer) -> bool:
    """Built at its version, from the sources it names now, every binary there."""
    directory = cache_dir() / peer.directory_name
    try:
        stamp = json.loads((directory / STAMP).read_text())
    except (OSError, ValueError):
        return False
    return stamp.get("key") == peer.key() and all((directory / binary).is_file() for binary in peer.binaries)


def binary_path(name: str, binary: str | None = None) -> Path | None:
    """The path of a built peer's binary (its first one unless named), or None when it is not built."""
    peer = find(name)
    if peer is None or peer.blocked or not built(peer):
        return None
    path = cache_dir() / peer.directory_name / (binary or peer.binaries[0])
    return path if path.is_file() else None


def go_version() -> tuple[int, int] | str:
    """Go's (major, minor), or why peers are skipped."""
    go = shutil.which("go")
    if go is None:
        return "go is not installed (https://go.dev/dl/)"
    try:
        output = subprocess.run([go, "env", "GOVERSION"], capture_output=True, text=True, timeout=60, check=True)
    except (OSError, subprocess.SubprocessError) as error:
        return f"`go env GOVERSION` failed: {error}"
    found = re.search(r"go(\d+)\.(\d+)", output.stdout)
    if found is None:
        return f"cannot read go's version from {output.stdout.strip()!r}"
    version = (int(found[1]), int(found[2]))
    if version < MIN_GO:
        return f"go {version[0]}.{version[1]} is older than {MIN_GO[0]}.{MIN_GO[1]}"
    return version


def go_environment(peer: Peer, extra: dict[str, str]) -> dict[str, str]:
    """The user's environment (their GOPATH, module cache, proxy, toolchain rules) with this build's settings."""
    return {**os.environ, "CGO_ENABLED": "1" if peer.cgo else "0", **extra}


def build_flags(peer: Peer) -> list[str]:
    flags = ["-trimpath"]
    if peer.tags:
        flags += ["-tags", ",".join(peer.tags)]
    if peer.ldflags:
        flags += ["-ldflags", peer.ldflags.format(version=peer.version)]
    return flags


def run_go(args: list[str], cwd: Path | None, env: dict[str, str]) -> str:
    """Run go; its stdout, or BuildError with the tail of what it printed."""
    try:
        result = subprocess.run(["go", *args], cwd=cwd, env=env, capture_output=True, text=True,
                                timeout=BUILD_TIMEOUT, check=False)  # fmt: skip
    except subprocess.TimeoutExpired:
        raise BuildError(f"`go {args[0]}` did not end within {BUILD_TIMEOUT} s") from None
    if result.returncode != 0:
        lines = [line.strip() for line in (result.stderr + result.stdout).splitlines() if line.strip()]
        raise BuildError(" | ".join(lines[-3:])[-400:] or f"go {args[0]} exited with {result.returncode}")
    return result.stdout


class BuildError(RegistryTasksError):
    """A build that failed: the tail of go's error output."""


def build_into(peer: Peer, output: Path, scratch: Path) -> None:
    """Build peer's binaries into `output` (an empty directory); `scratch` is a temporary directory for a copy."""
    if peer.method == "install":
        env = go_environment(peer, {"GOBIN": str(output)})
        run_go(["install", *build_flags(peer), *[f"{peer.module}/{pkg}@{peer.version}" for pkg in peer.packages]],
               None, env)  # fmt: skip
        return
    if peer.method == "copy":
        env = go_environment(peer, {})
        info = json.loads(run_go(["mod", "download", "-json", f"{peer.module}@{peer.version}"], scratch, env))
        source = scratch / "source"
        shutil.copytree(info["Dir"], source, symlinks=True)
        subprocess.run(["chmod", "-R", "u+w", str(source)], check=True, timeout=120)  # the module cache is read-only
        for old, new in peer.renames:
            (source / old).rename(source / new)
        for removed in peer.removes:
            shutil.rmtree(source / removed, ignore_errors=True)
        for replace in peer.replaces:
            run_go(["mod", "edit", "-replace", replace], source, env)
        env["GOFLAGS"] = f"{run_go(['env', 'GOFLAGS'], None, env).strip()} -mod=mod".strip()
    else:
        env = go_environment(peer, {})
        source = REPOSITORY / peer.local
    for package, binary in zip(peer.packages, peer.binaries, strict=True):
        run_go(["build", *build_flags(peer), "-o", str(output / binary), f"./{package}"], source, env)


def build(peer: Peer) -> float:
    """Build one peer into its cache directory (atomically: a failed build leaves nothing); its seconds."""
    cache = cache_dir()
    cache.mkdir(parents=True, exist_ok=True)
    final = cache / peer.directory_name
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix=f".{peer.directory_name}-", dir=cache) as temporary:
        output = Path(temporary) / "bin"
        output.mkdir()
        with tempfile.TemporaryDirectory(prefix=f"peer-{peer.name}-") as scratch:
            build_into(peer, output, Path(scratch))
        absent = [binary for binary in peer.binaries if not (output / binary).is_file()]
        if absent:
            raise BuildError(f"the build produced no {', '.join(absent)}")
        seconds = time.monotonic() - started
        stamp = {"key": peer.key(), "version": peer.version, "seconds": round(seconds, 1)}
        (output / STAMP).write_text(json.dumps(stamp) + "\n")
        shutil.rmtree(final, ignore_errors=True)
        output.rename(final)
    return seconds


def disk_use(path: Path) -> int:
    return sum(file.stat().st_size for file in path.rglob("*") if file.is_file() and not file.is_symlink())


def mib(size: int) -> str:
    return f"{size / 2**20:.0f} MiB"


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() not in ("", "0", "false", "no")


def command_build(names: list[str]) -> int:
    unknown = [name for name in names if find(name) is None]
    if unknown:
        print(f"peers: unknown {', '.join(unknown)}; known: {', '.join(peer.name for peer in PEERS)}", file=sys.stderr)
        return 2
    go = go_version()
    if isinstance(go, str):
        print(f"peers skipped: {go}", file=sys.stderr)
        return 1 if in_ci() else 0
    chosen = [peer for peer in PEERS if peer.name in names] if names else list(PEERS)
    started, failed, refused = time.monotonic(), [], []
    for peer in chosen:
        if peer.blocked:
            print(f"{peer.name} {peer.version}: not built: {peer.blocked}", flush=True)
            refused += [peer.name] if names else []  # asked for by name, it is an error that it cannot be
        elif built(peer):
            print(f"{peer.name} {peer.version}: already built", flush=True)
        else:
            print(f"{peer.name} {peer.version}: building...", flush=True)
            try:
                seconds = build(peer)
            except (BuildError, OSError, subprocess.SubprocessError) as error:
                print(f"FAILED {peer.name} {peer.version}: {error}", flush=True)
                failed.append(peer.name)
                continue
            size = disk_use(cache_dir() / peer.directory_name)
            print(f"built {peer.name} {peer.version} in {seconds:.0f} s ({mib(size)})", flush=True)
    print(f"peers: {time.monotonic() - started:.0f} s; {cache_dir()} holds {mib(disk_use(cache_dir()))}"
          + (f"; failed: {', '.join(failed)}" if failed else "")
          + (f"; not buildable here: {', '.join(refused)}" if refused else ""))  # fmt: skip
    return 1 if failed or refused else 0


def command_path(name: str, binary: str | None) -> int:
    peer = find(name)
    if peer is None:
        print(f"peers: unknown {name}; known: {', '.join(peer.name for peer in PEERS)}", file=sys.stderr)
        return 1
    if binary is not None and binary not in peer.binaries:
        print(f"peers: {name} builds {', '.join(peer.binaries)}, not {binary}", file=sys.stderr)
        return 1
    path = binary_path(name, binary)
    if path is None:
        why = peer.blocked or "run `make peers`"
        print(f"{name} {peer.version} is not built: {why}", file=sys.stderr)
        return 1
    print(path)
    return 0


def command_list() -> int:
    width, version_width = max(len(peer.name) for peer in PEERS), max(len(peer.version) for peer in PEERS)
    for peer in PEERS:
        if peer.blocked:
            state = f"not built: {peer.blocked}"
        elif built(peer):
            state = f"built: {cache_dir() / peer.directory_name}"
        else:
            state = "not built"
        print(f"{peer.name:<{width}}  {peer.version:<{version_width}}  {state}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m registry_tasks.tools.peers", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    build_parser = commands.add_parser("build", help="build the peers (all, or those named) not built yet")
    build_parser.add_argument("names", nargs="*", metavar="NAME")
    path_parser = commands.add_parser("path", help="print a built peer's binary path")
    path_parser.add_argument("name", metavar="NAME")
    path_parser.add_argument("binary", nargs="?", metavar="BINARY")
    commands.add_parser("list", help="every peer: version, built or not")
    args = parser.parse_args(argv)
    if args.command == "build":
        return command_build(args.names)
    if args.command == "path":
        return command_path(args.name, args.binary)
    return command_list()


if __name__ == "__main__":
    sys.exit(main())
