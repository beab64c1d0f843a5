"""Text from scenario and policy files, escaped for each format it leaves the tool in.

Names, descriptions, account names of a positions file, gate names, sources and file names
come from pull requests (docs/security.md). Every renderer passes such text through the
function of its format here, so that no name can

* move a terminal's cursor, set its title or plant a link (ESC and OSC sequences, rich markup
  such as ``[link=...]``): :func:`term`, :func:`plain`;
* start a CI log command (a newline then ``::error::``, or ``##[`` anywhere in a line):
  every function here, through :func:`~contagion_cli.errors.one_line`;
* add HTML, links, images or table cells to a Markdown comment: :func:`md`, :func:`md_code`;
* become a spreadsheet formula: :func:`csv_text` (a text cell that starts with ``= + - @`` is
  prefixed with ``'``; a number is never a formula, so ``-0.35`` stays a number);
* make JUnit XML ill-formed (control characters, lone surrogates): :func:`xml_text`;
* break a Graphviz string or trigger matplotlib's mathtext: :func:`dot_string`,
  :func:`plot_text`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from rich.text import Text

from ..errors import one_line

#: What starts a formula in a spreadsheet (OWASP "CSV injection"); tab and CR are escaped
#: by :func:`one_line` before this is checked.
FORMULA_STARTS = ("=", "+", "-", "@")

_NUMBER = re.compile(r"[-+]?(\d[\d,]*\.?\d*|\.\d+)([eE][-+]?\d+)?%?")
#: Markdown punctuation that can start code, links, images, table cells, emphasis or
#: strikethrough (``_`` is left alone: names use it, and inside a word it emphasises nothing).
_MD_SPECIAL = re.compile(r"([\\`*\[\]|~])")
#: ``<`` that starts an HTML tag, comment or autolink (``<=`` and ``< 5`` stay as they are).
_MD_TAG = re.compile(r"<(?=[A-Za-z/!?])")
#: ``&`` that starts an entity (``&lt;``, ``&#64;``).
_MD_ENTITY = re.compile(r"&(?=[A-Za-z#])")


def plain(text: object) -> str:
    """Text for a terminal or a plain-text report: one line, nothing a terminal interprets."""
    return one_line(text)


def term(text: object, style: str = "") -> Text:
    """A rich cell or title from untrusted text: escaped, and a ``Text`` so that rich reads
    no markup in it (a ``str`` cell would turn ``[link=...]`` into a hyperlink)."""
    return Text(one_line(text), style=style)


def cells(row: Iterable[Any]) -> list[Any]:
    """A table row whose text cells are :func:`term` (other renderables pass through)."""
    return [term(c) if isinstance(c, str) else c for c in row]


def md(text: object) -> str:
    """Inline Markdown text that shows ``text`` as written: one line, Markdown punctuation
    backslash-escaped (so no link, image, emphasis or table cell), HTML tags and entities
    neutralised."""
    value = _MD_SPECIAL.sub(r"\\\1", one_line(text))
    value = _MD_ENTITY.sub("&amp;", value)
    return _MD_TAG.sub("&lt;", value)


def md_code(text: object, table: bool = False) -> str:
    """``text`` as a Markdown code span (file names): a fence longer than any run of
    backticks in it; in a table cell ``|`` is escaped (GFM splits cells even in code)."""
    value = one_line(text)
    if table:
        value = value.replace("|", "\\|")
    longest = max((len(run) for run in re.findall(r"`+", value)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if value.startswith("`") or value.endswith("`") or not value.strip() else ""
    return f"{fence}{pad}{value}{pad}{fence}"


class Raw(str):
    """Markdown the renderer wrote itself (``**yes**``): a table leaves it as it is."""

    __slots__ = ()


def md_cell(value: str) -> str:
    """A Markdown table cell: :class:`Raw` as written, any other text through :func:`md`."""
    return str(value) if isinstance(value, Raw) else md(value)


def is_number_text(text: str) -> bool:
    """Whether a cell's text is a plain number (``-0.35``, ``-35%``, ``1e6``, ``-1,234.5``)."""
    return _NUMBER.fullmatch(text.strip()) is not None


def csv_text(text: str) -> str:
    """A CSV cell from text: one line, and a leading ``'`` when a spreadsheet would read the
    cell as a formula. A number (``-0.35``, ``-35%``) is left as it is: only text is guarded."""
    value = one_line(text)
    if value.lstrip().startswith(FORMULA_STARTS) and not is_number_text(value):
        return "'" + value
    return value


def xml_text(text: object) -> str:
    """Text for an XML attribute or element (ElementTree escapes ``& < > "``): without the
    characters XML 1.0 forbids, which ElementTree would write raw."""
    return one_line(text)


def json_text(dumped: str) -> str:
    """A JSON document safe to print in a CI log: ``##`` (GitHub's ``##[command]`` anywhere
    in a line) written ``#\\u0023``, the same string for every JSON reader."""
    return dumped.replace("##", "#\\u0023")


def dot_string(text: object) -> str:
    """A double-quoted Graphviz string."""
    escaped = one_line(text).replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'


def plot_text(text: object) -> str:
    """Text for a matplotlib title or label: ``$`` would start mathtext (a parse error
    there fails the whole plot)."""
    return one_line(text).replace("$", r"\$")
