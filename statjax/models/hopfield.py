r"""Hopfield networks: Hebbian storage, Glauber dynamics, retrieval and storage capacity.

A Hopfield network (Hopfield 1982, PNAS 79, 2554) stores ``P`` patterns
``xi^mu in {-1, +1}^N`` in the Hebbian couplings and has the energy of a dense
Ising model,

.. math::

    J = \frac{1}{N} \sum_{\mu=1}^{P} \xi^\mu \xi^{\mu\top}, \quad J_{ii} = 0, \qquad
    E(s) = -\tfrac{1}{2} s^\top J s - h^\top s .

Dynamics at temperature ``T = 1 / beta`` (Glauber 1963): a spin is set to ``+1``
with probability ``P(s_i = +1) = 1 / (1 + exp(-2 beta f_i))``, ``f = J s + h`` its
local field. Offered to the spins one at a time (:func:`asynchronous_sweep`) this
leaves ``exp(-beta E)`` invariant; offered to all spins at once from the same
``f`` (:func:`synchronous_update`, Little 1974) it does not (its stationary law is
Peretto's 1984 pseudo-Boltzmann law, and at ``T = 0`` it may cycle with period 2).

**Zero temperature.** ``beta`` is an inverse temperature, so ``T = 0`` is not a
value of it (and :func:`statjax.run_chains` accepts only finite ``beta > 0``):
``zero_temperature=True`` makes a kernel apply the sign rule ``s_i = sign(f_i)``,
ignoring the ``beta`` it is given. **Ties** ``f_i = 0`` keep the current spin, so
that no update ever raises the energy and a fixed point stays fixed. Ties are
exact: the network keeps the integer matrix ``C = N J`` (``|C_ij| <= P``) and the
kernels work with the integer local fields ``N f = C s + N h`` (exact in float32
for ``h = 0``, while ``P N < 2^24``), at ``beta / N``.

**Retrieval and capacity.** The overlap ``m^mu = (1/N) xi^mu . s`` measures
retrieval; starting from a stored (or corrupted) pattern, the final overlap stays
near 1 below the critical load ``alpha_c = P / N ≈ 0.138`` and collapses above it
(Amit, Gutfreund & Sompolinsky 1985, PRL 55, 1530; 1987, Ann. Phys. 173, 30),
at a lower ``alpha_c(T)`` at ``T > 0``. :func:`ags_branch` (and
:func:`ags_overlap`, :func:`ags_critical_load`) solves their replica-symmetric
equations for reference; :func:`capacity_curve` measures final overlaps against
the load over many random pattern sets in one compiled program
(:func:`retrieve`), and :func:`critical_load` locates the collapse.
"""

from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike

from statjax.energy.ising import DenseIsing, IsingSpinVector
from statjax.pytree import Pytree, static_field
from statjax.samplers.lattice import SequentialSweep, SpinState, SweepInfo, site_uniforms
from statjax.types import PRNGKey

AGS_CRITICAL_LOAD = 0.138
"""Zero-temperature storage capacity of the Hebbian Hopfield network (AGS 1985)."""

# ---------------------------------------------------------------------- checks


def _is_concrete(value) -> bool:
    return not isinstance(value, jax.core.Tracer)


def _check_patterns(patterns: ArrayLike) -> jax.Array:
    patterns = jnp.asarray(patterns)
    if patterns.ndim != 2 or patterns.shape[0] < 1 or patterns.shape[1] < 2:
        raise ValueError(
            f"patterns must be (num_patterns, num_spins) with num_patterns >= 1 and "
            f"num_spins >= 2, got shape {patterns.shape}."
        )
    if _is_concrete(patterns):
        values = np.unique(np.asarray(patterns))
        if not set(values.tolist()) <= {-1, 1}:
            raise ValueError(
                f"patterns must hold only -1 and +1, got values {values[:6].tolist()}; "
                "map {0, 1} data with 2 * x - 1."
            )
    return patterns


def _check_spins(spins: ArrayLike, num_spins: int, name: str = "spins") -> jax.Array:
    spins = jnp.asarray(spins)
    if spins.ndim < 1 or spins.shape[-1] != num_spins:
        raise ValueError(
            f"{name} must end in the number of spins {num_spins}, got shape {spins.shape}."
        )
    return spins


