r"""Sequential Monte Carlo over temperatures: adaptive tempered SMC and population annealing.

A population of ``N`` particles is carried from a base inverse temperature
``beta_0`` (exact draws, known ``log Z(beta_0)``) to a target ``beta_T`` through
``beta_0 < beta_1 < ... < beta_T`` (Del Moral, Doucet & Jasra 2006, "Sequential
Monte Carlo samplers", JRSS-B 68, 411). At each stage ``t``:

1. **reweight** by the incremental weight ``w_i = exp(-(beta_t - beta_{t-1}) E(x_i))``
   (the kernel's state caches the untempered ``E``, so this is free) and add
   ``log sum_i W_i w_i`` to ``log Z`` (``W`` the normalised weights);
2. **resample** (systematic or multinomial) when the effective sample size
   ``1 / sum_i W_i^2`` falls below ``resample_threshold * N``;
3. **move** every particle by ``num_steps_per_beta`` steps of any statjax kernel
   at ``beta_t``, through the one driver (:func:`statjax.samplers.loop.sample_chains`,
   stage ``t`` running global steps ``(t - 1) * num_steps_per_beta`` onwards).

**Adaptive tempering** (Jasra, Stephens, Doucet & Tsagaris 2011, Scand. J. Stat.
38, 1; the conditional ESS of Zhou, Johansen & Aston 2016, JCGS 25, 701): the
next ``beta`` is the one at which the conditional effective sample size

.. math::

    \mathrm{CESS}(\delta) = N \frac{(\sum_i W_i w_i(\delta))^2}{\sum_i W_i w_i(\delta)^2},
    \qquad w_i(\delta) = e^{-\delta E(x_i)},

equals ``target_ess * N``, found by bisection on ``delta`` (40 halvings), or the
target ``beta`` when it is reached with a CESS above the target. The number of
stages is therefore data dependent: the stages run **inside one jitted
program**, a ``lax.while_loop`` bounded by ``max_stages``; the beta path is a
``(max_stages + 1,)`` buffer, trimmed on the host to the stages taken. A run
that hits ``max_stages`` before the target raises an error naming the beta it
reached.

**Population annealing** (Hukushima & Iba 2003, AIP Conf. Proc. 690, 200;
Machta 2010, Phys. Rev. E 82, 026704) is the same recursion on a fixed schedule
with a resampling at every temperature step (here at constant population, by
systematic or multinomial resampling, rather than Machta's fluctuating Poisson
population).

**The error bar.** Every particle remembers its *family*: the index of the
particle at ``beta_0`` it descends from. With ``omega_f`` the final normalised
weight of family ``f`` and ``m`` the number of resampling events, the variance
estimator of Lee & Whiteley (2018, "Variance estimation in the particle
filter", Biometrika 105, 609), extended to adaptive resampling by Du & Guyader
(2021, Ann. Appl. Probab. 31, 1021), is

.. math::

    \widehat{\mathrm{Var}}(\hat Z) / \hat Z^2
    = 1 - \Big(\frac{N}{N - 1}\Big)^{m + 1} \Big(1 - \sum_f \omega_f^2\Big),

and ``standard_error = sqrt(max(that, 0))`` is the delta-method standard error
of ``log Z`` from a single run. The identity holds for **multinomial**
resampling (the default); systematic resampling keeps more families alive and
the estimator then underestimates (it came out negative in every
population-annealing run measured), so with ``resampling="systematic"`` the
standard error is NaN: take it from independent runs instead,
``statjax.thermo.ais_estimate(jnp.stack([r.log_z for r in runs]))`` (the
runs' ``Z``-hat are unbiased, so their mean is too; the delta method on it
gives the error bar). It is the family-based variance of population
annealing (Wang, Machta & Katzgraber 2015, Phys. Rev. E 92, 063307): with
``rho = N sum_f omega_f^2`` it is about ``rho / N``, and
``effective_num_families = 1 / sum_f omega_f^2 = N / rho`` counts the
independent families the estimate rests on. For a fixed schedule the estimator
is consistent; for an adaptive one it ignores the (small) randomness of the
path. Errors from independent runs need only a loop over keys.
"""

from collections.abc import Sequence
from functools import partial
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from statjax.checks import as_key, check_count, check_initial_energy, check_unit_interval
from statjax.pytree import structure_key
from statjax.samplers.loop import sample_chains
from statjax.samplers.run import initial_states
from statjax.types import ArrayTree, PRNGKey

RESAMPLING_SCHEMES = ("systematic", "multinomial")
"""The resampling schemes :func:`resample` knows."""

