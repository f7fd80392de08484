r"""Annealed importance sampling (AIS): ``log Z`` and ``log Z`` ratios by annealing.

Neal (2001), "Annealed importance sampling", Statistics and Computing 11, 125-139.
Along a path of unnormalised densities ``f_0, ..., f_T`` from a tractable base
``f_0`` (exact samples, known ``Z_0``) to the target ``f_T``, each chain draws
``x_0 ~ f_0 / Z_0``, then for ``t = 1..T``

.. math::

    \log w \mathrel{+}= \log f_t(x_{t-1}) - \log f_{t-1}(x_{t-1}),
    \qquad x_t \sim K_t(x_{t-1}, \cdot),

with ``K_t`` any MCMC kernel leaving ``f_t`` invariant. Then ``E[w] = Z_T / Z_0``
exactly, for any number of temperatures and any mixing of the kernels: the mean
of the weights is an unbiased estimator of ``Z_T / Z_0`` (its logarithm is biased
low by about half its variance). Two paths are provided:

- the temperature path of one energy, ``f_t = exp(-beta_t E)``
  (:func:`ais`): increment ``-(beta_t - beta_{t-1}) E(x_{t-1})``, the kernel runs
  at ``beta_t`` and its cached (untempered) energy makes the weight free;
- the geometric path between a base energy ``E_0`` and a target ``E_1``,
  ``E_b = (1 - b) E_0 + b E_1`` at ``beta = 1`` (:func:`ais_geometric`, a kernel
  on a :class:`statjax.energy.InterpolatedEnergy` whose ``fraction`` is set to
  each ``b_t``): increment ``-(b_t - b_{t-1}) (E_1 - E_0)(x_{t-1})``.

**On the one driver.** The transitions at path point ``t`` are
``num_steps_per_beta`` steps of :func:`statjax.samplers.loop.sample_chains`
starting at global step ``(t - 1) * num_steps_per_beta``, so the key of chain
``c`` at global step ``s`` is ``split(fold_in(key, s), num_chains)[c]``, the rule
of :func:`statjax.run_chains`: an AIS run at a single temperature draws exactly
what ``run_chains`` would. The path points are a ``lax.scan`` around those calls,
inside one jitted program whose kernel, path and keys are traced (a new path,
step size or coupling never recompiles).

The estimate is :func:`log_mean_exp` of the log weights plus ``log Z_0``; the
spread of the weights gives an effective sample size (Kong 1992) and a standard
error by the delta method (:func:`ais_estimate`).
"""

from collections.abc import Callable
from functools import partial
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from statjax.checks import as_key, check_beta_values, check_count, check_initial_energy
from statjax.energy.combinators import InterpolatedEnergy
from statjax.pytree import structure_key
from statjax.samplers.loop import init_chains, sample_chains
from statjax.samplers.run import initial_states
from statjax.types import ArrayTree, PRNGKey


class AISResult(NamedTuple):
    """An AIS estimate and what it rests on.

    Attributes:
        log_z: ``log Z_0 + log mean(w)``; ``log(Z_T / Z_0)`` when ``base_log_z = 0``.
        standard_error: delta-method standard error of ``log_z`` (see :func:`ais_estimate`).
        effective_sample_size: ``(sum w)^2 / sum w^2``, between 1 and ``num_chains``.
        log_weights: ``(num_chains,)`` the log importance weights ``log w``.
        final_states: the kernel states at the end of the path, leading axis chains.
    """

    log_z: jax.Array
    standard_error: jax.Array
    effective_sample_size: jax.Array
    log_weights: jax.Array
    final_states: Any


def log_mean_exp(log_values: jax.typing.ArrayLike, axis: int = -1) -> jax.Array:
    """``log(mean(exp(log_values)))`` without overflow: ``logsumexp - log n``.

    Examples:
        >>> import jax.numpy as jnp
        >>> print(round(float(log_mean_exp(jnp.log(jnp.array([1.0, 3.0])))), 6))
        0.693147
    """
    log_values = jnp.asarray(log_values)
    return jax.nn.logsumexp(log_values, axis=axis) - jnp.log(log_values.shape[axis])


