"""Microcanonical Langevin Monte Carlo (MCLMC) and its automatic tuning.

MCLMC (Robnik, De Luca, Silverstein & Seljak 2023, "Microcanonical Hamiltonian
Monte Carlo", JMLR 24(311); Robnik & Seljak 2024, "Microcanonical Langevin Monte
Carlo") moves a particle at unit speed, ``|u| = 1``, through the landscape with
the isokinetic (ESH) equations of motion

    dx/dt = u,      du/dt = -(I - u u^T) grad S(x) / (d - 1),

and partially refreshes the direction ``u`` with decoherence length ``L``. The
marginal law of ``x`` is then ``exp(-S(x))`` (the velocity is uniform on the
sphere). It is rejection-free and unadjusted: the discretisation error biases
the stationary law by O(eps^2) in the step size ``eps``, which the tuning keeps
small by asking for a small energy error per dimension.

**How beta enters.** statjax's targets are ``exp(-beta E)``, so ``S = beta E``:
the force on the velocity is ``beta grad E``. In the momentum update only the
combination ``eps * beta * |grad E| / (d - 1)`` appears, and the velocity's
direction turns toward ``-grad E``. Unlike HMC the particle's speed does not
depend on the temperature: ``eps`` and ``L`` are lengths in position space, and
the width of ``exp(-beta E)`` shrinks like ``beta^-1/2``, so parameters tuned at
one ``beta`` are too large at a colder one (tune at the temperature you sample,
or scale ``eps`` and ``L`` by ``sqrt(beta_tuned / beta)``, exact for a quadratic
energy). At ``beta = inf`` the velocity turns fully onto ``-grad E`` and every
step moves a distance ``eps`` downhill (normalised gradient descent). The energy
error reported, ``dS = beta dE + (d - 1) dK``, is in units of ``kT`` (tempered).

The kernel has fixed shapes and no data-dependent loop (two gradient evaluations
per step for the minimal-norm integrator, one for leapfrog), so thousands of
chains vectorise without divergence in work: suited to accelerators.
"""

from __future__ import annotations

import functools
import math
from typing import Literal, NamedTuple

import jax
import jax.numpy as jnp
from jax.flatten_util import ravel_pytree

from statjax._tree import as_pytree_fn, tree_where
from statjax.checks import as_key, check_count, check_floating_position, check_positive
from statjax.pytree import Pytree, static_field
from statjax.random import normal_like
from statjax.samplers.langevin import LangevinState, energy_and_grad_state, is_finite_state
from statjax.samplers.loop import init_chains, sample_chains
from statjax.types import ArrayTree, EnergyFn, PRNGKey

Integrator = Literal["minimal_norm", "leapfrog"]

MINIMAL_NORM_LAMBDA = 0.1931833275037836
"""Omelyan's / McLachlan's minimal-norm coefficient (Omelyan, Mryglod & Folk 2003)."""


class MCLMCState(NamedTuple):
    """State of an MCLMC chain.

    Attributes:
        position: the current point (any pytree).
        momentum: the unit velocity ``u``, flattened: ``(d,)`` in at least float32.
        energy: the untempered energy ``E(position)``.
        energy_grad: ``grad E(position)``.
    """

    position: ArrayTree
    momentum: jax.Array
    energy: jax.Array
    energy_grad: ArrayTree


class MCLMCInfo(NamedTuple):
    """Outcome of one MCLMC step.

    Attributes:
        acceptance_rate: 1 for a finite update, 0 for a refused one (rejection-free).
        is_accepted: whether the step was taken.
        energy_change: ``beta (E' - E) + (d - 1) dK``, the tempered energy error
            of the step (zero in exact dynamics); the tuning targets its variance.
            Not defined at ``beta = inf`` (inf or NaN there).
        kinetic_change: ``(d - 1) dK``, the kinetic part of it.
    """

    acceptance_rate: jax.Array
    is_accepted: jax.Array
    energy_change: jax.Array
    kinetic_change: jax.Array