_BISECTION_STEPS = 40


class SMCResult(NamedTuple):
    """A tempered-SMC (or population-annealing) estimate and what it rests on.

    Attributes:
        log_z: ``log Z(beta_T)`` (``base_log_z`` plus the sum of the stage increments).
        standard_error: family-based (Lee & Whiteley 2018) standard error of ``log_z``
            from this one run (module docstring).
        betas: ``(num_stages + 1,)`` the beta path taken, ``betas[0] = beta_0``.
        log_z_increments: ``(num_stages,)`` ``log sum_i W_i w_i`` of each stage.
        ess: ``(num_stages,)`` ESS after reweighting at each stage, before resampling.
        resampled: ``(num_stages,)`` bool, whether the stage resampled.
        acceptance_rate: ``(num_stages,)`` mean acceptance of the moves at each stage.
        families: ``(N,)`` int32, the initial particle each final particle descends from.
        family_sizes: ``(N,)`` int32, the number of final particles in each family
            (indexed by the initial particle; zero for extinct families).
        effective_num_families: ``1 / sum_f omega_f^2``, ``omega_f`` a family's final weight.
        log_weights: ``(N,)`` final normalised log weights (``-log N`` after a resampling).
        final_states: the kernel states at ``beta_T``, leading axis particles.
    """

    log_z: jax.Array
    standard_error: jax.Array
    betas: jax.Array
    log_z_increments: jax.Array
    ess: jax.Array
    resampled: jax.Array
    acceptance_rate: jax.Array
    families: jax.Array
    family_sizes: jax.Array
    effective_num_families: jax.Array
    log_weights: jax.Array
    final_states: Any

    @property
    def num_stages(self) -> int:
        """Number of temperature steps taken."""
        return int(self.betas.shape[0]) - 1


def _normalise(log_weights: jax.Array) -> jax.Array:
    return log_weights - jax.nn.logsumexp(log_weights)


def resample(key: PRNGKey, log_weights: jax.Array, scheme: str = "multinomial") -> jax.Array:
    """Ancestor indices ``(N,)`` drawn from the normalised weights ``exp(log_weights)``.

    ``"systematic"``: one uniform ``u``, ancestors at ``(u + i) / N`` on the
    cumulative weights (Kitagawa 1996; the lowest-variance of the usual schemes,
    Douc, Cappé & Moulines 2005). ``"multinomial"``: ``N`` independent draws.

    Examples:
        >>> import jax, jax.numpy as jnp
        >>> log_w = jnp.log(jnp.array([0.0, 0.5, 0.5, 0.0]))
        >>> resample(jax.random.key(0), log_w, "systematic").tolist()
        [1, 1, 2, 2]
    """
    if scheme not in RESAMPLING_SCHEMES:
        raise ValueError(f"resampling must be one of {RESAMPLING_SCHEMES}, got {scheme!r}.")
    num = log_weights.shape[0]
    cumulative = jnp.cumsum(jnp.exp(_normalise(log_weights)))
    if scheme == "systematic":
        points = (jax.random.uniform(key, (), cumulative.dtype) + jnp.arange(num)) / num
    else:
        points = jnp.sort(jax.random.uniform(key, (num,), cumulative.dtype))
    # Rounding can leave cumulative[-1] a hair below 1: clip the index.
    return jnp.minimum(jnp.searchsorted(cumulative, points, side="right"), num - 1).astype(
        jnp.int32
    )


def conditional_ess(
    log_weights: jax.typing.ArrayLike, log_increments: jax.typing.ArrayLike
) -> jax.Array:
    r"""``CESS / N = (sum_i W_i w_i)^2 / sum_i W_i w_i^2`` (Zhou, Johansen & Aston 2016).

    ``log_weights`` need not be normalised; ``log_increments = log w_i``. It is 1
    for constant increments, ``1 / N``-ish when one particle dominates.

    Examples:
        >>> import jax.numpy as jnp
        >>> float(conditional_ess(jnp.zeros(4), jnp.zeros(4)))
        1.0
    """
    log_w = _normalise(jnp.asarray(log_weights))
    log_increments = jnp.asarray(log_increments)
    return jnp.exp(
        2.0 * jax.nn.logsumexp(log_w + log_increments)
        - jax.nn.logsumexp(log_w + 2.0 * log_increments)
    )


