"""Project-wide test configuration.

The SDK's pytest plugin is loaded here rather than through its ``pytest11`` entry point
(disabled with ``-p no:symphony`` in ``addopts``): entry-point plugins are imported before
coverage starts, which would hide the host's module-level lines from the coverage report.
"""

pytest_plugins = ["symphony_sdk.pytest_plugin"]