def _check_beta(beta: ArrayLike) -> None:
    if _is_concrete(beta):
        values = np.asarray(beta, dtype=float)
        if not np.all(np.isfinite(values) & (values > 0)):
            raise ValueError(
                f"beta must be finite and > 0 (T = 1 / beta), got {values.ravel()[:5].tolist()}; "
                "for T = 0 build the kernel with zero_temperature=True."
            )


# ---------------------------------------------------------------------- network


class HopfieldNetwork(IsingSpinVector, Pytree):
    r"""A Hopfield network with Hebbian couplings ``J = C / N``: an energy ``E(s)``.

    .. math::

        C = \sum_\mu \xi^\mu \xi^{\mu\top} - P\,I, \qquad
        E(s) = -\frac{1}{2N} s^\top C s - h^\top s

    Keeping the integer matrix ``C`` (not ``J``) makes local fields and energy
    differences exact, so zero-temperature ties are ties. Build it with
    :func:`hebbian`. Works with :mod:`statjax.thermo.exact` (``spin_shape``,
    ``spin_values``).

    Attributes:
        pattern_products: ``C``, ``(N, N)``, integer-valued float32, zero diagonal.
        fields: ``h``, ``(N,)``.
    """

    pattern_products: jax.Array
    fields: jax.Array

    __hash__ = object.__hash__

    @property
    def couplings(self) -> jax.Array:
        """The Hebbian couplings ``J = C / N``, ``(N, N)``."""
        return self.pattern_products / self.num_spins

    def scaled_ising(self) -> DenseIsing:
        """The :class:`~statjax.energy.ising.DenseIsing` ``(C, N h)``, whose energy is ``N E``."""
        return DenseIsing(self.pattern_products, self.num_spins * self.fields)

    def local_fields(self, spins: ArrayLike) -> jax.Array:
        """``f = J s + h``, ``(N,)``."""
        return self.scaled_ising().local_fields(spins) / self.num_spins

    def __call__(self, spins: ArrayLike) -> jax.Array:
        """Energy ``E(s)`` of one configuration ``spins: (N,)`` (values ±1); a float scalar."""
        return self.scaled_ising()(spins) / self.num_spins


def hebbian(
    patterns: ArrayLike,
    fields: ArrayLike | None = None,
    num_patterns: ArrayLike | None = None,
) -> HopfieldNetwork:
    r"""The Hopfield network storing ``patterns`` by Hebb's rule (Hopfield 1982).

    ``J = (1/N) sum_mu xi^mu xi^mu^T`` with a zero diagonal; see
    :class:`HopfieldNetwork`.

    Args:
        patterns: ``(P, N)`` patterns of ±1 (checked when concrete).
        fields: ``h``, ``(N,)``; zero by default.
        num_patterns: store only the first ``num_patterns`` rows (an integer, may be
            traced): networks of different loads then share one shape, so a batch of
            them runs in one compiled program.

    Returns:
        A :class:`HopfieldNetwork`.

    Example:
        >>> import jax.numpy as jnp
        >>> network = hebbian(jnp.array([[1, -1, 1, -1]]))
        >>> network.couplings[0].tolist()
        [0.0, -0.25, 0.25, -0.25]
        >>> float(network(jnp.array([1, -1, 1, -1])))  # -(1/2) (1/N) (N^2 - N)
        -1.5
    """
    patterns = _check_patterns(patterns)
    num_stored, num_spins = patterns.shape
    if fields is None:
        fields = jnp.zeros(num_spins, jnp.float32)
    fields = jnp.asarray(fields, jnp.float32)
    if fields.shape != (num_spins,):
        raise ValueError(f"fields must have shape ({num_spins},), got {fields.shape}.")
    weights = jnp.ones(num_stored, jnp.float32)
    if num_patterns is not None:
        if _is_concrete(num_patterns) and not 0 <= int(num_patterns) <= num_stored:
            raise ValueError(
                f"num_patterns must lie in [0, {num_stored}] (rows of patterns), "
                f"got {num_patterns!r}."
            )
        weights = (jnp.arange(num_stored) < num_patterns).astype(jnp.float32)
    return HopfieldNetwork(_pattern_products(patterns, weights), fields)


@jax.jit
def _pattern_products(patterns: jax.Array, weights: jax.Array) -> jax.Array:
    values = patterns.astype(jnp.float32)
    # Integer entries (|C_ij| <= P) are exact in float32; HIGHEST keeps them exact on
    # accelerators whose default matmul precision is lower.
    products = jnp.matmul(values.T * weights, values, precision=jax.lax.Precision.HIGHEST)
    return products * (1.0 - jnp.eye(values.shape[1], dtype=jnp.float32))


