"""Langevin kernels: unadjusted (ULA) and Metropolis-adjusted (MALA).

Both discretise the overdamped Langevin equation in the energy landscape,

    dx = -grad E(x) dt + sqrt(2 T) dW,      T = 1 / beta,

whose stationary law is ``exp(-beta E(x))``. The step size is a time step in
energy units: the drift does not depend on the temperature and the noise grows
as ``sqrt(T)``, so one step size is stable at every temperature of a ladder.

Decisions shared by ULA, MALA and HMC (:mod:`statjax.samplers.hmc`):

- **The energy returns one scalar per position** and positions are floating
  point: ``init`` and every proposal go through
  :func:`statjax.checks.scalar_energy` and ``init`` through
  :func:`statjax.checks.check_floating_position`, so a vector-valued energy or
  an integer position is a ``ValueError``/``TypeError`` at trace time.
- **dtypes.** A state keeps the dtypes it was started with: the position's,
  the energy function's output and the gradient's (the position's). Noise,
  drift, momenta and the leapfrog updates are computed in the position's dtype
  but at least float32 (bfloat16 and float16 positions get float32 noise) and
  only the new position is rounded back, so a step never changes a dtype (the
  ``scan`` carry of :func:`statjax.run_chains` stays fixed, ``jax_enable_x64``
  or not). With float32 and float64 positions nothing is rounded and the
  noise is drawn at the position's own dtype. A bfloat16 chain is an
  approximation whatever the kernel: the rounding of each new position is not
  part of the Metropolis–Hastings ratio.
- **Zero temperature** (``beta = +inf``): the noise scale ``sqrt(2 eps / beta)``
  is exactly 0, so ULA is gradient descent ``x' = x - eps grad E(x)``. MALA keeps
  its test, whose limit accepts the descent step iff
  ``E(x') - E(x) + |grad E(x) + grad E(x')|^2 eps / 4 < 0``: a descent that never
  raises the energy; a tie (a stationary point) is refused like every ``0 * inf``
  ratio, so no NaN enters the state or ``acceptance_rate``.
- **Non-finite proposals** (energy NaN, ``+inf`` or ``-inf``, or a non-finite
  gradient) are refused: by the accept step for MALA and HMC
  (:func:`statjax.samplers.base.accept_with_log_uniform`), by
  :func:`is_finite_state` for ULA. An energy of ``-inf`` is treated as a bug in
  the energy, not a mode (a chain could never leave it).
"""

from typing import NamedTuple

import jax
import jax.numpy as jnp

from statjax._tree import (
    as_pytree_fn,
    compute_dtype,
    tree_axpy,
    tree_cast_like,
    tree_upcast,
    tree_vdot,
    tree_where,
)
from statjax.checks import check_floating_position, check_positive, scalar_energy
from statjax.pytree import Pytree
from statjax.random import normal_and_log_uniform_like, normal_like
from statjax.samplers.base import AcceptanceInfo, accept_with_log_uniform
from statjax.types import ArrayTree, EnergyFn, PRNGKey


class LangevinState(NamedTuple):
    """State of a Langevin (or HMC) chain.

    Attributes:
        position: the current point (any pytree).
        energy: the untempered energy ``E(position)``.
        energy_grad: ``grad E(position)``, a pytree like ``position``.
    """

    position: ArrayTree
    energy: jax.Array
    energy_grad: ArrayTree


def energy_and_grad_state(energy_fn: EnergyFn, position: ArrayTree) -> LangevinState:
    """A :class:`LangevinState` at ``position``: the energy and its gradient, cached.

    The energy must return one scalar (:func:`statjax.checks.scalar_energy`: a
    ``ValueError`` at trace time otherwise).
    """
    energy, energy_grad = jax.value_and_grad(lambda x: scalar_energy(energy_fn, x))(position)
    return LangevinState(position, energy, energy_grad)


def _langevin_proposal(energy_fn, step_size, noise, state, beta) -> LangevinState:
    """Euler–Maruyama step ``x' = x - eps grad E(x) + sqrt(2 eps / beta) xi``, ``xi = noise``.

    Computed in at least float32 (``noise`` is), rounded back to the position's
    dtype. At ``beta = inf`` the noise scale is exactly 0: gradient descent.
    """
    noise_scale = jnp.sqrt(2.0 * step_size / beta)
    drifted = tree_axpy(-step_size, tree_upcast(state.energy_grad), tree_upcast(state.position))
    position = tree_cast_like(tree_axpy(noise_scale, noise, drifted), state.position)
    return energy_and_grad_state(energy_fn, position)


def is_finite_state(state: LangevinState) -> jax.Array:
    """Whether a state's energy and every gradient entry are finite (else it is refused).

    NaN, ``+inf`` and ``-inf`` energies all count as not finite.
    """
    grad_finite = [jnp.all(jnp.isfinite(g)) for g in jax.tree_util.tree_leaves(state.energy_grad)]
    return jnp.isfinite(state.energy) & jnp.all(jnp.stack(grad_finite))


