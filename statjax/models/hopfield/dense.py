r"""Dense associative memories and the modern (continuous) Hopfield update.

**Dense associative memory** (Krotov & Hopfield 2016, "Dense associative memory
for pattern recognition"): ``P`` patterns ``xi^mu in {-1, +1}^N`` and the energy
of the overlaps ``m_mu = xi^mu . s``,

.. math::

    E(s) = -\sum_\mu F(m_\mu), \qquad
    F(x) = x^n / N^{n-1} \ (\text{polynomial}), \qquad
    E(s) = -\log \sum_\mu e^{m_\mu} \ (\text{exponential}).

``n = 2`` is the classical Hopfield network (up to a constant); a larger ``n``
stores about ``N^{n-1}`` patterns (Krotov & Hopfield; Demircigil et al. 2017 prove
``N^{n-1} / (2 (2n - 3)!! ln N)`` for retrieval without errors). The exponential
interaction ``F(x) = e^x`` (Demircigil, Heusel, Löwe, Upgang & Vermet 2017) stores
exponentially many; its energy ``-sum_mu e^{m_mu}`` overflows float32 from ``N ≈
88``, so statjax uses its logarithm (Ramsauer et al.'s ``lse`` energy on binary
states), which has the same sign of every flip's energy change and hence the same
zero-temperature dynamics and fixed points; at finite ``beta`` it is this
``-lse`` energy that is sampled.

**Retrieval as a kernel** (:class:`DenseAsynchronousSweep`): one step is a sweep
of the spins ``i = 0, ..., N - 1`` in turn, each flipped with the heat-bath
(Glauber) probability ``1 / (1 + exp(beta dE_i))``, which leaves ``exp(-beta E)``
invariant; at ``beta = +inf`` a spin flips iff its flip lowers the energy (ties
keep it), so the energy never rises. The overlaps are carried through the sweep,
a flip costing ``O(P)``. For the polynomial interaction the flip's energy change
``-sum_mu [(m_mu + d_mu)^n - m_mu^n] / N^{n-1}`` is summed in int32, exactly
(sizes with ``2 n N^{n-1} P >= 2^31`` are refused).

**Modern Hopfield update** (Ramsauer et al. 2020, "Hopfield networks is all you
need"): for continuous ``xi in R^d`` and stored patterns ``X = (x_1, ..., x_P)``,
``xi <- X softmax(beta X^T xi)`` (:func:`attention_update`) decreases the energy
``E(xi) = -beta^{-1} lse(beta X^T xi) + xi^T xi / 2 + const``
(:func:`modern_hopfield_energy`) and retrieves a well-separated pattern in one
step: with ``Delta_i = min_{j != i} (x_i^T x_i - x_i^T x_j)`` and ``M = max_j |x_j|``,
``|f(xi) - x_i| <= 2 (P - 1) M exp(-beta (Delta_i - 2 M |xi - x_i|))`` (their
Theorem 5, :func:`one_step_retrieval_bound`).
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from statjax import random as sjrandom
from statjax.checks import as_key, check_count
from statjax.models.hopfield.network import check_patterns, corrupt, random_patterns
from statjax.pytree import Pytree, static_field
from statjax.samplers.run import run_chains
from statjax.types import PRNGKey

INTERACTIONS = ("polynomial", "exponential")
"""The interaction functions :class:`DenseAssociativeMemory` knows."""


class DenseAssociativeMemory(Pytree):
    """The energy of a dense associative memory (module docstring); callable on one ``s``.

    Build it with :func:`dense_memory`.

    Attributes:
        patterns: ``(P, N)`` int8 ±1 (a leaf: new patterns of the same shape never
            recompile).
        interaction: ``"polynomial"`` or ``"exponential"`` (static).
        degree: ``n`` of the polynomial (static).
    """

    patterns: jax.Array
    interaction: str = static_field(default="polynomial")
    degree: int = static_field(default=3)

    @property
    def num_spins(self) -> int:
        """``N``."""
        return self.patterns.shape[1]

    def overlaps(self, spins: jax.Array) -> jax.Array:
        """``m_mu = xi^mu . s``, ``(P,)`` int32 (exact)."""
        return self.patterns.astype(jnp.int32) @ jnp.asarray(spins).astype(jnp.int32)

    def energy_from_overlaps(self, overlaps: jax.Array) -> jax.Array:
        """``E`` from the overlaps ``(P,)``, float32."""
        values = overlaps.astype(jnp.float32)
        if self.interaction == "exponential":
            return -jax.nn.logsumexp(values)
        return -jnp.sum(values**self.degree) / float(self.num_spins) ** (self.degree - 1)

    def flip_energy_change(self, overlaps: jax.Array, spin: jax.Array, column: jax.Array):
        """``E(s with s_i flipped) - E(s)`` from the overlaps, ``s_i`` and ``xi_i`` (``(P,)``)."""
        change = -2 * spin.astype(jnp.int32) * column.astype(jnp.int32)  # d_mu = m'_mu - m_mu
        if self.interaction == "exponential":
            values = overlaps.astype(jnp.float32)
            return jax.nn.logsumexp(values) - jax.nn.logsumexp(values + change)
        n = self.degree
        exact = jnp.sum((overlaps + change) ** n - overlaps**n)  # int32, exact
        return -exact.astype(jnp.float32) / float(self.num_spins) ** (n - 1)

    def __call__(self, spins: jax.Array) -> jax.Array:
        """``E(s)`` of one configuration ``(N,)`` of ±1."""
        return self.energy_from_overlaps(self.overlaps(spins))


def max_exact_patterns(num_spins: int, degree: int) -> int:
    """The most patterns a degree-``n`` memory of ``N`` spins stores with exact int32 sums.

    ``floor((2^31 - 1) / (2 n N^(n-1)))``: the bound on ``sum_mu |(m_mu + d)^n - m_mu^n|``
    for any patterns (0 when ``N^n`` itself overflows).
    """
    if num_spins**degree >= 2**31:
        return 0
    return (2**31 - 1) // (2 * degree * num_spins ** (degree - 1))


def dense_memory(
    patterns: jax.typing.ArrayLike, interaction: str = "polynomial", degree: int = 3
) -> DenseAssociativeMemory:
    """A dense associative memory storing ``patterns`` (Krotov & Hopfield 2016).

    Args:
        patterns: ``(P, N)`` ±1.
        interaction: ``"polynomial"`` (``F(x) = x^n``) or ``"exponential"``.
        degree: ``n >= 2`` for the polynomial.

    Returns:
        A :class:`DenseAssociativeMemory`.

    Raises:
        ValueError: bad patterns or interaction, or a polynomial whose exact int32
            energy changes could overflow (``2 n N^{n-1} P >= 2^31`` or
            ``N^n >= 2^31``).

    Example:
        >>> import jax, jax.numpy as jnp
        >>> patterns = random_patterns(jax.random.key(0), 5, 16)
        >>> memory = dense_memory(patterns, degree=3)
        >>> float(memory(patterns[0])) <= float(memory(-patterns[0]))
        True
    """
    patterns = check_patterns(patterns).astype(jnp.int8)
    if interaction not in INTERACTIONS:
        raise ValueError(f"interaction must be one of {INTERACTIONS}, got {interaction!r}.")
    if isinstance(degree, bool) or not isinstance(degree, int) or degree < 2:
        raise ValueError(f"degree must be an integer >= 2, got {degree!r}.")
    num_patterns, num_spins = patterns.shape
    if interaction == "polynomial" and num_patterns > max_exact_patterns(num_spins, degree):
        raise ValueError(
            f"a degree-{degree} memory of N = {num_spins} spins and P = {num_patterns} patterns "
            "could overflow the exact int32 energy changes; use a lower degree or fewer spins."
        )
    return DenseAssociativeMemory(patterns, interaction, degree)


# ------------------------------------------------------------------ kernel


class DenseSpinState(NamedTuple):
    """A dense-memory chain.

    Attributes:
        position: ``(N,)`` int8 ±1 spins.
        energy: ``E(position)`` (untempered).
        overlaps: ``(P,)`` int32 ``xi^mu . s``.
    """

    position: jax.Array
    energy: jax.Array
    overlaps: jax.Array


class DenseSweepInfo(NamedTuple):
    """A sweep's report.

    Attributes:
        acceptance_rate: the mean over sites of the probability that the site flips.
        is_accepted: whether any spin flipped.
        num_flips: how many spins flipped.
    """

    acceptance_rate: jax.Array
    is_accepted: jax.Array
    num_flips: jax.Array


class DenseAsynchronousSweep(Pytree):
    """Asynchronous heat-bath (Glauber) sweep of a dense associative memory at ``beta``.

    Site ``i`` flips with probability ``1 / (1 + exp(beta dE_i))``: it flips iff
    ``u (1 + exp(beta dE_i)) < 1``, so at ``beta = +inf`` iff ``dE_i < 0`` (a tie
    gives ``0 * inf = NaN``, a comparison that is false: the spin stays).
    Build it with :func:`dense_asynchronous_sweep`.
    """

    memory: DenseAssociativeMemory

    def init(self, position: jax.typing.ArrayLike) -> DenseSpinState:
        """State at spins ``position`` (±1, ``(N,)``)."""
        spins = jnp.asarray(position).astype(jnp.int8)
        overlaps = self.memory.overlaps(spins)
        return DenseSpinState(spins, self.memory.energy_from_overlaps(overlaps), overlaps)

    def step(
        self, key: PRNGKey, state: DenseSpinState, beta: jax.typing.ArrayLike
    ) -> tuple[DenseSpinState, DenseSweepInfo]:
        """One sweep over the spins in order at inverse temperature ``beta``."""
        memory = self.memory
        uniforms = sjrandom.uniform(key, (memory.num_spins,), jnp.float32)
        beta = jnp.asarray(beta, jnp.float32)

        def site(carry, inputs):
            spins, overlaps = carry
            index, uniform = inputs
            spin, column = spins[index], memory.patterns[:, index]
            energy_change = memory.flip_energy_change(overlaps, spin, column)
            scaled = beta * energy_change
            flips = uniform * (1.0 + jnp.exp(scaled)) < 1.0
            probability = jnp.where(jnp.isnan(scaled), 0.0, jax.nn.sigmoid(-scaled))
            change = jnp.where(flips, -2 * spin.astype(jnp.int32) * column.astype(jnp.int32), 0)
            spins = spins.at[index].set(jnp.where(flips, -spin, spin))
            return (spins, overlaps + change), (flips, probability)

        indices = jnp.arange(memory.num_spins)
        (spins, overlaps), (flips, probabilities) = jax.lax.scan(
            site, (state.position, state.overlaps), (indices, uniforms)
        )
        num_flips = jnp.sum(flips, dtype=jnp.int32)
        new = DenseSpinState(spins, memory.energy_from_overlaps(overlaps), overlaps)
        return new, DenseSweepInfo(jnp.mean(probabilities), num_flips > 0, num_flips)


def dense_asynchronous_sweep(memory: DenseAssociativeMemory) -> DenseAsynchronousSweep:
    """The retrieval kernel of a dense associative memory (``beta = inf``: descent).

    Example:
        >>> import jax, statjax
        >>> patterns = random_patterns(jax.random.key(0), 20, 32)
        >>> kernel = dense_asynchronous_sweep(dense_memory(patterns, degree=3))
        >>> cues = corrupt(jax.random.key(1), patterns, 0.1)
        >>> final, _ = statjax.run_chains(kernel, jax.random.key(2), cues, 3, beta=float("inf"))
        >>> bool((final.position == patterns).all())
        True
    """
    if not isinstance(memory, DenseAssociativeMemory):
        raise TypeError(f"expected a DenseAssociativeMemory, got {type(memory).__name__}.")
    return DenseAsynchronousSweep(memory)


class DenseCapacity(NamedTuple):
    """Retrieval against the number of stored patterns.

    Attributes:
        num_patterns: ``(L,)`` the numbers of patterns ``P``.
        loads: ``(L,)`` ``P / N``.
        retrieved_fraction: ``(L,)`` share of cues that end exactly on their pattern.
        mean_overlap: ``(L,)`` mean final overlap ``xi^mu . s / N`` with the cued pattern.
        overlap_standard_error: ``(L,)`` its standard error over independent networks.
    """

    num_patterns: np.ndarray
    loads: np.ndarray
    retrieved_fraction: np.ndarray
    mean_overlap: np.ndarray
    overlap_standard_error: np.ndarray


def dense_capacity(
    key: PRNGKey,
    num_spins: int,
    num_patterns: list[int] | np.ndarray,
    *,
    interaction: str = "polynomial",
    degree: int = 3,
    flip_fraction: float = 0.1,
    num_networks: int = 4,
    num_cues: int = 16,
    num_sweeps: int = 5,
) -> DenseCapacity:
    """Zero-temperature retrieval from corrupted cues against the number of patterns.

    For every ``P``: ``num_networks`` independent memories of ``P`` random patterns;
    each cues its first ``min(num_cues, P)`` patterns with ``flip_fraction`` of the
    spins flipped (:func:`~statjax.models.hopfield.corrupt`) and runs
    ``num_sweeps`` sweeps at ``beta = inf`` through :func:`statjax.run_chains`. The
    standard error is over the networks (their means are independent).

    Returns:
        A :class:`DenseCapacity`.
    """
    key = as_key(key)
    num_spins = check_count("num_spins", num_spins)
    rows = []
    for count in np.asarray(num_patterns, int):
        cues_per_network = min(num_cues, int(count))
        overlaps = []
        for network in range(num_networks):
            key_patterns, key_cues, key_run = jax.random.split(
                jax.random.fold_in(jax.random.fold_in(key, int(count)), network), 3
            )
            patterns = random_patterns(key_patterns, int(count), num_spins)
            kernel = dense_asynchronous_sweep(dense_memory(patterns, interaction, degree))
            targets = patterns[:cues_per_network]
            cues = corrupt(key_cues, targets, flip_fraction)
            final, _ = run_chains(kernel, key_run, cues, num_sweeps, beta=float("inf"))
            overlap = np.mean(np.asarray(final.position) * np.asarray(targets), axis=1)
            overlaps.append(overlap)
        overlaps_array = np.stack(overlaps)
        rows.append(
            (
                np.mean(overlaps_array == 1.0),
                overlaps_array.mean(),
                overlaps_array.mean(1).std(ddof=1) / np.sqrt(num_networks)
                if num_networks > 1
                else np.nan,
            )
        )
    counts = np.asarray(num_patterns, int)
    fraction, mean, error = (np.array(column) for column in zip(*rows, strict=True))
    return DenseCapacity(counts, counts / num_spins, fraction, mean, error)


# ------------------------------------------------------ modern Hopfield (continuous)


def modern_hopfield_energy(
    patterns: jax.Array, state: jax.Array, beta: jax.typing.ArrayLike = 1.0
) -> jax.Array:
    r"""Ramsauer et al.'s energy of a continuous state ``xi``.

    ``E = -beta^{-1} lse(beta X^T xi) + xi.xi / 2 + beta^{-1} log P + M^2 / 2``.

    Args:
        patterns: ``(P, d)`` stored patterns (rows).
        state: ``(d,)`` the query ``xi``.
        beta: the inverse temperature of the softmax.
    """
    patterns = jnp.asarray(patterns, jnp.float32)
    beta = jnp.asarray(beta, jnp.float32)
    largest = jnp.max(jnp.sum(patterns**2, -1))
    return (
        -jax.nn.logsumexp(beta * patterns @ state) / beta
        + 0.5 * state @ state
        + jnp.log(patterns.shape[0]) / beta
        + 0.5 * largest
    )


def attention_update(
    patterns: jax.Array, state: jax.Array, beta: jax.typing.ArrayLike = 1.0
) -> jax.Array:
    """One modern-Hopfield update ``xi <- X softmax(beta X^T xi)`` (Ramsauer et al. 2020).

    It is attention with the query ``xi`` and keys and values the stored
    patterns; it never raises :func:`modern_hopfield_energy` (their Theorem 1).

    Args:
        patterns: ``(P, d)`` stored patterns (rows).
        state: ``(..., d)`` queries.
        beta: inverse temperature.

    Returns:
        ``(..., d)``.

    Example:
        >>> import jax.numpy as jnp
        >>> patterns = 4.0 * jnp.eye(3)
        >>> attention_update(patterns, jnp.array([3.0, 0.5, 0.0])).round(3).tolist()
        [4.0, 0.0, 0.0]
    """
    patterns = jnp.asarray(patterns, jnp.float32)
    weights = jax.nn.softmax(jnp.asarray(beta) * jnp.asarray(state) @ patterns.T, axis=-1)
    return weights @ patterns


def one_step_retrieval_bound(
    patterns: jax.Array, index: int, state: jax.Array, beta: jax.typing.ArrayLike = 1.0
) -> jax.Array:
    """Ramsauer et al.'s Theorem 5 bound on ``|attention_update(xi) - x_i|``.

    ``2 (P - 1) M exp(-beta (Delta_i - 2 M |xi - x_i|))`` with the separation
    ``Delta_i = min_{j != i} (x_i.x_i - x_i.x_j)`` and ``M = max_j |x_j|``. (It
    follows from ``1 - p_i <= sum_{j != i} exp(beta (x_j - x_i).xi)`` and
    ``|x_j - x_i| <= 2M``.) Meaningful when the bracket is positive.
    """
    patterns = jnp.asarray(patterns, jnp.float32)
    target = patterns[index]
    dots = patterns @ target
    others = jnp.delete(dots, index, assume_unique_indices=True)
    separation = dots[index] - jnp.max(others)
    radius = jnp.max(jnp.linalg.norm(patterns, axis=-1))
    distance = jnp.linalg.norm(jnp.asarray(state) - target)
    count = patterns.shape[0] - 1
    beta = jnp.asarray(beta, jnp.float32)
    return 2 * count * radius * jnp.exp(-beta * (separation - 2 * radius * distance))


__all__ = [
    "INTERACTIONS",
    "DenseAssociativeMemory",
    "DenseAsynchronousSweep",
    "DenseCapacity",
    "DenseSpinState",
    "DenseSweepInfo",
    "attention_update",
    "dense_asynchronous_sweep",
    "dense_capacity",
    "dense_memory",
    "max_exact_patterns",
    "modern_hopfield_energy",
    "one_step_retrieval_bound",
]
