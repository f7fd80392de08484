"""Run folders: where an experiment writes its config, metrics, plots, summary and checkpoints.

This is the I/O layer of ``statjax run`` (the rest of ``statjax`` neither
prints nor touches files). A run lives in its own folder::

    runs/NAME/TIMESTAMP/
      config.yaml     the resolved config, overrides applied (written first)
      metrics.jsonl   one JSON object per logged step, each with a "step"
      *.png           plots
      summary.json    final numbers (written last: its presence means "finished")
      checkpoint/     orbax-checkpoint steps: chain states, PRNG keys, step, extras

Every file is written atomically (a temporary file in the same folder, flushed,
fsync-ed and renamed over the target with ``os.replace``); checkpoints use
orbax's own atomic finalisation (a step folder appears complete or not at all).
``metrics.jsonl`` is appended line by line and, on resume, cut back to the
checkpoint's step, so a run killed at any moment resumes to exactly the files
the uninterrupted run writes, or :class:`ResumeError` says why it cannot.
"""

import dataclasses
import datetime
import hashlib
import json
import math
import os
import platform
import sys
import tempfile
import warnings
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import Any, NamedTuple

import jax
import numpy as np
from tqdm.auto import tqdm

from statjax.config import ConfigError, ExperimentConfig, config_from_yaml, config_to_yaml
from statjax.config import import_experiment as _import_experiment
from statjax.parallel import device_summary
from statjax.types import ArrayTree

__all__ = [
    "CHECKPOINT_DIR",
    "CONFIG_FILE",
    "METRICS_FILE",
    "SUMMARY_FILE",
    "Progress",
    "Restored",
    "ResumeError",
    "Run",
    "atomic_write_text",
    "create_run",
    "execute",
    "load_checkpoint",
    "open_run",
    "read_config",
]

CONFIG_FILE = "config.yaml"
METRICS_FILE = "metrics.jsonl"
SUMMARY_FILE = "summary.json"
CHECKPOINT_DIR = "checkpoint"

_STATE_ITEM, _META_ITEM = "state", "meta"


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_UMASK = _current_umask()


class ResumeError(RuntimeError):
    """A run folder that cannot be resumed, with the reason and what to do instead."""


class Restored(NamedTuple):
    """A checkpoint read back: the global ``step``, the ``state`` pytree and JSON ``extras``."""

    step: int
    state: ArrayTree
    extras: dict


# ------------------------------------------------------------------ files


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    """Write ``text`` to ``path`` so that a reader (or a crash) sees the old file or the new one.

    Writes a temporary file in the same folder, flushes and fsyncs it, renames it
    over ``path`` with ``os.replace`` (atomic on POSIX) and fsyncs the folder.

    Example:
        >>> import tempfile, pathlib
        >>> folder = pathlib.Path(tempfile.mkdtemp())
        >>> atomic_write_text(folder / "note.txt", "hello").read_text()
        'hello'
    """
    return _atomic_write(Path(path), lambda handle: handle.write(text.encode()))


def _atomic_write(path: Path, write) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(handle, 0o666 & ~_UMASK)  # mkstemp makes 0600; give what open() would
        with os.fdopen(handle, "wb") as file:
            write(file)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)
    return path


def _fsync_dir(folder: Path) -> None:
    try:
        descriptor = os.open(folder, os.O_RDONLY)
    except OSError:  # not every platform opens folders
        return
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def _jsonable(value: Any) -> Any:
    """Numbers, arrays and containers as strict JSON (a NaN or an infinity becomes null)."""
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, jax.Array | np.ndarray | np.generic):
        return _jsonable(np.asarray(value).tolist())
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _dumps(value: Any, **kwargs) -> str:
    return json.dumps(_jsonable(value), allow_nan=False, **kwargs)


# ------------------------------------------------------------------ configs


