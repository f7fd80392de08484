"""Replica exchange (parallel tempering) over a ladder of inverse temperatures.

``R`` replicas of any statjax kernel run side by side, replica ``r`` at the
inverse temperature ``betas[temperature_index[r]]``; after every local step,
neighbouring temperatures ``k, k + 1`` propose to exchange their replicas and
accept with the exact rule

    alpha_k = min(1, exp((beta_k - beta_{k+1}) (E_k - E_{k+1}))),

``E_k`` the untempered energy of the replica at temperature ``k`` (cached in
every kernel state, so a swap costs no energy evaluation). What is exchanged is
the *assignment* of temperatures, never the states: the permutation
``temperature_index`` (replica -> temperature) and its inverse ``replica_index``
(temperature -> replica) are the index process whose round trips measure how
well the ladder communicates (Swendsen & Wang 1986; Geyer 1991; Hukushima &
Nemoto 1996).

Swap schemes (Syed, Bouchard-Côté, Deligiannidis & Doucet 2022, "Non-reversible
parallel tempering: a scalable highly parallel MCMC scheme", JRSS-B 84, 321-350):

- ``"deterministic"`` (DEO, non-reversible): even pairs ``(0,1), (2,3), ...`` at
  even rounds, odd pairs at odd rounds. A replica whose swaps are accepted keeps
  moving in the same direction, so the index process travels the ladder
  ballistically; the round-trip rate tends to ``1 / (2 + 2 Lambda)`` as the
  ladder is refined.
- ``"stochastic"`` (SEO, reversible): the parity of the round is a fair coin. The
  index process is a random walk and the round-trip rate decays like ``1 / N``
  for ``N + 1`` temperatures.
- ``"random_pair"`` (reversible): one neighbouring pair chosen uniformly per round.

The local communication barrier ``lambda(beta)`` is estimated from the mean
rejection rates ``r_k = 1 - E[alpha_k]``; its integral is the global barrier
``Lambda ~ sum_k r_k``. The ladder adaptation of Syed et al. (their Algorithm 4,
"schedule tuning") equalises the rejection rates by placing the new betas at
equal steps of the piecewise-linear cumulative barrier (:func:`adapted_ladder`).
"""

from typing import Any, ClassVar, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from statjax.checks import as_key, check_count, check_initial_energy
from statjax.pytree import Pytree, static_field
from statjax.random import bernoulli as random_bernoulli
from statjax.random import randint as random_randint
from statjax.random import uniform as random_uniform
from statjax.types import ArrayTree, PRNGKey

SWAP_SCHEMES = ("deterministic", "stochastic", "random_pair")
"""The neighbour-swap schemes :class:`ReplicaExchange` knows."""

HOT_END, COLD_END, NO_END = 0, 1, -1

ENERGY_AXES = "(chain, replica)"
"""How an entry of the ``(num_chains, R)`` energies of replica-exchange runs is named
in error messages (``check_initial_energy(energy, what=ENERGY_AXES)``)."""