def next_beta(
    log_weights: jax.Array,
    energies: jax.Array,
    beta: jax.Array,
    target_beta: jax.Array,
    target_ess: float,
) -> jax.Array:
    """The next inverse temperature: ``CESS = target_ess * N`` by bisection, or ``target_beta``."""
    energies = jnp.where(jnp.isfinite(energies), energies, jnp.inf)
    gap = target_beta - beta

    def cess(delta):
        return conditional_ess(log_weights, -delta * (energies - jnp.min(energies)))

    def halve(_, bounds):
        low, high = bounds
        middle = 0.5 * (low + high)
        above = cess(middle) >= target_ess
        return jnp.where(above, middle, low), jnp.where(above, high, middle)

    low, _ = jax.lax.fori_loop(0, _BISECTION_STEPS, halve, (jnp.zeros_like(gap), gap))
    # Never stall: at least a 2^-40 fraction of the remaining gap.
    delta = jnp.where(cess(gap) >= target_ess, gap, jnp.maximum(low, gap * 2.0**-_BISECTION_STEPS))
    return jnp.minimum(beta + delta, target_beta)


class _Carry(NamedTuple):
    stage: jax.Array
    beta: jax.Array
    states: Any
    log_weights: jax.Array
    families: jax.Array
    num_resampled: jax.Array
    betas: jax.Array
    increments: jax.Array
    ess: jax.Array
    resampled: jax.Array
    acceptance: jax.Array


@partial(
    jax.jit,
    static_argnames=("max_stages", "num_steps_per_beta", "per_chain", "structure"),
)
def _smc(
    kernel,
    key,
    states,
    schedule,
    num_scheduled,
    target_beta,
    target_ess,
    resample_threshold,
    systematic,
    *,
    max_stages,
    num_steps_per_beta,
    per_chain,
    structure,
):
    """Both samplers in one program: the schedule, adaptivity and resampling scheme are traced.

    ``schedule`` is ``(max_stages + 1,)``; with ``num_scheduled > 0`` its first
    ``num_scheduled + 1`` entries are the path, else beta is chosen adaptively
    from ``schedule[0]``. Tests and experiments that switch between population
    annealing, adaptive SMC and the two resampling schemes compile once.
    """
    del structure  # a cache key only (see statjax.pytree.structure_key)
    adaptive = num_scheduled == 0
    num = states.energy.shape[0]
    dtype = jnp.result_type(states.energy, schedule, jnp.float32)
    move_key, resample_key = jax.random.split(key)

    def one_stage(carry: _Carry) -> _Carry:
        stage = carry.stage
        adaptive_beta = next_beta(
            carry.log_weights, carry.states.energy, carry.beta, target_beta, target_ess
        )
        beta = jnp.where(adaptive, adaptive_beta, schedule[jnp.minimum(stage + 1, max_stages)])
        log_increments = -(beta - carry.beta) * carry.states.energy.astype(dtype)
        log_increments = jnp.where(jnp.isnan(log_increments), -jnp.inf, log_increments)
        unnormalised = carry.log_weights + log_increments
        increment = jax.nn.logsumexp(unnormalised)
        log_weights = unnormalised - increment
        ess = jnp.exp(-jax.nn.logsumexp(2.0 * log_weights))
        do_resample = ess < resample_threshold * num
        stage_key = jax.random.fold_in(resample_key, stage)
        drawn = jnp.where(
            systematic,
            resample(stage_key, log_weights, "systematic"),
            resample(stage_key, log_weights, "multinomial"),
        )
        ancestors = jnp.where(do_resample, drawn, jnp.arange(num, dtype=jnp.int32))
        states = jax.tree_util.tree_map(lambda leaf: leaf[ancestors], carry.states)
        log_weights = jnp.where(do_resample, -jnp.log(jnp.asarray(num, dtype)), log_weights)
        states, acceptance = sample_chains(
            kernel,
            move_key,
            states,
            num_steps_per_beta,
            beta=jnp.full((num,), beta),
            start_step=stage * num_steps_per_beta,
            observe=lambda state, info: info.acceptance_rate,
            per_chain=per_chain,
        )
        return _Carry(
            stage=stage + 1,
            beta=beta,
            states=states,
            log_weights=log_weights,
            families=carry.families[ancestors],
            num_resampled=carry.num_resampled + do_resample,
            betas=carry.betas.at[stage + 1].set(beta),
            increments=carry.increments.at[stage].set(increment),
            ess=carry.ess.at[stage].set(ess),
            resampled=carry.resampled.at[stage].set(do_resample),
            acceptance=carry.acceptance.at[stage].set(jnp.mean(acceptance)),
        )

    def not_done(carry: _Carry):
        return (carry.stage < max_stages) & (carry.beta < target_beta)

    beta_0 = schedule[0].astype(dtype)
    start = _Carry(
        stage=jnp.zeros((), jnp.int32),
        beta=beta_0,
        states=states,
        log_weights=jnp.full((num,), -jnp.log(jnp.asarray(num, dtype)), dtype),
        families=jnp.arange(num, dtype=jnp.int32),
        num_resampled=jnp.zeros((), jnp.int32),
        betas=jnp.full((max_stages + 1,), jnp.nan, dtype).at[0].set(beta_0),
        increments=jnp.zeros((max_stages,), dtype),
        ess=jnp.zeros((max_stages,), dtype),
        resampled=jnp.zeros((max_stages,), bool),
        acceptance=jnp.zeros((max_stages,), jnp.float32),
    )
    return jax.lax.while_loop(not_done, one_stage, start)


