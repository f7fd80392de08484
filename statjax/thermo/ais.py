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
  at ``beta_t`` and its cached energy makes the weight free;
- the geometric path between a base energy ``E_0`` and a target ``E_1``,
  ``E_b = (1 - b) E_0 + b E_1`` at ``beta = 1`` (:func:`ais_geometric`):
  increment ``-(b_t - b_{t-1}) (E_1 - E_0)(x_{t-1})``.

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

from statjax._tree import as_pytree_fn
from statjax.pytree import Pytree
from statjax.types import ArrayTree, EnergyFn, PRNGKey


class InterpolatedEnergy(Pytree):
    """``E_b(x) = (1 - b) E_0(x) + b E_1(x)``: the geometric path between two energies.

    ``exp(-E_b)`` interpolates geometrically between ``exp(-E_0)`` (``b = 0``) and
    ``exp(-E_1)`` (``b = 1``). A pytree: ``fraction`` and the energies' parameters
    are leaves, so a kernel built on it under ``jit`` does not recompile for a new
    ``b``. Build it with :func:`interpolated_energy`, which makes plain functions
    pytrees (a field holding a bare ``lambda`` cannot cross ``jit``).

    Attributes:
        base_energy_fn: ``E_0``, e.g. a wide Gaussian with known ``log Z``.
        target_energy_fn: ``E_1``.
        fraction: ``b`` in ``[0, 1]``.

    Example:
        >>> import jax.numpy as jnp
        >>> energy = interpolated_energy(lambda x: 0.0 * x, lambda x: 2.0 * x, 0.25)
        >>> float(energy(1.0))
        0.5
    """

    base_energy_fn: EnergyFn
    target_energy_fn: EnergyFn
    fraction: jax.Array = 0.0

    def __call__(self, x: ArrayTree) -> jax.Array:
        """``(1 - b) E_0(x) + b E_1(x)``."""
        return (1.0 - self.fraction) * self.base_energy_fn(x) + self.fraction * (
            self.target_energy_fn(x)
        )


def interpolated_energy(
    base_energy_fn: EnergyFn, target_energy_fn: EnergyFn, fraction: jax.typing.ArrayLike = 0.0
) -> InterpolatedEnergy:
    """``(1 - b) E_0 + b E_1`` as a pytree energy (see :class:`InterpolatedEnergy`)."""
    return InterpolatedEnergy(
        as_pytree_fn(base_energy_fn), as_pytree_fn(target_energy_fn), jnp.asarray(fraction)
    )


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

    Example:
        >>> import jax.numpy as jnp
        >>> print(round(float(log_mean_exp(jnp.log(jnp.array([1.0, 3.0])))), 6))
        0.693147
    """
    log_values = jnp.asarray(log_values)
    return jax.nn.logsumexp(log_values, axis=axis) - jnp.log(log_values.shape[axis])


def importance_sampling_ess(log_weights: jax.typing.ArrayLike, axis: int = -1) -> jax.Array:
    """Effective sample size of importance weights, ``(sum w)^2 / sum w^2`` (Kong 1992).

    ``n`` for equal weights, ``1`` when one weight dominates.

    Example:
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


def _check_path(path, name: str) -> None:
    if isinstance(path, jax.core.Tracer):
        return
    values = np.asarray(path, dtype=float)
    if values.ndim != 1 or values.size < 2:
        raise ValueError(
            f"{name} must be a 1-D path of at least 2 values, got shape {values.shape}."
        )
    if not np.all(np.isfinite(values)):
        raise ValueError(f"{name} must be finite, got {values.tolist()}.")
    if not np.all(np.diff(values) >= 0):
        raise ValueError(f"{name} must be non-decreasing, got {values.tolist()}.")


def _check_steps(num_steps_per_beta) -> int:
    if int(num_steps_per_beta) != num_steps_per_beta or num_steps_per_beta < 1:
        raise ValueError(
            f"num_steps_per_beta must be a positive integer, got {num_steps_per_beta!r}."
        )
    return int(num_steps_per_beta)


def _chain_keys(key, index, num_steps, num_chains):
    """Keys ``(num_steps, num_chains)`` for the transitions at path index ``index``."""
    step_key = jax.random.fold_in(key, index)
    return jax.vmap(lambda m: jax.random.split(jax.random.fold_in(step_key, m), num_chains))(
        jnp.arange(num_steps)
    )


def _num_chains(positions) -> int:
    return jax.tree_util.tree_leaves(positions)[0].shape[0]


