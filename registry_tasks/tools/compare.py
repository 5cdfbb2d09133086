"""`python -m registry_tasks compare BASE NEW`: put two runs' `--summary-file` outputs side by side, so that a
change to the registry (or to its deployment) is judged against a known-good run instead of against absolute gates.

One row per entry (method, name) of either file, Aggregated last: requests, fail ratio, p50/p95/p99 ms and MB/s,
base, new and delta. A figure worse than its `--max-regression` limit marks its row and gets a line of its own.
Exits 0 when nothing regressed, 1 when something did, 2 on bad input (one line on stderr). Standard library only.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from dataclasses import dataclass
from typing import Any

from ..errors import RegistryTasksError

TOTAL = "Aggregated"  # the total row's name, as config.settings.TOTAL (not imported: this stays standard library)
LATENCIES = ("p50", "p95", "p99")
KEYS = (*LATENCIES, "mbps", "fail", "capacity")
DEFAULT_LIMITS = {"p95": 10.0, "p99": 10.0, "mbps": 5.0, "fail": 0.1, "capacity": 5.0}  # percent; p50 opt-in
FLOOR_MS = 1.0  # a latency rise of at most this is noise, whatever its percentage (0-2 ms entries)
EPS = 1e-9  # a figure exactly at its limit passes, despite float rounding
COUNTS = ("requests", "failures")
FIGURES = ("p50_ms", "p95_ms", "p99_ms", "mbps")


class BadInput(RegistryTasksError):
    """What is wrong with a file or an option: one line on stderr, exit 2."""


@dataclass(frozen=True)
class Entry:
    method: str
    name: str
    requests: int
    failures: int
    p50_ms: float
    p95_ms: float
    p99_ms: float
    mbps: float

    @property
    def fail_ratio(self) -> float | None:
        return self.failures / self.requests if self.requests else None

    def latency(self, key: str) -> float:
        return float(getattr(self, f"{key}_ms"))


@dataclass(frozen=True)
class Summary:
    path: str
    entries: dict[tuple[str, str], Entry]
    duration_s: float | None
    capacity: float | None  # the capacity search's held rate, when the file has one
    capacity_entry: str


@dataclass(frozen=True)
class Regression:
    label: str
    text: str

    @property
    def line(self) -> str:
        return f"regression: {self.label} {self.text}"


def add_parser(subcommands: Any) -> None:
    parser = subcommands.add_parser("compare", help="compare two --summary-file outputs; exit 1 on a regression")
    parser.add_argument("base", metavar="BASE", help="the summary file of the reference run")
    parser.add_argument("new", metavar="NEW", help="the summary file of the run to judge")
    parser.add_argument(
        "--max-regression",
        action="append",
        default=[],
        metavar="KEY=N%[,...]",
        help="how much worse a figure may get: p50/p95/p99 (latency rise, %% of base), mbps and capacity (fall, "
        "%% of base), fail (rise of the failure ratio, percentage points); repeatable; default "
        + ",".join(f"{key}={value:g}%%" for key, value in DEFAULT_LIMITS.items()),
    )
    parser.set_defaults(run=run)


def parse_limits(values: list[str]) -> dict[str, float]:
    """The defaults, overridden by every `KEY=N%` given (later ones win)."""
    limits = dict(DEFAULT_LIMITS)
    for item in (part.strip() for value in values for part in value.split(",")):
        if not item:
            continue
        key, sep, text = item.partition("=")
        key = key.strip().lower()
        if not sep:
            raise BadInput(f"--max-regression: {item!r} is not KEY=N%")
        if key not in KEYS:
            raise BadInput(f"--max-regression: unknown key {key!r} in {item!r} (keys: {', '.join(KEYS)})")
        number = text.strip().removesuffix("%").strip()
        try:
            limit = float(number)
        except ValueError:
            raise BadInput(f"--max-regression: {item!r}: {text.strip()!r} is not a number") from None
        if not math.isfinite(limit):
            raise BadInput(f"--max-regression: {item!r}: {text.strip()!r} is not a finite number")
        if limit < 0:
            raise BadInput(f"--max-regression: {item!r}: a limit cannot be negative")
        limits[key] = limit
    return limits


def _number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) and value >= 0


def _optional(value: object) -> float | None:
    """An optional figure of the file (duration, capacity): a number, or None for anything else."""
    return float(value) if isinstance(value, (int, float)) and _number(value) else None


def _entry(path: str, index: int, row: object) -> Entry:
    where = f"{path}: not a summary file: entries[{index}]"
    if not isinstance(row, dict):
        raise BadInput(f"{where} is not an object")
    for field in ("method", "name", *COUNTS, *FIGURES):
        if field not in row:
            raise BadInput(f'{where} has no "{field}"')
    for field in ("method", "name"):
        if not isinstance(row[field], str):
            raise BadInput(f'{where}: "{field}" is not a string: {json.dumps(row[field])}')
    for field in COUNTS:
        value = row[field]
        if not _number(value) or not float(value).is_integer():
            raise BadInput(f'{where}: "{field}" is not a count: {json.dumps(value)}')
    for field in FIGURES:
        if not _number(row[field]):
            raise BadInput(f'{where}: "{field}" is not a non-negative number: {json.dumps(row[field])}')
    counts = {field: int(row[field]) for field in COUNTS}
    figures = {field: float(row[field]) for field in FIGURES}
    return Entry(row["method"], row["name"], counts["requests"], counts["failures"], **figures)


def load(path: str) -> Summary:
    """The summary file at path; BadInput (naming the file) when it cannot be read or is not a summary."""
    try:
        with open(path, encoding="utf-8") as handle:
            document = json.load(handle)
    except OSError as exc:
        raise BadInput(f"{path}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise BadInput(f"{path}: not JSON (not UTF-8 text)") from None
    except json.JSONDecodeError as exc:
        raise BadInput(f"{path}: not JSON ({exc.msg} at line {exc.lineno} column {exc.colno})") from None
    if not isinstance(document, dict):
        raise BadInput(f"{path}: not a summary file: the top level is not an object")
    rows = document.get("entries")
    if not isinstance(rows, list):
        raise BadInput(f'{path}: not a summary file: no "entries" list')
    entries: dict[tuple[str, str], Entry] = {}
    for index, row in enumerate(rows):
        entry = _entry(path, index, row)
        key = (entry.method, entry.name)
        if key in entries:
            raise BadInput(f"{path}: not a summary file: entries[{index}] repeats {label(key)}")
        entries[key] = entry
    duration = document.get("duration_s")
    capacity = document.get("capacity")
    rate = capacity.get("rate_per_s") if isinstance(capacity, dict) else None
    entry_name = capacity.get("entry") if isinstance(capacity, dict) else None
    return Summary(
        path,
        entries,
        _optional(duration),
        _optional(rate),
        entry_name if isinstance(entry_name, str) else "",
    )


def label(key: tuple[str, str]) -> str:
    method, name = key
    return f"{method} {name}" if method else name


def order(keys: set[tuple[str, str]]) -> list[tuple[str, str]]:
    """As the summary file sorts its rows (by name, then method), the Aggregated row last."""
    return sorted(keys, key=lambda key: (key == ("", TOTAL), key[1], key[0]))


def change(base: float, new: float) -> float:
    """Relative change; infinite for a rise from 0."""
    if base:
        return (new - base) / base
    return math.inf if new > 0 else 0.0


def num(value: float) -> str:
    return f"{value:.3f}".rstrip("0").rstrip(".")


def pct(fraction: float) -> str:
    if math.isinf(fraction):
        return "+inf%"
    percent = fraction * 100
    return f"{percent:+.0f}%" if abs(percent) >= 10 else f"{percent:+.1f}%"


def ratio(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.2f}%"


def points(delta: float) -> str:
    return f"{delta * 100:+.2f}pp"


def judge(key: tuple[str, str], base: Entry | None, new: Entry | None, limits: dict[str, float]) -> list[Regression]:
    """Every figure of one entry beyond its limit; an entry only judged when both runs requested it."""
    name = label(key)
    if base is None or not base.requests:
        return []
    if new is None or not new.requests:
        return [Regression(name, f"no requests in NEW ({base.requests} in BASE)")]
    found = []
    for latency in LATENCIES:
        if latency not in limits:
            continue
        before, after = base.latency(latency), new.latency(latency)
        rise = change(before, after)
        if after - before > FLOOR_MS + EPS and rise > limits[latency] / 100 + EPS:
            text = f"{latency} {num(before)} ms -> {num(after)} ms ({pct(rise)}, limit +{limits[latency]:g}%)"
            found.append(Regression(name, text))
    if base.mbps > 0 and (fall := change(base.mbps, new.mbps)) < -limits["mbps"] / 100 - EPS:
        text = f"MB/s {num(base.mbps)} -> {num(new.mbps)} ({pct(fall)}, limit -{limits['mbps']:g}%)"
        found.append(Regression(name, text))
    before_ratio, after_ratio = base.fail_ratio or 0.0, new.fail_ratio or 0.0
    if after_ratio - before_ratio > limits["fail"] / 100 + EPS:
        text = (
            f"fail ratio {ratio(before_ratio)} -> {ratio(after_ratio)} "
            f"({points(after_ratio - before_ratio)}, limit +{limits['fail']:g}pp)"
        )
        found.append(Regression(name, text))
    return found


def cells(base: Entry | None, new: Entry | None) -> list[str]:
    """The figures of one row: base, new and delta of each, '-' where a side has none."""
    out = [str(base.requests) if base else "-", str(new.requests) if new else "-"]
    before, after = (base.fail_ratio if base else None), (new.fail_ratio if new else None)
    delta = points(after - before) if before is not None and after is not None else "-"
    out += [ratio(before), ratio(after), delta]
    for field in FIGURES:
        old = getattr(base, field) if base and base.requests else None
        now = getattr(new, field) if new and new.requests else None
        out += [
            "-" if old is None else num(old),
            "-" if now is None else num(now),
            pct(change(old, now)) if old is not None and now is not None and (old or now) else "-",
        ]
    return out


GROUPS = ("fail ratio", "p50 ms", "p95 ms", "p99 ms", "MB/s")
COLUMNS = [
    ("", "entry"),
    ("requests", "base"),
    ("requests", "new"),
    *[(group, sub) for group in GROUPS for sub in ("base", "new", "delta")],
    ("", ""),  # the REGRESSION mark
]
GAP, GROUP_GAP = "  ", "   "


def layout(rows: list[list[str]]) -> list[str]:
    """Aligned lines: a group header, a column header, the rows (names left, figures right)."""
    widths = [max([len(sub), *(len(row[i]) for row in rows)]) for i, (_, sub) in enumerate(COLUMNS)]
    spans: list[tuple[str, int, int]] = []
    for index, (group, _) in enumerate(COLUMNS):
        if spans and spans[-1][0] == group:
            spans[-1] = (group, spans[-1][1], index)
        else:
            spans.append((group, index, index))
    for group, first, last in spans:
        width = sum(widths[first : last + 1]) + len(GAP) * (last - first)
        widths[last] += max(len(group) - width, 0)

    def line(values: list[str]) -> str:
        parts = []
        for _, first, last in spans:
            text = []
            for index in range(first, last + 1):
                value = values[index]
                left = index == 0 or index == len(COLUMNS) - 1
                text.append(value.ljust(widths[index]) if left else value.rjust(widths[index]))
            parts.append(GAP.join(text))
        return GROUP_GAP.join(parts).rstrip()

    head = GROUP_GAP.join(
        group.center(sum(widths[first : last + 1]) + len(GAP) * (last - first)) for group, first, last in spans
    )
    return [head.rstrip(), line([sub for _, sub in COLUMNS]), *(line(row) for row in rows)]


def describe(role: str, summary: Summary) -> str:
    seconds = f", {num(summary.duration_s)} s" if summary.duration_s is not None else ""
    return f"{role}: {summary.path} ({len(summary.entries)} entries{seconds})"


def capacity(base: Summary, new: Summary, limits: dict[str, float]) -> tuple[list[str], list[Regression]]:
    """The capacity line (when either run searched for one) and its regression (when both found one)."""
    if base.capacity is None and new.capacity is None:
        return [], []
    entry = base.capacity_entry or new.capacity_entry
    name = f"capacity ({entry})" if entry else "capacity"
    if base.capacity is None or new.capacity is None:
        missing = "BASE" if base.capacity is None else "NEW"
        return [f"{name}: not compared, {missing} found none"], []
    fall = change(base.capacity, new.capacity)
    figures = f"{num(base.capacity)}/s -> {num(new.capacity)}/s"
    if base.capacity > 0 and fall < -limits["capacity"] / 100 - EPS:
        regression = Regression(name, f"{figures} ({pct(fall)}, limit -{limits['capacity']:g}%)")
        return [f"{name}: {figures} ({pct(fall)})   REGRESSION"], [regression]
    return [f"{name}: {figures} ({pct(fall)})"], []


def compare(base: Summary, new: Summary, limits: dict[str, float]) -> tuple[list[str], list[Regression]]:
    """The report's lines and the regressions found."""
    rows, regressions = [], []
    for key in order(set(base.entries) | set(new.entries)):
        found = judge(key, base.entries.get(key), new.entries.get(key), limits)
        regressions += found
        rows.append([label(key), *cells(base.entries.get(key), new.entries.get(key)), "REGRESSION" if found else ""])
    lines = [describe("BASE", base), describe("NEW ", new), "", *layout(rows)]
    extra, found = capacity(base, new, limits)
    regressions += found
    return [*lines, *extra], regressions


def run(args: argparse.Namespace) -> int:
    try:
        limits = parse_limits(args.max_regression)
        base, new = load(args.base), load(args.new)
    except BadInput as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    lines, regressions = compare(base, new, limits)
    print("\n".join(lines))
    print()
    for regression in regressions:
        print(regression.line)
    count = len(regressions)
    if not count:
        print("no regression beyond the limits")
    else:
        print(f"{count} regression{'s' if count > 1 else ''} beyond the limits")
    return 1 if count else 0
