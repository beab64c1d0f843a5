"""Tables that fit the width they are printed at, and charts that draw at it.

A report is built once, as renderables that know nothing of the terminal; rich hands each one
the width it may fill when it prints. A :class:`FitTable` then lays itself out in the first of
these ways that keeps every figure whole:

1. one table, every column, full headers;
2. one table, every column, abbreviated headers and values (``liq.`` for ``liquidations``);
3. split: the key columns (what names a row) with as many columns as fit, taken by rank (the
   figures MODEL.md §5 names first), then "<title> (continued)" tables with the key columns
   again and the rest. Within each table the columns keep their order.

Figures are never wrapped and never cut with "…"; text columns (``details``, flows) may wrap
inside their cells (at their separator, and inside a piece only when a piece alone is wider
than the table allows, such as a long file path) and bars may shrink. A console as wide as the
whole table (``--wide``, and pipes and files: :data:`~contagion_cli.render.formats.REPORT_WIDTH`)
gets the table of step 1.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import cache

from rich import box as boxes
from rich.cells import cell_len
from rich.console import Console, ConsoleOptions, Group, RenderableType, RenderResult
from rich.measure import Measurement
from rich.padding import Padding
from rich.table import Table
from rich.text import Text

from . import charts

#: Narrowest a bar column shrinks to (cells), so a bar still shows a difference.
MIN_BAR = 8
#: Narrowest a text column breaks to when even its longest piece is too wide for the table
#: (a file path of a long checkout folder): it then breaks inside pieces, as a last resort,
#: so that the figures beside it keep their width.
MIN_TEXT = 12


@dataclass(frozen=True)
class Short:
    """A cell with an abbreviation, shown when the table is abbreviated."""

    full: str | Text
    short: str | Text


@dataclass(frozen=True)
class Bar:
    """A bar of ``value / peak``, drawn as wide as its column is given."""

    value: float
    peak: float


Cell = str | Text | Short | Bar


@dataclass(frozen=True)
class FitColumn:
    """A column of a :class:`FitTable`.

    ``rank`` orders the columns that claim the first table when it must be split (0: a key
    column, repeated in every part); ``wrap`` lets a text column break its cells into lines,
    at that separator only (``"; "`` keeps ``ETH 400.00`` of a list of flows on one line);
    ``bar`` (cells) makes a bar column that shrinks to :data:`MIN_BAR`.
    """

    header: str
    short: str | None = None
    justify: str = "right"
    rank: int = 1
    wrap: str | None = None
    bar: int = 0
    style: str = ""
    min_width: int | None = None


def _plain(cell: Cell, short: bool) -> str:
    if isinstance(cell, Short):
        cell = cell.short if short else cell.full
    if isinstance(cell, Bar):
        return ""
    return cell.plain if isinstance(cell, Text) else cell


def _pieces(text: str, sep: str) -> list[str]:
    return [piece for line in text.splitlines() for piece in line.split(sep)]


def _longest_piece(text: str, sep: str) -> int:
    return max((cell_len(piece) for piece in _pieces(text, sep)), default=0)


def pack(text: str, sep: str, width: int) -> str:
    """``text`` in lines of at most ``width`` cells, broken at ``sep`` (which a broken line
    keeps, less its trailing space: ``ETH 400.00;``); a piece longer than ``width`` alone is
    broken inside (only a column narrowed below its longest piece has one: see ``_allot``)."""
    return "\n".join(_chop(line, width) for line in _pack(text, sep, width).splitlines() or [""])


def _chop(line: str, width: int) -> str:
    """``line`` in lines of at most ``width`` cells, broken anywhere."""
    if cell_len(line) <= width or width < 1:
        return line
    out, current = [], ""
    for char in line:
        if current and cell_len(current + char) > width:
            out.append(current)
            current = ""
        current += char
    out.append(current)
    return "\n".join(out)


def _pack(text: str, sep: str, width: int) -> str:
    lines: list[str] = []
    for line in text.splitlines() or [""]:
        pieces = line.split(sep)
        current = pieces[0]
        for piece in pieces[1:]:
            joined = current + sep + piece
            if current and cell_len(joined) > width:
                lines.append(current + sep.rstrip())
                current = piece
            else:
                current = joined
        lines.append(current)
    return "\n".join(lines)


def _longest_line(text: str) -> int:
    return max((cell_len(line) for line in text.splitlines()), default=0)


class FitTable:
    """A table that fits its console's width (module docstring): add columns and rows as to
    a rich ``Table``; rich lays it out when it prints."""

    def __init__(
        self,
        title: str | None = None,
        *,
        caption: str | None = None,
        continued: str | None = None,
        show_header: bool = True,
        collapse_padding: bool = True,
    ) -> None:
        self.title = title
        self.caption = caption
        self.continued = continued or (f"{title} (continued)" if title else "(continued)")
        self.show_header = show_header
        self.collapse_padding = collapse_padding
        self.columns: list[FitColumn] = []
        self.rows: list[list[Cell]] = []
        self.sections: set[int] = set()  # rows followed by a section line
        self._measured: dict[tuple[int, bool], tuple[int, int]] = {}  # _widths, until a change

    def add_column(self, header: str, **kwargs) -> None:  # type: ignore[no-untyped-def]
        """A column (:class:`FitColumn`'s fields as keywords)."""
        self.columns.append(FitColumn(header, **kwargs))
        self._measured.clear()

    def add_row(self, *cells: Cell) -> None:
        if len(cells) != len(self.columns):
            raise ValueError(f"{len(cells)} cells for {len(self.columns)} columns")
        self.rows.append(list(cells))
        self._measured.clear()

    def add_section(self) -> None:
        """A line under the last row added."""
        if self.rows:
            self.sections.add(len(self.rows) - 1)

    # --- widths ------------------------------------------------------------------------------
    def _header(self, k: int, short: bool) -> str:
        column = self.columns[k]
        return column.short if short and column.short is not None else column.header

    def _widths(self, k: int, short: bool) -> tuple[int, int]:
        """Column ``k``'s narrowest width that cuts nothing, and its natural width."""
        if (k, short) not in self._measured:
            self._measured[k, short] = self._measure(k, short)
        return self._measured[k, short]

    def _measure(self, k: int, short: bool) -> tuple[int, int]:
        column = self.columns[k]
        texts = [self._header(k, short)] if self.show_header else []
        texts += [_plain(row[k], short) for row in self.rows]
        if column.bar:
            header = cell_len(texts[0]) if self.show_header else 0
            least, natural = max(MIN_BAR, header), max(column.bar, header)
        elif column.wrap is not None:
            # a header breaks between words, cells at the column's separator
            least = max(
                [_longest_piece(t, column.wrap) for t in texts[self.show_header :]]
                + ([_longest_piece(texts[0], " ")] if self.show_header else []),
                default=1,
            )
            natural = max((_longest_line(t) for t in texts), default=1)
        else:
            least = natural = max((_longest_line(t) for t in texts), default=1)
        floor = max(column.min_width or 0, 1)
        return max(least, floor), max(natural, least, floor)

    def _overhead(self, n: int) -> int:
        return _overhead(n, self.collapse_padding, self.show_header)

    def _fits(self, columns: Sequence[int], short: bool, width: int, natural: bool = False) -> bool:
        """Whether ``columns`` fit ``width``: at their natural widths, or with text wrapped and
        bars shrunk (never a figure cut)."""
        return self._overhead(len(columns)) + sum(
            self._widths(k, short)[natural] for k in columns
        ) <= max(width, 1)

    def _style(self, columns: Sequence[int], width: int) -> bool | None:
        """How ``columns`` fit ``width``: full headers unwrapped (False), else abbreviated
        (True), unwrapped if possible; None when they cannot fit."""
        for short, natural in ((False, True), (True, True), (True, False)):
            if self._fits(columns, short, width, natural):
                return short
        return None

    def _allot(self, columns: Sequence[int], short: bool, width: int) -> dict[int, int]:
        """Each column's width: its natural one when the table fits, else the text and bar
        columns shrink (never below what cuts nothing), widest first."""
        ranges = {k: self._widths(k, short) for k in columns}
        widths = {k: natural for k, (_, natural) in ranges.items()}
        excess = self._overhead(len(columns)) + sum(widths.values()) - width
        while excess > 0:
            flexible = [
                k
                for k in columns
                if (self.columns[k].wrap is not None or self.columns[k].bar)
                and widths[k] > ranges[k][0]
            ]
            if not flexible:
                break
            widest = max(flexible, key=lambda k: widths[k] - ranges[k][0])
            widths[widest] -= 1
            excess -= 1
        # Still too wide: text columns break inside their pieces (pack), widest first, rather
        # than let rich cut a figure with "…".
        while excess > 0:
            text = [k for k in columns if self.columns[k].wrap is not None and widths[k] > MIN_TEXT]
            if not text:
                break
            widest = max(text, key=lambda k: widths[k])
            widths[widest] -= 1
            excess -= 1
        return widths

    # --- layout ------------------------------------------------------------------------------
    def layout(self, width: int) -> list[tuple[list[int], bool]]:
        """The tables to print at ``width``: each as its columns and whether abbreviated."""
        every = list(range(len(self.columns)))
        short = self._style(every, width)
        if short is not None:
            return [(every, short)]
        keys = [k for k in every if self.columns[k].rank == 0]
        order = sorted((k for k in every if k not in keys), key=lambda k: (self.columns[k].rank, k))
        parts: list[list[int]] = []
        current: list[int] = []
        for k in order:
            if current and not self._fits(sorted(keys + current + [k]), True, width):
                parts.append(current)
                current = []
            current.append(k)
        parts.append(current)
        out = []
        for part in parts:
            columns = sorted(keys + part)
            out.append((columns, self._style(columns, width) is not False))
        return out

    def table(
        self,
        columns: Sequence[int] | None = None,
        short: bool = False,
        width: int | None = None,
        title: str | Text | None = None,
    ) -> Table:
        """A rich ``Table`` of ``columns`` (all), at most ``width`` wide (None: natural)."""
        columns = list(range(len(self.columns))) if columns is None else list(columns)
        widths = self._allot(columns, short, width if width is not None else 1 << 30)
        table = Table(
            title=title,
            box=boxes.SIMPLE_HEAD,
            title_justify="left",
            show_header=self.show_header,
            collapse_padding=self.collapse_padding,
        )
        for k in columns:
            column = self.columns[k]
            header = self._header(k, short)
            if column.wrap is not None:
                header = pack(header, " ", widths[k])
            table.add_column(
                Text(header),  # not markup: a design's label is a scenario's name
                justify=column.justify,  # type: ignore[arg-type]
                no_wrap=True,  # text columns arrive broken into lines (pack), bars drawn to fit
                style=column.style,
                min_width=column.min_width,
            )
        for r, row in enumerate(self.rows):
            cells: list[RenderableType] = []
            for k in columns:
                cell = row[k]
                if isinstance(cell, Short):
                    cell = cell.short if short else cell.full
                if isinstance(cell, Bar):
                    cell = charts.bar(cell.value, cell.peak, widths[k])
                wrap = self.columns[k].wrap
                if wrap is not None:
                    cell = _packed(cell, wrap, widths[k])
                # a str would be read as rich markup: a name holding "[link=...]" must not link
                cells.append(Text(cell) if isinstance(cell, str) else cell)
            table.add_row(*cells, end_section=r in self.sections)
        return table

    def parts(self, width: int) -> list[RenderableType]:
        """The tables this prints at ``width`` (one when it fits), each under its title."""
        out: list[RenderableType] = []
        for i, (columns, short) in enumerate(self.layout(width)):
            title = self.title if i == 0 else self.continued
            if title:
                # a line of its own, so that a title wider than its table is not wrapped to it
                out.append(Text(title, style="table.title"))
            out.append(self.table(columns, short, width))
        return out

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        yield from self.parts(options.max_width)
        if self.caption:
            yield notes(self.caption.splitlines())

    def __rich_measure__(self, console: Console, options: ConsoleOptions) -> Measurement:
        title = Text(self.title) if self.title else None  # as wide as its title, no markup
        whole: list[RenderableType] = [self.table(title=title)]
        if self.caption:
            whole.append(notes(self.caption.splitlines()))
        return Measurement.get(console, options.update_width(1 << 20), Group(*whole))


def _packed(cell: str | Text, sep: str, width: int) -> str | Text:
    if isinstance(cell, str):
        return pack(cell, sep, width)
    packed = Text(pack(cell.plain, sep, width), style=cell.style)
    return packed if packed.plain.count("\n") else cell  # spans survive where nothing broke


@cache
def _overhead(n: int, collapse_padding: bool, show_header: bool) -> int:
    """What a table of ``n`` columns adds to their widths: padding, edges and separators."""
    probe = Table(box=boxes.SIMPLE_HEAD, collapse_padding=collapse_padding, show_header=show_header)
    for _ in range(n):
        probe.add_column("x")
    probe.add_row(*("x" * n))
    # a probe of plain "x" cells: no markup or emoji to parse (rich's emoji table is 3 ms)
    console = Console(width=1 << 20, file=None, markup=False, emoji=False)
    return Measurement.get(console, console.options, probe).maximum - n


def notes(lines: Iterable[str]) -> RenderableType:
    """Lines under a table, indented like its rows (a wrapped line keeps the indent)."""
    return Padding(Text("\n".join(lines)), (0, 0, 0, 2), expand=False)


class AtWidth:
    """A renderable drawn at the width it is given: ``draw(width)``, at most ``natural`` wide
    (a sparkline or histogram that narrows with the terminal instead of wrapping)."""

    def __init__(self, draw: Callable[[int], RenderableType], natural: int, least: int) -> None:
        self.draw = draw
        self.natural = natural
        self.least = least

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        yield self.draw(max(self.least, min(self.natural, options.max_width)))

    def __rich_measure__(self, console: Console, options: ConsoleOptions) -> Measurement:
        return Measurement(self.least, self.natural)


def lines_at(draw: Callable[[int], Iterable[str]], natural: int, least: int) -> AtWidth:
    """:class:`AtWidth` for a function that draws lines of text."""
    return AtWidth(lambda width: Text("\n".join(draw(width))), natural, least)
