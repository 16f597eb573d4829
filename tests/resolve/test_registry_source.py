from __future__ import annotations

import pytest
from conftest import manifest, record

from symphony_core.errors import SymphonyError
from symphony_core.ports.data import VersionInfo
from symphony_core.resolve import (
    ChainedSource,
    InstalledSource,
    MissingExtensionError,
    RegistrySource,
    resolve,
)
from symphony_core.testing import InMemoryRegistry
from symphony_core.testing.registry import RegistryState


@pytest.fixture
def registry() -> InMemoryRegistry:
    state = RegistryState()
    state.add_token("tok", "acme")
    client = InMemoryRegistry(state, token="tok")
    for ext_id, version, deps in [
        ("acme.tok", "1.0", {}),
        ("acme.tok", "1.5", {}),
        ("acme.tok", "2.0", {}),
        ("acme.app", "1.0", {"acme.tok": ">=1"}),
        ("acme.app", "2.0", {"acme.tok": ">=2"}),
    ]:
        name = ext_id.replace(".", "_")
        client.publish(
            manifest(ext_id, version, deps),
            b"archive",
            filename=f"{name}-{version}-py3-none-any.whl",
        )
    client.yank("acme.tok", "2.0", reason="broken")
    return InMemoryRegistry(state)


def test_resolves_against_the_registry_port(registry: InMemoryRegistry) -> None:
    source = RegistrySource(registry)
    result = resolve(["acme.app"], source)
    # acme.tok 2.0 is yanked, so acme.app 2.0 cannot be used.
    assert [(c.id, str(c.version), c.origin) for c in result.load_order] == [
        ("acme.tok", "1.5", "registry"),
        ("acme.app", "1.0", "registry"),
    ]
    assert [str(c) for c in result.to_install] == ["acme.tok 1.5", "acme.app 1.0"]


def test_one_request_per_extension_id(registry: InMemoryRegistry) -> None:
    source = RegistrySource(registry)
    before = registry.state.requests
    resolve(["acme.app"], source)
    resolve(["acme.app>=1"], source)
    assert registry.state.requests - before == 2
    source.forget()
    resolve(["acme.tok"], source)
    assert registry.state.requests - before == 3


def test_unknown_id_is_reported_as_unknown_to_the_registry(registry: InMemoryRegistry) -> None:
    installed = InstalledSource([record("acme.user", "1.0", {"acme.nowhere": ">=1"})])
    with pytest.raises(MissingExtensionError) as info:
        resolve(["acme.user"], ChainedSource(installed, RegistrySource(registry)))
    assert info.value.message == (
        "acme.user 1.0 requires acme.nowhere>=1, "
        "which is not installed (and not known to the registry)"
    )


def test_registry_failures_propagate() -> None:
    class Down:
        def versions(self, extension_id: str, *, include_yanked: bool = False) -> list[VersionInfo]:
            raise SymphonyError("registry unreachable")

    with pytest.raises(SymphonyError, match="registry unreachable"):
        resolve(["acme.app"], RegistrySource(Down()))
