"""Pictures of a workflow: Mermaid flowcharts and Graphviz DOT.

Both show every node (its label or id, and its type), every edge (data edges with their
ports, control edges bold, conditional edges dashed with their condition) and the
editor groups as boxes. Control nodes get their own shapes: a branch or switch is a
hexagon, a merge a circle, a gate a trapezoid. Node ids are replaced by safe names
(``n0``, ``n1``...) and every label is escaped, so any id or condition renders.

Paste Mermaid into any Markdown viewer that supports it (GitHub does); render DOT with
``dot -Tsvg workflow.dot > workflow.svg``.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Literal

from symphony_core.workflow.catalog import NodeCatalog
from symphony_core.workflow.controls import control_role
from symphony_core.workflow.model import Edge, Node, Workflow

__all__ = ["RenderFormat", "render", "render_dot", "render_mermaid"]

RenderFormat = Literal["mermaid", "dot"]
"""The picture formats."""

_MAX_LABEL = 80


def _short(text: str) -> str:
    return text if len(text) <= _MAX_LABEL else text[: _MAX_LABEL - 1] + "…"


def _title(node: Node) -> str:
    label = node.meta.label if node.meta is not None and node.meta.label else node.id
    return _short(label)


def _kind(node: Node, catalog: NodeCatalog | None) -> str:
    role = control_role(node.type)
    if role is not None:
        return role
    spec = catalog.get(node.type) if catalog is not None else None
    return spec.kind if spec is not None else "node"


def _edge_label(edge: Edge) -> str:
    parts: list[str] = []
    if edge.source_port is not None or edge.target_port is not None:
        parts.append(f"{edge.source_port or ''} → {edge.target_port or ''}")
    if edge.condition is not None:
        parts.append(f"if {edge.condition}")
    return _short(" ".join(parts))


def _groups(workflow: Workflow) -> dict[str, list[int]]:
    groups: dict[str, list[int]] = defaultdict(list)
    for i, node in enumerate(workflow.nodes):
        if node.meta is not None and node.meta.group:
            groups[node.meta.group].append(i)
    return groups


# Mermaid.


def _mermaid_text(text: str) -> str:
    out = []
    for char in text:
        if char == '"':
            out.append("#quot;")
        elif char == "<":
            out.append("#lt;")
        elif char == ">":
            out.append("#gt;")
        elif char == "#":
            out.append("#35;")
        elif char in "\r\n":
            out.append(" ")
        elif char in "|`":
            out.append(f"#{ord(char)};")
        else:
            out.append(char)
    return "".join(out)


_MERMAID_SHAPES = {
    "branch": ("{{", "}}"),
    "switch": ("{{", "}}"),
    "merge": ("((", "))"),
    "gate": ("[/", "\\]"),
    "instrument": ("[(", ")]"),
}


def render_mermaid(workflow: Workflow, catalog: NodeCatalog | None = None) -> str:
    """Draw the workflow as a Mermaid flowchart (top to bottom).

    Args:
        workflow: The workflow.
        catalog: Node types, to tell Instruments (drawn as cylinders) from Operators.

    Returns:
        Mermaid source text.
    """
    topo = workflow.topology
    lines = ["flowchart TD"]
    if workflow.name:
        lines.insert(0, f"%% {_mermaid_text(workflow.name)}")
    grouped = _groups(workflow)
    in_group = {i for members in grouped.values() for i in members}

    def node_line(i: int, indent: str) -> str:
        node = workflow.nodes[i]
        kind = _kind(node, catalog)
        left, right = _MERMAID_SHAPES.get(kind, ("[", "]"))
        text = f"<b>{_mermaid_text(_title(node))}</b><br/><small>{_mermaid_text(node.type)}</small>"
        return f'{indent}n{i}{left}"{text}"{right}'

    for k, (group, members) in enumerate(sorted(grouped.items())):
        lines.append(f'    subgraph g{k}["{_mermaid_text(_short(group))}"]')
        lines.extend(node_line(i, "        ") for i in members)
        lines.append("    end")
    lines.extend(node_line(i, "    ") for i in range(topo.n) if i not in in_group)
    for e, edge in enumerate(workflow.edges):
        source, target = topo.src[e], topo.dst[e]
        if source is None or target is None:
            lines.append(f"    %% edge {_mermaid_text(edge.id)} is dangling")
            continue
        label = _edge_label(edge)
        shown = f'|"{_mermaid_text(label)}"|' if label else ""
        if edge.kind == "control":
            arrow = "==>"
        elif edge.kind == "conditional":
            arrow = "-.->"
        else:
            arrow = "-->"
        lines.append(f"    n{source} {arrow}{shown} n{target}")
    return "\n".join(lines) + "\n"


# DOT.


def _dot_text(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"').replace("\r", "").replace("\n", "\\n")


_DOT_SHAPES = {
    "branch": "hexagon",
    "switch": "hexagon",
    "merge": "circle",
    "gate": "trapezium",
    "instrument": "cylinder",
}


def render_dot(workflow: Workflow, catalog: NodeCatalog | None = None) -> str:
    """Draw the workflow as a Graphviz digraph (left to right).

    Args:
        workflow: The workflow.
        catalog: Node types, to tell Instruments (drawn as cylinders) from Operators.

    Returns:
        DOT source text.
    """
    topo = workflow.topology
    lines = [
        f'digraph "{_dot_text(workflow.name)}" {{',
        "    rankdir=LR;",
        '    node [shape=box, style="rounded", fontname="Helvetica"];',
        '    edge [fontname="Helvetica", fontsize=10];',
    ]
    grouped = _groups(workflow)
    in_group = {i for members in grouped.values() for i in members}

    def node_line(i: int, indent: str) -> str:
        node = workflow.nodes[i]
        shape = _DOT_SHAPES.get(_kind(node, catalog), "box")
        label = f"{_dot_text(_title(node))}\\n{_dot_text(node.type)}"
        tooltip = (
            f', tooltip="{_dot_text(node.meta.comment)}"' if node.meta and node.meta.comment else ""
        )
        return f'{indent}n{i} [label="{label}", shape={shape}{tooltip}];'

    for k, (group, members) in enumerate(sorted(grouped.items())):
        lines.append(f"    subgraph cluster_{k} {{")
        lines.append(f'        label="{_dot_text(_short(group))}"; style="dashed";')
        lines.extend(node_line(i, "        ") for i in members)
        lines.append("    }")
    lines.extend(node_line(i, "    ") for i in range(topo.n) if i not in in_group)
    for e, edge in enumerate(workflow.edges):
        source, target = topo.src[e], topo.dst[e]
        if source is None or target is None:
            lines.append(f"    // edge {_dot_text(edge.id)} is dangling")
            continue
        attrs = [f'id="{_dot_text(edge.id)}"']
        label = _edge_label(edge)
        if label:
            attrs.append(f'label="{_dot_text(label)}"')
        if edge.kind == "control":
            attrs.append("style=bold")
        elif edge.kind == "conditional":
            attrs.append("style=dashed")
        lines.append(f"    n{source} -> n{target} [{', '.join(attrs)}];")
    lines.append("}")
    return "\n".join(lines) + "\n"


def render(workflow: Workflow, fmt: RenderFormat, catalog: NodeCatalog | None = None) -> str:
    """Draw the workflow in ``fmt`` (``mermaid`` or ``dot``)."""
    if fmt == "mermaid":
        return render_mermaid(workflow, catalog)
    return render_dot(workflow, catalog)