def read_config(
    path: str | os.PathLike, overrides: tuple[str, ...] | list[str] = (), **replace: Any
) -> ExperimentConfig:
    """Read and validate a YAML config file, with ``--set`` overrides and field replacements.

    Args:
        path: the YAML file.
        overrides: ``"key.path=value"`` strings, validated like the file.
        **replace: top-level fields to replace after validation (``output_dir=...``),
            for values that come from command-line flags rather than YAML.

    Raises:
        ConfigError: the file is missing or unreadable, or the config is invalid.

    Example:
        >>> config = read_config("configs/landscape.yaml", ["num_chains=16"])
        >>> config.num_chains
        16
    """
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as error:
        raise ConfigError(
            "", str(path), "a readable YAML config file", problem=f"cannot read {path}: {error}"
        ) from None
    config: ExperimentConfig = config_from_yaml(text, overrides, source=str(path))
    if replace:
        config = dataclasses.replace(config, **replace)
    return config


def _config_digest(config: ExperimentConfig) -> str:
    return hashlib.sha256(config_to_yaml(config).encode()).hexdigest()


# ------------------------------------------------------------------ runs


def create_run(config: ExperimentConfig, *, quiet: bool = False) -> "Run":
    """Make ``OUTPUT_DIR/NAME/TIMESTAMP/`` and write the resolved ``config.yaml`` into it.

    The timestamp is local time, ``YYYYmmdd-HHMMSS``; a second run within the
    same second gets ``-2``, ``-3``, ... appended.
    """
    parent = Path(config.output_dir) / config.name
    parent.mkdir(parents=True, exist_ok=True)
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    for attempt in range(1, 1000):
        directory = parent / (stamp if attempt == 1 else f"{stamp}-{attempt}")
        try:
            directory.mkdir()
            break
        except FileExistsError:
            continue
    else:
        raise FileExistsError(f"could not make a new run folder under {parent}.")
    atomic_write_text(directory / CONFIG_FILE, config_to_yaml(config))
    return Run(directory, config, resumed=False, quiet=quiet)


def open_run(run_dir: str | os.PathLike, *, quiet: bool = False) -> "Run":
    """Open an existing run folder to resume it.

    Raises:
        ResumeError: the folder does not exist, or has no readable, valid
            ``config.yaml`` (the run was killed before it started: start it again).
    """
    directory = Path(run_dir)
    if not directory.is_dir():
        raise ResumeError(f"cannot resume {directory}: no such folder.")
    config_path = directory / CONFIG_FILE
    if not config_path.is_file():
        raise ResumeError(
            f"cannot resume {directory}: it has no {CONFIG_FILE}, so the run was stopped before "
            "it started (or this is not a run folder). Start it again with `statjax run CONFIG`."
        )
    try:
        config = read_config(config_path)
    except ConfigError as error:
        raise ResumeError(
            f"cannot resume {directory}: its {CONFIG_FILE} is no longer valid ({error}). "
            "Was it edited, or did the experiment's schema change?"
        ) from None
    return Run(directory, config, resumed=True, quiet=quiet)


def execute(run: "Run") -> dict:
    """Run the experiment that ``run.config`` names and write ``summary.json``.

    Calls ``module.run(config, run)`` of the module ``config.experiment``; what it
    returns (a JSON-ready mapping) becomes ``summary.json``, written last and
    atomically, so its presence marks a finished run. A finished run is not run
    again: its summary is returned as it is.
    """
    if run.finished:
        return json.loads((run.directory / SUMMARY_FILE).read_text())
    module = _import_experiment(run.config.experiment)
    run._code_digest()  # fingerprint the code as loaded, before a long run gives time to edit it
    summary = module.run(run.config, run)
    if not isinstance(summary, Mapping):
        raise TypeError(
            f"{run.config.experiment}.run must return a mapping for summary.json, "
            f"got {type(summary).__name__}."
        )
    # Device count and kind go with every result (statjax.parallel); not a timing,
    # so a resumed run's summary stays identical to an uninterrupted one.
    summary = {**summary, "devices": device_summary()}
    run.write_summary(summary)
    return dict(summary)


