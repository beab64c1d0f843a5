"""The contagion graph in text formats: primary parents, Graphviz DOT and Mermaid."""

from __future__ import annotations

from collections.abc import Callable

from ..results.run import RunResult
from .escape import dot_string


def primary_parents(result: RunResult) -> dict[str, tuple[str, str]]:
    """For each protocol pulled in by another: (source with the lowest depth, asset)."""
    parents: dict[str, tuple[str, str]] = {}
    for edge in result.edges:
        src_depth = result.protocols[edge.source].depth
        current = parents.get(edge.target)
        if current is None:
            parents[edge.target] = (edge.source, edge.asset)
            continue
        cur_depth = result.protocols[current[0]].depth
        if src_depth is not None and cur_depth is not None and src_depth < cur_depth:
            parents[edge.target] = (edge.source, edge.asset)
    return parents


def _quote(name: str) -> str:
    return dot_string(name)  # the scenario's name is untrusted text


def to_dot(result: RunResult) -> str:
    """Graphviz DOT: protocols as nodes (insolvent ones red), edges labelled asset@round."""
    lines = [f"digraph {_quote('contagion: ' + result.scenario)} {{", "  rankdir=LR;"]
    lines.append('  shock [label="exogenous shock", shape=plaintext];')
    for name, pr in result.protocols.items():
        attrs = [f'label="{name}\\n{pr.type}, depth {pr.depth if pr.depth is not None else "-"}"']
        if pr.insolvent:
            attrs.append("color=red, fontcolor=red")
        elif pr.depth is None:
            attrs.append("style=dashed")
        lines.append(f"  {_quote(name)} [{', '.join(attrs)}];")
        if pr.depth == 0:
            lines.append(f"  shock -> {_quote(name)};")
    for e in result.edges:
        lines.append(
            f'  {_quote(e.source)} -> {_quote(e.target)} [label="{e.asset} @ round {e.round}"];'
        )
    lines.append("}")
    return "\n".join(lines) + "\n"


def _mermaid_id(name: str) -> str:
    return "p_" + "".join(c if c.isalnum() else "_" for c in name)


def to_mermaid(result: RunResult) -> str:
    """Mermaid flowchart (renders in GitHub Markdown)."""
    lines = ["flowchart LR", "  shock([exogenous shock])"]
    for name, pr in result.protocols.items():
        depth = pr.depth if pr.depth is not None else "-"
        lines.append(f'  {_mermaid_id(name)}["{name}<br/>{pr.type}, depth {depth}"]')
        if pr.depth == 0:
            lines.append(f"  shock --> {_mermaid_id(name)}")
    for e in result.edges:
        lines.append(
            f"  {_mermaid_id(e.source)} -->|{e.asset} @ r{e.round}| {_mermaid_id(e.target)}"
        )
    for name, pr in result.protocols.items():
        if pr.insolvent:
            lines.append(f"  style {_mermaid_id(name)} stroke:#d00,stroke-width:2px")
    return "\n".join(lines) + "\n"


def _mermaid_block(result: RunResult) -> str:
    # a .md file renders as a diagram on GitHub only inside ```mermaid
    return f"```mermaid\n{to_mermaid(result)}```\n"


#: ``--graph`` formats by file extension.
GRAPH_WRITERS = {
    ".dot": to_dot,
    ".gv": to_dot,
    ".mmd": to_mermaid,
    ".mermaid": to_mermaid,
    ".md": _mermaid_block,
}


def graph_writer(suffix: str) -> Callable[[RunResult], str] | None:
    """The renderer ``--graph FILE`` uses for ``FILE``'s extension (None: no known format)."""
    return GRAPH_WRITERS.get(suffix.lower())
