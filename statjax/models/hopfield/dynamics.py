r"""Glauber dynamics of a Hopfield network: asynchronous sweeps and the synchronous update.

At temperature ``T = 1 / beta`` (Glauber 1963) a spin is set to ``+1`` with
probability ``P(s_i = +1) = 1 / (1 + exp(-2 beta f_i))``, ``f = J s + h`` its local
field. Offered to the spins one at a time (:func:`asynchronous_sweep`) this
leaves ``exp(-beta E)`` invariant; offered to all spins at once from the same
``f`` (:func:`synchronous_update`, Little 1974) it does not (its stationary law is
Peretto's 1984 pseudo-Boltzmann law, and at ``T = 0`` it may cycle with period 2).

**Zero temperature is ``beta = +inf``**, as for every statjax kernel
(:func:`statjax.anneal.temperature_to_beta` maps ``T = 0`` there): both kernels
then apply the sign rule ``s_i = sign(f_i)``, and a **tie** ``f_i = 0`` keeps the
current spin, so that no update raises the energy and a fixed point stays fixed.
Ties are exact because the kernels work with the integer local fields
``N f = C s + N h`` of :class:`~statjax.models.hopfield.network.HopfieldNetwork`.

**The kernel contract** (:mod:`statjax.samplers.base`): states are
:class:`~statjax.samplers.lattice.SpinState` (``position``: int8 spins;
``energy``: the untempered ``E(s)``); the info is a
:class:`~statjax.samplers.lattice.SweepInfo`, whose ``acceptance_rate`` is the
mean over sites of the heat-bath probability that the site takes the other value
(for the sweep, from the field the site sees when its turn comes; ``0`` for a tie
at ``beta = +inf``), and whose ``is_accepted`` says whether any spin changed.
"""

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike

from statjax.checks import check_beta_values
from statjax.models.hopfield.network import HopfieldNetwork, check_spins
from statjax.pytree import Pytree
from statjax.random import uniform as random_uniform
from statjax.samplers.lattice import (
    SequentialSweep,
    SpinState,
    SweepInfo,
    sweep_info,
)
from statjax.types import PRNGKey


def _check_beta(beta: Any) -> None:
    """Refuse a concrete ``beta`` that is not > 0 (``+inf`` is zero temperature)."""
    if not isinstance(beta, jax.core.Tracer):
        check_beta_values(np.asarray(beta, dtype=float))


def _spin_state(network: HopfieldNetwork, spins: jax.Array) -> SpinState:
    return SpinState(spins, network(spins), jnp.sum(spins.astype(jnp.int32)))


def _init(network: HopfieldNetwork, position: ArrayLike) -> SpinState:
    spins = check_spins(position, network.num_spins, "position").astype(jnp.int8)
    return _spin_state(network, spins)


class AsynchronousSweep(Pytree):
    r"""Asynchronous Glauber dynamics of a Hopfield network: one sweep per step.

    Spins ``i = 0, ..., N - 1`` are updated in turn, each from the current local
    field: ``P(s_i = +1) = 1 / (1 + exp(-2 beta f_i))`` (Glauber 1963), which
    satisfies detailed balance for ``exp(-beta E)``. The local fields are kept
    current (a flip of ``s_i`` adds ``-2 s_i C[i]`` to ``N f``), so a sweep costs
    ``O(N^2)``, the price of one energy. The sweep is
    :class:`statjax.samplers.lattice.SequentialSweep`'s heat bath on
    :meth:`HopfieldNetwork.scaled_ising` at ``beta / N``: a site flips iff
    ``u (1 + exp(2 beta s_i f_i)) < 1``, so at ``beta = +inf`` iff ``s_i f_i < 0``,
    and a tie gives ``0 * inf = NaN``, a comparison that is false: the spin stays
    (tested here). Its info is that sweep's
    :class:`~statjax.samplers.lattice.SweepInfo`.

    Build it with :func:`asynchronous_sweep`.

    Attributes:
        network: the :class:`HopfieldNetwork` (a pytree: new patterns never recompile).
    """

    network: HopfieldNetwork

    def init(self, position: ArrayLike) -> SpinState:
        """State at spins ``position`` (±1, ``(N,)``)."""
        return _init(self.network, position)

    def step(self, key: PRNGKey, state: SpinState, beta: ArrayLike) -> tuple[SpinState, SweepInfo]:
        """One sweep at inverse temperature ``beta`` (``+inf``: the sign rule, ties kept)."""
        _check_beta(beta)
        num_spins = self.network.num_spins
        sweep = SequentialSweep(self.network.scaled_ising(), "heat_bath")
        # The scaled model's energy and fields are N E and N f, hence beta / N (inf / N = inf).
        new_state, info = sweep.step(key, state, beta / num_spins)
        return new_state._replace(energy=new_state.energy / num_spins), info


