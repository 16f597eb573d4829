"""Shared fixtures: a node catalog as extension manifests would contribute it."""

from __future__ import annotations

import pytest
from workflow_fixtures import MODEL_NODES, TEXT_NODES, manifest

from symphony_core.workflow import NodeCatalog, Workflow, WorkflowBuilder


@pytest.fixture
def catalog() -> NodeCatalog:
    return NodeCatalog.from_manifests(
        [
            manifest("ex.text", "operator", TEXT_NODES),
            manifest("ex.model", "instrument", MODEL_NODES),
        ]
    )


@pytest.fixture
def linear() -> Workflow:
    return (
        WorkflowBuilder("linear")
        .node("load", "ex.text/read", {"path": "in.txt"}, label="Load", position=(0, 0))
        .node("count", "ex.text/count", {"lowercase": False})
        .node("show", "ex.text/show")
        .connect("load.text", "count.text")
        .connect("count.counts", "show.value")
        .output("counts", "count.counts")
        .build()
    )


@pytest.fixture
def routed() -> Workflow:
    """load -> classify -> switch -> (spam | ham) -> merge -> show."""
    return (
        WorkflowBuilder("routed")
        .node("load", "ex.text/read", {"path": "mail.txt"})
        .node("clf", "ex.model/classify")
        .switch("route")
        .node("spam", "ex.text/show")
        .node("ham", "ex.text/join")
        .merge("merge")
        .node("out", "ex.text/show")
        .connect("load.text", "clf.text")
        .connect("clf.label", "route.value")
        .when("route.value", "spam.value", 'value == "spam"')
        .when("route.value", "ham.left", "true")
        .connect("ham.text", "merge.values")
        .control("spam", "merge")
        .connect("merge.value", "out.value")
        .build()
    )