class ReplicaExchangeState(NamedTuple):
    """State of one parallel-tempering run: ``R`` replicas and the index process.

    Replicas are stored by *replica*, not by temperature: replica ``r`` sits at
    ``betas[temperature_index[r]]``; the replica at temperature ``k`` is
    ``replica_index[k]`` (see :func:`state_at_temperature`).

    Attributes:
        position: ``(R, ...)`` positions of the replicas (a copy of
            ``replica_states.position``, so that ``run_chains`` sees a state).
        energy: ``(R,)`` untempered energies of the replicas.
        replica_states: the inner kernel's states, leading axis ``R``.
        temperature_index: ``(R,)`` int32, the temperature slot of each replica.
        replica_index: ``(R,)`` int32, the replica at each temperature slot.
        num_rounds: scalar int32, swap rounds done (the parity of DEO).
        swap_acceptance_sum: ``(R - 1,)`` sum over rounds of ``alpha_k`` for *every*
            neighbouring pair, proposed or not (the Rao-Blackwellised estimator of
            Syed et al. 2022).
        num_swaps_proposed: ``(R - 1,)`` int32.
        num_swaps_accepted: ``(R - 1,)`` int32.
        last_end: ``(R,)`` int8 per replica: ``0`` if it was last at the hottest
            temperature, ``1`` if it reached the coldest one since, ``-1`` if it has
            not yet been at the hot end.
        round_trips: ``(R,)`` int32 completed hot -> cold -> hot trips per replica.
    """

    position: ArrayTree
    energy: jax.Array
    replica_states: ArrayTree
    temperature_index: jax.Array
    replica_index: jax.Array
    num_rounds: jax.Array
    swap_acceptance_sum: jax.Array
    num_swaps_proposed: jax.Array
    num_swaps_accepted: jax.Array
    last_end: jax.Array
    round_trips: jax.Array


class ReplicaExchangeInfo(NamedTuple):
    """What one round did (see :mod:`statjax.samplers.base` for the first two fields).

    Attributes:
        acceptance_rate: mean swap acceptance probability ``alpha_k`` over the pairs
            proposed this round; when the scheme proposes none (``R = 2`` under DEO
            at odd rounds), the mean ``alpha_k`` over all pairs, the probability a
            proposal would have had.
        is_accepted: whether at least one swap was accepted.
        kernel_info: the inner kernel's infos, leading axis ``R`` (by replica).
        swap_acceptance_rate: ``(R - 1,)`` ``alpha_k`` of every neighbouring pair.
        is_swap_proposed: ``(R - 1,)`` which pairs the scheme proposed.
        is_swap_accepted: ``(R - 1,)`` which pairs exchanged their replicas.
    """

    acceptance_rate: jax.Array
    is_accepted: jax.Array
    kernel_info: Any
    swap_acceptance_rate: jax.Array
    is_swap_proposed: jax.Array
    is_swap_accepted: jax.Array


