"""The report charts, drawn on the server as SVG with matplotlib.

Each function returns an SVG document. Pages embed it as an image (`data_uri`), with the same
numbers in a table under it, so a chart never carries a figure the table does not; an image
also keeps the page's Content-Security-Policy strict (the SVG's own styles stay inside it).
Text stays text (`svg.fonttype: none`), names are never read as math markup, and the output is
the same for the same numbers.
"""

import base64
import io
import warnings
from collections.abc import Sequence

from matplotlib import rcParams
from matplotlib.axes import Axes
from matplotlib.figure import Figure

rcParams["svg.fonttype"] = "none"
rcParams["svg.hashsalt"] = "caremap"
rcParams["font.size"] = 10
# Labels are names people typed (an organization called "$5 meals", say): text, never
# matplotlib's math markup, which fails on an unbalanced "$" and would draw a formula otherwise.
rcParams["text.parse_math"] = False

COLORS = ("#1d5e8c", "#2f8f5b", "#c77b1a", "#b03a48", "#6b5b95", "#7a7a7a")
WIDTH = 7.5  # inches; the page scales the image to its column


def _figure(rows: int) -> tuple[Figure, Axes]:
    figure = Figure(figsize=(WIDTH, max(2.2, 0.42 * rows + 1.2)), layout="constrained")
    axes = figure.add_subplot()
    axes.spines[["top", "right"]].set_visible(False)
    return figure, axes


def _svg(figure: Figure) -> str:
    buffer = io.StringIO()
    with warnings.catch_warnings():
        # Text stays text (svg.fonttype none): the reader's browser draws Chinese or Arabic
        # labels with its own fonts and shaping; matplotlib only measures them, and its
        # DejaVu font has no Chinese glyphs to measure with.
        warnings.filterwarnings("ignore", message="Glyph .* missing from font")
        figure.savefig(buffer, format="svg", metadata={"Date": None})
    return buffer.getvalue()


def data_uri(svg: str) -> str:
    return "data:image/svg+xml;base64," + base64.b64encode(svg.encode()).decode()


def bars(labels: Sequence[str], values: Sequence[float | None], axis: str) -> str:
    """Horizontal bars, one per label, top to bottom; a missing value (hidden) draws none."""
    figure, axes = _figure(len(labels))
    positions = range(len(labels))
    shown = [value or 0 for value in values]
    drawn = axes.barh(positions, shown, color=COLORS[0])
    axes.bar_label(drawn, labels=[_number(v) for v in values], padding=3)
    axes.set_yticks(positions, labels=labels)
    axes.invert_yaxis()
    axes.set_xlabel(axis)
    axes.margins(x=0.12)
    return _svg(figure)


def stacked(labels: Sequence[str], series: dict[str, Sequence[float | None]], axis: str) -> str:
    """Horizontal bars split into parts (the outcomes of each group), with a legend."""
    figure, axes = _figure(len(labels) + 1)
    positions = range(len(labels))
    left = [0.0] * len(labels)
    for color, (name, values) in zip(COLORS, series.items(), strict=False):
        widths = [value or 0 for value in values]
        axes.barh(positions, widths, left=left, color=color, label=name)
        left = [a + b for a, b in zip(left, widths, strict=True)]
    axes.set_yticks(positions, labels=labels)
    axes.invert_yaxis()
    axes.set_xlabel(axis)
    axes.legend(
        loc="upper center", bbox_to_anchor=(0.5, -0.12), ncols=len(series), frameon=False,
        fontsize=8,
    )  # fmt: skip
    return _svg(figure)


def lines(periods: Sequence[str], series: dict[str, Sequence[float | None]], axis: str) -> str:
    """One line per series over the periods (months)."""
    figure, axes = _figure(8)
    for color, (name, values) in zip(COLORS, series.items(), strict=False):
        axes.plot(periods, [v if v is not None else float("nan") for v in values], "o-",
                  color=color, label=name)  # fmt: skip
    axes.set_ylabel(axis)
    axes.set_ylim(bottom=0)
    axes.tick_params(axis="x", labelrotation=45)
    axes.legend(frameon=False, fontsize=8)
    return _svg(figure)


def _number(value: float | None) -> str:
    if value is None:
        return ""
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.1f}"
