"""Read a YAML file into plain Python data, remembering where every value came from.

Safe YAML only (no Python tags). Unlike ``yaml.safe_load`` this loader

* rejects duplicate keys (PyYAML silently keeps the last one, which hides typos in risk files),
* resolves ``1e6`` as a float (YAML 1.1 needs ``1.0e6``; users write ``1e6``),
* stops alias bombs ("billion laughs") and recursive aliases before they exhaust memory,
* records the ``line:column`` of every key and list item, so that later errors (schema,
  references, overrides) can say where in the file the bad value is.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ..errors import InputError, Location, quote, shorten
from .files import Sandbox, read_capped

try:  # the C parser is ~10x faster on large files; the constructor stays the Python one
    _BaseLoader: type = yaml.CSafeLoader
except AttributeError:  # pragma: no cover - libyaml missing
    _BaseLoader = yaml.SafeLoader

#: Largest YAML file accepted (bytes, counted while reading). Large position books belong in a
#: ``positions_file`` (CSV or Parquet); a scenario rarely takes more than a few kilobytes.
MAX_FILE_BYTES = 64 * 2**20
#: Most values a document may expand to, aliases counted as what they expand to (an alias bomb
#: expands exponentially). About 90,000 inline positions; they cost ~10 s to compose.
MAX_NODES = 1_000_000
#: Deepest nesting accepted (a scenario needs about 6 levels; 10,000 nested lists is an attack).
MAX_DEPTH = 64

Path_ = tuple[str | int, ...]


class _Loader(_BaseLoader):  # type: ignore[misc, valid-type]
    """Safe loader whose resolver also reads exponent floats without a dot (``1e6``)."""


_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9][0-9_]*)(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"),
    list("-+0123456789"),
)


@dataclass
class Document:
    """A loaded YAML mapping and the location of each of its keys and items."""

    data: dict[str, Any]
    source: str
    locations: dict[Path_, Location] = field(default_factory=dict)

    def locate(self, path: Path_) -> Location:
        """The location of ``path``, or of its nearest ancestor that has one."""
        for cut in range(len(path), -1, -1):
            loc = self.locations.get(tuple(path[:cut]))
            if loc is not None:
                return loc
        return Location(self.source)


def load_file(
    path: str | Path, sandbox: Sandbox | None = None, what: str = "scenario file"
) -> Document:
    """Load a scenario (or policy) file named on the command line. Raises :class:`InputError`
    for every kind of bad file: missing, not a regular file, a link out of its folder
    (``sandbox``), larger than :data:`MAX_FILE_BYTES`, not YAML."""
    (sandbox or Sandbox()).named_file(path, what)
    raw = read_capped(
        path,
        MAX_FILE_BYTES,
        what,
        hint="put large position books in a positions_file (CSV or Parquet)",
    )
    return load_bytes(raw, str(path))


def load_bytes(raw: bytes, source: str) -> Document:
    """Parse YAML bytes (see :func:`load_file`)."""
    if b"\x00" in raw:
        raise InputError.single(
            "this is a binary file, not YAML text", Location(source), hint="expected a .yaml file"
        )
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InputError.single(
            f"not UTF-8 text (byte {exc.start})", Location(source), hint="save the file as UTF-8"
        ) from None
    return load_text(text, source)


def load_text(text: str, source: str) -> Document:
    """Parse YAML text into a :class:`Document` whose root must be a mapping."""
    if not text.strip() or all(
        not line.strip() or line.lstrip().startswith("#") for line in text.splitlines()
    ):
        raise InputError.single("the file is empty", Location(source), hint="expected a mapping")
    try:
        _count_nodes(text, source)  # before composing: composing costs ~10 us a node
        loader = _Loader(text)
        try:
            root = loader.get_single_node()
        finally:
            loader.dispose()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        loc = _location(source, mark) if mark is not None else Location(source)
        what = exc.problem or exc.context or "invalid YAML"
        raise InputError.single(f"not valid YAML: {shorten(what, 200)}", loc) from None
    except yaml.YAMLError as exc:
        raise InputError.single(
            f"not valid YAML: {shorten(str(exc), 200)}", Location(source)
        ) from None
    if root is None:
        raise InputError.single("the file is empty", Location(source), hint="expected a mapping")
    builder = _Builder(source)
    data = builder.build(root, ())
    if not isinstance(data, dict):
        kind = "a list" if isinstance(data, list) else f"a single value ({quote(data)})"
        raise InputError.single(
            f"expected a mapping at the top level, found {kind}",
            _location(source, root.start_mark),
            hint="a scenario starts with keys such as 'name:', 'assets:', 'protocols:'",
        )
    return Document(data=data, source=source, locations=builder.locations)


def parse_scalar(text: str) -> Any:
    """Parse a command-line value (``--set path=value``) with the same YAML rules as a file."""
    try:
        loader = _Loader(text)
        try:
            node = loader.get_single_node()
        finally:
            loader.dispose()
    except yaml.YAMLError:
        return text
    if node is None:
        return None
    return _Builder("<value>").build(node, ())


def _count_nodes(text: str, source: str) -> None:
    """Refuse alias bombs, recursive aliases, absurd nesting and documents of more than
    :data:`MAX_NODES` values, from the parser's events, before anything is composed.

    The parser's events cost ~1 us each and are dropped as they come, so a refusal takes about
    a second and almost no memory wherever the limit is crossed; composing the same nodes
    would cost ten times the time and ~400 bytes a node. An alias counts as the size of what it
    names, so the count is the size of the document once its aliases are expanded.
    """
    parser = _BaseLoader(text)
    count = 0
    open_: list[tuple[int, str | None]] = []  # collections being read: (count at start, anchor)
    sizes: dict[str, int] = {}  # anchor -> expanded size, once its node is complete
    building: set[str] = set()  # anchors of collections still open
    try:
        while parser.check_event():
            event = parser.get_event()
            if isinstance(event, yaml.AliasEvent):
                if event.anchor in building:
                    raise InputError.single(
                        "recursive alias: a value contains itself",
                        _location(source, event.start_mark),
                    )
                count += sizes.get(event.anchor, 1)
            elif isinstance(event, yaml.ScalarEvent):
                count += 1
                if event.anchor is not None:
                    sizes[event.anchor] = 1
            elif isinstance(event, yaml.SequenceStartEvent | yaml.MappingStartEvent):
                count += 1
                if len(open_) >= MAX_DEPTH:
                    raise InputError.single(
                        f"values are nested more than {MAX_DEPTH} levels deep",
                        _location(source, event.start_mark),
                    )
                open_.append((count - 1, event.anchor))
                if event.anchor is not None:
                    building.add(event.anchor)
            elif isinstance(event, yaml.SequenceEndEvent | yaml.MappingEndEvent):
                start, anchor = open_.pop()
                if anchor is not None:
                    building.discard(anchor)
                    sizes[anchor] = count - start
            else:
                continue
            if count > MAX_NODES:
                raise InputError.single(
                    f"the document expands to more than {MAX_NODES:,} values (an alias bomb, or "
                    "a book too large for YAML)",
                    _location(source, event.start_mark),
                    hint="large position books belong in a positions_file (CSV or Parquet)",
                )
    finally:
        parser.dispose()


def _location(source: str, mark: Any) -> Location:
    return Location(source, mark.line + 1, mark.column + 1)


class _Builder:
    """Turns a composed node tree into dicts/lists/scalars, checking keys and counting nodes."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.locations: dict[Path_, Location] = {}
        self.count = 0
        self.active: set[int] = set()  # node ids being built: a repeat is a recursive alias
        self.constructor = yaml.constructor.SafeConstructor()

    def build(self, node: yaml.Node, path: Path_) -> Any:
        self.count += 1
        if self.count > MAX_NODES:
            raise InputError.single(
                f"the document expands to more than {MAX_NODES:,} values (an alias bomb?)",
                _location(self.source, node.start_mark),
                hint="large position books belong in a positions_file (CSV or Parquet)",
            )
        if isinstance(node, yaml.ScalarNode):
            return self._scalar(node)
        if id(node) in self.active:
            raise InputError.single(
                "recursive alias: a value contains itself", _location(self.source, node.start_mark)
            )
        self.active.add(id(node))
        try:
            if isinstance(node, yaml.SequenceNode):
                out_list = []
                for i, item in enumerate(node.value):
                    self.locations.setdefault((*path, i), _location(self.source, item.start_mark))
                    out_list.append(self.build(item, (*path, i)))
                return out_list
            if isinstance(node, yaml.MappingNode):
                return self._mapping(node, path)
        finally:
            self.active.discard(id(node))
        raise InputError.single(  # pragma: no cover - PyYAML has no other node kinds
            "unsupported YAML node", _location(self.source, node.start_mark)
        )

    def _scalar(self, node: yaml.ScalarNode) -> Any:
        try:
            return self.constructor.construct_object(node, deep=True)
        except yaml.constructor.ConstructorError as exc:
            raise InputError.single(
                f"cannot read value {quote(node.value)}: {shorten(str(exc.problem), 200)}",
                _location(self.source, node.start_mark),
            ) from None
        except (ValueError, OverflowError):
            raise InputError.single(
                f"cannot read value {quote(node.value)}", _location(self.source, node.start_mark)
            ) from None

    def _mapping(self, node: yaml.MappingNode, path: Path_) -> dict[Any, Any]:
        out: dict[Any, Any] = {}
        merged: dict[Any, Any] = {}
        if not path:
            # the document itself: where a missing top-level key is reported
            self.locations.setdefault((), _location(self.source, node.start_mark))
        for key_node, value_node in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                # `<<: *defaults` - explicit keys of this mapping win over merged ones.
                sources = value_node.value if isinstance(value_node, yaml.SequenceNode) else None
                for src in sources or [value_node]:
                    value = self.build(src, path)
                    if not isinstance(value, dict):
                        raise InputError.single(
                            "a merge key '<<' needs a mapping (or a list of mappings)",
                            _location(self.source, src.start_mark),
                        )
                    for k, v in value.items():
                        merged.setdefault(k, v)
                continue
            if not isinstance(key_node, yaml.ScalarNode):
                raise InputError.single(
                    "a mapping key must be a plain name, not a list or mapping",
                    _location(self.source, key_node.start_mark),
                )
            key = self._scalar(key_node)
            if isinstance(key, bool) or key is None:
                # `yes:`/`on:`/`null:` keys are YAML 1.1 traps; keep the text the user typed.
                key = key_node.value
            if isinstance(key, float | int):
                key = key_node.value
            if key in out:
                first = self.locations.get((*path, key))
                raise InputError.single(
                    f"duplicate key {quote(key)}"
                    + (f" (first defined at line {first.line})" if first else ""),
                    _location(self.source, key_node.start_mark),
                    path=path,
                    hint="YAML keeps only one of them; remove or rename the other",
                )
            self.locations[(*path, key)] = _location(self.source, key_node.start_mark)
            out[key] = self.build(value_node, (*path, key))
        for k, v in merged.items():
            out.setdefault(k, v)
        return out