class ReplicaExchange(Pytree):
    """Parallel tempering over the ladder ``betas`` with ``kernel`` inside (a pytree).

    ``step(key, state, beta)`` runs one local step of every replica (vmapped) at
    its own temperature ``beta * betas[k]``, then one round of neighbour swaps.
    The ``beta`` argument scales the whole ladder (``1.0``, the default of
    :func:`~statjax.samplers.run.run_chains`, leaves it as given), so annealing a
    ladder is a schedule like any other; like every kernel's, it has no default.
    ``betas`` and the inner kernel's numbers are leaves: a new ladder (of the same
    length) or step size never recompiles; ``scheme`` is static. Build it with
    :func:`replica_exchange`; run it with ``run_chains`` (positions ``(num_chains,
    R, ...)``: independent PT runs) and read the statistics with
    :func:`tempering_statistics`.
    """

    kernel: Any
    betas: jax.Array
    scheme: str = static_field(default="deterministic")

    energy_axes: ClassVar[str] = ENERGY_AXES
    """What an entry of the ``(num_chains, R)`` energies is called in error messages."""

    @property
    def num_replicas(self) -> int:
        """``R``, the number of temperatures (static: it is a shape)."""
        return self.betas.shape[-1]

    def init(self, position: ArrayTree) -> ReplicaExchangeState:
        """Start ``R`` replicas at ``position`` (leading axis ``R``), replica ``k`` at ``betas[k]``.

        The index process starts at the identity; statistics start from zero.
        """
        num_replicas = self.num_replicas
        states = jax.vmap(self.kernel.init)(position)
        identity = jnp.arange(num_replicas, dtype=jnp.int32)
        pairs = num_replicas - 1
        return ReplicaExchangeState(
            position=states.position,
            energy=states.energy,
            replica_states=states,
            temperature_index=identity,
            replica_index=identity,
            num_rounds=jnp.zeros((), jnp.int32),
            swap_acceptance_sum=jnp.zeros(pairs, jnp.result_type(states.energy, float)),
            num_swaps_proposed=jnp.zeros(pairs, jnp.int32),
            num_swaps_accepted=jnp.zeros(pairs, jnp.int32),
            last_end=jnp.where(identity == 0, HOT_END, NO_END).astype(jnp.int8),
            round_trips=jnp.zeros(num_replicas, jnp.int32),
        )

    def step(
        self, key: PRNGKey, state: ReplicaExchangeState, beta: jax.typing.ArrayLike
    ) -> tuple[ReplicaExchangeState, ReplicaExchangeInfo]:
        """One local step of every replica, then one round of neighbour swaps."""
        num_replicas = self.num_replicas
        betas = beta * self.betas
        key_local, key_pairs, key_accept = jax.random.split(as_key(key), 3)
        replica_betas = betas[state.temperature_index]
        keys = jax.random.split(key_local, num_replicas)
        states, kernel_info = jax.vmap(self.kernel.step)(keys, state.replica_states, replica_betas)

        energy_at = states.energy[state.replica_index]
        log_alpha = (betas[:-1] - betas[1:]) * (energy_at[:-1] - energy_at[1:])
        log_alpha = jnp.where(jnp.isnan(log_alpha), -jnp.inf, log_alpha)
        alpha = jnp.exp(jnp.minimum(log_alpha, 0.0))
        proposed = self._proposed_pairs(key_pairs, state.num_rounds)
        log_uniform = jnp.log(random_uniform(key_accept, log_alpha.shape, log_alpha.dtype))
        accepted = proposed & (log_uniform < log_alpha)

        # Proposed pairs are disjoint, so the accepted swaps compose into one permutation.
        no_swap = jnp.zeros(1, bool)
        swaps_up = jnp.concatenate([accepted, no_swap])  # slot k takes slot k + 1's replica
        swaps_down = jnp.concatenate([no_swap, accepted])  # slot k takes slot k - 1's replica
        partner = jnp.arange(num_replicas) + swaps_up.astype(jnp.int32) - swaps_down
        replica_index = state.replica_index[partner]
        temperature_index = (
            jnp.zeros(num_replicas, jnp.int32)
            .at[replica_index]
            .set(jnp.arange(num_replicas, dtype=jnp.int32))
        )

        at_hot = temperature_index == 0
        at_cold = temperature_index == num_replicas - 1
        completed = at_hot & (state.last_end == COLD_END)
        last_end = jnp.where(
            at_hot,
            HOT_END,
            jnp.where(at_cold & (state.last_end == HOT_END), COLD_END, state.last_end),
        ).astype(jnp.int8)

        new_state = ReplicaExchangeState(
            position=states.position,
            energy=states.energy,
            replica_states=states,
            temperature_index=temperature_index,
            replica_index=replica_index,
            num_rounds=state.num_rounds + 1,
            swap_acceptance_sum=state.swap_acceptance_sum + alpha,
            num_swaps_proposed=state.num_swaps_proposed + proposed,
            num_swaps_accepted=state.num_swaps_accepted + accepted,
            last_end=last_end,
            round_trips=state.round_trips + completed,
        )
        num_proposed = jnp.sum(proposed)
        proposed_mean = jnp.sum(jnp.where(proposed, alpha, 0.0)) / jnp.maximum(num_proposed, 1)
        info = ReplicaExchangeInfo(
            acceptance_rate=jnp.where(num_proposed > 0, proposed_mean, jnp.mean(alpha)),
            is_accepted=jnp.any(accepted),
            kernel_info=kernel_info,
            swap_acceptance_rate=alpha,
            is_swap_proposed=proposed,
            is_swap_accepted=accepted,
        )
        return new_state, info

    def _proposed_pairs(self, key: PRNGKey, round_index: jax.Array) -> jax.Array:
        """``(R - 1,)`` bool: the pairs ``(k, k + 1)`` proposed this round (disjoint)."""
        pairs = jnp.arange(self.num_replicas - 1)
        if self.scheme == "deterministic":
            return pairs % 2 == round_index % 2
        if self.scheme == "stochastic":
            return pairs % 2 == random_bernoulli(key).astype(pairs.dtype)
        return pairs == random_randint(key, (), 0, self.num_replicas - 1)


