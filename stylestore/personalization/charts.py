"""The analytics page's bar charts, laid out for an inline SVG: presentation only,
apart from the statistics in ``analytics``."""
import math
from dataclasses import dataclass

ROW_HEIGHT = 28
BAR_HEIGHT = 18
TICKS = 4


def _tick_step(raw: float) -> float:
    """The smallest 1, 2, 2.5 or 5 x 10^k at least ``raw``: round axis labels."""
    magnitude = 10 ** math.floor(math.log10(raw))
    return next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw - 1e-12)


@dataclass(frozen=True)
class Bar:
    """One row: the bar from 0 to the estimate and a whisker over its interval, in SVG
    user units (y of the bar's top, its middle and the whisker caps' ends). A whisker
    whose interval has no upper bound (too few visitors) runs to the plot's edge and is
    drawn open there, so it is not read as ending at the axis's last tick."""

    label: str
    value: str
    top: float
    middle: float
    cap_top: float
    cap_bottom: float
    width: float
    low: float
    high: float
    bounded: bool

    #: How far back from an unbounded whisker's end its open arrowhead reaches.
    ARROW = 5

    @property
    def arrow_back(self) -> float:
        """x of the open arrowhead's two arms (an unbounded interval's end)."""
        return self.high - self.ARROW


@dataclass(frozen=True)
class Chart:
    """Horizontal bars with 95 % interval whiskers, laid out for an inline SVG."""

    bars: list
    width: int
    height: int
    label_width: int
    plot_width: int
    axis_y: int
    ticks: list  # (x, label)
    bar_height: int = BAR_HEIGHT


def chart(items, *, label_width=180, plot_width=420) -> Chart | None:
    """Lay out ``[(label, Estimate)]`` as rates on a shared 0..max scale; None when there
    is nothing to draw, or no interval has an upper bound yet: the table beside says
    "unbounded", and a chart would only show bars of unknown length on a made-up scale."""
    items = [(label, estimate) for label, estimate in items if estimate is not None]
    if not any(math.isfinite(estimate.high) for _, estimate in items):
        return None
    # An interval can be unbounded (a single visitor): the scale follows what is finite.
    finite = [x for _, e in items for x in (e.value, e.high) if math.isfinite(x)]
    step = _tick_step(max(max(finite, default=0.0), 1e-4) / TICKS)
    top = step * TICKS
    scale = plot_width / top
    bars = []
    for index, (label, estimate) in enumerate(items):
        y = index * ROW_HEIGHT + 6
        bars.append(
            Bar(
                label=label,
                value=f"{estimate.value:.2%}",
                top=y,
                middle=y + BAR_HEIGHT / 2,
                cap_top=y + 3,
                cap_bottom=y + BAR_HEIGHT - 3,
                width=max(estimate.value, 0.0) * scale,
                low=max(estimate.low, 0.0) * scale,
                high=min(estimate.high, top) * scale,
                bounded=math.isfinite(estimate.high),
            )
        )
    digits = max(0, -math.floor(math.log10(step * 100) + 1e-9))
    ticks = [(plot_width * i / TICKS, f"{step * i * 100:.{digits}f}%") for i in range(TICKS + 1)]
    axis_y = len(items) * ROW_HEIGHT + 6
    return Chart(bars, label_width + plot_width + 70, axis_y + 20, label_width, plot_width, axis_y, ticks)