def _esh_velocity_update(velocity, energy_grad, beta, duration, num_dims):
    """The exact solution of ``du/dt = -(I - u u^T) beta grad E / (d - 1)`` for constant force.

    Steeg & Galstyan (2021, ESH dynamics), eq. as in BlackJAX's
    ``esh_dynamics_momentum_update_one_step``: with ``e = -g / |g|`` (``g = grad E``),
    ``delta = duration beta |g| / (d - 1)`` and ``zeta = exp(-delta)``,

        u' ∝ e (1 - zeta)(1 + zeta + u.e (1 - zeta)) + 2 zeta u,
        (d - 1) dK = (d - 1) (delta - log 2 + log(1 + u.e + (1 - u.e) zeta^2)).

    Written without ``exp(+delta)`` so a large force (or ``beta = inf``) saturates
    at ``u' = e`` instead of overflowing.
    """
    flat_grad, _ = ravel_pytree(energy_grad)
    flat_grad = flat_grad.astype(velocity.dtype)
    grad_norm = jnp.linalg.norm(flat_grad)
    is_flat = grad_norm == 0
    direction = jnp.where(is_flat, 0.0, -flat_grad / jnp.where(is_flat, 1.0, grad_norm))
    projection = jnp.dot(velocity, direction)
    # where(): at a stationary point beta * 0 is NaN for beta = inf.
    delta = jnp.where(is_flat, 0.0, duration * beta * grad_norm / (num_dims - 1))
    zeta = jnp.exp(-delta)
    raw = direction * (1 - zeta) * (1 + zeta + projection * (1 - zeta)) + 2 * zeta * velocity
    new_velocity = raw / jnp.linalg.norm(raw)
    kinetic_change = delta - math.log(2.0) + jnp.log(1 + projection + (1 - projection) * zeta**2)
    return new_velocity, (num_dims - 1) * kinetic_change


def _unit(vector):
    return vector / jnp.linalg.norm(vector)


class MCLMC(Pytree):
    """Unadjusted microcanonical Langevin Monte Carlo for ``exp(-beta E(x))`` (module docstring).

    One step: the deterministic isokinetic integrator (minimal-norm, ``B(lambda eps)
    A(eps/2) B((1 - 2 lambda) eps) A(eps/2) B(lambda eps)``, or leapfrog ``B A B``),
    with ``A: x <- x + t u`` and ``B`` the exact ESH velocity update, followed by a
    partial refresh of the direction,

        u <- (u + nu z) / |u + nu z|,   nu = sqrt((exp(2 eps / L) - 1) / d),   z ~ N(0, I),

    which decorrelates ``u`` over a length ``L`` (``L = inf``: no refresh, the
    deterministic MCHMC flow). Rejection-free; biased by O(eps^2). A step whose
    new energy or gradient is not finite is refused: the chain stays put and
    its velocity is redrawn uniformly on the sphere (``z / |z|``), as BlackJAX
    does. Build it with :func:`mclmc`, tune ``step_size`` and
    ``decoherence_length`` with :func:`tune_mclmc`.
    """

    energy_fn: EnergyFn
    step_size: jax.Array
    decoherence_length: jax.Array
    integrator: Integrator = static_field(default="minimal_norm")

    def init(self, position: ArrayTree) -> MCLMCState:
        """Start a chain at ``position`` with the velocity ``(1, ..., 1) / sqrt(d)``.

        ``init`` takes no key, so the first velocity is deterministic; the partial
        refresh randomises it within ``~ L / eps`` steps.
        """
        check_floating_position(position, "mclmc")
        flat, _ = ravel_pytree(position)
        if flat.size < 2:
            raise ValueError(
                f"mclmc needs at least 2 coordinates (the velocity lives on the sphere "
                f"S^(d-1) and the force is divided by d - 1); got d = {flat.size}."
            )
        state = energy_and_grad_state(self.energy_fn, position)
        dtype = jnp.promote_types(flat.dtype, jnp.float32)
        velocity = jnp.full((flat.size,), 1.0 / math.sqrt(flat.size), dtype)
        return MCLMCState(position, velocity, state.energy, state.energy_grad)

    def _move(self, position, velocity, duration):
        flat, unravel = ravel_pytree(position)
        moved = flat.astype(velocity.dtype) + duration * velocity
        return energy_and_grad_state(self.energy_fn, unravel(moved.astype(flat.dtype)))

    def step(
        self, key: PRNGKey, state: MCLMCState, beta: jax.typing.ArrayLike
    ) -> tuple[MCLMCState, MCLMCInfo]:
        """One MCLMC step at inverse temperature ``beta``."""
        beta = jnp.asarray(beta)
        num_dims = state.momentum.shape[0]
        eps = self.step_size
        noise = normal_like(key, state.momentum)
        kicks: tuple[float, ...]
        drifts: tuple[float, ...]
        if self.integrator == "leapfrog":
            kicks, drifts = (0.5, 0.5), (1.0,)
        else:
            kicks = (MINIMAL_NORM_LAMBDA, 1 - 2 * MINIMAL_NORM_LAMBDA, MINIMAL_NORM_LAMBDA)
            drifts = (0.5, 0.5)
        velocity, kinetic_change = _esh_velocity_update(
            state.momentum, state.energy_grad, beta, kicks[0] * eps, num_dims
        )
        current = LangevinState(state.position, state.energy, state.energy_grad)
        for drift, kick in zip(drifts, kicks[1:], strict=True):
            current = self._move(current.position, velocity, drift * eps)
            velocity, change = _esh_velocity_update(
                velocity, current.energy_grad, beta, kick * eps, num_dims
            )
            kinetic_change = kinetic_change + change
        refresh = jnp.sqrt(jnp.expm1(2 * eps / self.decoherence_length) / num_dims)
        velocity = _unit(velocity + refresh * noise)
        is_finite = is_finite_state(current) & jnp.all(jnp.isfinite(velocity))
        refused = MCLMCState(state.position, _unit(noise), state.energy, state.energy_grad)
        proposal = MCLMCState(current.position, velocity, current.energy, current.energy_grad)
        new_state = tree_where(is_finite, proposal, refused)
        dtype = state.momentum.dtype
        energy_change = jnp.where(
            is_finite, beta * (current.energy - state.energy) + kinetic_change, 0.0
        ).astype(dtype)
        return new_state, MCLMCInfo(
            is_finite.astype(dtype),
            is_finite,
            energy_change,
            jnp.where(is_finite, kinetic_change, 0.0).astype(dtype),
        )