def importance_sampling_ess(log_weights: jax.typing.ArrayLike, axis: int = -1) -> jax.Array:
    """Effective sample size of importance weights, ``(sum w)^2 / sum w^2`` (Kong 1992).

    ``n`` for equal weights, ``1`` when one weight dominates.

    Examples:
        >>> import jax.numpy as jnp
        >>> float(importance_sampling_ess(jnp.zeros(8)))
        8.0
    """
    log_weights = jnp.asarray(log_weights)
    return jnp.exp(
        2.0 * jax.nn.logsumexp(log_weights, axis=axis)
        - jax.nn.logsumexp(2.0 * log_weights, axis=axis)
    )


def ais_estimate(
    log_weights: jax.typing.ArrayLike, base_log_z: jax.typing.ArrayLike = 0.0
) -> tuple[jax.Array, jax.Array, jax.Array]:
    r"""``log Z``, its standard error and the ESS from AIS log weights ``(num_chains,)``.

    .. math::

        \widehat{\log Z} = \log Z_0 + \log \bar w, \qquad
        \mathrm{se} = \frac{s_w}{\sqrt{n}\, \bar w},

    ``\bar w`` and ``s_w`` the mean and standard deviation (``ddof = 1``) of the
    weights over ``n`` independent chains. ``\bar w`` is unbiased for
    ``Z / Z_0``; the standard error is the delta method on ``log \bar w``
    (``var log X ~ var X / E[X]^2``), so it is meaningful when the weights are not
    too heavy-tailed (an ESS of a few tens at least). Weights are rescaled by their
    maximum first, so nothing overflows.

    Returns:
        ``(log_z, standard_error, effective_sample_size)``.
    """
    log_weights = jnp.asarray(log_weights)
    num_chains = log_weights.shape[-1]
    if num_chains < 2:
        raise ValueError(f"need at least 2 chains for a standard error, got {num_chains}.")
    weights = jnp.exp(log_weights - jnp.max(log_weights, axis=-1, keepdims=True))
    mean = jnp.mean(weights, -1)
    spread = jnp.std(weights, -1, ddof=1)
    log_z = jnp.asarray(base_log_z) + log_mean_exp(log_weights)
    return log_z, spread / (np.sqrt(num_chains) * mean), importance_sampling_ess(log_weights)


def _check_path(path: jax.typing.ArrayLike, name: str) -> jax.Array:
    """``path`` as a float array, refused unless 1-D, of length >= 2, finite, non-decreasing."""
    if not isinstance(path, jax.core.Tracer):
        values = np.asarray(path, dtype=float)
        if values.ndim != 1 or values.size < 2:
            raise ValueError(
                f"{name} must be a 1-D path of at least 2 values, got shape {values.shape}."
            )
        if not np.all(np.isfinite(values)):
            raise ValueError(f"{name} must be finite, got {values.tolist()}.")
        if not np.all(np.diff(values) >= 0):
            raise ValueError(f"{name} must be non-decreasing, got {values.tolist()}.")
    return jnp.asarray(path, dtype=float)


def _anneal(
    states: Any,
    num_points: int,
    move: Callable[[Any, jax.Array], Any],
    log_weight_increment: Callable[[Any, jax.Array], jax.Array],
    dtype: Any,
) -> tuple[Any, jax.Array]:
    """Neal's recursion over path points ``t = 1..T``: weigh ``x_{t-1}``, then move at ``t``."""

    def one_point(carry, t):
        states, log_weights = carry
        log_weights = log_weights + log_weight_increment(states, t)
        return (move(states, t), log_weights), None

    log_weights = jnp.zeros(states.energy.shape, dtype)
    (states, log_weights), _ = jax.lax.scan(
        one_point, (states, log_weights), jnp.arange(1, num_points)
    )
    return states, log_weights


@partial(jax.jit, static_argnames=("num_steps_per_beta", "structure"))
def _ais_temperature_path(kernel, key, states, betas, *, num_steps_per_beta, structure):
    del structure  # a cache key only (see statjax.pytree.structure_key)

    def move(states, t):
        start_step = (t - 1) * num_steps_per_beta
        return sample_chains(
            kernel, key, states, num_steps_per_beta, beta=betas[t], start_step=start_step
        )[0]

    def log_weight_increment(states, t):
        return -(betas[t] - betas[t - 1]) * states.energy

    dtype = jnp.result_type(betas, states.energy, jnp.float32)
    return _anneal(states, betas.shape[0], move, log_weight_increment, dtype)


