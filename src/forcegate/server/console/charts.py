"""The overview's chart, drawn on the server as SVG geometry (no script, nothing loaded).

Decisions of the last hours, one stacked bar per hour, a colour per credential kind; the template
draws the rectangles and a table carries the same numbers for screen readers.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from forcegate.stores.console_rows import ActivityRow

__all__ = ["KIND_COLOURS", "Bar", "Chart", "stacked_chart"]

#: One colour per credential kind (contrast >= 3:1 on white, distinguishable in the common colour
#: vision deficiencies); kinds not listed share the last.
KIND_COLOURS: dict[str, str] = {
    "jwt-bearer": "#1f5fbf",
    "jwt": "#7b3fb3",
    "access-token": "#0f7c6c",
    "canvas": "#c2570c",
    "session": "#9c6b00",
    "admin": "#4b5563",
    "console": "#374151",
    "other": "#6b7280",
}
WIDTH, HEIGHT, LEFT, BOTTOM, TOP = 720, 180, 40, 22, 10


@dataclass(frozen=True, slots=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    colour: str
    label: str


@dataclass(frozen=True, slots=True)
class Chart:
    bars: Sequence[Bar]
    ticks: Sequence[tuple[float, str]]  # (x, label) along the time axis
    grid: Sequence[tuple[float, int]]  # (y, value) of the horizontal lines
    kinds: Sequence[tuple[str, str, int]]  # legend: (kind, colour, total)
    width: int
    height: int
    total: int
    rows: Sequence[tuple[str, dict[str, int]]]  # the table: (hour, count per kind)


def _kind(credential: str) -> str:
    """The chart's kind of a credential: the console's sign-ins (``operator:NAME``) count as one."""
    return "console" if credential.startswith("operator:") else credential


def _colour(kind: str) -> str:
    return KIND_COLOURS.get(kind, KIND_COLOURS["other"])


def stacked_chart(
    activity: Sequence[ActivityRow], *, result: str, since: float, bucket_seconds: int, buckets: int
) -> Chart:
    """Bars of ``result`` (``allowed`` or ``denied``) decisions per bucket, stacked by credential kind."""
    per_bucket: list[dict[str, int]] = [{} for _ in range(buckets)]
    for row in activity:
        if row.result == result and 0 <= row.bucket < buckets:
            kind = _kind(row.credential)
            per_bucket[row.bucket][kind] = per_bucket[row.bucket].get(kind, 0) + row.count
    totals: dict[str, int] = {}
    for counts in per_bucket:
        for kind, count in counts.items():
            totals[kind] = totals.get(kind, 0) + count
    kinds = sorted(totals, key=lambda kind: (-totals[kind], kind))
    peak = max((sum(counts.values()) for counts in per_bucket), default=0)
    scale_max = _nice(peak)
    plot_w, plot_h = WIDTH - LEFT - 8, HEIGHT - BOTTOM - TOP
    slot = plot_w / buckets
    bars: list[Bar] = []
    for index, counts in enumerate(per_bucket):
        y = float(TOP + plot_h)
        for kind in kinds:
            count = counts.get(kind, 0)
            if not count:
                continue
            height = plot_h * count / scale_max
            y -= height
            hour = _hour(since + index * bucket_seconds)
            bars.append(
                Bar(LEFT + index * slot + 1, y, max(1.0, slot - 2), height, _colour(kind), f"{hour}: {count} {kind}")
            )
    ticks = [
        (LEFT + i * slot + slot / 2, _hour(since + i * bucket_seconds)) for i in range(0, buckets, max(1, buckets // 6))
    ]
    grid = [(TOP + plot_h - plot_h * step / 4, scale_max * step // 4) for step in range(5)]
    rows = [(_hour(since + i * bucket_seconds), counts) for i, counts in enumerate(per_bucket) if counts]
    return Chart(
        bars=bars,
        ticks=ticks,
        grid=grid,
        kinds=[(kind, _colour(kind), totals[kind]) for kind in kinds],
        width=WIDTH,
        height=HEIGHT,
        total=sum(totals.values()),
        rows=rows,
    )


def _nice(peak: int) -> int:
    """A round axis maximum at or above ``peak``, divisible by 4 (the grid lines)."""
    if peak <= 4:
        return 4
    magnitude = 10 ** (len(str(peak)) - 1)
    for step in (1, 2, 4, 5, 8, 10):
        top = step * magnitude
        if top >= peak and top % 4 == 0:
            return int(top)
    return int(((peak + 3) // 4) * 4)


def _hour(moment: float) -> str:
    return datetime.fromtimestamp(moment, UTC).strftime("%H:%M")