def family_variance(
    log_weights: jax.typing.ArrayLike, families: jax.typing.ArrayLike, num_resampled: int
) -> tuple[jax.Array, jax.Array, jax.Array]:
    r"""Relative variance of ``Z``-hat from the families (Lee & Whiteley 2018), sizes, ``N_eff``.

    ``1 - (N / (N - 1))^{m + 1} (1 - sum_f omega_f^2)``, ``omega_f`` the total
    normalised weight of family ``f``, ``m = num_resampled`` (module docstring).

    Returns:
        ``(relative_variance, family_sizes (N,), effective_num_families)``.

    Examples:
        >>> import jax.numpy as jnp
        >>> rel, sizes, n_eff = family_variance(jnp.zeros(4), jnp.array([0, 0, 1, 1]), 1)
        >>> sizes.tolist(), float(n_eff)
        ([2, 2, 0, 0], 2.0)
    """
    log_w = _normalise(jnp.asarray(log_weights))
    families = jnp.asarray(families)
    num = log_w.shape[0]
    family_weights = jnp.zeros(num, log_w.dtype).at[families].add(jnp.exp(log_w))
    concentration = jnp.sum(family_weights**2)
    factor = (num / (num - 1.0)) ** (num_resampled + 1)
    relative_variance = 1.0 - factor * (1.0 - concentration)
    sizes = jnp.zeros(num, jnp.int32).at[families].add(1)
    return relative_variance, sizes, 1.0 / concentration


def _check_common(kernel, key, initial, num_steps_per_beta, resampling, resample_threshold):
    key = as_key(key)
    num_steps_per_beta = check_count("num_steps_per_beta", num_steps_per_beta)
    if resampling not in RESAMPLING_SCHEMES:
        raise ValueError(f"resampling must be one of {RESAMPLING_SCHEMES}, got {resampling!r}.")
    check_unit_interval("resample_threshold", resample_threshold, closed_right=True)
    states = initial_states(kernel, initial)
    check_initial_energy(states.energy, "particles")
    if states.energy.shape[0] < 2:
        raise ValueError(f"need at least 2 particles, got {states.energy.shape[0]}.")
    return key, num_steps_per_beta, states


def _result(carry: _Carry, base_log_z, resampling: str) -> SMCResult:
    num_stages = int(carry.stage)
    num_resampled = int(carry.num_resampled)
    relative_variance, sizes, effective = family_variance(
        carry.log_weights, carry.families, num_resampled
    )
    if resampling == "systematic" and num_resampled:
        # Lee & Whiteley's identity holds for multinomial resampling only: systematic
        # resampling keeps more families alive, and the estimate came out negative in
        # every population-annealing run measured (docs/design-decisions.md).
        relative_variance = jnp.asarray(jnp.nan, relative_variance.dtype)
    log_z = jnp.asarray(base_log_z) + jnp.sum(carry.increments[:num_stages])
    return SMCResult(
        log_z=log_z,
        standard_error=jnp.sqrt(jnp.maximum(relative_variance, 0.0)),
        betas=carry.betas[: num_stages + 1],
        log_z_increments=carry.increments[:num_stages],
        ess=carry.ess[:num_stages],
        resampled=carry.resampled[:num_stages],
        acceptance_rate=carry.acceptance[:num_stages],
        families=carry.families,
        family_sizes=sizes,
        effective_num_families=effective,
        log_weights=carry.log_weights,
        final_states=carry.states,
    )