class SynchronousUpdate(Pytree):
    r"""Synchronous (parallel) Glauber update of a Hopfield network: all spins at once.

    Every spin is drawn from the local fields of the *previous* configuration,
    ``P(s_i' = +1) = 1 / (1 + exp(-2 beta f_i(s)))`` (Little 1974); at
    ``beta = +inf``, ``s_i' = sign(f_i(s))`` with ties keeping ``s_i``. This does
    not sample ``exp(-beta E)`` (Peretto 1984) and at ``T = 0`` may end in a 2-cycle;
    it is the fast, fully vectorised retrieval dynamics.

    Build it with :func:`synchronous_update`.

    Attributes:
        network: the :class:`HopfieldNetwork`.
    """

    network: HopfieldNetwork

    def init(self, position: ArrayLike) -> SpinState:
        """State at spins ``position`` (±1, ``(N,)``)."""
        return _init(self.network, position)

    def step(self, key: PRNGKey, state: SpinState, beta: ArrayLike) -> tuple[SpinState, SweepInfo]:
        """One parallel update at inverse temperature ``beta`` (``+inf``: the sign rule)."""
        _check_beta(beta)
        spins = state.position
        # N f: integer-valued, so the sign (and a tie) is exact.
        scaled_field = self.network.scaled_ising().local_fields(spins)
        drive = 2.0 * beta * scaled_field / self.network.num_spins  # 2 beta f
        uniform = random_uniform(key, spins.shape, jnp.float32)
        # At beta = inf, sigmoid(+-inf) is 1 or 0 and u < 1 always: the sign rule; a tie
        # (inf * 0 = NaN) keeps the spin.
        is_tie = jnp.isnan(drive)
        up = jnp.where(is_tie, spins > 0, uniform < jax.nn.sigmoid(drive))
        new_spins = jnp.where(up, 1, -1).astype(jnp.int8)
        other = jax.nn.sigmoid(-spins.astype(drive.dtype) * drive)  # P(s_i' = -s_i)
        info = sweep_info(
            jnp.sum(jnp.where(is_tie, 0.0, other)),
            jnp.sum((new_spins != spins).astype(jnp.int32)),
            self.network.num_spins,
        )
        return _spin_state(self.network, new_spins), info


def _check_network(network) -> HopfieldNetwork:
    if not isinstance(network, HopfieldNetwork):
        raise TypeError(
            f"network must be a HopfieldNetwork (build it with hebbian(patterns)), "
            f"got {type(network).__name__}."
        )
    return network


def asynchronous_sweep(network: HopfieldNetwork) -> AsynchronousSweep:
    """Asynchronous Glauber sweep kernel: samples ``exp(-beta E)``; ``beta = inf``: the sign rule.

    Examples:
        >>> import math, jax, jax.numpy as jnp, statjax
        >>> from statjax.models.hopfield import corrupt, hebbian, random_patterns
        >>> from statjax.models.hopfield import retrieval_overlap
        >>> patterns = random_patterns(jax.random.key(0), 5, 100)
        >>> kernel = asynchronous_sweep(hebbian(patterns))
        >>> cues = corrupt(jax.random.key(1), patterns, 0.15)  # overlap 0.7
        >>> final, _ = statjax.run_chains(kernel, jax.random.key(2), cues, 5, beta=math.inf)
        >>> jnp.diagonal(retrieval_overlap(patterns, final.position)).tolist()
        [1.0, 1.0, 1.0, 1.0, 1.0]
    """
    return AsynchronousSweep(_check_network(network))


def synchronous_update(network: HopfieldNetwork) -> SynchronousUpdate:
    """Synchronous (parallel) Glauber update kernel; ``beta = inf``: the sign rule.

    Examples:
        >>> import math, jax, jax.numpy as jnp
        >>> from statjax.models.hopfield import hebbian, random_patterns
        >>> patterns = random_patterns(jax.random.key(0), 2, 32)
        >>> kernel = synchronous_update(hebbian(patterns))
        >>> start = kernel.init(patterns[0])
        >>> state, info = jax.jit(kernel.step)(jax.random.key(1), start, math.inf)
        >>> bool(jnp.all(state.position == patterns[0])), float(info.acceptance_rate)
        (True, 0.0)
    """
    return SynchronousUpdate(_check_network(network))


__all__ = ["AsynchronousSweep", "SynchronousUpdate", "asynchronous_sweep", "synchronous_update"]