def random_patterns(key: PRNGKey, num_patterns: int, num_spins: int) -> jax.Array:
    """``(num_patterns, num_spins)`` independent unbiased ±1 patterns, ``int8``.

    Example:
        >>> import jax
        >>> random_patterns(jax.random.key(0), 3, 10).shape
        (3, 10)
    """
    return jax.random.rademacher(key, (num_patterns, num_spins), dtype=jnp.int8)


def corrupt(key: PRNGKey, spins: ArrayLike, flip_fraction: float) -> jax.Array:
    """Flip exactly ``round(flip_fraction * N)`` randomly chosen spins of every row.

    Args:
        key: PRNG key.
        spins: ``(..., N)`` ±1 spins.
        flip_fraction: share of the spins to flip, in ``[0, 1]`` (a Python float).

    Returns:
        ``(..., N)`` spins, the dtype of ``spins``; each row at overlap
        ``1 - 2 round(flip_fraction N) / N`` with its original.

    Example:
        >>> import jax, jax.numpy as jnp
        >>> cue = corrupt(jax.random.key(0), jnp.ones(20, jnp.int8), 0.15)
        >>> int((cue == -1).sum())
        3
    """
    spins = jnp.asarray(spins)
    if spins.ndim < 1:
        raise ValueError(f"spins must have a last axis of spins, got shape {spins.shape}.")
    if not 0.0 <= float(flip_fraction) <= 1.0:
        raise ValueError(f"flip_fraction must lie in [0, 1], got {flip_fraction!r}.")
    num_flips = int(round(float(flip_fraction) * spins.shape[-1]))
    return _corrupt(key, spins, num_flips=num_flips)


@partial(jax.jit, static_argnames=("num_flips",))
def _corrupt(key: PRNGKey, spins: jax.Array, *, num_flips: int) -> jax.Array:
    # The ranks of i.i.d. uniforms are a uniform random permutation of each row.
    ranks = jnp.argsort(jnp.argsort(jax.random.uniform(key, spins.shape), axis=-1), axis=-1)
    return jnp.where(ranks < num_flips, -spins, spins)


def retrieval_overlap(patterns: ArrayLike, spins: ArrayLike) -> jax.Array:
    """The overlaps ``m^mu = (1/N) xi^mu . s`` of spins with every pattern.

    Args:
        patterns: ``(P, N)``.
        spins: ``(..., N)``.

    Returns:
        ``(..., P)``; ``m^mu = 1`` exactly when ``s = xi^mu``.

    Example:
        >>> import jax.numpy as jnp
        >>> retrieval_overlap(jnp.array([[1, 1, 1, 1]]), jnp.array([1, 1, 1, -1])).tolist()
        [0.5]
    """
    patterns = jnp.asarray(patterns)
    if patterns.ndim != 2:
        raise ValueError(f"patterns must be (num_patterns, num_spins), got {patterns.shape}.")
    spins = _check_spins(spins, patterns.shape[1])
    dot = jnp.matmul(
        spins.astype(jnp.float32),
        patterns.astype(jnp.float32).T,
        precision=jax.lax.Precision.HIGHEST,
    )
    return dot / patterns.shape[1]


# ---------------------------------------------------------------------- kernels


def _spin_state(network: HopfieldNetwork, spins: jax.Array) -> SpinState:
    return SpinState(spins, network(spins), jnp.sum(spins.astype(jnp.int32)))