def mclmc(
    energy_fn: EnergyFn,
    step_size: jax.typing.ArrayLike,
    decoherence_length: jax.typing.ArrayLike,
    integrator: Integrator = "minimal_norm",
) -> MCLMC:
    """Microcanonical Langevin Monte Carlo kernel (see :class:`MCLMC`).

    Args:
        energy_fn: ``E(x) -> scalar``, differentiable, on positions with ``d >= 2``
            coordinates.
        step_size: ``eps`` (> 0), a length in position space.
        decoherence_length: ``L`` (> 0, ``inf`` for no refresh), the distance
            over which the velocity decorrelates.
        integrator: ``"minimal_norm"`` (two gradients per step, the default of
            BlackJAX and the paper) or ``"leapfrog"`` (one).

    Examples:
        >>> import jax, jax.numpy as jnp
        >>> from statjax.samplers.mclmc import mclmc
        >>> kernel = mclmc(lambda x: 0.5 * jnp.sum(x**2), 0.5, 2.0)
        >>> state, info = jax.jit(kernel.step)(jax.random.key(0), kernel.init(jnp.ones(3)), 1.0)
    """
    check_positive("step_size", step_size)
    check_positive("decoherence_length", decoherence_length)
    if integrator not in ("minimal_norm", "leapfrog"):
        raise ValueError(f"integrator must be 'minimal_norm' or 'leapfrog'; got {integrator!r}.")
    return MCLMC(
        as_pytree_fn(energy_fn),
        jnp.asarray(step_size),
        jnp.asarray(decoherence_length),
        integrator,
    )


# ------------------------------------------------------------------- tuning


class _TuningState(NamedTuple):
    """One chain's MCLMC state and its running step-size and moment estimates."""

    chain: MCLMCState
    step_size: jax.Array
    step_size_max: jax.Array
    weighted_xi: jax.Array  # sum_t decay^(T-t) w_t xi_t / eps_t^6
    weight_total: jax.Array  # sum_t decay^(T-t) w_t
    moment_weight: jax.Array  # sum of the weights of the collected positions
    first_moment: jax.Array  # weighted sum of x, (d,)
    second_moment: jax.Array  # weighted sum of x^2, (d,)
    steps_taken: jax.Array  # steps taken so far

    @property
    def position(self):
        """The chain's position."""
        return self.chain.position

    @property
    def energy(self):
        """The chain's untempered energy."""
        return self.chain.energy


class _TuningInfo(NamedTuple):
    acceptance_rate: jax.Array
    is_accepted: jax.Array


