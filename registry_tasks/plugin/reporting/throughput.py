"""Per-entry figures a registry operator reads: counts, percentiles and MB/s, which Locust does not compute.

MB/s of an entry = the bytes it moved (`total_content_length`: received for downloads, sent for uploads)
divided by the test's wall-clock duration so far (first to last request of the whole test, as Locust's own
"RPS" column), in MB of 10^6 bytes. Entries therefore add up: blob-get + manifest-get = what pulls moved.
The `Aggregated` row counts each byte once: image-pull / image-push re-count their requests' bytes, so
they are left out of its MB/s (not out of its counts, which stay Locust's).

The same rows feed the web UI's Registry tab, `<csv prefix>_registry.csv`, the HTML report and the summary file.
"""

from __future__ import annotations

import csv
import html
import io
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, fields
from types import MappingProxyType

from locust.stats import RequestStats, StatsEntry

from ...registry import names
from ..run.progress import human_bytes

MB = 1_000_000
IMAGE_TYPES = tuple(names.OPERATION_METHODS.values())
"""Whole-image entries: their bytes are their requests' bytes again."""


@dataclass(frozen=True)
class EntryFigures:
    """One row: what an entry did, in the units its gates and reports use."""

    method: str
    name: str
    requests: int
    failures: int
    p50_ms: float
    p95_ms: float
    p99_ms: float
    avg_ms: float
    bytes: int
    mbps: float
    rps: float


COLUMNS = MappingProxyType({  # field -> column title, in report order
    "method": "Type",
    "name": "Name",
    "requests": "Requests",
    "failures": "Failures",
    "p50_ms": "50%ile (ms)",
    "p95_ms": "95%ile (ms)",
    "p99_ms": "99%ile (ms)",
    "avg_ms": "Average (ms)",
    "bytes": "Bytes",
    "mbps": "MB/s",
    "rps": "Requests/s",
})
assert list(COLUMNS) == [item.name for item in fields(EntryFigures)]


def duration(stats: RequestStats) -> float:
    """Seconds from the test's start to its last request (to now while nothing was requested yet)."""
    if not stats.start_time:
        return 0.0
    return max((stats.last_request_timestamp or time.time()) - stats.start_time, 0.0)


def _figures(entry: StatsEntry, moved: int, seconds: float) -> EntryFigures:
    def rate(amount: float) -> float:
        return amount / seconds if seconds > 0 else 0.0

    return EntryFigures(
        method=entry.method or "",
        name=entry.name,
        requests=entry.num_requests,
        failures=entry.num_failures,
        p50_ms=entry.get_response_time_percentile(0.50) if entry.num_requests else 0.0,
        p95_ms=entry.get_response_time_percentile(0.95) if entry.num_requests else 0.0,
        p99_ms=entry.get_response_time_percentile(0.99) if entry.num_requests else 0.0,
        avg_ms=round(entry.avg_response_time, 2),
        bytes=moved,
        mbps=round(rate(moved) / MB, 3),
        rps=round(rate(entry.num_requests), 2),
    )


def table(stats: RequestStats) -> list[EntryFigures]:
    """Every entry that saw a request, sorted as Locust sorts them, then the Aggregated row."""
    seconds = duration(stats)
    entries = [entry for entry in stats.entries.values() if entry.num_requests or entry.num_failures]
    entries.sort(key=lambda entry: (entry.name, entry.method or ""))
    once = sum(entry.total_content_length for entry in entries if entry.method not in IMAGE_TYPES)
    rows = [_figures(entry, entry.total_content_length, seconds) for entry in entries]
    return [*rows, _figures(stats.total, once, seconds)]


def lookup(rows: Iterable[EntryFigures], name: str) -> EntryFigures | None:
    """The row of an entry name (gates name entries, not methods); None when it made no request."""
    return next((row for row in rows if row.name == name and row.requests), None)


def _values(row: EntryFigures) -> list[object]:
    return [getattr(row, key) for key in COLUMNS]


def as_dicts(rows: Iterable[EntryFigures]) -> list[dict[str, object]]:
    return [asdict(row) for row in rows]


def as_csv(rows: Iterable[EntryFigures]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS.values())
    writer.writerows(_values(row) for row in rows)
    return out.getvalue()


def as_html(rows: Iterable[EntryFigures]) -> str:
    """A plain table for Locust's HTML report (its page is a React app with no extension point)."""
    head = "".join(f"<th>{html.escape(title)}</th>" for title in COLUMNS.values())
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(str(value))}</td>" for value in _values(row)) + "</tr>" for row in rows
    )
    return (
        '<section id="registry-throughput" style="font-family: sans-serif; margin: 2em">'
        "<h2>Registry: throughput and image-level figures</h2>"
        "<p>MB/s = bytes moved by the entry / test duration (10<sup>6</sup> bytes per MB).</p>"
        f'<table border="1" cellpadding="4" style="border-collapse: collapse"><tr>{head}</tr>{body}</table>'
        "</section>"
    )


def before_body(page: str, marker: str, markup: Callable[[], str]) -> str:
    """`page` with `markup()` added before its `</body>`, once: unchanged when `marker` is in it already (or it
    has no body). Locust's pages are React apps with no extension point: this is the one way in."""
    if marker in page or "</body>" not in page:
        return page
    head, _, tail = page.rpartition("</body>")
    return f"{head}{markup()}</body>{tail}"


def add_to_report(page: str, rows: Iterable[EntryFigures]) -> str:
    """Locust's report page with our table before `</body>` (once)."""
    return before_body(page, 'id="registry-throughput"', lambda: as_html(rows))


def as_text(rows: Iterable[EntryFigures]) -> str:
    """The end-of-run registry table for the terminal, beside Locust's own tables."""
    header = ("Type", "Name", "# reqs", "# fails", "50%", "95%", "99% (ms)", "MB/s", "images/s", "bytes")
    lines = [header]
    for row in rows:
        images = f"{row.rps:.3g}" if row.method in names.IMAGE_METHODS else ""
        percentiles = (f"{row.p50_ms:g}", f"{row.p95_ms:g}", f"{row.p99_ms:g}")
        counts = (str(row.requests), str(row.failures))
        lines.append((row.method, row.name, *counts, *percentiles, f"{row.mbps:.3g}", images, human_bytes(row.bytes)))
    widths = [max(len(line[column]) for line in lines) for column in range(len(header))]
    text = ["Registry: " + "-" * (sum(widths) + 2 * len(widths) - 10)]
    for line in lines:
        cells = [cell.ljust(width) if column < 2 else cell.rjust(width)
                 for column, (cell, width) in enumerate(zip(line, widths, strict=True))]  # fmt: skip
        text.append("  ".join(cells))
    return "\n".join(text)
