"""Many devices and many hosts: a device mesh, sharded chains, ``jax.distributed``.

statjax scales on JAX's own engine, not on a home-made communication layer. The
chain axis (the leading axis of every leaf of positions, kernel states and
traces' second axis) is independent work, so it is *sharded* across devices with
:class:`jax.sharding.NamedSharding`; :func:`~statjax.samplers.run.run_chains` is a
``jit`` of a ``vmap``, and ``jit`` propagates the input sharding through the scan,
so every device advances its own chains and nothing is gathered inside the loop
(the compiled chunk contains no collective at all: tested). Keys are unchanged:
``fold_in(key, step)`` split over *all* chains, so a sharded run draws exactly the
numbers of an unsharded one and the results are bit-identical.

The mesh has two named axes, ``"chains"`` and ``"replicas"``. The second one
serves replica exchange, whose positions are ``(num_chains, R, ...)``: sharding the
ladder across devices splits a long ladder (or big replicas) over devices; the
swap between neighbours that live on different devices is an ordinary gather of
``R`` energies, which XLA turns into a small collective. With ``replicas=1`` (the
default) the replica axis has size 1 and everything is split by chains.

Several hosts: call :func:`initialize` (a thin layer over
:func:`jax.distributed.initialize`) first thing in every process; the mesh then
spans every process's devices (``jax.devices()`` is global), and the same code
runs unchanged. Arrays whose shards live on other hosts cannot be read with
``np.asarray``: reduce them under ``jit`` (:func:`chain_mean`,
:func:`merge_chain_moments`), or bring them home with :func:`to_host`.
"""

import os
from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

from statjax.config import DevicesConfig
from statjax.moments import RunningMoments
from statjax.types import ArrayTree

CHAIN_AXIS = "chains"
"""Name of the mesh axis the chain axis is split over."""

REPLICA_AXIS = "replicas"
"""Name of the mesh axis a replica-exchange ladder is split over."""

ENV_COORDINATOR = "STATJAX_COORDINATOR_ADDRESS"
ENV_NUM_PROCESSES = "STATJAX_NUM_PROCESSES"
ENV_PROCESS_ID = "STATJAX_PROCESS_ID"


