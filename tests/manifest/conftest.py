"""Shared samples for the manifest tests."""

from __future__ import annotations

import copy
import tomllib
from pathlib import Path
from typing import Any

import pytest

FULL_MANIFEST = """\
[extension]
id = "acme.textops"
version = "1.2.0rc1"
kind = "operator"
entry = "acme_textops.ext:TextOps"
host-api = ">=1.0,<2"
name = "Text operations"
description = "Tokenise and count words."
license = "Apache-2.0"
authors = ["Ada <ada@example.org>"]
homepage = "https://example.org/textops"
order-before = ["acme.later"]
order-after = ["acme.earlier"]
activation = [
    "on-node:word_count", "on-startup", "on-command:count",
    "on-hook:before_run", "on-event:run.started",
]

[dependencies]
"acme.tokenizer" = ">=1.0,<2"
"acme.other" = ""

[python]
requires-python = ">=3.11"
requires = ["regex>=2023.1", "numpy[extra]>=1.26; python_version >= '3.11'"]

[permissions]
network = "loopback"
env = ["HOME", "ACME_TOKEN"]
subprocess = true

[permissions.filesystem]
read = ["data", "./models/../models/x"]
write = ["out/logs"]

[limits]
memory = "1.5 GiB"
cpu-share = 0.5
cpu-time = 600
processes = 8
open-files = 256

[[nodes]]
type = "word_count"
description = "Counts words."
cpu-bound = true
inputs = [{ name = "text", type = "str", description = "Input text" }]
outputs = [{ name = "counts", type = "dict[str, int]" }, { name = "total", type = "int" }]

[nodes.parameters.lowercase]
type = "bool"
default = true
description = "Lower-case first."

[nodes.parameters.top]
type = "int"
default = 10
min = 1
max = 100

[nodes.parameters.ratio]
type = "float"
default = 0.5
min = 0
max = 1

[nodes.parameters.mode]
type = "enum"
choices = ["fast", "accurate"]
default = "fast"

[nodes.parameters.lang]
type = "str"
default = "en"
pattern = "^[a-z]{2}$"
min = 2
max = 2

[nodes.parameters.stop]
type = "list"
default = ["a", "the"]

[nodes.parameters.extra]
type = "json"
default = { a = [1, 2.5, "x", true] }

[nodes.parameters.out]
type = "path"

[[nodes]]
type = "ngrams"
inputs = [{ name = "tokens", type = "list[str]", required = false }]
outputs = [{ name = "tokens", type = "list[list[str]]" }]

[[templates]]
name = "count_words"
path = "templates/count.json"
description = "Count words in a text."
"""


@pytest.fixture
def full_text() -> str:
    return FULL_MANIFEST


@pytest.fixture
def full_data() -> dict[str, Any]:
    return copy.deepcopy(tomllib.loads(FULL_MANIFEST))


@pytest.fixture
def package(tmp_path: Path) -> Path:
    """A package directory holding the full manifest and its template file."""
    pkg = tmp_path / "acme_textops"
    (pkg / "templates").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "templates" / "count.json").write_text("{}")
    (pkg / "symphony.toml").write_text(FULL_MANIFEST)
    return pkg