class _StepSizeTuning(Pytree):
    """MCLMC whose step size follows the energy-error predictor (BlackJAX's ``predictor``).

    After each step, ``xi = dS^2 / (d Var_target)`` predicts the step size
    ``eps (xi)^(-1/6)`` (``Var[dS] ∝ eps^6`` for the minimal-norm integrator,
    Robnik et al. 2023, sec. 3.3); the predictions are averaged with weights
    ``exp(-(log xi / (6 trust))^2 / 2)`` and an exponential decay
    ``(n - 1) / (n + 1)`` over ``n`` effective samples. A refused step caps the
    step size at 0.8 times its value. From step ``collect_after`` on (stage 2) the
    positions are accumulated (weights ``eps``) to estimate the target's variances.
    """

    kernel: MCLMC
    desired_energy_variance: jax.Array
    trust_in_estimate: jax.Array
    decay: jax.Array
    collect_after: jax.Array

    def init(self, position):  # pragma: no cover - the states are built by tune_mclmc
        raise NotImplementedError

    def step(self, key, state: _TuningState, beta):
        kernel = self.kernel.replace(step_size=state.step_size)
        chain, info = kernel.step(key, state.chain, beta)
        num_dims = state.chain.momentum.shape[0]
        success = info.is_accepted & jnp.isfinite(info.energy_change)
        step_size_max = jnp.where(success, state.step_size_max, 0.8 * state.step_size)
        change = jnp.where(success, info.energy_change, 0.0)
        xi = change**2 / (num_dims * self.desired_energy_variance) + 1e-8
        weight = jnp.exp(-0.5 * (jnp.log(xi) / (6.0 * self.trust_in_estimate)) ** 2)
        weighted_xi = self.decay * state.weighted_xi + weight * xi / state.step_size**6
        weight_total = self.decay * state.weight_total + weight
        step_size = jnp.minimum((weighted_xi / weight_total) ** (-1.0 / 6.0), step_size_max)
        flat, _ = ravel_pytree(chain.position)
        flat = flat.astype(state.first_moment.dtype)
        moment_weight = (state.steps_taken >= self.collect_after) * success * state.step_size
        new = _TuningState(
            chain,
            step_size,
            step_size_max,
            weighted_xi,
            weight_total,
            state.moment_weight + moment_weight,
            state.first_moment + moment_weight * flat,
            state.second_moment + moment_weight * flat**2,
            state.steps_taken + 1,
        )
        return new, _TuningInfo(info.acceptance_rate, info.is_accepted)


class MCLMCTuning(NamedTuple):
    """What :func:`tune_mclmc` found.

    Attributes:
        step_size: the tuned ``eps`` (median over chains of the per-chain predictions).
        decoherence_length: the tuned ``L``.
        variances: ``(d,)`` the target's variances estimated in stage 2 (pooled over chains).
        num_steps: steps taken by every chain in the three stages.
    """

    step_size: jax.Array
    decoherence_length: jax.Array
    variances: jax.Array
    num_steps: int


def tune_mclmc(
    kernel: MCLMC,
    key: PRNGKey,
    initial_positions: ArrayTree,
    num_steps: int,
    *,
    beta: float = 1.0,
    fractions: tuple[float, float, float] = (0.1, 0.1, 0.1),
    desired_energy_variance: float = 5e-4,
    trust_in_estimate: float = 1.5,
    num_effective_samples: float = 150.0,
    decoherence_factor: float = 0.4,
) -> tuple[MCLMC, MCLMCState, MCLMCTuning]:
    """Tune MCLMC's step size and decoherence length (Robnik et al. 2023; BlackJAX's scheme).

    Three stages of ``fractions[i] * num_steps`` steps of every chain, each run
    by the one driver (:func:`statjax.samplers.loop.sample_chains`):

    1. From ``L = sqrt(d)``, ``eps = sqrt(d) / 4`` (in the kernel's units, whatever
       it was built with), the step size follows the energy-error predictor so
       that ``Var[dS] / d`` approaches ``desired_energy_variance`` (the bias of
       the stationary law grows with it).
    2. The same, while the positions' first two moments are accumulated; then
       ``L = sqrt(sum_i Var[x_i])``, the target's size.
    3. A run at the tuned ``eps``, ``L``; with ``tau_i = n / ESS_i`` (the basic
       split-chain ESS of :func:`statjax.effective_sample_size`, over all
       chains), ``L = decoherence_factor * eps * mean_i tau_i``: the distance
       travelled in one autocorrelation time, scaled.

    Every chain tunes its own step size (they run vmapped); the tuned kernel
    takes their median, and the moments of stage 2 are pooled over the chains.

    Args:
        kernel: an :class:`MCLMC` kernel (its energy and integrator are kept).
        key: PRNG key.
        initial_positions: ``(num_chains, ...)`` starting positions.
        num_steps: the nominal run length the fractions refer to (as BlackJAX's
            ``mclmc_find_L_and_step_size``).
        beta: the inverse temperature to tune at (a positive float).
        fractions: fractions of ``num_steps`` for the three stages; stage 3 needs
            at least 4 steps (or 0 to skip it).
        desired_energy_variance: the target ``Var[dS] / d``.
        trust_in_estimate: width of the weights, in units of ``log xi / 6``.
        num_effective_samples: memory of the step-size average.
        decoherence_factor: the factor from ``tau`` to ``L`` (0.4 in BlackJAX).

    Returns:
        ``(tuned_kernel, states, tuning)``: the kernel with the tuned step size and
        decoherence length, the chains' states after tuning, and an
        :class:`MCLMCTuning`.

    Examples:
        >>> import jax, jax.numpy as jnp
        >>> from statjax.samplers.mclmc import mclmc, tune_mclmc
        >>> kernel = mclmc(lambda x: 0.5 * jnp.sum(x**2), 1.0, 1.0)
        >>> tuned, states, tuning = tune_mclmc(
        ...     kernel, jax.random.key(0), jnp.zeros((2, 2)), 40
        ... )
    """
    key = as_key(key)
    num_steps = check_count("num_steps", num_steps)
    check_positive("beta", beta)
    check_positive("desired_energy_variance", desired_energy_variance)
    stage_steps = tuple(round(num_steps * f) for f in fractions)
    if min(stage_steps) < 0 or 0 < stage_steps[2] < 4:
        raise ValueError(
            f"fractions {fractions} of num_steps={num_steps} give stages of {stage_steps} "
            "steps; each must be >= 0 and stage 3 needs 0 or at least 4 steps."
        )
    if not isinstance(kernel, MCLMC):
        raise TypeError(f"tune_mclmc tunes an MCLMC kernel; got {type(kernel).__name__}.")
    tuning = _StepSizeTuning(
        kernel,
        jnp.float32(desired_energy_variance),
        jnp.float32(trust_in_estimate),
        jnp.float32((num_effective_samples - 1.0) / (num_effective_samples + 1.0)),
        jnp.int32(stage_steps[0]),
    )
    tuned, states, variances = _tune(
        tuning, key, initial_positions, jnp.float32(beta), stage_steps, decoherence_factor
    )
    return (
        tuned,
        states,
        MCLMCTuning(tuned.step_size, tuned.decoherence_length, variances, sum(stage_steps)),
    )