def _check_ladder(betas) -> np.ndarray:
    values = np.asarray(betas, dtype=float)
    if values.ndim != 1 or values.size < 2:
        raise ValueError(
            f"betas must be a 1-D ladder of at least 2 inverse temperatures, got shape "
            f"{values.shape}."
        )
    if not np.all(np.isfinite(values) & (values > 0)):
        raise ValueError(f"betas must be finite and > 0, got {values.tolist()}.")
    if not np.all(np.diff(values) > 0):
        raise ValueError(
            "betas must increase strictly, from the hottest (reference) to the coldest "
            f"(target) temperature, got {values.tolist()}; sort them: np.sort(betas)."
        )
    return values


def replica_exchange(
    kernel: Any, betas: jax.typing.ArrayLike, scheme: str = "deterministic"
) -> ReplicaExchange:
    """Parallel tempering of ``kernel`` over the ladder ``betas`` (see :class:`ReplicaExchange`).

    Args:
        kernel: any statjax kernel (``init``/``step(key, state, beta)``) whose states
            cache the untempered ``energy``.
        betas: ``(R,)`` strictly increasing inverse temperatures, ``R >= 2``:
            ``betas[0]`` is the hottest (reference), ``betas[-1]`` the target.
        scheme: ``"deterministic"`` (non-reversible DEO, the default),
            ``"stochastic"`` (reversible SEO) or ``"random_pair"`` (reversible).

    Examples:
        >>> import jax, jax.numpy as jnp, statjax
        >>> from statjax.samplers.tempering import replica_exchange, tempering_statistics
        >>> inner = statjax.samplers.metropolis(lambda x: 0.5 * jnp.sum(x**2), 1.0)
        >>> pt = replica_exchange(inner, jnp.array([0.25, 0.5, 1.0]))
        >>> final, _ = statjax.run_chains(pt, jax.random.key(0), jnp.zeros((2, 3, 1)), 100)
        >>> tempering_statistics(final, pt.betas).rejection_rates.shape
        (2, 2)
    """
    if scheme not in SWAP_SCHEMES:
        raise ValueError(f"scheme must be one of {SWAP_SCHEMES}, got {scheme!r}.")
    if not isinstance(betas, jax.core.Tracer):
        _check_ladder(betas)
    return ReplicaExchange(kernel, jnp.asarray(betas, dtype=float), scheme)


def state_at_temperature(state: ReplicaExchangeState, slot: int = -1) -> ArrayTree:
    """The inner state of the replica at temperature ``slot`` (default: the coldest).

    For one run (no chain axis); under ``run_chains`` use it in ``observe``, which
    sees one chain: ``observe=lambda s: state_at_temperature(s).position``.
    """
    replica = state.replica_index[slot]
    return jax.tree_util.tree_map(lambda leaf: leaf[replica], state.replica_states)