@partial(jax.jit, static_argnames="num_steps_per_beta")
def _ais_temperature_path(kernel, key, states, betas, *, num_steps_per_beta):
    num_chains = states.energy.shape[0]

    def one_temperature(carry, x):
        states, log_weights = carry
        index, beta_prev, beta = x
        log_weights = log_weights - (beta - beta_prev) * states.energy
        keys = _chain_keys(key, index, num_steps_per_beta, num_chains)

        def transition(states, step_keys):
            return jax.vmap(kernel.step, in_axes=(0, 0, None))(step_keys, states, beta)[0], None

        states, _ = jax.lax.scan(transition, states, keys)
        return (states, log_weights), None

    log_weights = jnp.zeros(num_chains, states.energy.dtype)
    steps = (jnp.arange(1, betas.shape[0]), betas[:-1], betas[1:])
    (states, log_weights), _ = jax.lax.scan(one_temperature, (states, log_weights), steps)
    return states, log_weights


def ais(
    key: PRNGKey,
    kernel: Any,
    initial: ArrayTree,
    betas: jax.typing.ArrayLike,
    *,
    base_log_z: jax.typing.ArrayLike = 0.0,
    num_steps_per_beta: int = 1,
) -> AISResult:
    r"""AIS along the temperature path ``f_t = exp(-beta_t E)`` of the kernel's energy.

    ``log w = -sum_{t=1}^{T} (beta_t - beta_{t-1}) E(x_{t-1})``: the kernel's state
    caches ``E``, so the weights cost nothing beyond the transitions. The estimate
    is ``log Z(beta_T) = log Z(beta_0) + log mean(w)``.

    Args:
        key: PRNG key; the keys of temperature ``t`` are ``fold_in(key, t)``.
        kernel: any statjax kernel for the energy ``E`` (its ``step`` takes ``beta``).
        initial: ``(num_chains, ...)`` *exact, independent* draws from
            ``exp(-betas[0] E) / Z(betas[0])`` (or kernel states built from them).
        betas: ``(T + 1,)`` non-decreasing inverse temperatures, ``betas[0]`` the base.
        base_log_z: ``log Z(betas[0])``; 0 gives ``log Z(beta_T) - log Z(beta_0)``.
        num_steps_per_beta: kernel steps at each intermediate temperature.

    Returns:
        An :class:`AISResult`.

    Example:
        >>> import jax, jax.numpy as jnp, statjax
        >>> from statjax.energy import AnisotropicGaussian
        >>> gaussian = AnisotropicGaussian(mean=jnp.zeros(2), scales=jnp.ones(2))
        >>> base = 10.0 * jax.random.normal(jax.random.key(1), (256, 2))  # beta_0 = 0.01
        >>> result = ais(jax.random.key(0), statjax.samplers.mala(gaussian, 0.3), base,
        ...              jnp.geomspace(0.01, 1.0, 50), base_log_z=gaussian.log_z(0.01))
        >>> bool(abs(result.log_z - gaussian.log_z(1.0)) < 4 * result.standard_error + 0.05)
        True
    """
    _check_path(betas, "betas")
    num_steps_per_beta = _check_steps(num_steps_per_beta)
    betas = jnp.asarray(betas, dtype=float)
    states = initial if _is_state(initial) else jax.vmap(kernel.init)(initial)
    states, log_weights = _ais_temperature_path(
        kernel, key, states, betas, num_steps_per_beta=num_steps_per_beta
    )
    log_z, standard_error, ess = ais_estimate(log_weights, base_log_z)
    return AISResult(log_z, standard_error, ess, log_weights, states)


def _is_state(tree) -> bool:
    fields = getattr(tree, "_fields", ())
    return "position" in fields and "energy" in fields


@partial(jax.jit, static_argnames="num_steps_per_beta")
def _ais_geometric_path(
    kernel_fn, base_energy_fn, target_energy_fn, key, positions, fractions, *, num_steps_per_beta
):
    num_chains = _num_chains(positions)

    def energy_gap(positions):
        return jax.vmap(lambda x: target_energy_fn(x) - base_energy_fn(x))(positions)

    def one_fraction(carry, x):
        positions, log_weights = carry
        index, fraction_prev, fraction = x
        log_weights = log_weights - (fraction - fraction_prev) * energy_gap(positions)
        kernel = kernel_fn(InterpolatedEnergy(base_energy_fn, target_energy_fn, fraction))
        keys = _chain_keys(key, index, num_steps_per_beta, num_chains)

        def transition(states, step_keys):
            return jax.vmap(kernel.step, in_axes=(0, 0, None))(step_keys, states, 1.0)[0], None

        states, _ = jax.lax.scan(transition, jax.vmap(kernel.init)(positions), keys)
        return (states.position, log_weights), None

    log_weights = jnp.zeros(num_chains, fractions.dtype)
    steps = (jnp.arange(1, fractions.shape[0]), fractions[:-1], fractions[1:])
    (positions, log_weights), _ = jax.lax.scan(one_fraction, (positions, log_weights), steps)
    kernel = kernel_fn(InterpolatedEnergy(base_energy_fn, target_energy_fn, fractions[-1]))
    return jax.vmap(kernel.init)(positions), log_weights


