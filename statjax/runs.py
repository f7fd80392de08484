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

Run-folder integrity (``docs/design-decisions.md``, "Run-folder integrity"):

- ``run.lock`` holds an ``fcntl`` lock while a process works in the folder; a
  second process on the same folder gets :class:`RunLockedError` at once,
  naming the holder (pid, host, start time).
- Every checkpoint step carries a SHA-256 digest of its arrays and metadata,
  checked on restore: a damaged step is refused (:class:`CheckpointWarning`),
  restore falls back to the newest intact step and deletes the damaged later
  ones, so the resumed run rewrites them.
- ``metrics.jsonl`` forgives only a torn last line; a damaged line before it
  is a :class:`ResumeError` naming its line number.
- SIGINT and SIGTERM that arrive during a checkpoint write are held until the
  step is finalised, then delivered as usual.
- Timings (wall-clock seconds) go to ``timings.json`` (:meth:`Run.record_timing`),
  never to ``summary.json``, so two runs with one seed write identical summaries.

:meth:`Run.loop` is the one experiment loop: restore, advance in chunks, log,
checkpoint (orbax's save-interval policy), progress bar.
"""

import contextlib
import dataclasses
import datetime
import fcntl
import hashlib
import json
import math
import os
import platform
import shutil
import signal
import socket
import sys
import tempfile
import time
import warnings
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from types import TracebackType
from typing import Any, NamedTuple

import jax
import numpy as np
from tqdm.auto import tqdm

from statjax.config import (
    ConfigError,
    ExperimentConfig,
    MissingDependencyError,
    config_from_yaml,
    config_to_yaml,
)
from statjax.config import import_experiment as _import_experiment
from statjax.parallel import device_summary
from statjax.types import ArrayTree

__all__ = [
    "CHECKPOINT_DIR",
    "CONFIG_FILE",
    "LOCK_FILE",
    "METRICS_FILE",
    "SUMMARY_FILE",
    "TIMINGS_FILE",
    "CheckpointWarning",
    "Chunk",
    "Progress",
    "Restored",
    "ResumeError",
    "Run",
    "RunLockedError",
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
TIMINGS_FILE = "timings.json"
LOCK_FILE = "run.lock"

_STATE_ITEM, _META_ITEM = "state", "meta"


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_UMASK = _current_umask()


class ResumeError(RuntimeError):
    """A run folder that cannot be resumed, with the reason and what to do instead."""


class RunLockedError(ResumeError):
    """Another process holds the run folder's lock; the message names it (pid, host, start)."""


class CheckpointWarning(UserWarning):
    """A damaged checkpoint step was refused and restore fell back to an older one."""


class Chunk(NamedTuple):
    """One stretch ``[start, stop)`` of global steps that :meth:`Run.loop` hands to ``step_fn``.

    Attributes:
        start: the global step the chunk starts at (``start_step`` of ``run_chains``).
        stop: the global step it ends at.
        callback: a ``run_chains`` callback that moves the progress bar inside the chunk.
    """

    start: int
    stop: int
    callback: Callable[[int, int, Any], None]

    @property
    def length(self) -> int:
        """``stop - start``: how many steps to take."""
        return self.stop - self.start


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

    Examples:
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

    Examples:
        >>> config = read_config("configs/landscape.yaml", ["num_chains=16"])
        >>> config.num_chains
        16
    """
    path = Path(path)
    try:
        text = path.read_bytes().decode("utf-8")
    except OSError as error:
        raise ConfigError(
            "", str(path), "a readable YAML config file", problem=f"cannot read {path}: {error}"
        ) from None
    except UnicodeDecodeError as error:
        raise ConfigError(
            "",
            str(path),
            "a YAML file in UTF-8",
            problem=f"{path} is not UTF-8 text (byte {error.object[error.start]:#04x} at "
            f"offset {error.start})",
        ) from None
    config: ExperimentConfig = config_from_yaml(text, overrides, source=str(path))
    if replace:
        config = dataclasses.replace(config, **replace)
    return config


def _config_digest(config: ExperimentConfig) -> str:
    return hashlib.sha256(config_to_yaml(config).encode()).hexdigest()


# ------------------------------------------------------------------ locks


class _RunLock:
    """An exclusive ``fcntl.flock`` on ``run.lock``, held while a process works in a run folder.

    The holder writes its pid, host and start time into the file, so that a
    second process can say whom it is waiting for. The lock goes with the
    process (the kernel drops it on exit, even on SIGKILL), so a stale file
    never blocks a resume.
    """

    def __init__(self, directory: Path):
        path = directory / LOCK_FILE
        handle = os.open(path, os.O_RDWR | os.O_CREAT, 0o666 & ~_UMASK)
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            holder = _lock_holder(handle)
            os.close(handle)
            raise RunLockedError(
                f"{directory} is in use by another statjax process ({holder}); wait for it to "
                "finish, or stop it, before running in this folder again."
            ) from None
        started = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
        record = json.dumps({"pid": os.getpid(), "host": socket.gethostname(), "started": started})
        os.ftruncate(handle, 0)
        os.pwrite(handle, (record + "\n").encode(), 0)
        self._handle: int | None = handle

    def release(self) -> None:
        """Drop the lock (idempotent); the file stays, empty of meaning once unlocked."""
        if self._handle is not None:
            fcntl.flock(self._handle, fcntl.LOCK_UN)
            os.close(self._handle)
            self._handle = None


def _lock_holder(handle: int) -> str:
    try:
        record = json.loads(os.pread(handle, 4096, 0).decode())
        return f"pid {record['pid']} on {record['host']}, started {record['started']}"
    except (OSError, ValueError, KeyError, TypeError):  # the holder is still writing its record
        return "its pid is not written yet"


# ------------------------------------------------------------------ runs


def create_run(config: ExperimentConfig, *, quiet: bool = False) -> "Run":
    """Make ``OUTPUT_DIR/NAME/TIMESTAMP/`` and write the resolved ``config.yaml`` into it.

    The timestamp is local time, ``YYYYmmdd-HHMMSS``; a second run within the
    same second gets ``-2``, ``-3``, ... appended. The new folder is locked
    (``run.lock``) until :meth:`Run.close`.

    Raises:
        ConfigError: on ``output_dir``, when the folder cannot be made or written
            (a file, a read-only place, the empty string).
    """
    if not str(config.output_dir).strip():
        raise ConfigError(
            "output_dir", config.output_dir, "a folder name (use . for the current folder)"
        )
    parent = Path(config.output_dir) / config.name
    try:
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
        run = Run(directory, config, resumed=False, quiet=quiet)
        run._lock()
        atomic_write_text(directory / CONFIG_FILE, config_to_yaml(config))
    except OSError as error:
        raise ConfigError(
            "output_dir",
            config.output_dir,
            "a folder where run folders can be made and written",
            problem=f"cannot make a run folder under {parent}: "
            f"{error.strerror or error} ({type(error).__name__})",
        ) from None
    return run


def open_run(run_dir: str | os.PathLike, *, quiet: bool = False) -> "Run":
    """Open an existing run folder to resume it.

    The folder is locked (``run.lock``) until :meth:`Run.close`.

    Raises:
        RunLockedError: another process works in the folder (the message names it).
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
    # Lock before anything is read: the holder may be rewriting metrics and checkpoints.
    lock = _RunLock(directory)
    try:
        config = read_config(config_path)
    except MissingDependencyError:
        lock.release()
        raise
    except ConfigError as error:
        lock.release()
        raise ResumeError(
            f"cannot resume {directory}: its {CONFIG_FILE} is no longer valid ({error}). "
            "Was it edited, or did the experiment's schema change?"
        ) from None
    except BaseException:
        lock.release()
        raise
    run = Run(directory, config, resumed=True, quiet=quiet)
    run._lock_handle = lock
    return run


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
        self._manager: Any = None
        self._code_sha256: str | None = None
        self._lock_handle: _RunLock | None = None
        self._tail_checked = False

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
        if not self._tail_checked:  # a torn last line from a kill must not prefix this one
            _cut_torn_tail(self.directory / METRICS_FILE)
            self._tail_checked = True
        with open(self.directory / METRICS_FILE, "a") as file:
            file.write(line)
            file.flush()
            os.fsync(file.fileno())

    def metrics(self) -> list[dict]:
        """The records of ``metrics.jsonl`` (a torn last line is left out).

        Raises:
            ResumeError: a line before the last one is damaged (its number is named).
        """
        return _read_metrics(self.directory / METRICS_FILE)

    def record_timing(self, name: str, seconds: float) -> Path:
        """Add ``seconds`` of wall-clock time under ``name`` in ``timings.json``.

        Timings live in their own file so that ``summary.json`` depends on the
        config and seed alone (two runs with one seed write identical summaries).
        Calls with one ``name`` add up, also across a resume (the time lost to an
        interruption is not counted twice only if it was never recorded).

        Examples:
            >>> import pathlib, tempfile
            >>> from statjax.config import ExperimentConfig
            >>> config = ExperimentConfig(name="demo", experiment="experiments.demo")
            >>> run = Run(pathlib.Path(tempfile.mkdtemp()), config)
            >>> _ = run.record_timing("sampling", 1.5)
            >>> run.timings()
            {'sampling': 1.5}
        """
        timings = self.timings()
        timings[str(name)] = timings.get(str(name), 0.0) + float(seconds)
        return atomic_write_text(self.directory / TIMINGS_FILE, _dumps(timings, indent=2) + "\n")

    def timings(self) -> dict[str, float]:
        """The contents of ``timings.json`` (empty when nothing was recorded)."""
        path = self.directory / TIMINGS_FILE
        try:
            return dict(json.loads(path.read_text()))
        except (OSError, ValueError):
            return {}

    @contextlib.contextmanager
    def timed(self, name: str) -> Iterator[None]:
        """Record the wall-clock time of the ``with`` block under ``name`` (:meth:`record_timing`).

        Dispatch is asynchronous in JAX: block on the results inside the block
        (``jax.block_until_ready``) for a meaningful time.
        """
        start = time.perf_counter()
        try:
            yield
        finally:
            self.record_timing(name, time.perf_counter() - start)

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

    # -------------------------------------------------------------- the loop

    def loop(
        self,
        state: ArrayTree,
        step_fn: Callable[[ArrayTree, Chunk], tuple[ArrayTree, Mapping | None]],
        num_steps: int,
        *,
        log_every: int | None = None,
        checkpoint_every: int | None = None,
        desc: str | None = None,
        prepare: Callable[[ArrayTree], ArrayTree] | None = None,
    ) -> ArrayTree:
        """Restore, advance ``state`` to ``num_steps`` in chunks, log, checkpoint, show progress.

        The one experiment loop. Global steps ``0..num_steps`` are cut into
        chunks at every multiple of ``log_every`` and of ``checkpoint_every``
        (and at ``num_steps``); the cuts are fixed, so a resumed run takes the
        same chunks as an uninterrupted one. For each chunk:

        1. ``state, metrics = step_fn(state, chunk)`` advances from
           ``chunk.start`` to ``chunk.stop`` (pass ``chunk.start`` as
           ``run_chains``' ``start_step`` and ``chunk.callback`` as its
           ``callback`` for a bar that moves inside long chunks);
        2. when ``chunk.stop`` is a multiple of ``log_every`` or the end,
           ``metrics`` (a mapping, or ``None`` for no line) is logged at
           ``chunk.stop`` (:meth:`log`);
        3. when orbax's ``FixedIntervalPolicy(checkpoint_every)`` (or the end)
           says so, the state is checkpointed at ``chunk.stop``;
        4. the progress bar moves to ``chunk.stop``.

        Before the first chunk the latest intact checkpoint is restored
        (:meth:`restore_checkpoint`, shaped like ``state``), so the loop starts
        where the interrupted run stopped and its result is bit-identical to an
        uninterrupted run's. A finished loop (restored at ``num_steps``) calls
        ``step_fn`` no more.

        Args:
            state: the fresh initial state (a pytree of arrays; typed keys allowed);
                also the template that a checkpoint is restored into.
            step_fn: ``(state, chunk) -> (state, metrics)``; pure in ``state``
                and ``chunk`` (the same inputs give the same outputs), or a
                resume is not exact.
            num_steps: the global step the loop ends at (any unit: sampler
                steps, epochs, finished sweep entries).
            log_every: steps between metrics lines; default ``checkpoint_every``.
            checkpoint_every: steps between checkpoints; default
                ``config.checkpoint_every``. The last step is always saved.
            desc: the progress bar's label; default the config's name.
            prepare: applied once to the state before the first chunk, restored
                or fresh (e.g. to shard it over devices).

        Returns:
            The state at ``num_steps``.

        Examples:
            >>> import pathlib, tempfile, jax.numpy as jnp
            >>> from statjax.config import ExperimentConfig
            >>> config = ExperimentConfig(name="demo", experiment="experiments.demo")
            >>> run = Run(pathlib.Path(tempfile.mkdtemp()), config, quiet=True)
            >>> def step_fn(state, chunk):
            ...     total = state["total"] + jnp.arange(chunk.start, chunk.stop).sum()
            ...     return {"total": total}, {"total": total}
            >>> final = run.loop({"total": jnp.zeros((), jnp.int32)}, step_fn, 10,
            ...                  log_every=2, checkpoint_every=4)
            >>> int(final["total"]), [r["step"] for r in run.metrics()]
            (45, [2, 4, 6, 8, 10])
            >>> run.close()
        """
        from orbax.checkpoint import checkpoint_managers as policies

        num_steps = _positive_int(num_steps, "num_steps")
        checkpoint_every = _positive_int(
            self.config.checkpoint_every if checkpoint_every is None else checkpoint_every,
            "checkpoint_every",
        )
        log_every = _positive_int(checkpoint_every if log_every is None else log_every, "log_every")
        policy = policies.AnySavePolicy(
            [
                policies.FixedIntervalPolicy(checkpoint_every),
                policies.SpecificStepsPolicy((num_steps,)),
            ]
        )
        restored = self.restore_checkpoint(state)
        step = 0
        if restored is not None:
            step, state = restored.step, restored.state
        if prepare is not None:
            state = prepare(state)
        with self.progress(num_steps, initial=step, desc=desc) as progress:
            while step < num_steps:
                stop = min(
                    num_steps,
                    (step // log_every + 1) * log_every,
                    (step // checkpoint_every + 1) * checkpoint_every,
                )
                chunk = Chunk(step, stop, progress.callback(step))
                state, metrics = step_fn(state, chunk)
                if metrics is not None and (stop % log_every == 0 or stop == num_steps):
                    self.log(stop, **metrics)
                if policy.should_save(_StepInfo(stop), (), context=None):
                    self.save_checkpoint(stop, state)
                progress.update_to(stop)
                step = stop
        return state

    # -------------------------------------------------------------- checkpoints

    def save_checkpoint(self, step: int, state: ArrayTree, extras: Mapping | None = None) -> None:
        """Save ``state`` (any pytree of arrays, typed PRNG keys included) at global ``step``.

        Synchronous: when it returns, ``checkpoint/STEP/`` is finalised. The two
        latest steps are kept. Typed keys (``jax.random.key``) are stored as their
        ``jax.random.key_data`` and rewrapped on restore with the implementation
        of the template's key. ``extras`` is a JSON-ready mapping stored beside.
        A SHA-256 digest of the arrays and the metadata is stored with them and
        checked on restore. SIGINT and SIGTERM arriving during the write are held
        until the step is finalised, then delivered.
        """
        import orbax.checkpoint as ocp

        manager = self._checkpoint_manager()
        saved = _without_typed_keys(state)
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
        meta["meta_digest"] = _checkpoint_digest(None, meta)
        meta["digest"] = _checkpoint_digest(saved, meta)
        with _signals_deferred():
            if int(step) in manager.all_steps():  # a rewrite of a step that was refused
                manager.delete(int(step))
            manager.save(
                int(step),
                args=ocp.args.Composite(
                    **{
                        _STATE_ITEM: ocp.args.StandardSave(saved),
                        _META_ITEM: ocp.args.JsonSave(meta),
                    }
                ),
                force=True,
            )
            manager.wait_until_finished()

    def restore_checkpoint(self, like: ArrayTree) -> Restored | None:
        """The latest intact checkpoint, shaped like ``like``; ``None`` when there is none yet.

        Each saved step is checked against its digest, newest first. A damaged
        step (unreadable, or its arrays or metadata differ from the digest) is
        refused with a :class:`CheckpointWarning`; restore falls back to the
        next older step and deletes the damaged newer ones, so that the resumed
        run writes them again. Also cuts ``metrics.jsonl`` back to the restored
        step (or empties it when there is no checkpoint), so that a resumed run
        writes the same lines as an uninterrupted one.

        Args:
            like: a pytree with the structure, shapes and dtypes of the saved state
                (the experiment's freshly initialised state); ``None`` reads the
                state as orbax stored it (NamedTuples as dicts, keys as key data),
                without the digest check of the arrays.

        Raises:
            ResumeError: the checkpoint was made with another config, the state
                the experiment builds changed, every saved step is damaged, or
                ``metrics.jsonl`` has a damaged line before its last.
        """
        metrics = _read_metrics(self.directory / METRICS_FILE)  # refuse damage before any work
        restored = self._restore(like) if (self.directory / CHECKPOINT_DIR).is_dir() else None
        self._truncate_metrics(metrics, 0 if restored is None else restored.step)
        return restored

    def _restore(self, like: ArrayTree) -> Restored | None:
        manager = self._checkpoint_manager()
        steps = sorted(manager.all_steps(), reverse=True)
        damaged: list[tuple[int, str]] = []
        for step in steps:
            try:
                restored = self._read_step(manager, step, like)
            except _DamagedStep as error:
                damaged.append((step, str(error)))
                continue
            for bad_step, reason in damaged:
                warnings.warn(
                    f"{self.directory}: checkpoint step {bad_step} is damaged ({reason}); "
                    f"resuming from step {restored.step} and writing the later steps again.",
                    CheckpointWarning,
                    stacklevel=3,
                )
                self._delete_step(manager, bad_step)
            return restored
        if damaged:
            reasons = "; ".join(f"step {step}: {reason}" for step, reason in damaged)
            raise ResumeError(
                f"cannot resume {self.directory}: every checkpoint is damaged ({reasons}). "
                f"Start the run again: `statjax run {self.directory / CONFIG_FILE}`."
            )
        return None

    def _read_step(self, manager: Any, step: int, like: ArrayTree) -> Restored:
        """One saved step, verified; :class:`_DamagedStep` when its files are damaged."""
        import orbax.checkpoint as ocp

        try:
            meta = manager.restore(
                step, args=ocp.args.Composite(**{_META_ITEM: ocp.args.JsonRestore()})
            )[_META_ITEM]
        except Exception as error:
            raise _DamagedStep(
                f"its metadata cannot be read: {_brief(error, self.directory)}"
            ) from None
        if not isinstance(meta, Mapping) or not isinstance(meta.get("digest"), str):
            raise _DamagedStep(
                "its metadata has no digest (damaged, or written before statjax kept digests)"
            )
        body = {k: v for k, v in meta.items() if k not in ("digest", "meta_digest")}
        if _checkpoint_digest(None, body) != meta.get("meta_digest"):
            raise _DamagedStep("its metadata differs from its SHA-256 digest")
        self._check_meta(meta, step)
        template = None if like is None else _without_typed_keys(like)
        try:
            restored = manager.restore(
                step,
                args=ocp.args.Composite(**{_STATE_ITEM: ocp.args.StandardRestore(template)}),
            )
            state = restored[_STATE_ITEM]
        except Exception as error:
            if meta.get("code_sha256") != self._code_digest():
                raise ResumeError(
                    f"cannot resume {self.directory}: its checkpoint at step {step} does not fit "
                    f"the state {self.config.experiment} builds now (the code changed since it "
                    f"was written): {_brief(error, self.directory)}"
                ) from None
            raise _DamagedStep(
                f"its arrays cannot be read: {_brief(error, self.directory)}"
            ) from None
        if like is not None:
            # The template's structure (NamedTuples, typed keys), whatever orbax returns.
            state = jax.tree_util.tree_unflatten(
                jax.tree_util.tree_structure(template), jax.tree_util.tree_leaves(state)
            )
            body = {k: v for k, v in meta.items() if k != "digest"}
            if _checkpoint_digest(state, body) != meta["digest"]:
                raise _DamagedStep("its arrays differ from their SHA-256 digest")
            state = _with_typed_keys(state, like)
        return Restored(int(meta["step"]), state, dict(meta.get("extras", {})))

    def _delete_step(self, manager: Any, step: int) -> None:
        with _signals_deferred():
            try:
                manager.delete(step)
            except Exception:  # orbax could not read it to delete it: remove the folder
                shutil.rmtree(self.directory / CHECKPOINT_DIR / str(step), ignore_errors=True)
                manager.reload()

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
                stacklevel=5,
            )
        saved, current = meta.get("environment", {}), _environment()
        changed = {k: (saved.get(k), v) for k, v in current.items() if saved.get(k) != v}
        if changed:
            warnings.warn(
                f"resuming {self.directory} in another environment than the one that wrote its "
                f"checkpoint ({changed}); the result may differ from an uninterrupted run in the "
                "last bits.",
                stacklevel=5,
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

    def _checkpoint_manager(self) -> Any:
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

    def _truncate_metrics(self, records: list[dict], step: int) -> None:
        path = self.directory / METRICS_FILE
        if not path.exists():
            return
        kept = [record for record in records if record["step"] <= step]
        atomic_write_text(path, "".join(_dumps(record) + "\n" for record in kept))

    def _lock(self) -> None:
        if self._lock_handle is None:
            self._lock_handle = _RunLock(self.directory)

    def close(self) -> None:
        """Release the checkpoint manager and the folder's lock (idempotent)."""
        if self._manager is not None:
            self._manager.close()
            self._manager = None
        if self._lock_handle is not None:
            self._lock_handle.release()
            self._lock_handle = None

    def __enter__(self) -> "Run":
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()


class _DamagedStep(Exception):
    """A checkpoint step whose files are unreadable or differ from their digest."""


class _StepInfo(NamedTuple):
    """What orbax's save-decision policies read of a step (``PolicyCheckpointInfo``)."""

    step: int
    metrics: dict | None = None
    time: datetime.datetime = datetime.datetime.min


def _positive_int(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
        raise ValueError(f"Run.loop: {name} must be a positive integer, got {value!r}.")
    return int(value)


def _brief(error: BaseException, folder: Path | None = None) -> str:
    """The error's type and first line, at most 160 characters: enough to say what broke."""
    text = str(error)
    if folder is not None:  # paths relative to the run folder: shorter, and still exact
        text = text.replace(f"{folder.absolute()}/", "").replace(f"{folder}/", "")
    lines = text.strip().splitlines()
    text = f"{type(error).__name__}: {lines[0] if lines else ''}"
    return text if len(text) <= 160 else text[:157] + "..."


def _checkpoint_digest(saved: ArrayTree, meta: Mapping) -> str:
    """SHA-256 over the metadata (canonical JSON) and every array's dtype, shape and bytes."""
    digest = hashlib.sha256(json.dumps(meta, sort_keys=True, allow_nan=False).encode())
    for leaf in jax.tree_util.tree_leaves(saved):
        if isinstance(leaf, jax.Array) and not leaf.is_fully_addressable:
            digest.update(b"<not addressable from this process>")
            continue
        array = np.asarray(leaf)
        digest.update(f"{array.dtype.str}{array.shape}".encode())
        digest.update(np.ascontiguousarray(array).tobytes())
    return digest.hexdigest()


@contextlib.contextmanager
def _signals_deferred() -> Iterator[None]:
    """Hold SIGINT and SIGTERM during the block, then deliver them (a write is never cut).

    An interrupted orbax write can leave a half-made step folder and abort the
    process (SIGABRT) from its writer threads; held, the signal arrives after
    the step is finalised and acts as it would have (KeyboardInterrupt, or the
    installed SIGTERM handler, or termination). Off the main thread, a no-op.
    """
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    received: list[int] = []
    previous = {}
    for number in (signal.SIGINT, signal.SIGTERM):
        previous[number] = signal.signal(number, lambda signum, frame: received.append(signum))
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
        for pending in dict.fromkeys(received):
            os.kill(os.getpid(), pending)


def _cut_torn_tail(path: Path) -> None:
    """Drop the bytes after the last newline of ``path`` (a line cut short by a kill)."""
    try:
        with open(path, "rb+") as file:
            size = file.seek(0, os.SEEK_END)
            if size == 0:
                return
            file.seek(size - 1)
            if file.read(1) == b"\n":
                return
            start = max(0, size - (1 << 20))
            file.seek(start)
            tail = file.read()
            newline = tail.rfind(b"\n")
            file.truncate(start + newline + 1 if newline >= 0 else (0 if start == 0 else size))
    except FileNotFoundError:
        return


def _read_metrics(path: Path) -> list[dict]:
    """The records of ``metrics.jsonl``; only a torn last line (no newline) is forgiven."""
    if not path.exists():
        return []
    text = path.read_bytes().decode("utf-8", errors="replace")
    lines = text.split("\n")
    torn = lines.pop()  # after the last newline: "" or a line cut short by a kill
    records = []
    for number, line in enumerate(lines, start=1):
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            record = None
        if not (isinstance(record, dict) and isinstance(record.get("step"), int)):
            raise ResumeError(
                f"{path}: line {number} of {len(lines) + bool(torn)} is damaged "
                f"({line[:60]!r}); only a torn last line can come from an interrupted "
                "write. Repair or delete that line, or start the run again."
            )
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

    Examples:
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

    def callback(self, offset: int = 0) -> Callable[[int, int, Any], None]:
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
