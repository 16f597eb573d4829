"""Example Symphony Operator: tokenise text, count words, build n-grams.

This package's directory holds ``symphony.toml``; the entry point
``"examples.textops" = "symphony_example_textops"`` names it so the host can read the
manifest without importing anything. The code lives in :mod:`symphony_example_textops.ops`
and is imported only when one of its nodes runs.
"""