def adaptive_tempered_smc(
    kernel: Any,
    key: PRNGKey,
    initial: ArrayTree,
    *,
    initial_beta: float = 0.0,
    target_beta: float = 1.0,
    base_log_z: jax.typing.ArrayLike = 0.0,
    target_ess: float = 0.5,
    resample_threshold: float = 0.5,
    resampling: str = "multinomial",
    num_steps_per_beta: int = 1,
    max_stages: int = 500,
    per_chain: Sequence[str] = (),
) -> SMCResult:
    r"""Adaptive tempered SMC from ``initial_beta`` to ``target_beta`` (module docstring).

    Each next ``beta`` makes the conditional ESS ``target_ess * N`` (Jasra et al.
    2011; Zhou, Johansen & Aston 2016); particles are resampled when their ESS
    drops below ``resample_threshold * N`` and moved by ``num_steps_per_beta``
    steps of ``kernel`` at the new ``beta``. Runs inside one jitted
    ``lax.while_loop`` of at most ``max_stages`` stages; a new target, threshold
    or kernel number never recompiles.

    Args:
        kernel: any statjax kernel for the energy ``E`` (continuous or lattice).
        key: PRNG key (typed or legacy).
        initial: ``(N, ...)`` *exact, independent* draws from
            ``exp(-initial_beta E) / Z(initial_beta)`` (or kernel states).
        initial_beta: ``beta_0 >= 0`` (0: the uniform measure of a finite space).
        target_beta: ``beta_T > beta_0``.
        base_log_z: ``log Z(beta_0)``; 0 gives ``log Z(beta_T) - log Z(beta_0)``.
        target_ess: conditional ESS fraction in ``(0, 1)`` each step aims at.
        resample_threshold: resample when ESS ``< resample_threshold * N``, in ``(0, 1]``.
        resampling: ``"systematic"`` or ``"multinomial"``.
        num_steps_per_beta: kernel steps after each reweighting.
        max_stages: bound on the number of temperature steps (the loop's size, static:
            population annealing pads its schedule to a power of two >= 64, so
            ``max_stages=64`` shares its compiled program).
        per_chain: kernel fields with a leading particle axis (see ``sample_chains``);
            they are not resampled, so use them only for per-particle settings that
            do not depend on the particle's history.

    Returns:
        An :class:`SMCResult`.

    Raises:
        ValueError: bad arguments, or ``max_stages`` reached before ``target_beta``.

    Examples:
        >>> import jax, jax.numpy as jnp, statjax
        >>> from statjax.energy.ising import square_ising
        >>> from statjax.samplers.lattice import checkerboard
        >>> model = square_ising(4)
        >>> spins = jax.random.rademacher(jax.random.key(1), (1024, 4, 4), jnp.int8)
        >>> result = adaptive_tempered_smc(checkerboard(model, "heat_bath"), jax.random.key(0),
        ...                                spins, target_beta=0.4, base_log_z=16 * jnp.log(2.0),
        ...                                num_steps_per_beta=2, max_stages=64)
        >>> exact = statjax.thermo.exact_log_z(model, 0.4)
        >>> bool(abs(result.log_z - exact) < 4 * result.standard_error)
        True
    """
    key, num_steps_per_beta, states = _check_common(
        kernel, key, initial, num_steps_per_beta, resampling, resample_threshold
    )
    check_unit_interval("target_ess", target_ess)
    max_stages = check_count("max_stages", max_stages)
    if not (np.isfinite(initial_beta) and initial_beta >= 0):
        raise ValueError(f"initial_beta must be finite and >= 0, got {initial_beta!r}.")
    if not (np.isfinite(target_beta) and target_beta > initial_beta):
        raise ValueError(
            f"target_beta must be finite and > initial_beta ({initial_beta}), got {target_beta!r}."
        )
    schedule = np.full(max_stages + 1, target_beta, float)
    schedule[0] = initial_beta
    carry = _smc(
        kernel,
        key,
        states,
        jnp.asarray(schedule, float),
        0,
        jnp.asarray(target_beta, float),
        jnp.asarray(target_ess, float),
        jnp.asarray(resample_threshold, float),
        resampling == "systematic",
        max_stages=max_stages,
        num_steps_per_beta=num_steps_per_beta,
        per_chain=tuple(per_chain),
        structure=structure_key(kernel),
    )
    if float(carry.beta) < float(jnp.asarray(target_beta, carry.beta.dtype)):
        raise ValueError(
            f"adaptive tempering reached beta = {float(carry.beta):.6g} < target_beta = "
            f"{target_beta} after max_stages = {max_stages} stages; raise max_stages, lower "
            "target_ess, or use more particles."
        )
    return _result(carry, base_log_z, resampling)