def ais_geometric(
    key: PRNGKey,
    kernel_fn: Callable[[EnergyFn], Any],
    base_energy_fn: EnergyFn,
    target_energy_fn: EnergyFn,
    initial: ArrayTree,
    fractions: jax.typing.ArrayLike,
    *,
    base_log_z: jax.typing.ArrayLike = 0.0,
    num_steps_per_beta: int = 1,
) -> AISResult:
    r"""AIS along the geometric path ``E_b = (1 - b) E_0 + b E_1`` at ``beta = 1``.

    ``log w = -sum_{t=1}^{T} (b_t - b_{t-1}) [E_1(x_{t-1}) - E_0(x_{t-1})]`` and
    ``log Z_1 = log Z_0 + log mean(w)`` with ``Z_i = int exp(-E_i)``. At each
    ``b_t`` the kernel ``kernel_fn(InterpolatedEnergy(E_0, E_1, b_t))`` is built
    inside the compiled loop (so ``b_t`` is traced and nothing recompiles) and
    re-initialised at the chains' positions, which costs one energy (and
    gradient) evaluation per temperature on top of the transitions.

    Args:
        key: PRNG key; the keys of path point ``t`` are ``fold_in(key, t)``.
        kernel_fn: ``energy_fn -> kernel``, e.g.
            ``jax.tree_util.Partial(statjax.samplers.mala, step_size=0.05)`` (a
            ``Partial`` keeps the step size a traced leaf; a plain function is fine
            but define it once: its identity is part of the compiled program). The
            factory runs while tracing, so its checks must accept traced numbers:
            ``hmc`` needs ``num_integration_steps`` as a static Python int (bind it in
            a ``flax.struct`` dataclass, as ``experiments/free_energy.py`` does).
        base_energy_fn: ``E_0``, whose ``Z_0`` is known and which ``initial`` samples.
        target_energy_fn: ``E_1``.
        initial: ``(num_chains, ...)`` exact independent draws from ``exp(-E_0) / Z_0``.
        fractions: ``(T + 1,)`` non-decreasing, typically from 0 to 1.
        base_log_z: ``log Z_0``; 0 gives the ratio ``log(Z_1 / Z_0)``.
        num_steps_per_beta: kernel steps at each intermediate ``b_t``.

    Returns:
        An :class:`AISResult`; ``final_states`` are states of the kernel at ``b_T``.

    Example:
        >>> import jax, jax.numpy as jnp, statjax
        >>> from statjax.energy import AnisotropicGaussian
        >>> base = AnisotropicGaussian(mean=jnp.zeros(2), scales=3.0 * jnp.ones(2))
        >>> target = AnisotropicGaussian(mean=jnp.ones(2), scales=jnp.ones(2))
        >>> draws = 3.0 * jax.random.normal(jax.random.key(1), (256, 2))
        >>> kernel_fn = jax.tree_util.Partial(statjax.samplers.mala, step_size=0.2)
        >>> result = ais_geometric(jax.random.key(0), kernel_fn, base, target, draws,
        ...                        jnp.linspace(0.0, 1.0, 40), base_log_z=base.log_z(1.0))
        >>> bool(abs(result.log_z - target.log_z(1.0)) < 4 * result.standard_error + 0.05)
        True
    """
    _check_path(fractions, "fractions")
    num_steps_per_beta = _check_steps(num_steps_per_beta)
    fractions = jnp.asarray(fractions, dtype=float)
    states, log_weights = _ais_geometric_path(
        as_pytree_fn(kernel_fn),
        as_pytree_fn(base_energy_fn),
        as_pytree_fn(target_energy_fn),
        key,
        initial,
        fractions,
        num_steps_per_beta=num_steps_per_beta,
    )
    log_z, standard_error, ess = ais_estimate(log_weights, base_log_z)
    return AISResult(log_z, standard_error, ess, log_weights, states)


__all__ = [
    "AISResult",
    "InterpolatedEnergy",
    "ais",
    "ais_estimate",
    "ais_geometric",
    "importance_sampling_ess",
    "interpolated_energy",
    "log_mean_exp",
]
