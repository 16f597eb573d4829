"""Node types and manifests shared by the workflow tests (imported by conftest too)."""

from __future__ import annotations

from symphony_core.manifest.model import (
    ExtensionInfo,
    Manifest,
    NodeType,
    Parameter,
    Port,
)


def manifest(ext_id: str, kind: str, nodes: list[NodeType]) -> Manifest:
    return Manifest(
        extension=ExtensionInfo(
            id=ext_id, version="1.0.0", kind=kind, entry="pkg.mod:Ext", host_api=">=1,<2"
        ),
        nodes=nodes,
    )


TEXT_NODES = [
    NodeType(
        type="read",
        outputs=[Port(name="text", type="str")],
        parameters={"path": Parameter(type="path")},
    ),
    NodeType(
        type="count",
        inputs=[Port(name="text", type="str")],
        outputs=[Port(name="counts", type="dict[str, int]"), Port(name="total", type="int")],
        parameters={
            "lowercase": Parameter(type="bool", default=True),
            "mode": Parameter(type="enum", choices=["words", "chars"], default="words"),
            "limit": Parameter(type="int", default=10, min=1, max=100),
            "tag": Parameter(type="str", default="x", pattern="^[a-z]+$"),
        },
    ),
    NodeType(type="show", inputs=[Port(name="value", type="any")]),
    NodeType(
        type="join",
        inputs=[Port(name="left", type="str"), Port(name="right", type="str", required=False)],
        outputs=[Port(name="text", type="str")],
    ),
    NodeType(type="ratio", inputs=[Port(name="x", type="float")]),
]
MODEL_NODES = [
    NodeType(
        type="classify",
        inputs=[Port(name="text", type="str")],
        outputs=[Port(name="label", type="str"), Port(name="score", type="float")],
    )
]