def population_annealing(
    kernel: Any,
    key: PRNGKey,
    initial: ArrayTree,
    betas: jax.typing.ArrayLike,
    *,
    base_log_z: jax.typing.ArrayLike = 0.0,
    resampling: str = "multinomial",
    resample_threshold: float = 1.0,
    num_steps_per_beta: int = 1,
    per_chain: Sequence[str] = (),
) -> SMCResult:
    r"""Population annealing along the fixed schedule ``betas`` (Hukushima & Iba 2003; Machta 2010).

    At every step ``beta_{t-1} -> beta_t`` the population is reweighted by
    ``exp(-(beta_t - beta_{t-1}) E)``, resampled (with the default
    ``resample_threshold = 1``: at every step, as in population annealing) and
    moved by ``num_steps_per_beta`` sweeps of ``kernel`` at ``beta_t``. The free
    energy estimate is ``-beta_T F = log Z(beta_T) = log Z(beta_0) + sum_t
    log mean_i w_i`` (Machta 2010, eq. 8); the error bar and the family
    statistics are those of the module docstring (Wang, Machta & Katzgraber 2015).

    Args:
        kernel: any statjax kernel for the energy ``E``.
        key: PRNG key (typed or legacy).
        initial: ``(N, ...)`` exact, independent draws at ``betas[0]`` (or states).
        betas: ``(T + 1,)`` finite, strictly increasing, ``betas[0] >= 0``.
        base_log_z: ``log Z(betas[0])``.
        resampling: ``"systematic"`` or ``"multinomial"``.
        resample_threshold: resample when ESS ``< resample_threshold * N``; 1
            resamples at every step.
        num_steps_per_beta: kernel steps (sweeps) at each ``beta_t``, ``t >= 1``.
        per_chain: as in :func:`adaptive_tempered_smc`.

    Returns:
        An :class:`SMCResult`.

    Examples:
        >>> import jax, jax.numpy as jnp, statjax
        >>> from statjax.energy.ising import square_ising
        >>> from statjax.samplers.lattice import checkerboard
        >>> model = square_ising(4)
        >>> spins = jax.random.rademacher(jax.random.key(1), (1024, 4, 4), jnp.int8)
        >>> result = population_annealing(checkerboard(model, "heat_bath"), jax.random.key(0),
        ...                               spins, jnp.linspace(0.0, 0.4, 21),
        ...                               base_log_z=16 * jnp.log(2.0), num_steps_per_beta=2)
        >>> exact = statjax.thermo.exact_log_z(model, 0.4)
        >>> bool(abs(result.log_z - exact) < 4 * result.standard_error)
        True
    """
    key, num_steps_per_beta, states = _check_common(
        kernel, key, initial, num_steps_per_beta, resampling, resample_threshold
    )
    values = np.asarray(betas, dtype=float)
    if values.ndim != 1 or values.size < 2:
        raise ValueError(f"betas must be a 1-D schedule of at least 2 values, got {values.shape}.")
    if not (np.all(np.isfinite(values)) and values[0] >= 0 and np.all(np.diff(values) > 0)):
        raise ValueError(
            f"betas must be finite, start >= 0 and increase strictly, got {values.tolist()}."
        )
    # A threshold of 1 must resample at every step, also when the weights happen to be equal
    # (ESS = N up to rounding): any threshold above 1 does.
    threshold = 2.0 if resample_threshold == 1.0 else resample_threshold
    num_stages = values.size - 1
    # The loop's buffers have a power-of-two length (at least 64): schedules of different
    # lengths, and adaptive runs with the same max_stages, share one compiled program.
    max_stages = max(64, 1 << (num_stages - 1).bit_length())
    schedule = np.concatenate([values, np.full(max_stages - num_stages, values[-1])])
    carry = _smc(
        kernel,
        key,
        states,
        jnp.asarray(schedule, float),
        num_stages,
        jnp.asarray(values[-1], float),
        jnp.asarray(0.5, float),
        jnp.asarray(threshold, float),
        resampling == "systematic",
        max_stages=max_stages,
        num_steps_per_beta=num_steps_per_beta,
        per_chain=tuple(per_chain),
        structure=structure_key(kernel),
    )
    return _result(carry, base_log_z, resampling)


__all__ = [
    "RESAMPLING_SCHEMES",
    "SMCResult",
    "adaptive_tempered_smc",
    "conditional_ess",
    "family_variance",
    "next_beta",
    "population_annealing",
    "resample",
]
