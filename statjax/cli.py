"""The ``statjax`` command: run an experiment from a YAML config, resume one, list configs.

Examples::

    statjax run configs/landscape.yaml
    statjax run configs/landscape.yaml --set num_chains=64 --set sampler.step_size=3e-4
    statjax run --resume runs/landscape/20250101-120000
    statjax list

The current directory is put first on ``sys.path``, so that ``experiment:
experiments.landscape`` (or a researcher's own ``my_experiments.study``) imports
from where the command is run. This module and :mod:`statjax.runs` are the only
parts of statjax that print or touch files.
"""

import argparse
import os
import signal
import sys
import threading
import time
import traceback
from collections.abc import Sequence
from pathlib import Path

import yaml

from statjax.config import ConfigError
from statjax.runs import (
    CHECKPOINT_DIR,
    SUMMARY_FILE,
    ResumeError,
    create_run,
    execute,
    open_run,
    read_config,
)

__all__ = ["main"]

CONFIGS_DIR = "configs"

_EPILOG = """\
examples:
  statjax run configs/landscape.yaml
      run the Müller-Brown landscape experiment; writes runs/landscape/TIMESTAMP/
  statjax run configs/landscape.yaml --set num_chains=64 --set temperatures=[20,40]
      override config keys (values are YAML); they are validated like the file
  statjax run configs/landscape.yaml --quiet --output-dir /tmp/runs
      no progress bar; put the run folder under /tmp/runs/landscape/
  statjax run --resume runs/landscape/20250101-120000
      continue an interrupted run from its last checkpoint (same result as uninterrupted)
  statjax list
      one line per config in ./configs: its name and description
"""