class AsynchronousSweep(Pytree):
    r"""Asynchronous Glauber dynamics of a Hopfield network: one sweep per step.

    Spins ``i = 0, ..., N - 1`` are updated in turn, each from the current local
    field: ``P(s_i = +1) = 1 / (1 + exp(-2 beta f_i))`` (Glauber 1963), which
    satisfies detailed balance for ``exp(-beta E)``; with ``zero_temperature`` the
    sign rule, a tie keeping the spin. The sweep is
    :class:`statjax.samplers.lattice.SequentialSweep`'s heat bath on
    :meth:`HopfieldNetwork.scaled_ising` at ``beta / N``; at zero temperature it is
    given ``beta = +inf``, for which its acceptance test
    ``u (1 + exp(2 beta s_i f_i)) < 1`` flips iff ``s_i f_i < 0``, and a tie gives
    ``0 * inf = NaN``, a comparison that is false: the spin stays (tested here).

    Build it with :func:`asynchronous_sweep`.

    Attributes:
        network: the :class:`HopfieldNetwork` (a pytree: new patterns never recompile).
        zero_temperature: apply the sign rule and ignore ``beta`` (static).
    """

    network: HopfieldNetwork
    zero_temperature: bool = static_field(default=False)

    def init(self, position: ArrayLike) -> SpinState:
        """State at spins ``position`` (±1, ``(N,)``)."""
        spins = _check_spins(position, self.network.num_spins, "position").astype(jnp.int8)
        return _spin_state(self.network, spins)

    def step(self, key: PRNGKey, state: SpinState, beta: ArrayLike) -> tuple[SpinState, SweepInfo]:
        """One sweep at inverse temperature ``beta`` (ignored at zero temperature)."""
        _check_beta(beta)
        num_spins = self.network.num_spins
        scaled_beta = jnp.inf if self.zero_temperature else beta / num_spins
        sweep = SequentialSweep(self.network.scaled_ising(), "heat_bath")
        new_state, info = sweep.step(key, state, scaled_beta)
        return new_state._replace(energy=new_state.energy / num_spins), info


class SynchronousUpdate(Pytree):
    r"""Synchronous (parallel) Glauber update of a Hopfield network: all spins at once.

    Every spin is drawn from the local fields of the *previous* configuration,
    ``P(s_i' = +1) = 1 / (1 + exp(-2 beta f_i(s)))`` (Little 1974), or
    ``s_i' = sign(f_i(s))`` with ties keeping ``s_i`` at zero temperature. This does
    not sample ``exp(-beta E)`` (Peretto 1984) and at ``T = 0`` may end in a 2-cycle;
    it is the fast, fully vectorised retrieval dynamics.

    Build it with :func:`synchronous_update`.

    Attributes:
        network: the :class:`HopfieldNetwork`.
        zero_temperature: apply the sign rule and ignore ``beta`` (static).
    """

    network: HopfieldNetwork
    zero_temperature: bool = static_field(default=False)

    def init(self, position: ArrayLike) -> SpinState:
        """State at spins ``position`` (±1, ``(N,)``)."""
        spins = _check_spins(position, self.network.num_spins, "position").astype(jnp.int8)
        return _spin_state(self.network, spins)

    def step(self, key: PRNGKey, state: SpinState, beta: ArrayLike) -> tuple[SpinState, SweepInfo]:
        """One parallel update at inverse temperature ``beta`` (ignored at zero temperature)."""
        _check_beta(beta)
        spins = state.position
        # N f: integer-valued, so the sign (and a tie) is exact.
        scaled_field = self.network.scaled_ising().local_fields(spins)
        if self.zero_temperature:
            up = jnp.where(scaled_field == 0, spins > 0, scaled_field > 0)
        else:
            uniform = site_uniforms(key, spins.shape)[0]
            up = uniform < jax.nn.sigmoid(2.0 * beta * scaled_field / self.network.num_spins)
        new_spins = jnp.where(up, 1, -1).astype(jnp.int8)
        changed = jnp.sum((new_spins != spins).astype(jnp.int32))
        info = SweepInfo(changed / np.float32(self.network.num_spins))
        return _spin_state(self.network, new_spins), info


def _check_network(network) -> HopfieldNetwork:
    if not isinstance(network, HopfieldNetwork):
        raise TypeError(
            f"network must be a HopfieldNetwork (build it with hebbian(patterns)), "
            f"got {type(network).__name__}."
        )
    return network


def asynchronous_sweep(
    network: HopfieldNetwork, zero_temperature: bool = False
) -> AsynchronousSweep:
    """Asynchronous Glauber sweep kernel (sign rule at ``zero_temperature``): samples exp(-beta E).

    Example:
        >>> import jax, jax.numpy as jnp, statjax
        >>> patterns = random_patterns(jax.random.key(0), 5, 100)
        >>> kernel = asynchronous_sweep(hebbian(patterns), zero_temperature=True)
        >>> cues = corrupt(jax.random.key(1), patterns, 0.15)  # overlap 0.7
        >>> final, _ = statjax.run_chains(kernel, jax.random.key(2), cues, 5)
        >>> jnp.diagonal(retrieval_overlap(patterns, final.position)).tolist()
        [1.0, 1.0, 1.0, 1.0, 1.0]
    """
    return AsynchronousSweep(_check_network(network), bool(zero_temperature))