def ais(
    kernel: Any,
    key: PRNGKey,
    initial: ArrayTree,
    betas: jax.typing.ArrayLike,
    *,
    base_log_z: jax.typing.ArrayLike = 0.0,
    num_steps_per_beta: int = 1,
) -> AISResult:
    r"""AIS along the temperature path ``f_t = exp(-beta_t E)`` of the kernel's energy.

    ``log w = -sum_{t=1}^{T} (beta_t - beta_{t-1}) E(x_{t-1})``: the kernel's state
    caches the untempered ``E``, so the weights cost nothing beyond the
    transitions. The estimate is ``log Z(beta_T) = log Z(beta_0) + log mean(w)``.

    Args:
        kernel: any statjax kernel for the energy ``E`` (its ``step`` takes ``beta``).
        key: PRNG key (typed or legacy); the transitions follow the driver's rule
            (module docstring): path point ``t`` runs global steps
            ``(t - 1) * num_steps_per_beta`` onwards.
        initial: ``(num_chains, ...)`` *exact, independent* draws from
            ``exp(-betas[0] E) / Z(betas[0])`` (or kernel states built from them).
        betas: ``(T + 1,)`` finite, non-decreasing inverse temperatures,
            ``betas[0] >= 0`` the base (``0``: the uniform measure of a finite
            state space); the kernel runs at ``betas[1:]``, which must be ``> 0``.
        base_log_z: ``log Z(betas[0])``; 0 gives ``log Z(beta_T) - log Z(beta_0)``.
        num_steps_per_beta: kernel steps at each temperature ``betas[1:]``.

    Returns:
        An :class:`AISResult`.

    Examples:
        >>> import jax, jax.numpy as jnp, statjax
        >>> from statjax.energy import AnisotropicGaussian
        >>> gaussian = AnisotropicGaussian(mean=jnp.zeros(2), scales=jnp.ones(2))
        >>> base = 10.0 * jax.random.normal(jax.random.key(1), (256, 2))  # beta_0 = 0.01
        >>> result = ais(statjax.samplers.mala(gaussian, 0.3), jax.random.key(0), base,
        ...              jnp.geomspace(0.01, 1.0, 50), base_log_z=gaussian.log_z(0.01))
        >>> bool(abs(result.log_z - gaussian.log_z(1.0)) < 4 * result.standard_error + 0.05)
        True
    """
    key = as_key(key)
    betas = _check_path(betas, "betas")
    if not isinstance(betas, jax.core.Tracer):
        check_beta_values(np.asarray(betas[1:]), "betas[1:] (where the kernel runs)")
        if betas[0] < 0:
            raise ValueError(f"betas[0] must be >= 0, got {float(betas[0])}.")
    num_steps_per_beta = check_count("num_steps_per_beta", num_steps_per_beta)
    states = initial_states(kernel, initial)
    check_initial_energy(states.energy)
    states, log_weights = _ais_temperature_path(
        kernel,
        key,
        states,
        betas,
        num_steps_per_beta=num_steps_per_beta,
        structure=structure_key(kernel),
    )
    log_z, standard_error, ess = ais_estimate(log_weights, base_log_z)
    return AISResult(log_z, standard_error, ess, log_weights, states)


def _at_fraction(kernel: Any, fraction: jax.typing.ArrayLike) -> Any:
    """``kernel`` on ``E_b`` with ``b = fraction`` (its ``energy_fn.fraction`` replaced)."""
    return kernel.replace(energy_fn=kernel.energy_fn.replace(fraction=fraction))


@partial(jax.jit, static_argnames=("num_steps_per_beta", "structure"))
def _ais_geometric_path(kernel, key, states, fractions, *, num_steps_per_beta, structure):
    del structure  # a cache key only (see statjax.pytree.structure_key)
    energy_fn = kernel.energy_fn

    def move(states, t):
        # The state caches E_{b_{t-1}} (and its gradient): start the chains again on E_{b_t}.
        kernel_t = _at_fraction(kernel, fractions[t])
        states = init_chains(kernel_t, states.position)
        start_step = (t - 1) * num_steps_per_beta
        return sample_chains(kernel_t, key, states, num_steps_per_beta, start_step=start_step)[0]

    def log_weight_increment(states, t):
        gap = jax.vmap(lambda x: energy_fn.target_energy_fn(x) - energy_fn.base_energy_fn(x))
        return -(fractions[t] - fractions[t - 1]) * gap(states.position)

    dtype = jnp.result_type(fractions, states.energy, jnp.float32)
    return _anneal(states, fractions.shape[0], move, log_weight_increment, dtype)