class TemperingStatistics(NamedTuple):
    """Communication statistics of a parallel-tempering run (Syed et al. 2022).

    Leading axes are those of the state (e.g. ``(num_chains,)`` after ``run_chains``).

    Attributes:
        rejection_rates: ``(..., R - 1)`` ``r_k = 1 - mean alpha_k`` over all rounds.
        acceptance_rates: ``(..., R - 1)`` accepted / proposed swaps (NaN if never
            proposed): the empirical rate; ``1 - rejection_rates`` is its
            lower-variance estimate.
        cumulative_barrier: ``(..., R)`` ``Lambda(beta_k) = sum_{j < k} r_j``, the
            piecewise-linear cumulative barrier at the ladder's betas.
        local_barrier: ``(..., R - 1)`` ``lambda ~ r_k / (beta_{k+1} - beta_k)`` on
            each interval (the derivative of the cumulative barrier).
        global_barrier: ``(...)`` ``Lambda = sum_k r_k``.
        round_trips: ``(...)`` completed hot -> cold -> hot trips, all replicas.
        round_trip_rate: ``(...)`` ``round_trips / num_rounds``; biased low in a
            short run, since replicas must first reach the hot end (about ``N``
            rounds for DEO, ``N^2`` for the reversible schemes).
        num_rounds: ``(...)`` swap rounds done.
    """

    rejection_rates: jax.Array
    acceptance_rates: jax.Array
    cumulative_barrier: jax.Array
    local_barrier: jax.Array
    global_barrier: jax.Array
    round_trips: jax.Array
    round_trip_rate: jax.Array
    num_rounds: jax.Array


def tempering_statistics(
    state: ReplicaExchangeState, betas: jax.typing.ArrayLike
) -> TemperingStatistics:
    """Rejection rates, barriers and round trips accumulated in ``state``.

    The rejection rate of the pair ``(k, k+1)`` is estimated by
    ``r_k = 1 - mean_t alpha_k(t)`` over all rounds ``t``, the acceptance
    probability being computed for every pair at every round whether proposed or
    not. The global communication barrier is ``Lambda = sum_k r_k``; for a fine
    ladder it approaches ``int lambda(beta) dbeta``, which does not depend on the
    ladder (Syed et al. 2022, Theorem 2).

    Args:
        state: a :class:`ReplicaExchangeState`, with any leading (chain) axes.
        betas: ``(R,)`` the ladder the state was run with.

    Returns:
        A :class:`TemperingStatistics`.
    """
    betas = jnp.asarray(betas)
    rounds = jnp.asarray(state.num_rounds)
    safe_rounds = jnp.maximum(rounds, 1)[..., None]
    rejection = 1.0 - state.swap_acceptance_sum / safe_rounds
    acceptance = state.num_swaps_accepted / jnp.where(
        state.num_swaps_proposed > 0, state.num_swaps_proposed, jnp.nan
    )
    cumulative = jnp.concatenate(
        [jnp.zeros((*rejection.shape[:-1], 1), rejection.dtype), jnp.cumsum(rejection, -1)], -1
    )
    round_trips = jnp.sum(state.round_trips, -1)
    return TemperingStatistics(
        rejection_rates=rejection,
        acceptance_rates=acceptance,
        cumulative_barrier=cumulative,
        local_barrier=rejection / jnp.diff(betas),
        global_barrier=jnp.sum(rejection, -1),
        round_trips=round_trips,
        round_trip_rate=round_trips / jnp.maximum(rounds, 1),
        num_rounds=rounds,
    )


def predicted_round_trip_rate(
    rejection_rates: jax.typing.ArrayLike, scheme: str = "deterministic"
) -> jax.Array:
    """Round-trip rate predicted from the rejection rates (Syed et al. 2022, Theorem 3).

    Under efficient local exploration (each local step draws a fresh sample at its
    temperature), with ``N + 1`` temperatures and ``E = sum_k r_k / (1 - r_k)``:

        tau_DEO = 1 / (2 + 2 E),          tau_SEO = 1 / (2 N + 2 E).

    For DEO the rate stays near ``1 / (2 + 2 Lambda)`` as ``N`` grows; for the
    reversible scheme it collapses like ``1 / N``. ``"random_pair"`` has no closed
    form here (a ``ValueError``).

    Args:
        rejection_rates: ``(..., N)`` rejection rates of the neighbouring pairs.
        scheme: ``"deterministic"`` or ``"stochastic"``.
    """
    rejection_rates = jnp.asarray(rejection_rates)
    expected_rejections = jnp.sum(rejection_rates / (1.0 - rejection_rates), -1)
    if scheme == "deterministic":
        return 1.0 / (2.0 + 2.0 * expected_rejections)
    if scheme == "stochastic":
        return 1.0 / (2.0 * rejection_rates.shape[-1] + 2.0 * expected_rejections)
    raise ValueError(f"scheme must be 'deterministic' or 'stochastic', got {scheme!r}.")


