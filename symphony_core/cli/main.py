"""The root ``symphony`` group and its error boundary."""

from __future__ import annotations

import json
import sys
import traceback
from pathlib import Path
from typing import Any

import click

from symphony_core.cli.context import CliState
from symphony_core.errors import InternalError, SymphonyError
from symphony_core.log import configure_logging

__all__ = ["cli", "main"]

EXIT_USER_ERROR = 1
EXIT_USAGE = 2
EXIT_INTERNAL = 70


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--home",
    type=click.Path(file_okay=False, path_type=Path),
    help="Data directory (default: $SYMPHONY_HOME or the platform's user data dir).",
)
@click.option(
    "--config",
    "config_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Config file (default: $SYMPHONY_CONFIG or <home>/config.toml).",
)
@click.option(
    "--log-level",
    type=click.Choice(["debug", "info", "warning", "error"]),
    help="Log level for messages on stderr.",
)
@click.option("--log-json", is_flag=True, help="Log as JSON lines.")
@click.option("--debug", is_flag=True, help="Show tracebacks of internal errors.")
@click.version_option(package_name="symphony", prog_name="symphony")
@click.pass_context
def cli(
    ctx: click.Context,
    home: Path | None,
    config_file: Path | None,
    log_level: str | None,
    log_json: bool,
    debug: bool,
) -> None:
    """Symphony: load, check and run extensions and workflows."""
    state = ctx.ensure_object(CliState)
    state.home = home
    state.config_file = config_file
    state.debug = debug
    if log_level:
        state.overrides["log_level"] = log_level
    if log_json:
        state.overrides["log_format"] = "json"
    configure_logging(
        log_level or ("debug" if debug else "warning"), "json" if log_json else "text"
    )


def _wants_json(args: list[str]) -> bool:
    return "--json" in args


def _report(exc: SymphonyError, as_json: bool) -> None:
    if as_json:
        sys.stdout.write(json.dumps({"error": exc.to_dict()}, default=str) + "\n")
    else:
        sys.stderr.write(f"error: {exc}\n")


def main(argv: list[str] | None = None) -> Any:
    """Run the CLI and turn every error into an exit code; the console-script entry."""
    from symphony_core.cli import commands  # noqa: F401  (registers the command groups)

    args = list(sys.argv[1:] if argv is None else argv)
    as_json = _wants_json(args)
    try:
        # In non-standalone mode click returns the code given to ctx.exit(n).
        code = cli.main(args=args, prog_name="symphony", standalone_mode=False)
    except click.exceptions.Abort:
        sys.stderr.write("aborted\n")
        return sys.exit(EXIT_USER_ERROR)
    except click.ClickException as exc:
        exc.show()
        return sys.exit(exc.exit_code)
    except click.exceptions.Exit as exc:
        return sys.exit(exc.exit_code)
    except InternalError as exc:
        _report(exc, as_json)
        return sys.exit(EXIT_INTERNAL)
    except SymphonyError as exc:
        # A user's mistake, or an extension's failure that names the extension: either
        # way not a bug in Symphony, so one line and exit 1.
        _report(exc, as_json)
        return sys.exit(EXIT_USER_ERROR)
    except KeyboardInterrupt:
        sys.stderr.write("interrupted\n")
        return sys.exit(130)
    except Exception as exc:
        if "--debug" in args:
            traceback.print_exc()
        else:
            sys.stderr.write(
                f"internal error: {type(exc).__name__}: {exc} "
                "(this is a bug in Symphony; run with --debug for the traceback)\n"
            )
        return sys.exit(EXIT_INTERNAL)
    return sys.exit(code if isinstance(code, int) else 0)