def ais_geometric(
    kernel: Any,
    key: PRNGKey,
    initial: ArrayTree,
    fractions: jax.typing.ArrayLike,
    *,
    base_log_z: jax.typing.ArrayLike = 0.0,
    num_steps_per_beta: int = 1,
) -> AISResult:
    r"""AIS along the geometric path ``E_b = (1 - b) E_0 + b E_1`` at ``beta = 1``.

    ``log w = -sum_{t=1}^{T} (b_t - b_{t-1}) [E_1(x_{t-1}) - E_0(x_{t-1})]`` and
    ``log Z_1 = log Z_0 + log mean(w)`` with ``Z_i = int exp(-E_i)``. The kernel
    is built on an :class:`statjax.energy.InterpolatedEnergy`; at each ``b_t`` its
    ``energy_fn.fraction`` is set to ``b_t`` (a traced leaf: nothing recompiles)
    and the chains are re-initialised at their positions, which costs one energy
    (and gradient) evaluation per path point on top of the transitions.

    Args:
        kernel: a statjax kernel whose ``energy_fn`` field is an
            :class:`~statjax.energy.InterpolatedEnergy` ``(E_0, E_1)``, e.g.
            ``statjax.samplers.hmc(interpolated_energy(E_0, E_1), 0.05, 10)``;
            the fraction it was built with is ignored.
        key: PRNG key (typed or legacy); the keys follow the driver's rule as in
            :func:`ais`.
        initial: ``(num_chains, ...)`` exact independent draws from ``exp(-E_0) / Z_0``.
        fractions: ``(T + 1,)`` finite, non-decreasing, typically from 0 to 1.
        base_log_z: ``log Z_0``; 0 gives the ratio ``log(Z_1 / Z_0)``.
        num_steps_per_beta: kernel steps at each ``b_t``, ``t >= 1``.

    Returns:
        An :class:`AISResult`; ``final_states`` are states of the kernel at ``b_T``.

    Examples:
        >>> import jax, jax.numpy as jnp, statjax
        >>> from statjax.energy import AnisotropicGaussian, interpolated_energy
        >>> base = AnisotropicGaussian(mean=jnp.zeros(2), scales=3.0 * jnp.ones(2))
        >>> target = AnisotropicGaussian(mean=jnp.ones(2), scales=jnp.ones(2))
        >>> draws = 3.0 * jax.random.normal(jax.random.key(1), (256, 2))
        >>> kernel = statjax.samplers.mala(interpolated_energy(base, target), 0.2)
        >>> result = ais_geometric(kernel, jax.random.key(0), draws,
        ...                        jnp.linspace(0.0, 1.0, 40), base_log_z=base.log_z(1.0))
        >>> bool(abs(result.log_z - target.log_z(1.0)) < 4 * result.standard_error + 0.05)
        True
    """
    energy_fn = getattr(kernel, "energy_fn", None)
    if not isinstance(energy_fn, InterpolatedEnergy) or not hasattr(kernel, "replace"):
        raise TypeError(
            f"kernel must be a statjax kernel whose energy_fn is an InterpolatedEnergy, got "
            f"{type(kernel).__name__} with energy_fn {type(energy_fn).__name__}; build it as "
            "statjax.samplers.mala(statjax.energy.interpolated_energy(base, target), step_size)."
        )
    key = as_key(key)
    fractions = _check_path(fractions, "fractions")
    num_steps_per_beta = check_count("num_steps_per_beta", num_steps_per_beta)
    start = _at_fraction(kernel, fractions[0])
    states = initial_states(start, initial)
    check_initial_energy(states.energy)
    states, log_weights = _ais_geometric_path(
        start,
        key,
        states,
        fractions,
        num_steps_per_beta=num_steps_per_beta,
        structure=structure_key(start),
    )
    log_z, standard_error, ess = ais_estimate(log_weights, base_log_z)
    return AISResult(log_z, standard_error, ess, log_weights, states)


__all__ = [
    "AISResult",
    "ais",
    "ais_estimate",
    "ais_geometric",
    "importance_sampling_ess",
    "log_mean_exp",
]