def synchronous_update(
    network: HopfieldNetwork, zero_temperature: bool = False
) -> SynchronousUpdate:
    """Synchronous (parallel) Glauber update kernel (sign rule at ``zero_temperature``).

    Example:
        >>> import jax, jax.numpy as jnp
        >>> patterns = random_patterns(jax.random.key(0), 2, 32)
        >>> kernel = synchronous_update(hebbian(patterns), zero_temperature=True)
        >>> state, info = jax.jit(kernel.step)(jax.random.key(1), kernel.init(patterns[0]), 1.0)
        >>> bool(jnp.all(state.position == patterns[0])), float(info.acceptance_rate)
        (True, 0.0)
    """
    return SynchronousUpdate(_check_network(network), bool(zero_temperature))


# ------------------------------------------------------------ retrieval, capacity


def _temperature_to_beta(temperature: float) -> tuple[float, bool]:
    """``(beta, zero_temperature)`` for a concrete ``temperature >= 0``."""
    temperature = float(temperature)
    if not np.isfinite(temperature) or temperature < 0:
        raise ValueError(f"temperature must be finite and >= 0, got {temperature!r}.")
    if temperature == 0:
        return 1.0, True
    return 1.0 / temperature, False


@partial(jax.jit, static_argnames=("num_sweeps", "zero_temperature"))
def _retrieve(key, patterns, num_patterns, cues, beta, *, num_sweeps, zero_temperature):
    def run_network(network_key, patterns, num_patterns, cues):
        network = hebbian(patterns, num_patterns=num_patterns)
        kernel = AsynchronousSweep(network, zero_temperature)
        states = jax.vmap(kernel.init)(cues)

        def sweep(states, step):
            keys = jax.random.split(jax.random.fold_in(network_key, step), cues.shape[0])
            states, _ = jax.vmap(kernel.step, in_axes=(0, 0, None))(keys, states, beta)
            return states, None

        states, _ = jax.lax.scan(sweep, states, jnp.arange(num_sweeps))
        return states.position

    keys = jax.random.split(key, patterns.shape[0])
    return jax.vmap(run_network)(keys, patterns, num_patterns, cues)


def retrieve(
    key: PRNGKey,
    patterns: ArrayLike,
    cues: ArrayLike,
    num_sweeps: int,
    temperature: float = 0.0,
    num_patterns: ArrayLike | None = None,
) -> jax.Array:
    """Final spins of asynchronous Glauber dynamics from ``cues``, for a batch of networks.

    Network ``b`` stores ``patterns[b, :num_patterns[b]]`` by Hebb's rule
    (:func:`hebbian`); each of its cues runs ``num_sweeps`` sweeps of
    :class:`AsynchronousSweep` at ``temperature`` (``0``: the sign rule). Networks
    and cues are vmapped, sweeps scanned, in one compiled program per shape (the
    temperature and the numbers of patterns are traced).

    Args:
        key: PRNG key.
        patterns: ``(num_networks, P, N)`` ±1.
        cues: ``(num_networks, num_cues, N)`` ±1 starting configurations.
        num_sweeps: sweeps to run.
        temperature: ``T >= 0`` (a Python float).
        num_patterns: ``(num_networks,)`` patterns stored per network (default ``P``).

    Returns:
        ``(num_networks, num_cues, N)`` ``int8`` final spins.

    Example:
        >>> import jax, jax.numpy as jnp
        >>> patterns = random_patterns(jax.random.key(0), 8 * 20, 50).reshape(8, 20, 50)
        >>> final = retrieve(jax.random.key(1), patterns, patterns[:, :1], 20, num_patterns=[2] * 8)
        >>> bool(jnp.all(final[:, 0] == patterns[:, 0]))  # two stored patterns are fixed points
        True
    """
    patterns, cues = jnp.asarray(patterns), jnp.asarray(cues)
    if patterns.ndim != 3:
        raise ValueError(f"patterns must be (num_networks, P, N), got shape {patterns.shape}.")
    _check_patterns(patterns.reshape(-1, patterns.shape[-1]))
    if cues.ndim != 3 or cues.shape[0] != patterns.shape[0] or cues.shape[2] != patterns.shape[2]:
        raise ValueError(
            f"cues must be (num_networks, num_cues, N) = ({patterns.shape[0]}, num_cues, "
            f"{patterns.shape[2]}), got shape {cues.shape}."
        )
    if isinstance(num_sweeps, bool) or int(num_sweeps) != num_sweeps or num_sweeps < 1:
        raise ValueError(f"num_sweeps must be a positive integer, got {num_sweeps!r}.")
    beta, zero_temperature = _temperature_to_beta(temperature)
    if num_patterns is None:
        num_patterns = np.full(patterns.shape[0], patterns.shape[1])
    num_patterns = jnp.asarray(num_patterns, jnp.int32)
    if num_patterns.shape != patterns.shape[:1]:
        raise ValueError(
            f"num_patterns must be ({patterns.shape[0]},), one per network, "
            f"got shape {num_patterns.shape}."
        )
    return _retrieve(
        key,
        patterns.astype(jnp.int8),
        num_patterns,
        cues.astype(jnp.int8),
        jnp.float32(beta),
        num_sweeps=int(num_sweeps),
        zero_temperature=zero_temperature,
    )