def _pooled_variances(states: _TuningState) -> jax.Array:
    weight = jnp.sum(states.moment_weight)
    mean = jnp.sum(states.first_moment, axis=0) / weight
    return jnp.sum(states.second_moment, axis=0) / weight - mean**2


@functools.partial(jax.jit, static_argnames=("stage_steps", "decoherence_factor"))
def _tune(tuning, key, positions, beta, stage_steps, decoherence_factor):
    from statjax.diagnostics import _effective_sample_size  # diagnostics imports nothing of ours

    steps1, steps2, steps3 = stage_steps
    kernel = tuning.kernel
    chains = init_chains(kernel, positions)
    num_chains, num_dims = chains.momentum.shape
    dtype = chains.momentum.dtype
    start_length = jnp.sqrt(jnp.asarray(num_dims, dtype))
    tuning = tuning.replace(kernel=kernel.replace(decoherence_length=start_length))

    def zeros(*shape):
        return jnp.zeros((num_chains, *shape), dtype)

    states = _TuningState(
        chains,
        jnp.full((num_chains,), 0.25, dtype) * start_length,
        jnp.full((num_chains,), jnp.inf, dtype),
        zeros(),
        zeros(),
        zeros(),
        zeros(num_dims),
        zeros(num_dims),
        jnp.zeros((num_chains,), jnp.int32),
    )
    # Stages 1 and 2 are one scan: the tuning kernel starts collecting at step steps1.
    states, _ = sample_chains(tuning, key, states, steps1 + steps2, beta=beta)
    step_size = jnp.median(states.step_size)
    variances = _pooled_variances(states) if steps2 > 1 else jnp.full((num_dims,), jnp.nan)
    length = jnp.sqrt(jnp.sum(variances)) if steps2 > 1 else start_length
    tuned = kernel.replace(step_size=step_size, decoherence_length=length)
    chains = states.chain
    if steps3:

        def flat_position(state, info):
            del info
            return ravel_pytree(state.position)[0]

        chains, trace = sample_chains(
            tuned, key, chains, steps3, beta=beta, start_step=steps1 + steps2, observe=flat_position
        )
        ess = _effective_sample_size(trace.astype(dtype), "basic")
        tau = steps3 * num_chains / ess
        finite = jnp.isfinite(tau)
        mean_tau = jnp.sum(jnp.where(finite, tau, 0.0)) / jnp.sum(finite)
        length = jnp.where(jnp.any(finite), decoherence_factor * step_size * mean_tau, length)
        tuned = tuned.replace(decoherence_length=length)
    return tuned, chains, variances


__all__ = ["MCLMC", "MCLMCInfo", "MCLMCState", "MCLMCTuning", "mclmc", "tune_mclmc"]
