"""Per-unit figures from a measured locust run, ratios of our users against (a) and (b), table and JSON."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from bench.measure import LocustRun

GB = 1e9
MB = 1e6
BASELINES = ("naive", "fast")


@dataclass
class Row:
    """One generator on one path: what it did, what it cost, and how ours compares."""

    path: str
    generator: str
    unit: str
    units: float
    bytes: int
    requests: int
    failures: int
    seconds: float
    cpu_s: float
    process_cpu_s: float
    peak_rss_mb: float
    registry_cpu_s: float
    exit_code: int
    errors: list[str] = field(default_factory=list)
    ratios: dict[str, float] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.exit_code == 0 and self.failures == 0 and not self.errors and self.units > 0

    @property
    def cpu_ms_per_unit(self) -> float:
        return 1000 * self.cpu_s / self.units if self.units else float("nan")

    @property
    def cpu_s_per_gb(self) -> float:
        return self.cpu_s / (self.bytes / GB) if self.bytes else float("nan")

    def metric(self, kind: str) -> float:
        return self.cpu_s_per_gb if kind == "gb" else self.cpu_ms_per_unit

    def to_json(self) -> dict[str, Any]:
        return {
            **asdict(self),
            "ok": self.ok,
            "cpu_ms_per_unit": round(self.cpu_ms_per_unit, 4),
            "cpu_s_per_gb": round(self.cpu_s_per_gb, 4),
        }


def entries(run: LocustRun, name: str) -> list[dict[str, Any]]:
    return [entry for entry in run.stats if entry.get("name") == name]


def make_row(
    path: str, generator: str, run: LocustRun, unit: str, per_unit: int, received: tuple[str, ...], sent_per_unit: int
) -> Row:
    """Units = requests named `unit` / `per_unit`; bytes = content received under `received`, plus uploads."""
    units = sum(entry["num_requests"] for entry in entries(run, unit)) / per_unit
    got = sum(entry["total_content_length"] for name in received for entry in entries(run, name))
    errors = list(run.errors)
    if run.start is None or run.stop is None:
        errors.append("load window not seen in the log: CPU is the whole process")
    if run.exit_code != 0:
        errors.append(f"locust exited with {run.exit_code} (log: {run.log_path})")
    return Row(
        path=path,
        generator=generator,
        unit=unit if per_unit == 1 else f"{unit}/{per_unit}",
        units=units,
        bytes=int(got + units * sent_per_unit),
        requests=sum(entry["num_requests"] for entry in run.stats),
        failures=sum(entry["num_failures"] for entry in run.stats),
        seconds=round(run.window_seconds, 2),
        cpu_s=round(run.load_cpu, 3),
        process_cpu_s=round(run.process_cpu, 3),
        peak_rss_mb=round(run.peak_rss_mb, 1),
        registry_cpu_s=round(run.registry_cpu, 3),
        exit_code=run.exit_code,
        errors=errors,
    )


def add_ratios(rows: list[Row], metric: str) -> None:
    """Our rows' CPU per unit (or per GB) divided by each baseline's, same path, same run."""
    baselines = {row.generator: row for row in rows if row.generator in BASELINES}
    for row in rows:
        for name, base in baselines.items():
            if row.generator not in BASELINES and base.metric(metric) > 0:
                row.ratios[name] = round(row.metric(metric) / base.metric(metric), 3)


def unit_notes(rows: list[Row], tolerance: float = 0.1) -> list[str]:
    """Rows whose bytes per unit differ from the naive row's: their per-unit figures compare different work."""
    naive = next((row for row in rows if row.generator == "naive" and row.units), None)
    notes = []
    for row in rows:
        if naive is None or row is naive or not row.units or not naive.bytes:
            continue
        mine, theirs = row.bytes / row.units, naive.bytes / naive.units
        if abs(mine - theirs) > tolerance * theirs:
            notes.append(
                f"{row.path} {row.generator}: {mine / MB:.2f} MB per {row.unit} against naive's {theirs / MB:.2f}:"
                " per-unit figures compare different work, per-GB ones do not"
            )
    return notes


COLUMNS = (
    ("path", 14, "{}"),
    ("generator", 10, "{}"),
    ("units", 8, "{:.0f}"),
    ("MB", 8, "{:.0f}"),
    ("CPU s", 7, "{:.2f}"),
    ("proc s", 7, "{:.2f}"),
    ("ms/unit", 8, "{:.3f}"),
    ("s/GB", 7, "{:.2f}"),
    ("RSS MB", 7, "{:.0f}"),
    ("reg s", 7, "{:.2f}"),
    ("x naive", 8, "{}"),
    ("x fast", 7, "{}"),
    ("", 6, "{}"),
)


def table(rows: list[Row]) -> str:
    """A fixed-width table; ratios shown only for our users, failed rows marked FAIL."""
    lines = [" ".join(f"{title:>{width}}" for title, width, _ in COLUMNS)]
    for row in rows:
        values = (
            row.path,
            row.generator,
            row.units,
            row.bytes / MB,
            row.cpu_s,
            row.process_cpu_s,
            row.cpu_ms_per_unit,
            row.cpu_s_per_gb,
            row.peak_rss_mb,
            row.registry_cpu_s,
            f"{row.ratios['naive']:.2f}x" if "naive" in row.ratios else "",
            f"{row.ratios['fast']:.2f}x" if "fast" in row.ratios else "",
            "" if row.ok else "FAIL",
        )
        lines.append(" ".join(f"{fmt.format(v):>{w}}" for (_, w, fmt), v in zip(COLUMNS, values, strict=True)))
    return "\n".join(lines)


def write_json(
    path: Path,
    rows: list[Row],
    settings: dict[str, Any],
    notes: list[str],
    floors: list[dict[str, Any]] | None = None,
    targets: list[dict[str, Any]] | None = None,
) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    document = {"settings": settings, "rows": [row.to_json() for row in rows], "notes": notes}
    document.update(floors=floors or [], targets=targets or [])
    path.write_text(json.dumps(document, indent=2) + "\n")