class Run:
    """An open run folder: what an experiment's ``run(config, run)`` writes through.

    Attributes:
        directory: the run folder.
        config: the validated config.
        resumed: whether this run continues an interrupted one.
        quiet: whether the progress bar is off.
    """

    def __init__(
        self,
        directory: str | os.PathLike,
        config: ExperimentConfig,
        *,
        resumed: bool = False,
        quiet: bool = False,
    ):
        self.directory = Path(directory)
        self.config = config
        self.resumed = resumed
        self.quiet = quiet
        self._manager = None
        self._code_sha256: str | None = None

    def __repr__(self) -> str:
        return f"Run({str(self.directory)!r}, resumed={self.resumed})"

    @property
    def finished(self) -> bool:
        """Whether ``summary.json`` exists (the experiment returned)."""
        return (self.directory / SUMMARY_FILE).is_file()

    # -------------------------------------------------------------- outputs

    def log(self, step: int, **metrics: Any) -> None:
        """Append one JSON object ``{"step": step, **metrics}`` to ``metrics.jsonl``.

        Arrays become lists, NaN becomes null. Log only steps that a checkpoint
        will cover (log, then checkpoint): on resume, lines after the restored
        step are dropped, so that they are not written twice.
        """
        line = _dumps({"step": int(step), **metrics}) + "\n"
        with open(self.directory / METRICS_FILE, "a") as file:
            file.write(line)
            file.flush()
            os.fsync(file.fileno())

    def metrics(self) -> list[dict]:
        """The records of ``metrics.jsonl`` (complete lines only)."""
        return _read_metrics(self.directory / METRICS_FILE)

    def save_figure(self, figure: Any, name: str, **savefig_kwargs: Any) -> Path:
        """Save a matplotlib figure atomically as ``name`` (a ``.png`` file) in the run folder."""
        if not name.endswith(".png"):
            raise ValueError(f"figure name must end in .png, got {name!r}.")
        savefig_kwargs.setdefault("dpi", 120)
        return _atomic_write(
            self.directory / name,
            lambda handle: figure.savefig(handle, format="png", **savefig_kwargs),
        )

    def write_summary(self, summary: Mapping) -> Path:
        """Write ``summary.json`` atomically (sorted keys are not imposed: order is kept)."""
        return atomic_write_text(self.directory / SUMMARY_FILE, _dumps(summary, indent=2) + "\n")

    def progress(self, total: int, *, initial: int = 0, desc: str | None = None) -> "Progress":
        """A progress bar over ``total`` steps, starting at ``initial`` (a resumed run).

        Off with ``quiet`` or when stderr is not a terminal.
        """
        disable = self.quiet or not _is_terminal(sys.stderr)
        return Progress(total, initial=initial, desc=desc or self.config.name, disable=disable)

    # -------------------------------------------------------------- checkpoints

    def save_checkpoint(self, step: int, state: ArrayTree, extras: Mapping | None = None) -> None:
        """Save ``state`` (any pytree of arrays, typed PRNG keys included) at global ``step``.

        Synchronous: when it returns, ``checkpoint/STEP/`` is finalised. The two
        latest steps are kept. Typed keys (``jax.random.key``) are stored as their
        ``jax.random.key_data`` and rewrapped on restore with the implementation
        of the template's key. ``extras`` is a JSON-ready mapping stored beside.
        """
        import orbax.checkpoint as ocp

        manager = self._checkpoint_manager()
        meta = {
            "step": int(step),
            "config_sha256": _config_digest(self.config),
            "environment": _environment(),
            "code_sha256": self._code_digest(),
            "key_implementations": [
                str(jax.random.key_impl(leaf)) for leaf in _leaves(state) if _is_key(leaf)
            ],
            "extras": _jsonable(dict(extras or {})),
        }
        manager.save(
            int(step),
            args=ocp.args.Composite(
                **{
                    _STATE_ITEM: ocp.args.StandardSave(_without_typed_keys(state)),
                    _META_ITEM: ocp.args.JsonSave(meta),
                }
            ),
            force=True,
        )
        manager.wait_until_finished()

    def restore_checkpoint(self, like: ArrayTree) -> Restored | None:
        """The latest checkpoint, shaped like ``like``; ``None`` when there is none yet.

        Also cuts ``metrics.jsonl`` back to the restored step (or empties it when
        there is no checkpoint), so that a resumed run writes the same lines as
        an uninterrupted one.

        Args:
            like: a pytree with the structure, shapes and dtypes of the saved state
                (the experiment's freshly initialised state); ``None`` reads the
                state as orbax stored it (NamedTuples as dicts, keys as key data).

        Raises:
            ResumeError: the checkpoint was made with another config, or no saved
                step can be read as ``like``.
        """
        restored = self._restore(like) if (self.directory / CHECKPOINT_DIR).is_dir() else None
        self._truncate_metrics(0 if restored is None else restored.step)
        return restored

    def _restore(self, like: ArrayTree) -> Restored | None:
        import orbax.checkpoint as ocp

        manager = self._checkpoint_manager()
        steps = sorted(manager.all_steps(), reverse=True)
        failures = []
        for step in steps:
            try:
                restored = manager.restore(
                    step,
                    args=ocp.args.Composite(
                        **{
                            _STATE_ITEM: ocp.args.StandardRestore(_without_typed_keys(like)),
                            _META_ITEM: ocp.args.JsonRestore(),
                        }
                    ),
                )
            except Exception as error:  # a damaged step: fall back to the one before
                failures.append(f"step {step}: {type(error).__name__}: {error}")
                continue
            meta = restored[_META_ITEM]
            self._check_meta(meta, step)
            state = restored[_STATE_ITEM]
            if like is not None:
                state = _with_typed_keys(state, like)
            return Restored(int(meta["step"]), state, dict(meta.get("extras", {})))
        if failures:
            raise ResumeError(
                f"cannot resume {self.directory}: no checkpoint could be read as the state "
                f"{self.config.experiment} builds (was the experiment changed?):\n  "
                + "\n  ".join(failures)
            )
        return None

    def _check_meta(self, meta: Mapping, step: int) -> None:
        if meta.get("config_sha256") != _config_digest(self.config):
            raise ResumeError(
                f"cannot resume {self.directory}: {CONFIG_FILE} differs from the config that "
                f"wrote the checkpoint at step {step}, so the result would not be the "
                f"uninterrupted run's. Undo the edit, or start a new run with "
                f"`statjax run {self.directory / CONFIG_FILE}`."
            )
        if meta.get("code_sha256") != self._code_digest():
            warnings.warn(
                f"the code (statjax or {self.config.experiment}) changed since the checkpoint of "
                f"{self.directory} was written; the resumed result may differ from an "
                "uninterrupted run's.",
                stacklevel=3,
            )
        saved, current = meta.get("environment", {}), _environment()
        changed = {k: (saved.get(k), v) for k, v in current.items() if saved.get(k) != v}
        if changed:
            warnings.warn(
                f"resuming {self.directory} in another environment than the one that wrote its "
                f"checkpoint ({changed}); the result may differ from an uninterrupted run in the "
                "last bits.",
                stacklevel=3,
            )

    def _code_digest(self) -> str:
        """SHA-256 of statjax's sources and the experiment module's: what the numbers depend on."""
        if self._code_sha256 is None:
            files = sorted(Path(__file__).parent.rglob("*.py"))
            module_file = getattr(sys.modules.get(self.config.experiment), "__file__", None)
            if module_file:
                files.append(Path(module_file))
            digest = hashlib.sha256()
            for path in files:
                digest.update(path.read_bytes())
            self._code_sha256 = digest.hexdigest()
        return self._code_sha256

    def _checkpoint_manager(self):
        if self._manager is None:
            import orbax.checkpoint as ocp

            options = ocp.CheckpointManagerOptions(
                max_to_keep=2,
                create=True,
                enable_async_checkpointing=False,
                cleanup_tmp_directories=True,
            )
            self._manager = ocp.CheckpointManager(
                (self.directory / CHECKPOINT_DIR).absolute(), options=options
            )
        return self._manager

    def _truncate_metrics(self, step: int) -> None:
        path = self.directory / METRICS_FILE
        if not path.exists():
            return
        kept = [record for record in _read_metrics(path) if record["step"] <= step]
        atomic_write_text(path, "".join(_dumps(record) + "\n" for record in kept))

    def close(self) -> None:
        """Release the checkpoint manager (idempotent)."""
        if self._manager is not None:
            self._manager.close()
            self._manager = None


