"""Dependency resolution between extensions (resolvelib over installed and registry versions).

The public entry point is :mod:`symphony_core.resolve`; this package holds its parts:
requirements and candidates, the sources versions come from, the matching rules, the
resolvelib provider, the explanation of conflicts, load ordering, and the start-up
check of installed extensions.
"""