class CapacityCurve(NamedTuple):
    """Final retrieval overlaps against the load, from :func:`capacity_curve`.

    Attributes:
        loads: ``(L,)`` realised loads ``alpha = P / N``.
        num_patterns: ``(L,)`` patterns stored, ``P = round(alpha N)``.
        overlaps: ``(L, num_networks, num_cues)`` final overlap with the cued pattern.
    """

    loads: np.ndarray
    num_patterns: np.ndarray
    overlaps: jax.Array


def capacity_curve(
    key: PRNGKey,
    num_spins: int,
    loads: ArrayLike,
    *,
    num_networks: int = 10,
    num_cues: int = 1,
    num_sweeps: int = 20,
    temperature: float = 0.0,
    flip_fraction: float = 0.0,
) -> CapacityCurve:
    """Storage-capacity measurement: final overlaps from stored or corrupted patterns vs load.

    For every load ``alpha``, ``num_networks`` independent sets of ``P = round(alpha
    N)`` random patterns are stored; the first ``num_cues`` patterns of each,
    with ``flip_fraction`` of their spins flipped (:func:`corrupt`), start
    ``num_sweeps`` asynchronous sweeps at ``temperature`` (:func:`retrieve`), and
    the overlap of the final state with the cued pattern is recorded. All loads
    and networks run in one batch (patterns padded to the largest ``P``). Below
    ``alpha_c ≈ 0.138`` (AGS 1985) the overlap stays near 1 at ``T = 0``; finite
    ``N`` smooths and shifts the collapse.

    Args:
        key: PRNG key.
        num_spins: ``N``.
        loads: ``(L,)`` target loads ``> 0``.
        num_networks: pattern sets per load.
        num_cues: cued patterns per set (at most the smallest ``P``).
        num_sweeps: sweeps of asynchronous dynamics.
        temperature: ``T >= 0``.
        flip_fraction: share of a cue's spins flipped.

    Returns:
        A :class:`CapacityCurve`.

    Example:
        >>> import jax
        >>> curve = capacity_curve(jax.random.key(0), 50, [0.05, 0.4], num_networks=4)
        >>> curve.num_patterns.tolist(), curve.overlaps.shape
        ([2, 20], (2, 4, 1))
        >>> bool(curve.overlaps[0].mean() > curve.overlaps[1].mean())
        True
    """
    if isinstance(num_spins, bool) or int(num_spins) != num_spins or num_spins < 2:
        raise ValueError(f"num_spins must be an integer >= 2, got {num_spins!r}.")
    loads = np.asarray(loads, dtype=float)
    if loads.ndim != 1 or loads.size == 0 or not np.all(np.isfinite(loads) & (loads > 0)):
        raise ValueError(f"loads must be a non-empty 1-D array of values > 0, got {loads!r}.")
    for name, value in (("num_networks", num_networks), ("num_cues", num_cues)):
        if isinstance(value, bool) or int(value) != value or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}.")
    num_patterns = np.maximum(np.rint(loads * num_spins).astype(int), 1)
    if num_cues > num_patterns.min():
        raise ValueError(
            f"num_cues={num_cues} exceeds the smallest number of patterns "
            f"{int(num_patterns.min())} (load {loads[num_patterns.argmin()]} x N={num_spins})."
        )
    num_loads, max_patterns = loads.size, int(num_patterns.max())
    pattern_key, cue_key, run_key = jax.random.split(key, 3)
    shape = (num_loads * num_networks, max_patterns, num_spins)
    patterns = random_patterns(pattern_key, shape[0] * max_patterns, num_spins).reshape(shape)
    cues = corrupt(cue_key, patterns[:, :num_cues], flip_fraction)
    final = retrieve(
        run_key, patterns, cues, num_sweeps, temperature, np.repeat(num_patterns, num_networks)
    )
    overlaps = _cued_overlaps(final, patterns)
    return CapacityCurve(
        num_patterns / num_spins,
        num_patterns,
        overlaps.reshape(num_loads, num_networks, num_cues),
    )