def adapted_ladder(
    betas: jax.typing.ArrayLike,
    rejection_rates: jax.typing.ArrayLike,
    num_betas: int | None = None,
) -> jax.Array:
    """A new ladder with equal rejection rates: equal steps of the cumulative barrier.

    Syed et al. (2022), schedule tuning: the cumulative barrier
    ``Lambda(beta)`` is the piecewise-linear interpolation of
    ``(beta_k, sum_{j<k} r_j)``; the new ladder keeps both ends and puts
    ``beta'_i = Lambda^{-1}(i Lambda / N')``, ``i = 0..N'``, so that every new pair
    carries the same share ``Lambda / N'`` of the barrier. Iterating (run, adapt,
    run longer) converges to the ladder that maximises the round-trip rate of
    non-reversible PT for its number of temperatures. Rejection rates are floored
    at ``1e-6`` so that ``Lambda`` is strictly increasing and invertible.

    Args:
        betas: ``(R,)`` the current ladder, increasing.
        rejection_rates: ``(R - 1,)`` its rejection rates (e.g. averaged over chains:
            ``tempering_statistics(final, betas).rejection_rates.mean(0)``).
        num_betas: length of the new ladder (default ``R``; keep it to avoid a
            recompile, or ~``2 Lambda`` for the best rate per replica).

    Returns:
        ``(num_betas,)`` the adapted ladder, with the same first and last betas.

    Examples:
        >>> import jax.numpy as jnp
        >>> ladder = adapted_ladder(jnp.array([0.1, 0.2, 1.0]), jnp.array([0.0, 0.5]))
        >>> print(jnp.round(ladder, 3))
        [0.1 0.6 1. ]
    """
    betas = jnp.asarray(betas, dtype=float)
    rates = jnp.maximum(jnp.asarray(rejection_rates, dtype=betas.dtype), 1e-6)
    if rates.shape != (betas.shape[-1] - 1,):
        raise ValueError(
            f"rejection_rates must have shape ({betas.shape[-1] - 1},) for a ladder of "
            f"{betas.shape[-1]} betas, got {rates.shape}; average over chains first."
        )
    num_betas = (
        betas.shape[-1] if num_betas is None else check_count("num_betas", num_betas, minimum=2)
    )
    cumulative = jnp.concatenate([jnp.zeros(1, rates.dtype), jnp.cumsum(rates)])
    targets = jnp.linspace(0.0, 1.0, num_betas) * cumulative[-1]
    new = jnp.interp(targets, cumulative, betas)
    return new.at[0].set(betas[0]).at[-1].set(betas[-1])


class LadderTuning(NamedTuple):
    """Result of :func:`tune_ladder`.

    Attributes:
        kernel: the :class:`ReplicaExchange` with the final adapted ladder.
        positions: ``(num_chains, R, ...)`` positions by temperature slot at the end,
            ready to start a production run with ``kernel``.
        ladders: ``(num_rounds + 1, R)`` the ladder before each round, and the final one.
        global_barriers: ``(num_rounds,)`` ``Lambda`` estimated in each round.
    """

    kernel: ReplicaExchange
    positions: ArrayTree
    ladders: jax.Array
    global_barriers: jax.Array