def _read_metrics(path: Path) -> list[dict]:
    if not path.exists():
        return []
    records = []
    for line in path.read_text().splitlines():
        try:
            record = json.loads(line)
        except json.JSONDecodeError:  # the last line of a killed run may be cut short
            continue
        if isinstance(record, dict) and isinstance(record.get("step"), int):
            records.append(record)
    return records


def load_checkpoint(run_dir: str | os.PathLike, step: int | None = None) -> Restored:
    """Read a run's checkpoint as saved (numpy/jax arrays, typed keys as key data).

    For inspection and tests: no template is needed, so structures come back as
    orbax stores them (NamedTuples as dicts of their fields).

    Args:
        run_dir: the run folder.
        step: which saved step; default the latest.
    """
    import orbax.checkpoint as ocp

    directory = Path(run_dir) / CHECKPOINT_DIR
    if not directory.is_dir():
        raise FileNotFoundError(f"{run_dir} has no {CHECKPOINT_DIR}/ folder.")
    with ocp.CheckpointManager(directory.absolute()) as manager:
        step = manager.latest_step() if step is None else step
        if step is None:
            raise FileNotFoundError(f"{directory} holds no finished checkpoint.")
        restored = manager.restore(
            step,
            args=ocp.args.Composite(
                **{_STATE_ITEM: ocp.args.StandardRestore(), _META_ITEM: ocp.args.JsonRestore()}
            ),
        )
    meta = restored[_META_ITEM]
    return Restored(int(meta["step"]), restored[_STATE_ITEM], dict(meta.get("extras", {})))