def make_mesh(
    num_devices: int | None = None,
    *,
    replicas: int = 1,
    devices: Sequence[jax.Device] | None = None,
) -> Mesh:
    """A ``(chains, replicas)`` mesh over ``devices`` (default: all, of every process).

    Args:
        num_devices: how many devices to use (the first ones); default all.
        replicas: size of the replica axis; must divide the number of devices.
            Keep 1 unless a replica-exchange ladder is to be split across devices.
        devices: the devices (default ``jax.devices()``, global under
            :func:`initialize`).

    Examples:
        >>> mesh = make_mesh(1)
        >>> dict(mesh.shape)
        {'chains': 1, 'replicas': 1}
    """
    devices = list(jax.devices() if devices is None else devices)
    if num_devices is not None:
        if not 1 <= num_devices <= len(devices):
            raise ValueError(f"num_devices must be in [1, {len(devices)}], got {num_devices}.")
        devices = devices[:num_devices]
    if replicas < 1 or len(devices) % replicas:
        raise ValueError(
            f"replicas ({replicas}) must be a positive divisor of the number of devices "
            f"({len(devices)})."
        )
    grid = np.array(devices, dtype=object).reshape(len(devices) // replicas, replicas)
    return Mesh(grid, (CHAIN_AXIS, REPLICA_AXIS))


def chain_spec(ndim: int, *, replicas: bool = False) -> P:
    """The ``PartitionSpec`` of a leaf with ``ndim`` axes, chains first.

    ``replicas=True`` also splits the second axis (the replica axis of
    replica-exchange leaves ``(num_chains, R, ...)``) over :data:`REPLICA_AXIS`.
    Scalars are replicated.
    """
    if ndim == 0:
        return P()
    if replicas and ndim >= 2:
        return P(CHAIN_AXIS, REPLICA_AXIS)
    return P(CHAIN_AXIS)


def _put(leaf, sharding: NamedSharding):
    if jax.process_count() == 1 or (isinstance(leaf, jax.Array) and not leaf.is_fully_addressable):
        return jax.device_put(leaf, sharding)
    # Several processes, host data: every process holds the same full array (same
    # seed) and contributes the shards of its own devices.
    value = np.asarray(leaf)
    return jax.make_array_from_callback(value.shape, sharding, lambda index: value[index])


def shard_chains(tree: ArrayTree, mesh: Mesh, *, replicas: bool = False) -> ArrayTree:
    """Split the leading (chain) axis of every leaf of ``tree`` across ``mesh``.

    Works for any pytree: positions, a kernel's states (the ``final`` of an
    earlier run), a :class:`~statjax.samplers.tempering.ReplicaExchangeState`.
    Every leaf must have a leading chain axis divisible by the mesh's chain axis
    (scalars are replicated). Under several processes every process passes the
    same full array (e.g. drawn from the same seed) and keeps only its shards.

    Args:
        tree: the pytree; leaves ``(num_chains, ...)``.
        mesh: from :func:`make_mesh`.
        replicas: also split the second axis over the replica axis (replica
            exchange, ``(num_chains, R, ...)`` leaves). Leaves with one axis
            (``(num_chains,)``) stay split by chains only.

    Returns:
        The same pytree of global ``jax.Array``s with ``NamedSharding``s.
    """
    num_shards = mesh.shape[CHAIN_AXIS]

    def put(leaf):
        ndim = np.ndim(leaf)
        if ndim and np.shape(leaf)[0] % num_shards:
            raise ValueError(
                f"the chain axis ({np.shape(leaf)[0]}) must be divisible by the mesh's "
                f"'{CHAIN_AXIS}' axis ({num_shards})."
            )
        spec = chain_spec(ndim, replicas=replicas)
        if replicas and ndim >= 2 and np.shape(leaf)[1] % mesh.shape[REPLICA_AXIS]:
            spec = P(CHAIN_AXIS)
        return _put(leaf, NamedSharding(mesh, spec))

    return jax.tree_util.tree_map(put, tree)


def replicate(tree: ArrayTree, mesh: Mesh) -> ArrayTree:
    """Put every leaf of ``tree`` on every device of ``mesh`` (kernel parameters, ladders)."""
    return jax.tree_util.tree_map(lambda leaf: _put(leaf, NamedSharding(mesh, P())), tree)


def is_sharded_by_chains(tree: ArrayTree, axis: int = 0) -> bool:
    """Whether every non-scalar leaf is split over :data:`CHAIN_AXIS` along ``axis``.

    ``axis=1`` checks a ``run_chains`` trace, ``(draws, num_chains, ...)``.
    """
    for leaf in jax.tree_util.tree_leaves(tree):
        if np.ndim(leaf) <= axis:
            continue
        sharding = getattr(leaf, "sharding", None)
        if not isinstance(sharding, NamedSharding):
            return False
        spec = tuple(sharding.spec) + (None,) * leaf.ndim
        entry = spec[axis]
        names = entry if isinstance(entry, tuple) else (entry,)
        if CHAIN_AXIS not in names:
            return False
    return True


# ------------------------------------------------------------------ reductions


@jax.jit
def _mean0(tree):
    return jax.tree_util.tree_map(lambda x: jnp.mean(x, axis=0), tree)


def chain_mean(tree: ArrayTree, axis: int = 0) -> ArrayTree:
    """Mean over the chain axis, computed where the shards are (one all-reduce).

    The result is replicated, so every process can read it with ``np.asarray`` —
    reading the sharded input directly fails under several processes. Use
    ``axis=1`` for a trace ``(draws, num_chains, ...)``.
    """
    if axis:
        tree = jax.tree_util.tree_map(lambda x: jnp.moveaxis(x, axis, 0), tree)
    return _mean0(tree)


@jax.jit
def _merge_moments(moments: RunningMoments) -> RunningMoments:
    def merge(mean, m2):
        chains = mean.shape[0]
        grand = jnp.mean(mean, axis=0)
        within = jnp.sum(m2, axis=0)
        between = moments.count * jnp.sum((mean - grand) ** 2, axis=0)
        return grand, within + between, chains

    merged = jax.tree_util.tree_map(merge, moments.mean, moments.m2)
    is_triple = lambda x: isinstance(x, tuple) and len(x) == 3
    mean = jax.tree_util.tree_map(lambda t: t[0], merged, is_leaf=is_triple)
    m2 = jax.tree_util.tree_map(lambda t: t[1], merged, is_leaf=is_triple)
    chains = jax.tree_util.tree_leaves(merged, is_leaf=is_triple)[0][2]
    return RunningMoments(moments.count * chains, mean, m2)


def merge_chain_moments(moments: RunningMoments) -> RunningMoments:
    """Pool per-chain :class:`RunningMoments` (``streaming=True``) over all chains and shards.

    Chains have equal counts, so Chan et al.'s pairwise merge reduces to
    ``mean = mean_c(mean_i)`` and ``m2 = sum_i m2_i + n sum_i (mean_i - mean)^2``;
    written as sums over the chain axis it is one all-reduce under ``jit``, not a
    gather, and it is exact whatever the number of shards.
    """
    return _merge_moments(moments)


def to_host(tree: ArrayTree) -> Any:
    """Every leaf as a full ``numpy`` array on every process (after the run, never inside).

    One process: ``np.asarray``. Several: ``multihost_utils.process_allgather``
    assembles the global array from the shards of every host.
    """
    if jax.process_count() == 1:
        return jax.tree_util.tree_map(np.asarray, tree)
    from jax.experimental import multihost_utils

    return jax.tree_util.tree_map(
        lambda x: np.asarray(multihost_utils.process_allgather(x, tiled=True)), tree
    )


# ------------------------------------------------------------------ many hosts


def initialize(
    coordinator_address: str | None = None,
    num_processes: int | None = None,
    process_id: int | None = None,
    **kwargs: Any,
) -> tuple[int, int]:
    """Join a multi-process JAX run (:func:`jax.distributed.initialize`); call it first.

    Each argument left ``None`` is read from the environment
    (``STATJAX_COORDINATOR_ADDRESS`` as ``host:port``, ``STATJAX_NUM_PROCESSES``,
    ``STATJAX_PROCESS_ID``); if still unset, JAX's own detection runs (TPU pods,
    SLURM, Open MPI, ``JAX_COORDINATOR_ADDRESS``...), so on a TPU slice a bare
    ``initialize()`` is enough. A second call is a no-op, so library code may call
    it defensively. On the CPU backend, cross-process collectives use gloo (JAX's
    default, ``jax_cpu_collectives_implementation``).

    Args:
        coordinator_address: ``host:port`` of process 0.
        num_processes: number of processes.
        process_id: this process's index, ``0 .. num_processes - 1``.
        **kwargs: passed on (e.g. ``local_device_ids``, ``initialization_timeout``).

    Returns:
        ``(process_index, process_count)``.
    """
    coordinator_address = coordinator_address or os.environ.get(ENV_COORDINATOR)
    if num_processes is None and ENV_NUM_PROCESSES in os.environ:
        num_processes = int(os.environ[ENV_NUM_PROCESSES])
    if process_id is None and ENV_PROCESS_ID in os.environ:
        process_id = int(os.environ[ENV_PROCESS_ID])
    if not _distributed_initialized():
        jax.distributed.initialize(
            coordinator_address=coordinator_address,
            num_processes=num_processes,
            process_id=process_id,
            **kwargs,
        )
    return jax.process_index(), jax.process_count()


def _distributed_initialized() -> bool:
    try:
        from jax._src import distributed

        return distributed.global_state.client is not None
    except (ImportError, AttributeError):  # private API moved: assume not initialised
        return False


def mesh_from_config(devices: DevicesConfig) -> Mesh:
    """The mesh a ``devices:`` section asks for (joining the multi-process run first)."""
    if devices.distributed:
        initialize()
    return make_mesh(devices.count or None, replicas=devices.replicas)


def device_summary() -> dict[str, Any]:
    """Device count and kind, processes: what an experiment summary should record."""
    devices = jax.devices()
    return {
        "platform": devices[0].platform,
        "device_kind": devices[0].device_kind,
        "num_devices": len(devices),
        "num_local_devices": jax.local_device_count(),
        "num_processes": jax.process_count(),
    }


__all__ = [
    "CHAIN_AXIS",
    "REPLICA_AXIS",
    "DevicesConfig",
    "chain_mean",
    "chain_spec",
    "device_summary",
    "initialize",
    "is_sharded_by_chains",
    "make_mesh",
    "merge_chain_moments",
    "mesh_from_config",
    "replicate",
    "shard_chains",
    "to_host",
]