def positions_by_temperature(state: ReplicaExchangeState) -> ArrayTree:
    """Positions reordered by temperature slot, ``(..., R, ...)``: slot ``k`` first at ``k``.

    Works with or without leading chain axes; feeding the result to a kernel with a
    new ladder keeps each slot's replica at (the new beta of) its slot.
    """
    index = state.replica_index
    return jax.tree_util.tree_map(
        lambda leaf: jnp.take_along_axis(
            leaf, index.reshape(index.shape + (1,) * (leaf.ndim - index.ndim)), axis=index.ndim - 1
        ),
        state.position,
    )


def tune_ladder(
    kernel: ReplicaExchange,
    key: PRNGKey,
    initial: ArrayTree,
    num_rounds: int = 5,
    num_steps: int = 64,
) -> LadderTuning:
    """Adapt the ladder over rounds of doubling length (Syed et al. 2022, Algorithm 4).

    Round ``n`` runs ``num_steps * 2^n`` steps with the current ladder (through
    :func:`~statjax.samplers.run.run_chains`), estimates the rejection rates
    (averaged over chains) and replaces the ladder by :func:`adapted_ladder`; the
    next round starts from where every temperature slot ended. The rounds are one
    run in global steps: round ``n`` starts at step ``num_steps (2^n - 1)``, so its
    keys follow the one key rule of :mod:`statjax.samplers.loop`. All rounds share
    one compiled program (same ladder length, chunks of ``num_steps``).

    Args:
        kernel: a :class:`ReplicaExchange` with the starting ladder.
        key: PRNG key (``jax.random.key`` or a legacy ``PRNGKey``).
        initial: ``(num_chains, R, ...)`` starting positions (or states).
        num_rounds: rounds of adaptation.
        num_steps: steps of the first round.

    Returns:
        A :class:`LadderTuning`.

    Raises:
        ValueError: if a starting energy is not finite, naming its
            ``(chain, replica)``; or for counts that are not whole numbers >= 1.

    Examples:
        >>> import jax, jax.numpy as jnp, statjax
        >>> inner = statjax.samplers.metropolis(lambda x: 0.5 * jnp.sum(x**2), 1.0)
        >>> pt = replica_exchange(inner, jnp.linspace(0.05, 1.0, 4))
        >>> start = jnp.zeros((2, 4, 1))
        >>> tuning = tune_ladder(pt, jax.random.key(0), start, 2, 20)  # doctest: +SKIP
        >>> tuning.ladders.shape, tuning.positions.shape  # doctest: +SKIP
        ((3, 4), (2, 4, 1))
    """
    from statjax.samplers.run import initial_states, run_chains  # the layer above the kernels

    key = as_key(key)
    num_rounds = check_count("num_rounds", num_rounds)
    num_steps = check_count("num_steps", num_steps)
    states = initial_states(kernel, initial)
    check_initial_energy(states.energy, what=ENERGY_AXES)
    start, ladders, barriers = states, [kernel.betas], []
    first_step = 0
    for round_index in range(num_rounds):
        length = num_steps * 2**round_index
        final, _ = run_chains(
            kernel, key, start, length, start_step=first_step, chunk_size=num_steps
        )
        first_step += length
        rejection = tempering_statistics(final, kernel.betas).rejection_rates.mean(0)
        barriers.append(jnp.sum(rejection))
        kernel = kernel.replace(betas=adapted_ladder(kernel.betas, rejection))
        ladders.append(kernel.betas)
        start = positions_by_temperature(final)
    return LadderTuning(kernel, start, jnp.stack(ladders), jnp.stack(barriers))


__all__ = [
    "ENERGY_AXES",
    "SWAP_SCHEMES",
    "LadderTuning",
    "ReplicaExchange",
    "ReplicaExchangeInfo",
    "ReplicaExchangeState",
    "TemperingStatistics",
    "adapted_ladder",
    "positions_by_temperature",
    "predicted_round_trip_rate",
    "replica_exchange",
    "state_at_temperature",
    "tempering_statistics",
    "tune_ladder",
]