def _environment() -> dict:
    """What bit-identical resumption depends on, beside the config."""
    return {
        "jax": jax.__version__,
        "backend": jax.default_backend(),
        "machine": platform.machine(),
        "x64": bool(jax.enable_x64.value),
    }


# ------------------------------------------------------------------ keys


def _leaves(tree: ArrayTree) -> list:
    return jax.tree_util.tree_leaves(tree)


def _is_key(leaf: Any) -> bool:
    return isinstance(leaf, jax.Array) and jax.dtypes.issubdtype(leaf.dtype, jax.dtypes.prng_key)


def _without_typed_keys(tree: ArrayTree) -> ArrayTree:
    """Typed PRNG keys replaced by their raw ``key_data`` (uint32), which orbax can store."""
    return jax.tree_util.tree_map(lambda x: jax.random.key_data(x) if _is_key(x) else x, tree)


def _with_typed_keys(saved: ArrayTree, like: ArrayTree) -> ArrayTree:
    """Key data rewrapped as typed keys wherever ``like`` has one, with its implementation."""

    def rewrap(reference, value):
        if _is_key(reference):
            return jax.random.wrap_key_data(value, impl=jax.random.key_impl(reference))
        return value

    return jax.tree_util.tree_map(rewrap, like, saved)


# ------------------------------------------------------------------ progress


def _is_terminal(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


class Progress:
    """A tqdm bar (steps, rate, ETA) advanced between jitted chunks, never inside them.

    Use as a context manager; :meth:`callback` adapts it to ``run_chains``'
    ``callback(steps_done, num_steps, states)`` for a call that starts at a given
    global step.

    Example:
        >>> with Progress(100, disable=True) as progress:
        ...     progress.update_to(50)
        ...     progress.callback(50)(50, 50, None)
        ...     progress.position
        100
    """

    def __init__(
        self, total: int, *, initial: int = 0, desc: str | None = None, disable: bool = False
    ):
        self.position = int(initial)
        self._bar = tqdm(
            total=int(total),
            initial=int(initial),
            desc=desc,
            unit="step",
            unit_scale=True,
            dynamic_ncols=True,
            smoothing=0.1,
            disable=disable,
            file=sys.stderr,
        )

    def update_to(self, step: int) -> None:
        """Move the bar to global ``step``."""
        self._bar.update(int(step) - self.position)
        self.position = int(step)

    def callback(self, offset: int = 0):
        """A ``run_chains`` callback for a call that starts at global step ``offset``."""

        def advance(steps_done: int, num_steps: int, states: Any) -> None:
            del num_steps, states
            self.update_to(offset + steps_done)

        return advance

    def close(self) -> None:
        """Close the bar (idempotent)."""
        self._bar.close()

    def __enter__(self) -> "Progress":
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()
