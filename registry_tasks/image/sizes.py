"""Byte sizes as people write them (`5MiB`, `512KiB`, `2GB`), shared by options and synthetic image specs."""

from __future__ import annotations

import re

UNIT_SCALES: tuple[tuple[str, int], ...] = (
    ("B", 1),
    ("KB", 10**3),
    ("KiB", 1 << 10),
    ("MB", 10**6),
    ("MiB", 1 << 20),
    ("GB", 10**9),
    ("GiB", 1 << 30),
)
UNITS = {unit.lower(): (unit, scale) for unit, scale in UNIT_SCALES}
SIZE = re.compile(r"(\d+)\s*([A-Za-z]*)")


def parse_size(text: str, unit_required: bool = False) -> tuple[int, str]:
    """(bytes, normalized text such as `10MiB`); a bare number is bytes unless a unit is required."""
    match = SIZE.fullmatch(text.strip())
    if match is None:
        raise ValueError(f"{text!r} is not a size such as 5MiB, 512KiB or 1048576")
    number, unit = match.groups()
    if not unit and not unit_required:
        return int(number), number
    if unit.lower() not in UNITS:
        units = ", ".join(label for label, _ in UNIT_SCALES)
        problem = f"unknown unit {unit!r}" if unit else "needs a unit"
        raise ValueError(f"{text.strip()!r} {problem}; units: {units}")
    label, scale = UNITS[unit.lower()]
    return int(number) * scale, f"{int(number)}{label}"
