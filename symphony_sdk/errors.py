"""Errors the SDK raises about an extension author's code or a node call's values."""

from __future__ import annotations

from symphony_core import ExtensionError, UserError

__all__ = ["NodeDefinitionError", "NodeInputError", "NodeManifestMismatchError"]


class NodeDefinitionError(UserError):
    """A ``@node`` method cannot work (found when its class is created)."""

    code = "sdk.node_definition"


class NodeManifestMismatchError(ExtensionError, UserError):
    """A ``@node`` method's signature disagrees with the node type in ``symphony.toml``."""

    code = "sdk.node_manifest_mismatch"


class NodeInputError(UserError):
    """A node was called with inputs or parameters its manifest does not allow."""

    code = "sdk.node_input"