class UnadjustedLangevin(Pytree):
    """Unadjusted Langevin algorithm (ULA), a biased but rejection-free kernel.

    ``x' = x - eps grad E(x) + sqrt(2 eps T) xi`` (Roberts & Tweedie 1996; Parisi
    1981). Its stationary law differs from ``exp(-beta E)`` by O(eps). A proposal
    whose energy (NaN, ``+inf`` or ``-inf``) or gradient is not finite is refused
    (the chain stays put), so a chain never holds a NaN nor falls into a ``-inf``
    hole; ``acceptance_rate`` is 1 for a finite update and 0 for a refused one,
    ``is_accepted`` the same as a bool. At ``beta = inf`` it is gradient descent.
    bfloat16 positions are updated in float32 and rounded (module docstring).
    Build it with :func:`ula`.
    """

    energy_fn: EnergyFn
    step_size: jax.Array

    def init(self, position: ArrayTree) -> LangevinState:
        """Start a chain at ``position``, caching its energy and gradient."""
        check_floating_position(position, "ula")
        return energy_and_grad_state(self.energy_fn, position)

    def step(
        self, key: PRNGKey, state: LangevinState, beta: jax.typing.ArrayLike
    ) -> tuple[LangevinState, AcceptanceInfo]:
        """One ULA step at inverse temperature ``beta``."""
        noise = normal_like(key, state.position, at_least_float32=True)
        proposal = _langevin_proposal(self.energy_fn, self.step_size, noise, state, beta)
        is_finite = is_finite_state(proposal)
        new_state = tree_where(is_finite, proposal, state)
        rate = is_finite.astype(compute_dtype(jnp.result_type(state.energy)))
        return new_state, AcceptanceInfo(rate, is_finite)


class MetropolisAdjustedLangevin(Pytree):
    """Metropolis-adjusted Langevin algorithm (MALA), exact for ``exp(-beta E)``.

    The ULA proposal ``q(x'|x) = N(x - eps grad E(x), 2 eps T I)`` is accepted with

        log alpha = -beta [E(x') - E(x)] - beta / (4 eps) (|x - x' + eps grad E(x')|^2
                                                            - |x' - x + eps grad E(x)|^2)

    (Roberts & Tweedie 1996; Besag 1994). A proposal whose energy is NaN, ``+inf``
    or ``-inf`` (or whose gradient makes the ratio NaN) is refused. At
    ``beta = inf`` the proposal is the gradient-descent step and the test's limit
    accepts it iff ``E(x') + eps |grad E(x) + grad E(x')|^2 / 4 < E(x)`` (module
    docstring). Build it with :func:`mala`.
    """

    energy_fn: EnergyFn
    step_size: jax.Array

    def init(self, position: ArrayTree) -> LangevinState:
        """Start a chain at ``position``, caching its energy and gradient."""
        check_floating_position(position, "mala")
        return energy_and_grad_state(self.energy_fn, position)

    def step(
        self, key: PRNGKey, state: LangevinState, beta: jax.typing.ArrayLike
    ) -> tuple[LangevinState, AcceptanceInfo]:
        """One MALA step at inverse temperature ``beta``."""
        beta = jnp.asarray(beta)
        noise, log_uniform = normal_and_log_uniform_like(key, state.position, at_least_float32=True)
        proposal = _langevin_proposal(self.energy_fn, self.step_size, noise, state, beta)
        log_ratio = -beta * (
            proposal.energy
            - state.energy
            + (
                _squared_jump(proposal, state, self.step_size)
                - _squared_jump(state, proposal, self.step_size)
            )
            / (4.0 * self.step_size)
        )
        return accept_with_log_uniform(log_uniform, log_ratio, proposal, state)


def _squared_jump(start: LangevinState, end: LangevinState, step_size) -> jax.Array:
    """``|x_end - x_start + eps grad E(x_start)|^2``: the exponent of ``q(end | start)``.

    In at least float32, like the proposal itself.
    """
    displacement = jax.tree_util.tree_map(
        lambda a, b, g: a - b + step_size * g,
        tree_upcast(end.position),
        tree_upcast(start.position),
        tree_upcast(start.energy_grad),
    )
    return tree_vdot(displacement, displacement)


def ula(energy_fn: EnergyFn, step_size: jax.typing.ArrayLike) -> UnadjustedLangevin:
    """Unadjusted Langevin kernel (see :class:`UnadjustedLangevin`).

    Args:
        energy_fn: ``E(x) -> scalar``, differentiable; one scalar per position
            (a vector-valued energy is a ``ValueError`` when the kernel is traced).
        step_size: the time step ``eps`` (> 0).

    Examples:
        >>> import jax, jax.numpy as jnp, statjax
        >>> kernel = statjax.samplers.ula(lambda x: 0.5 * jnp.sum(x**2), 0.05)
        >>> state, info = kernel.step(jax.random.key(0), kernel.init(jnp.zeros(2)), 1.0)
    """
    check_positive("step_size", step_size)
    return UnadjustedLangevin(as_pytree_fn(energy_fn), jnp.asarray(step_size))


def mala(energy_fn: EnergyFn, step_size: jax.typing.ArrayLike) -> MetropolisAdjustedLangevin:
    """Metropolis-adjusted Langevin kernel (see :class:`MetropolisAdjustedLangevin`).

    Args:
        energy_fn: ``E(x) -> scalar``, differentiable; one scalar per position
            (a vector-valued energy is a ``ValueError`` when the kernel is traced).
        step_size: the time step ``eps`` (> 0).

    Examples:
        >>> import jax, jax.numpy as jnp, statjax
        >>> kernel = statjax.samplers.mala(lambda x: 0.5 * jnp.sum(x**2), 0.1)
        >>> state, info = kernel.step(jax.random.key(0), kernel.init(jnp.zeros(2)), 4.0)
    """
    check_positive("step_size", step_size)
    return MetropolisAdjustedLangevin(as_pytree_fn(energy_fn), jnp.asarray(step_size))