@jax.jit
def _cued_overlaps(final: jax.Array, patterns: jax.Array) -> jax.Array:
    """``(num_networks, num_cues)`` overlap of each final state with the pattern it was cued by."""
    cued = patterns[:, : final.shape[1]].astype(jnp.float32)
    return jnp.mean(final.astype(jnp.float32) * cued, axis=-1)


def critical_load(loads: ArrayLike, overlap: ArrayLike, threshold: float = 0.5) -> jax.Array:
    """The load at which ``overlap`` first falls below ``threshold``, linearly interpolated.

    Between the last load at or above the threshold and the first below it,
    ``alpha_c = alpha_0 + (m_0 - threshold) / (m_0 - m_1) (alpha_1 - alpha_0)``.
    NaN when the curve never falls below the threshold or starts below it.
    jit/vmap-safe (e.g. over bootstrap resamples of the mean overlap).

    Args:
        loads: ``(L,)`` increasing loads.
        overlap: ``(L,)`` mean final overlaps.
        threshold: the overlap that separates retrieval from its collapse.

    Returns:
        A scalar.

    Example:
        >>> round(float(critical_load([0.1, 0.12, 0.14, 0.16], [0.99, 0.97, 0.6, 0.3], 0.785)), 4)
        0.13
    """
    loads, overlap = jnp.asarray(loads, jnp.float32), jnp.asarray(overlap, jnp.float32)
    if loads.ndim != 1 or overlap.shape != loads.shape:
        raise ValueError(
            f"loads and overlap must be 1-D of one length, got {loads.shape} and {overlap.shape}."
        )
    return _critical_load(loads, overlap, threshold)


@jax.jit
def _critical_load(loads: jax.Array, overlap: jax.Array, threshold) -> jax.Array:
    below = overlap < threshold
    first = jnp.argmax(below)
    before = jnp.maximum(first - 1, 0)
    fraction = (overlap[before] - threshold) / (overlap[before] - overlap[first])
    crossing = loads[before] + fraction * (loads[first] - loads[before])
    return jnp.where(jnp.any(below) & (first > 0), crossing, jnp.nan)


# ------------------------------------------------------------- AGS mean-field theory

# A fine uniform grid, not Gauss-Hermite nodes: at low T, tanh(beta (m + sigma z))
# switches within 1 / (beta sigma) in z, narrower than the nodes' spacing.
_GAUSS_NODES = np.linspace(-8.0, 8.0, 2001)
_GAUSS_WEIGHTS = np.exp(-0.5 * _GAUSS_NODES**2) / np.sum(np.exp(-0.5 * _GAUSS_NODES**2))


class AGSBranch(NamedTuple):
    """The retrieval branch of the replica-symmetric AGS equations, up to ``alpha_c``.

    Attributes:
        loads: ``(K,)`` increasing loads ``alpha``, ending at ``alpha_c(T)``.
        overlaps: ``(K,)`` retrieval overlaps ``m`` at those loads.
    """

    loads: np.ndarray
    overlaps: np.ndarray


@partial(jax.jit, static_argnames=("num_iterations",))
def _finite_temperature_branch(beta, widths, *, num_iterations):
    nodes, weights = jnp.asarray(_GAUSS_NODES), jnp.asarray(_GAUSS_WEIGHTS)

    def averages(m):
        values = jnp.tanh(beta * (m[:, None] + widths[:, None] * nodes))
        return values @ weights, values**2 @ weights

    # For a fixed noise width the m-equation is a contraction from m = 1 onto its
    # largest root (as in the Curie-Weiss model).
    m = jax.lax.fori_loop(0, num_iterations, lambda _, m: averages(m)[0], jnp.ones_like(widths))
    q = averages(m)[1]
    return widths**2 * (1.0 - beta * (1.0 - q)) ** 2 / q, m


