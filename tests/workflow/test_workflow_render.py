"""Pictures: every node and edge shows up, with shapes by kind, and labels are escaped."""

from __future__ import annotations

import re

from symphony_core.workflow import (
    Edge,
    Node,
    NodeCatalog,
    NodeMeta,
    Workflow,
    render,
    render_dot,
    render_mermaid,
)


def test_mermaid(catalog: NodeCatalog, routed: Workflow) -> None:
    text = render_mermaid(routed, catalog)
    lines = text.splitlines()
    assert lines[0] == "%% routed"
    assert lines[1] == "flowchart TD"
    assert 'n1[("<b>clf</b><br/><small>ex.model/classify</small>")]' in text  # instrument
    assert 'n2{{"<b>route</b>' in text  # switch
    assert 'n5(("<b>merge</b>' in text
    assert 'n0 -->|"text → text"| n1' in text
    assert 'n2 -.->|"value → value if value == #quot;spam#quot;"| n3' in text
    assert "n3 ==> n5" in text  # control edge
    assert len([line for line in lines if "--" in line or "==>" in line or "-.->" in line]) == len(
        routed.edges
    )


def test_dot(catalog: NodeCatalog, routed: Workflow) -> None:
    text = render(routed, "dot", catalog)
    assert text.startswith('digraph "routed" {')
    assert 'n2 [label="route\\ncontrol/switch", shape=hexagon];' in text
    assert 'n1 [label="clf\\nex.model/classify", shape=cylinder];' in text
    assert 'n2 -> n3 [id="e3", label="value → value if value == \\"spam\\"", style=dashed];' in text
    assert 'n3 -> n5 [id="e6", style=bold];' in text
    assert text.rstrip().endswith("}")


def test_hostile_labels_and_groups() -> None:
    wf = Workflow(
        'say "hi"',
        [
            Node(
                'a"]; evil',
                "x.y/z",
                meta=NodeMeta(label='line\nbreak "q" <b>', group="G 1", comment='c"'),
            ),
            Node("b", "x.y/z", meta=NodeMeta(group="G 1")),
            Node("c", "x.y/z"),
        ],
        [
            Edge("e", 'a"]; evil', "c", "conditional", None, None, 'x == "|"'),
            Edge("d", "b", "ghost", "control"),
        ],
    )
    mermaid = render_mermaid(wf)
    assert 'subgraph g0["G 1"]' in mermaid
    # Every quote inside a label is escaped: a node or edge line has just its two delimiters.
    for line in mermaid.splitlines():
        if re.match(r"\s+n\d", line):
            assert line.count('"') == 2, line
    assert "#quot;q#quot;" in mermaid
    assert "#lt;b#gt;" in mermaid
    assert "%% edge d is dangling" in mermaid
    assert "evil" not in mermaid.split("flowchart TD")[1].split("subgraph")[0]  # ids are replaced
    dot = render_dot(wf)
    assert 'label="line\\nbreak \\"q\\" <b>\\nx.y/z"' in dot
    assert "subgraph cluster_0" in dot
    assert 'tooltip="c\\""' in dot
    assert "// edge d is dangling" in dot
