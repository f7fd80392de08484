"""Traces out of statjax: to ArviZ's ``InferenceData`` (and so to netCDF).

statjax records traces the way ``lax.scan`` stacks them, ``(draw, chain, ...)``
on every leaf (:func:`statjax.run_chains`); ArviZ wants ``(chain, draw, ...)``
in named groups. :func:`to_inference_data` does the transposition and the
naming, so every ArviZ tool (``az.summary``, ``az.plot_trace``, ``az.rhat``,
``az.to_netcdf``) reads a statjax run. Its R-hat and ESS agree with
:mod:`statjax.diagnostics` on the same trace (both follow Vehtari et al. 2021;
``tests/test_export.py`` checks it).

The easiest way to get a trace with its sample statistics is to record both in
``observe`` with :func:`record`:

    final, trace = statjax.run_chains(kernel, key, x0, 1000, observe=statjax.export.record)
    idata = statjax.export.to_inference_data(trace)

A replica-exchange trace recorded *by temperature* (``observe=lambda s:
positions_by_temperature(s)``, one slot per beta) becomes a ``beta`` dimension
with the ladder as its coordinate (:func:`to_inference_data` with
``temperature_axis=0, betas=ladder``), so ArviZ reports R-hat and ESS per
temperature: chains at different temperatures are never pooled.

ArviZ is an optional dependency (``pip install 'statjax[arviz]'``); it is
imported only when a function here is called.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import jax
import numpy as np

from statjax.types import ArrayTree

__all__ = ["SAMPLE_STATS", "record", "to_inference_data"]

SAMPLE_STATS = {
    "acceptance_rate": "acceptance_rate",
    "is_accepted": "is_accepted",
    "is_divergent": "diverging",
    "diverging": "diverging",
    "tree_depth": "tree_depth",
    "num_integration_steps": "n_steps",
    "num_steps": "n_steps",
    "step_size": "step_size",
    "energy_error": "energy_error",
}
"""statjax info fields kept by :func:`record`, and their names in ArviZ's ``sample_stats``
group (ArviZ's conventions: ``diverging``, ``n_steps``, ``tree_depth``, ``lp``)."""


def _require_arviz():
    try:
        import arviz
    except ModuleNotFoundError as error:  # pragma: no cover - depends on the install
        raise ModuleNotFoundError(
            "statjax.export needs ArviZ: pip install 'statjax[arviz]' (or pip install arviz)."
        ) from error
    return arviz


def record(state: Any, info: Any) -> dict:
    """An ``observe`` for :func:`statjax.run_chains` that keeps what ArviZ shows.

    Records the position (``posterior``), the untempered energy and every info
    field ArviZ knows (see :data:`SAMPLE_STATS`: acceptance, divergences, tree
    depth, integration steps) that the kernel's info carries.

    Args:
        state: one chain's kernel state (``position``, ``energy``).
        info: the step's info.

    Returns:
        ``{"posterior": position, "sample_stats": {...}}`` for :func:`to_inference_data`.
    """
    stats = {"energy": state.energy}
    for field, name in SAMPLE_STATS.items():
        if hasattr(info, field) and name not in stats:
            stats[name] = getattr(info, field)
    return {"posterior": state.position, "sample_stats": stats}


def _named_leaves(tree: ArrayTree, default: str) -> dict[str, np.ndarray]:
    """A pytree as ``{name: array}``; names from the key paths (``params.w`` ...)."""
    leaves = jax.tree_util.tree_leaves_with_path(tree)
    if len(leaves) == 1 and not leaves[0][0]:
        return {default: np.asarray(leaves[0][1])}
    named = {}
    for path, leaf in leaves:
        name = ".".join(_key_name(entry) for entry in path)
        named[name] = np.asarray(leaf)
    return named


def _key_name(entry: Any) -> str:
    for attribute in ("key", "name", "idx"):
        if hasattr(entry, attribute):
            return str(getattr(entry, attribute))
    return str(entry)  # pragma: no cover - every jax key entry has one of the above


def _chain_first(array: np.ndarray, name: str) -> np.ndarray:
    if array.ndim < 2:
        raise ValueError(
            f"`{name}` must be a trace shaped (num_draws, num_chains, ...) as run_chains "
            f"returns it; got shape {array.shape}."
        )
    return np.swapaxes(array, 0, 1)


def _dims_for(named: dict[str, np.ndarray], temperature_axis: int | None) -> dict[str, list[str]]:
    """ArviZ dims of each ``(chain, draw, ...)`` variable; the temperature axis named ``beta``."""
    dims = {}
    for name, array in named.items():
        event = [f"{name}_dim_{i}" for i in range(array.ndim - 2)]
        if temperature_axis is not None:
            if temperature_axis >= len(event):
                raise ValueError(
                    f"temperature_axis={temperature_axis} is not an event axis of `{name}` "
                    f"(event shape {array.shape[2:]})."
                )
            event[temperature_axis] = "beta"
        dims[name] = event
    return dims


def to_inference_data(
    trace: ArrayTree,
    *,
    sample_stats: Mapping[str, Any] | None = None,
    temperature_axis: int | None = None,
    betas: Any = None,
    warmup: ArrayTree | None = None,
    attrs: Mapping[str, Any] | None = None,
) -> Any:
    """A statjax trace as ``arviz.InferenceData``.

    Args:
        trace: what :func:`statjax.run_chains` returned as its trace, leaves
            ``(num_draws, num_chains, ...)``: any pytree of positions (each leaf
            becomes a variable named by its key path, a bare array ``"x"``), or
            the ``{"posterior": ..., "sample_stats": ...}`` dict that
            :func:`record` builds.
        sample_stats: extra ``(num_draws, num_chains)`` statistics (merged with
            those of a :func:`record` trace).
        temperature_axis: the event axis (after draw and chain) that indexes
            temperatures, for replica-exchange traces recorded by temperature;
            it becomes the ``beta`` dimension. Sample statistics keep their own
            shapes (e.g. the per-replica energies ``(num_draws, num_chains, R)``
            get the ``beta`` dimension too when recorded by temperature).
        betas: the ladder, the coordinate of the ``beta`` dimension (needs
            ``temperature_axis``).
        warmup: an optional warm-up trace with the same structure, stored in
            ArviZ's ``warmup_posterior`` group.
        attrs: attributes stored with every group (e.g. the kernel's name).

    Returns:
        ``arviz.InferenceData`` with ``posterior`` (and ``sample_stats``,
        ``warmup_posterior`` when given); ``(chain, draw, ...)`` dimensions.

    Examples:
        >>> import jax, jax.numpy as jnp, statjax
        >>> kernel = statjax.mala(lambda x: 0.5 * jnp.sum(x**2), 0.5)
        >>> _, trace = statjax.run_chains(
        ...     kernel, jax.random.key(0), jnp.zeros((4, 2)), 200,
        ...     observe=statjax.export.record)
        >>> idata = statjax.export.to_inference_data(trace)
        >>> dict(idata.posterior.sizes)
        {'chain': 4, 'draw': 200, 'x_dim_0': 2}
    """
    arviz = _require_arviz()
    if betas is not None and temperature_axis is None:
        raise ValueError("`betas` labels the temperature axis: pass `temperature_axis` too.")
    stats: dict[str, Any] = {}
    if isinstance(trace, Mapping) and set(trace) <= {"posterior", "sample_stats"}:
        stats.update(trace.get("sample_stats", {}))
        trace = trace["posterior"]
    stats.update(sample_stats or {})

    posterior = {
        name: _chain_first(array, name) for name, array in _named_leaves(trace, "x").items()
    }
    dims = _dims_for(posterior, temperature_axis)
    stat_arrays = {name: _chain_first(np.asarray(value), name) for name, value in stats.items()}
    num_temperatures = None
    if temperature_axis is not None:
        num_temperatures = next(iter(posterior.values())).shape[2 + temperature_axis]
        for name, array in stat_arrays.items():
            if array.ndim == 3 and array.shape[2] == num_temperatures:
                dims[name] = ["beta"]
    coords = {}
    if betas is not None:
        betas = np.asarray(betas)
        if betas.shape != (num_temperatures,):
            raise ValueError(
                f"`betas` must have one entry per temperature slot ({num_temperatures}); "
                f"got shape {betas.shape}."
            )
        coords["beta"] = betas
    warmup_posterior = None
    if warmup is not None:
        warmup_posterior = {
            name: _chain_first(array, name) for name, array in _named_leaves(warmup, "x").items()
        }
    idata = arviz.from_dict(
        posterior=posterior,
        sample_stats=stat_arrays or None,
        warmup_posterior=warmup_posterior,
        save_warmup=warmup is not None,
        coords=coords or None,
        dims=dims,
    )
    for group in idata.groups():
        idata[group].attrs.update(dict(attrs or {}))
    return idata
