"""Issue 14's targets, each a ratio of two figures of the same run: ours against a baseline or a floor."""

from __future__ import annotations

from dataclasses import dataclass

from bench.floors import Floor
from bench.report import Row


@dataclass(frozen=True)
class Target:
    """`figure` of `generator` on `path` divided by `against`, which must be at most `limit`."""

    path: str
    generator: str
    against: str
    limit: float
    ratio: float | None  # None: one of the two was not measured (or failed)

    @property
    def met(self) -> bool:
        return self.ratio is not None and self.ratio <= self.limit

    def line(self) -> str:
        shown = "not measured" if self.ratio is None else f"{self.ratio:.2f}x"
        verdict = "MEETS" if self.met else "MISSES"
        return f"{self.path} {self.generator}: {shown} {self.against} (target <= {self.limit:g}x) {verdict}"

    def to_json(self) -> dict[str, object]:
        return {**self.__dict__, "met": self.met}


# (path, our generator, what it is compared with, the limit); a baseline is a generator, a floor is a Floor
TARGETS = (
    ("manifest-get", "ours", "fast", 0.6),
    ("blob-get", "ours", "sha256 alone", 1.25),
    ("upload", "ours-chunked", "naive", 0.3),
    ("upload", "ours-stream", "naive", 0.3),
    ("upload", "ours-monolithic", "naive", 0.3),
    ("upload", "ours-tar", "naive", 0.3),
)
ANCHORS = (  # shown beside the targets, not judged: how far ours is from what the machine itself costs
    ("manifest-get", "ours", "wrk"),
    ("upload", "ours-monolithic", "sendfile alone"),
    ("upload", "naive", "sendfile alone"),
)


def _figure(rows: list[Row], floors: dict[str, Floor], path: str, name: str) -> float | None:
    """CPU per GB (or per request on manifest-get) of a generator's row, or of a floor, in seconds."""
    if name in floors:
        value = floors[name].cpu
        return value if value == value else None  # NaN: not measured
    row = next((r for r in rows if r.path == path and r.generator == name), None)
    if row is None or not row.ok:
        return None
    return row.cpu_s / row.units if path == "manifest-get" else row.cpu_s_per_gb


def judge(rows: list[Row], floors: list[Floor]) -> tuple[list[Target], list[str]]:
    """The targets of the paths that ran, and lines relating ours to the machine's own floors."""
    by_name = {floor.name: floor for floor in floors}
    paths = {row.path for row in rows}
    targets = []
    for path, generator, against, limit in TARGETS:
        if path in paths:
            mine, theirs = _figure(rows, by_name, path, generator), _figure(rows, by_name, path, against)
            ratio = round(mine / theirs, 3) if mine is not None and theirs else None
            targets.append(Target(path, generator, against, limit, ratio))
    anchors = []
    for path, generator, against in ANCHORS:
        mine, theirs = _figure(rows, by_name, path, generator), _figure(rows, by_name, path, against)
        if path in paths and mine is not None and theirs:
            anchors.append(f"{path} {generator}: {mine / theirs:.2f}x {against}")
    return targets, anchors
