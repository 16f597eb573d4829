"""The ``symphony`` command line.

Each command group lives in its own module; this one builds the root group, the global
options and the error boundary: a user's mistake is printed as one line (or one JSON
object with ``--json``) and exits 1, a usage mistake exits 2, and only a bug in Symphony
itself shows a traceback, and only with ``--debug``.
"""

from __future__ import annotations

from symphony_core.cli.main import main

__all__ = ["main"]