_RUN_EPILOG = """\
examples:
  statjax run configs/landscape.yaml
  statjax run configs/landscape.yaml --set sampler.step_size=3e-4 --set seed=1
  statjax run configs/landscape.yaml --set temperatures.0=25   (a list element by index)
  statjax run --resume runs/landscape/20250101-120000

A run writes OUTPUT_DIR/NAME/TIMESTAMP/ with config.yaml (resolved), metrics.jsonl,
PNG plots, summary.json (last, when finished), timings.json, checkpoint/ and run.lock.
Exit status: 0 done, 1 the experiment failed, 2 a bad config or command line, a missing
package, a folder in use by another process or a damaged run folder, 130 interrupted
(Ctrl-C), 143 terminated (SIGTERM).
"""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="statjax",
        description="Run statjax experiments from validated YAML configs.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    run = commands.add_parser(
        "run",
        help="run an experiment from a config, or resume a run folder",
        description="Run the experiment a config names and write a run folder; or, with "
        "--resume, continue an interrupted run from its last checkpoint.",
        epilog=_RUN_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    run.add_argument("config", nargs="?", metavar="CONFIG", help="a YAML config file")
    run.add_argument(
        "--resume", metavar="RUN_DIR", help="continue the run in RUN_DIR (instead of CONFIG)"
    )
    run.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY.PATH=VALUE",
        help="override a config key; the value is parsed as YAML (repeatable)",
    )
    run.add_argument("--quiet", action="store_true", help="no progress bar or messages")
    run.add_argument(
        "--output-dir", metavar="DIR", help="folder for run folders (overrides output_dir)"
    )
    commands.add_parser(
        "list",
        help=f"list the configs in ./{CONFIGS_DIR}",
        description=f"One line per YAML config in ./{CONFIGS_DIR}: its name and description.",
        epilog="example:\n  statjax list",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``statjax`` command; returns the exit status.

    Examples:
        >>> import contextlib, io
        >>> with contextlib.redirect_stdout(io.StringIO()) as printed:
        ...     status = main(["list"])
        >>> status, "configs/landscape.yaml" in printed.getvalue()
        (0, True)
    """
    parser = _parser()
    args = parser.parse_args(argv)
    # Experiments are named by import path relative to where the command runs.
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    if args.command == "list":
        return _list_configs(Path(CONFIGS_DIR))
    if args.command == "run":
        return _run(args, parser)
    parser.print_help()
    return 2


def _run(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    if (args.config is None) == (args.resume is None):
        parser.error("`statjax run` takes either CONFIG or --resume RUN_DIR (one of them).")
    if args.resume is not None and (args.overrides or args.output_dir):
        parser.error(
            "--set and --output-dir cannot be combined with --resume: a resumed run keeps the "
            "config it started with (start a new run to change it)."
        )
    try:
        if args.resume is not None:
            run = open_run(args.resume, quiet=args.quiet)
            if run.finished:
                run.close()
                _say(args, f"{run.directory} has already finished ({SUMMARY_FILE} exists).")
                return 0
        else:
            if args.output_dir is not None and not args.output_dir.strip():
                print(
                    "statjax: error: --output-dir: got an empty folder name; give a folder "
                    "(. for the current one).",
                    file=sys.stderr,
                )
                return 2
            replace = {} if args.output_dir is None else {"output_dir": args.output_dir}
            config = read_config(args.config, args.overrides, **replace)
            run = create_run(config, quiet=args.quiet)
    except (ConfigError, ResumeError) as error:
        message = str(error)
        if isinstance(error, ConfigError) and error.key == "output_dir" and args.output_dir:
            message = message.replace("config key `output_dir`", f"--output-dir {args.output_dir}")
        print(f"statjax: error: {message}", file=sys.stderr)
        return 2

    verb = "resuming" if run.resumed else "running"
    _say(args, f"{verb} {run.config.experiment} in {run.directory}")
    start = time.perf_counter()
    previous_handler = signal.getsignal(signal.SIGTERM)
    on_main_thread = threading.current_thread() is threading.main_thread()
    if on_main_thread:  # only the main thread may set handlers (main() called from a thread)
        signal.signal(signal.SIGTERM, _terminate)
    try:
        execute(run)
    except (KeyboardInterrupt, _Terminated) as stop:
        what = "terminated" if isinstance(stop, _Terminated) else "interrupted"
        print(
            f"\nstatjax: {what}; continue with `statjax run --resume {run.directory}`",
            file=sys.stderr,
        )
        return 143 if isinstance(stop, _Terminated) else 130
    except ResumeError as error:
        print(f"statjax: error: {error}", file=sys.stderr)
        return 2
    except Exception:
        traceback.print_exc()
        print(f"statjax: the experiment failed; {_kept(run.directory)}", file=sys.stderr)
        return 1
    finally:
        if on_main_thread:
            signal.signal(signal.SIGTERM, previous_handler)
        run.close()
    _say(args, f"finished in {time.perf_counter() - start:.1f} s: {run.directory / SUMMARY_FILE}")
    return 0


class _Terminated(BaseException):
    """SIGTERM, turned into an exception so that the run folder is closed and unlocked."""


def _terminate(signum: int, frame: object) -> None:
    raise _Terminated


def _kept(directory: Path) -> str:
    """What the failed run left: its last checkpoint, or none (then resume starts over)."""
    steps = sorted(
        (int(p.name) for p in (directory / CHECKPOINT_DIR).glob("*") if p.name.isdigit()),
        reverse=True,
    )
    if not steps:
        return (
            f"{directory} has no checkpoint yet (after a fix, `statjax run --resume "
            f"{directory}` starts it from the beginning)."
        )
    return (
        f"{directory} keeps its last checkpoint, step {steps[0]} (after a fix, "
        f"`statjax run --resume {directory}` continues it)."
    )


def _say(args: argparse.Namespace, message: str) -> None:
    if not args.quiet:
        print(message, file=sys.stderr)


def _list_configs(folder: Path) -> int:
    paths = sorted(folder.glob("*.yaml")) + sorted(folder.glob("*.yml"))
    if not paths:
        print(f"statjax: no configs in ./{folder} (looked for *.yaml)", file=sys.stderr)
        return 1
    rows = []
    for path in paths:
        try:
            raw = yaml.safe_load(path.read_text()) or {}
            name = str(raw.get("name", path.stem))
            description = " ".join(str(raw.get("description", "")).split()) or "-"
        except (OSError, yaml.YAMLError, AttributeError) as error:
            name, description = path.stem, f"(unreadable: {type(error).__name__})"
        rows.append((name, str(path), description))
    name_width = max(len(row[0]) for row in rows)
    path_width = max(len(row[1]) for row in rows)
    for name, where, description in rows:
        print(f"{name:<{name_width}}  {where:<{path_width}}  {description}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