def ags_branch(temperature: float, num_points: int = 1000) -> AGSBranch:
    r"""Retrieval overlap against load in the replica-symmetric theory of AGS (1985, 1987).

    The saddle point of Amit, Gutfreund & Sompolinsky (1985, PRL 55, 1530, eqs. 4-6),

    .. math::

        m = \langle \tanh \beta(m + \sigma z) \rangle_z, \quad
        q = \langle \tanh^2 \beta(m + \sigma z) \rangle_z, \quad
        \sigma^2 = \alpha r = \frac{\alpha q}{(1 - \beta (1 - q))^2},

    ``z ~ N(0, 1)``. Iterating it in ``(m, q)`` is unstable at low ``T``, so the
    branch is traced by the noise width ``sigma`` instead: for each ``sigma`` the
    ``m`` equation is solved (Gaussian average on a grid of step 0.008) and the load
    follows explicitly, ``alpha = sigma^2 (1 - beta (1 - q))^2 / q``. At ``T = 0``
    with ``y = m / (sqrt 2 sigma)``: ``m = erf y`` and
    ``sqrt(2 alpha) y = erf y - (2 / sqrt pi) y exp(-y^2)``. The load rises with
    ``sigma`` to its maximum ``alpha_c(T)`` (``0.138`` at ``T = 0``, where
    ``m = 0.967``) and the branch stops there: beyond it there is no retrieval
    solution.

    Args:
        temperature: ``T >= 0`` (a Python float); meant for ``T`` below about 0.5.
        num_points: points along the branch.

    Returns:
        An :class:`AGSBranch`.

    Example:
        >>> branch = ags_branch(0.0)
        >>> print(round(float(branch.loads[-1]), 4), round(float(branch.overlaps[-1]), 3))
        0.1379 0.967
    """
    beta, zero_temperature = _temperature_to_beta(temperature)
    if zero_temperature:
        y = np.linspace(30.0, 0.3, 20 * num_points)
        erf_y = np.asarray(jax.scipy.special.erf(jnp.asarray(y)), dtype=float)
        loads = (erf_y - 2.0 / np.sqrt(np.pi) * y * np.exp(-(y**2))) ** 2 / (2.0 * y**2)
        overlaps = erf_y
    else:
        widths = jnp.linspace(1e-4, 1.2, num_points, dtype=jnp.float32)
        loads, overlaps = _finite_temperature_branch(jnp.float32(beta), widths, num_iterations=200)
        loads, overlaps = np.asarray(loads, float), np.asarray(overlaps, float)
    # The retrieval branch ends at the first maximum of the load; past it lie the
    # unstable branch and, once m = 0, the spin-glass solutions.
    falling = np.flatnonzero(np.diff(loads) < 0)
    peak = int(falling[0]) if falling.size else loads.size - 1
    return AGSBranch(loads[: peak + 1], overlaps[: peak + 1])


def ags_overlap(load: ArrayLike, temperature: float) -> np.ndarray:
    """AGS retrieval overlap ``m(alpha, T)`` (:func:`ags_branch`), 0 above ``alpha_c(T)``.

    Args:
        load: ``alpha > 0``, any shape.
        temperature: ``T >= 0``.

    Returns:
        ``m``, the shape of ``load`` (linear interpolation along the branch).

    Example:
        >>> print(round(float(ags_overlap(0.1, 0.0)), 3), float(ags_overlap(0.15, 0.0)))
        0.998 0.0
    """
    load = np.asarray(load, dtype=float)
    if not np.all(load > 0):
        raise ValueError(f"load must be > 0, got {load.ravel()[:5].tolist()}.")
    branch = ags_branch(temperature)
    overlap = np.interp(load, branch.loads, branch.overlaps)
    return np.where(load <= branch.loads[-1], overlap, 0.0)


def ags_critical_load(temperature: float) -> float:
    """``alpha_c(T)``, the largest load with a retrieval solution in AGS theory.

    Example:
        >>> round(ags_critical_load(0.0), 3)
        0.138
    """
    return float(ags_branch(temperature).loads[-1])


__all__ = [
    "AGS_CRITICAL_LOAD",
    "AGSBranch",
    "AsynchronousSweep",
    "CapacityCurve",
    "HopfieldNetwork",
    "SynchronousUpdate",
    "ags_branch",
    "ags_critical_load",
    "ags_overlap",
    "asynchronous_sweep",
    "capacity_curve",
    "corrupt",
    "critical_load",
    "hebbian",
    "random_patterns",
    "retrieval_overlap",
    "retrieve",
    "synchronous_update",
]
