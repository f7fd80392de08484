r"""Large deviations of an observable (a loss) by exponentially tilted ensembles.

Setting: a reference measure ``p_0(x) ∝ exp(-E_0(x))`` over parameters (say an
isotropic Gaussian of width ``sigma`` around trained weights) and an observable
``L(x)`` (the loss). The *tilted ensembles*

.. math::

    p_k(x) = p_0(x)\, e^{-k L(x)} / Z(k), \qquad
    Z(k) = \mathbb{E}_{p_0}\big[e^{-k L}\big],

favour low ``L`` for ``k > 0`` and high ``L`` for ``k < 0``; ``k`` plays the part of
an inverse temperature of ``L``, so ``log Z`` follows by thermodynamic integration
(Gelman & Meng 1998) from ``log Z(0) = 0``:

.. math::

    \frac{d \log Z}{dk} = -\langle L \rangle_k, \qquad
    \frac{d^2 \log Z}{dk^2} = \mathrm{Var}_k(L).

``log Z(k)`` is the cumulant generating function of ``-L`` under ``p_0``. Its
Legendre transform is the rate function (Gärtner–Ellis; Touchette 2009, "The large
deviation approach to statistical mechanics", Phys. Rep. 478, 1-69):

.. math::

    I(l) = \frac{1}{n} \sup_k \big[-k l - \log Z(k)\big]
         = \frac{1}{n} \big[-k l - \log Z(k)\big]_{l = \langle L \rangle_k},

so every rung ``k`` of a tilt ladder gives one point ``(<L>_k, I)`` of the curve,
``P_0(L \approx l) \asymp e^{-n I(l)}`` with ``n`` the chosen ``scale``. Tail
probabilities follow exactly from the same samples by importance sampling with the
tilt as the proposal (Siegmund 1976; Bucklew 2004, "Introduction to rare event
simulation"):

.. math::

    P_0(L \le t) = Z(k)\, \mathbb{E}_k\big[e^{k L}\, 1\{L \le t\}\big],

whose weights ``e^{k (L - t)}`` are at most 1 when ``k > 0`` (and likewise for
``P_0(L \ge t)`` with ``k < 0``), so events of probability ``1e-10`` cost no more
samples than typical ones once a tilt reaches them. ``exp(-n I(l))`` is the
Chernoff bound of the same tail probability.

Estimation (:func:`large_deviation_rate`): ``<L>_k`` and ``Var_k(L)`` from the
chains of each rung; ``log Z`` by the trapezoid rule with its Euler–Maclaurin end
correction, exact to fourth order because the derivative of the integrand is known
(``d<L>_k/dk = -Var_k(L)``):

.. math::

    \int_a^b \langle L \rangle_k\, dk \approx \frac{h}{2}(m_a + m_b)
        + \frac{h^2}{12}(v_b - v_a), \quad h = b - a.

Error bars are delete-one jackknife over independent chains (every rung loses its
chain ``c`` in replicate ``c``), so they hold whatever the autocorrelation within a
chain and carry the correlations between rungs through the cumulative integral.

Sampling (:func:`adapt_tilted_step_sizes`, :func:`sample_tilted`): the whole
ladder is one batch of chains of any statjax kernel built on a
:class:`statjax.energy.TiltedEnergy`, through the one driver
(:func:`statjax.run_chains`, :func:`statjax.samplers.loop.sample_chains`). The
tilt ``k`` and the step size are *per-chain kernel leaves*
(:func:`tilt_ladder`: ``energy_fn.tilt`` and ``step_size`` of shape
``(num_chains,)``, rung-major, run with ``per_chain=TILT_LADDER_FIELDS``), so no
special kernel is needed and a chain's state is the plain state of that kernel:
its ``energy`` is the chain's own tilted energy ``E_0(x) + k_c L(x)`` (untempered:
``beta = 1`` is the tilted ensemble ``p_k``), not the reference energy ``E_0``.
Keys follow the driver's rule (a step's key is ``fold_in(key, global step)``
split over chains).

Limits: where ``log Z`` is not differentiable in ``k`` (a first-order transition:
the tilted ensemble jumps between distant regions, e.g. to far-away weights of a
network whose loss grows linearly with their size) the Legendre transform only
gives the convex hull of the rate function, and chains near the jump do not
equilibrate. The sign is a jump of ``<L>_k`` between neighbouring rungs with error
bars and a discretisation error far above those of the other rungs.
"""

import dataclasses
import functools
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from statjax.checks import (
    as_key,
    check_count,
    check_initial_energy,
    check_positive,
    check_unit_interval,
    num_chains,
)
from statjax.energy.combinators import TiltedEnergy
from statjax.pytree import structure_key
from statjax.samplers.adaptation import dual_averaging_init, dual_averaging_update
from statjax.samplers.loop import sample_chains
from statjax.samplers.run import initial_states, is_state, run_chains
from statjax.types import ArrayTree, PRNGKey

TILT_LADDER_FIELDS: tuple[str, ...] = ("energy_fn.tilt", "step_size")
"""The kernel fields that carry a chain axis in a tilt ladder (``per_chain=`` of the driver)."""


def tilt_ladder(
    kernel: Any,
    tilts: jax.typing.ArrayLike,
    num_chains_per_tilt: int,
    step_sizes: jax.typing.ArrayLike | None = None,
) -> Any:
    """``kernel`` with one tilt and one step size per chain: a ladder of tilted ensembles.

    Chain ``c`` of rung ``j`` (row ``j * num_chains_per_tilt + c``: rung-major)
    samples ``p_{k_j} ∝ p_0 e^{-k_j L}`` with step size ``step_sizes[j]``: the
    kernel's ``energy_fn.tilt`` and ``step_size`` become leaves of shape
    ``(num_tilts * num_chains_per_tilt,)``. Run it through the driver with
    ``per_chain=TILT_LADDER_FIELDS`` (:func:`statjax.run_chains`,
    :func:`statjax.samplers.loop.sample_chains`), which vmaps those leaves over
    the chains: a whole ladder is one batch of one kernel, and a stiffer rung
    (large ``k``) gets its own smaller step. Every chain's state is the kernel's
    own state, whose ``energy`` is that chain's tilted energy ``E_0 + k_c L``.

    Args:
        kernel: a statjax kernel with a scalar ``step_size`` (``mala``, ``hmc``,
            ``ula``, ...) whose ``energy_fn`` is a :class:`statjax.energy.TiltedEnergy`.
        tilts: ``(num_tilts,)`` values of ``k``.
        num_chains_per_tilt: chains per rung.
        step_sizes: ``(num_tilts,)`` step sizes, one per rung; the kernel's own by
            default.

    Examples:
        >>> import jax.numpy as jnp, statjax
        >>> energy = statjax.energy.tilted_energy(lambda x: 0.5 * jnp.sum(x**2), jnp.sum)
        >>> ladder = tilt_ladder(statjax.samplers.mala(energy, 0.1), [0.0, 2.0], 2)
        >>> states = statjax.samplers.loop.init_chains(ladder, jnp.ones((4, 2)), TILT_LADDER_FIELDS)
        >>> states.energy.tolist()  # E_0 + k L at x = (1, 1): 1 + 2k
        [1.0, 1.0, 5.0, 5.0]
    """
    energy_fn = getattr(kernel, "energy_fn", None)
    if not isinstance(energy_fn, TiltedEnergy) or not hasattr(kernel, "replace"):
        raise TypeError(
            f"kernel must be a statjax kernel whose energy_fn is a TiltedEnergy, got "
            f"{type(kernel).__name__} with energy_fn {type(energy_fn).__name__}; build it as "
            "statjax.samplers.mala(statjax.energy.tilted_energy(reference_energy_fn, "
            "observable_fn), step_size)."
        )
    step_size = getattr(kernel, "step_size", None)
    if step_size is None or np.ndim(step_size) != 0:
        raise TypeError(f"kernel must have a scalar step_size, got {step_size!r}.")
    tilts = _check_tilts(tilts, require_zero=False)
    num_chains_per_tilt = check_count("num_chains_per_tilt", num_chains_per_tilt)
    if step_sizes is None:
        step_sizes = np.full(tilts.shape, float(np.asarray(step_size)))
    step_sizes = np.asarray(step_sizes, dtype=float)
    if step_sizes.shape != tilts.shape:
        raise ValueError(
            f"step_sizes must have shape {tilts.shape} (one per tilt), got {step_sizes.shape}."
        )
    check_positive("step_sizes", step_sizes)
    chain_tilts = np.repeat(tilts, num_chains_per_tilt)
    chain_step_sizes = np.repeat(step_sizes, num_chains_per_tilt)
    return kernel.replace(
        energy_fn=energy_fn.replace(tilt=jnp.asarray(chain_tilts, jnp.result_type(energy_fn.tilt))),
        step_size=jnp.asarray(chain_step_sizes, jnp.result_type(kernel.step_size)),
    )


def _positions(initial: ArrayTree) -> ArrayTree:
    """Positions from positions or states: a ladder's states are rebuilt at their own tilts."""
    return initial.position if is_state(initial) else initial


def _chains_per_tilt(positions: ArrayTree, num_tilts: int) -> int:
    total = num_chains(positions, "initial")
    if total % num_tilts:
        raise ValueError(
            f"initial must hold num_tilts * num_chains_per_tilt chains (rung-major); "
            f"{total} chains is not a multiple of the {num_tilts} tilts."
        )
    return total // num_tilts


def adapt_tilted_step_sizes(
    kernel: Any,
    key: PRNGKey,
    initial: ArrayTree,
    num_steps: int,
    *,
    tilts: jax.typing.ArrayLike,
    target_acceptance: float = 0.574,
) -> tuple[jax.Array, ArrayTree]:
    """One step size per rung by dual averaging (Hoffman & Gelman 2014), and warmed-up chains.

    A large ``k`` stiffens ``E_0 + k L`` by ``k`` times the curvature of ``L``, so the
    step that suits it would make the untilted chains crawl. The ladder
    (:func:`tilt_ladder`) runs one step at a time through
    :func:`statjax.samplers.loop.sample_chains` inside one jitted scan, each rung
    at its own step size (a per-chain leaf), and after every step each rung's
    mean acceptance over its chains drives its own
    :func:`statjax.samplers.dual_averaging_update`; the result is each rung's
    averaged step size ``exp(x_bar)``. (Averaging the acceptance over a rung's
    chains, rather than adapting every chain alone as
    ``statjax.samplers.adapt_step_size(..., per_chain=True)`` does, gives every
    chain of a rung the same step and divides the noise that drives the
    adaptation by the number of chains.)

    Args:
        kernel: a kernel on a :class:`statjax.energy.TiltedEnergy` with a scalar
            ``step_size``, which is the first guess.
        key: PRNG key (typed or legacy); step ``t`` uses ``fold_in(key, t)`` split
            over chains, the driver's rule.
        initial: positions ``(num_tilts * num_chains_per_tilt, ...)``, rung-major.
        num_steps: warm-up steps.
        tilts: ``(num_tilts,)``.
        target_acceptance: mean acceptance to reach per rung (0.574: MALA's optimum).

    Returns:
        ``(step_sizes, positions)``: ``(num_tilts,)`` step sizes and the warmed-up
        positions, shaped like ``initial``.

    Examples:
        >>> import jax, jax.numpy as jnp, statjax
        >>> energy = statjax.energy.tilted_energy(
        ...     lambda x: 0.5 * jnp.sum(x**2), lambda x: jnp.mean(x**2))
        >>> step_sizes, positions = adapt_tilted_step_sizes(
        ...     statjax.samplers.mala(energy, 0.3), jax.random.key(0), jnp.zeros((8, 4)), 50,
        ...     tilts=[0.0, 40.0])
        >>> bool(step_sizes[1] < step_sizes[0])
        True
    """
    key = as_key(key)
    num_steps = check_count("num_steps", num_steps)
    check_unit_interval("target_acceptance", target_acceptance)
    tilts = _check_tilts(tilts, require_zero=False)
    positions = _positions(initial)
    ladder = tilt_ladder(kernel, tilts, _chains_per_tilt(positions, tilts.size))
    states = initial_states(ladder, positions, TILT_LADDER_FIELDS)
    check_initial_energy(states.energy)
    averaging = dual_averaging_init(np.full(tilts.size, float(np.asarray(kernel.step_size))))
    states, averaging = _adapt_per_rung(
        ladder,
        key,
        states,
        averaging,
        jnp.asarray(target_acceptance),
        num_steps=num_steps,
        structure=structure_key(ladder),
    )
    return jnp.exp(averaging.log_step_size_avg), states.position


def _acceptance_rate(state, info):
    del state
    return info.acceptance_rate


@functools.partial(jax.jit, static_argnames=("num_steps", "structure"))
def _adapt_per_rung(ladder, key, states, averaging, target_acceptance, *, num_steps, structure):
    del structure  # a cache key only (see statjax.pytree.structure_key)
    num_tilts = averaging.log_step_size.shape[0]
    chains_per_tilt = states.energy.shape[0] // num_tilts
    dtype = jnp.result_type(ladder.step_size)

    def one_step(carry, step):
        states, averaging = carry
        step_sizes = jnp.repeat(jnp.exp(averaging.log_step_size), chains_per_tilt)
        tuned = ladder.replace(step_size=step_sizes.astype(dtype))
        states, acceptance = sample_chains(
            tuned,
            key,
            states,
            1,
            start_step=step,
            observe=_acceptance_rate,
            per_chain=TILT_LADDER_FIELDS,
        )
        rung_acceptance = acceptance[0].reshape(num_tilts, chains_per_tilt).mean(1)
        return (states, dual_averaging_update(averaging, rung_acceptance, target_acceptance)), None

    (states, averaging), _ = jax.lax.scan(one_step, (states, averaging), jnp.arange(num_steps))
    return states, averaging


@dataclasses.dataclass(frozen=True, eq=False)
class _RecordObservable:
    """``observe(state, info)`` for ``run_chains``: ``(L(x), acceptance rate)``.

    Equal (hence one compiled program) for the same observable: a static argument of
    ``run_chains``' jit is compared by ``==``, and a plain function wrapped in a fresh
    leafless ``Partial`` each time is still the same function.
    """

    observable_fn: Callable

    def _identity(self):
        fn = self.observable_fn
        if isinstance(fn, jax.tree_util.Partial) and not fn.args and not fn.keywords:
            return fn.func
        return fn

    def __eq__(self, other):
        return isinstance(other, _RecordObservable) and self._identity() is other._identity()

    def __hash__(self):
        return hash(id(self._identity()))

    def __call__(self, state, info):
        return self.observable_fn(state.position), info.acceptance_rate


class TiltedSamples(NamedTuple):
    """Draws of the observable along a tilt ladder.

    Attributes:
        tilts: ``(num_tilts,)`` the ladder.
        observables: ``(num_draws, num_tilts, num_chains_per_tilt)`` ``L`` at each
            recorded step of each chain.
        acceptance_rate: ``(num_tilts,)`` mean acceptance probability per rung.
        final_states: the chains' states (the kernel's own state type), leading
            axis ``num_tilts * num_chains_per_tilt`` (rung-major); ``energy`` is each
            chain's tilted energy ``E_0 + k_c L``.
    """

    tilts: jax.Array
    observables: jax.Array
    acceptance_rate: jax.Array
    final_states: Any


def sample_tilted(
    kernel: Any,
    key: PRNGKey,
    initial: ArrayTree,
    num_steps: int,
    *,
    tilts: jax.typing.ArrayLike,
    step_sizes: jax.typing.ArrayLike | None = None,
    num_burnin_steps: int = 0,
    thin: int = 1,
) -> TiltedSamples:
    """Run independent chains of every tilted ensemble ``p_k ∝ p_0 e^{-k L}`` at once.

    All ``num_tilts * num_chains_per_tilt`` chains, each with its own ``k`` and
    step size (per-chain kernel leaves, :func:`tilt_ladder`), run as one vmapped
    batch through :func:`statjax.run_chains` at ``beta = 1``: ``num_burnin_steps``
    unrecorded steps, then ``num_steps`` steps recording ``L`` every ``thin``,
    continuing the same key stream (``start_step=num_burnin_steps``). A new
    ladder, step size or reference never recompiles.

    Args:
        kernel: a kernel on a :class:`statjax.energy.TiltedEnergy` with a scalar
            ``step_size``.
        key: PRNG key (typed or legacy).
        initial: positions ``(num_tilts * num_chains_per_tilt, ...)`` on every
            leaf, rung-major (chain ``c`` of rung ``j`` is row
            ``j * num_chains_per_tilt + c``); states are restarted at their
            positions. Start near the typical set: MALA started at a mode in high
            dimension rejects almost everything until it has moved out.
        num_steps: recorded steps (a multiple of ``thin``).
        tilts: ``(num_tilts,)`` values of ``k``; ``num_chains_per_tilt`` is the
            number of chains divided by ``num_tilts`` (>= 2 for error bars).
        step_sizes: ``(num_tilts,)`` per-rung step sizes (e.g. from
            :func:`adapt_tilted_step_sizes`); the kernel's own by default.
        num_burnin_steps: steps discarded first.
        thin: record every ``thin``-th step.

    Returns:
        A :class:`TiltedSamples`.

    Examples:
        >>> import jax, jax.numpy as jnp, statjax
        >>> energy = statjax.energy.tilted_energy(
        ...     lambda x: 0.5 * jnp.sum(x**2), lambda x: jnp.mean(x**2))
        >>> samples = sample_tilted(statjax.samplers.mala(energy, 0.3), jax.random.key(0),
        ...                         jnp.zeros((16, 4)), 100, tilts=[0.0, 4.0], thin=10)
        >>> samples.observables.shape
        (10, 2, 8)
    """
    key = as_key(key)
    tilts = _check_tilts(tilts, require_zero=False)
    num_burnin_steps = check_count("num_burnin_steps", num_burnin_steps, minimum=0)
    positions = _positions(initial)
    chains_per_tilt = _chains_per_tilt(positions, tilts.size)
    ladder = tilt_ladder(kernel, tilts, chains_per_tilt, step_sizes)
    states = positions
    if num_burnin_steps:
        states, _ = run_chains(ladder, key, states, num_burnin_steps, per_chain=TILT_LADDER_FIELDS)
    observe = _RecordObservable(kernel.energy_fn.observable_fn)
    states, (observables, acceptance) = run_chains(
        ladder,
        key,
        states,
        num_steps,
        observe=observe,
        thin=thin,
        start_step=num_burnin_steps,
        per_chain=TILT_LADDER_FIELDS,
    )
    observables = observables.reshape(observables.shape[0], tilts.size, chains_per_tilt)
    acceptance = acceptance.reshape(acceptance.shape[0], tilts.size, chains_per_tilt).mean((0, 2))
    return TiltedSamples(jnp.asarray(tilts), observables, acceptance, states)


class LargeDeviationRate(NamedTuple):
    """Rate function, ``log Z`` and tail probabilities of ``L`` from a tilt ladder.

    Every array is ``(num_tilts,)`` except the ``level_*`` ones, ``(num_levels,)``.
    Standard errors are delete-one jackknife over chains.

    Attributes:
        tilts: the ladder ``k``.
        observable_mean: ``l_k = <L>_k``, where the rate function is evaluated.
        observable_standard_error: its standard error (a horizontal error bar).
        observable_variance: ``Var_k(L)``.
        log_z: ``log E_{p_0}[e^{-k L}]`` (0 at ``k = 0``).
        log_z_standard_error: its statistical error.
        log_z_discretisation_error: ``|corrected - plain trapezoid|``, a conservative
            bound on the quadrature error.
        rate: ``I(l_k) = (-k l_k - log Z(k)) / scale``.
        rate_standard_error: the vertical error of ``I`` at the estimated ``l_k``:
            ``se(log Z) / scale`` (an error in ``l_k`` moves the point along the curve,
            whose slope is ``-k / scale``, so to first order it cancels).
        tail_log_probability: ``log P_0(L <= l_k)`` for ``k >= 0``, ``log P_0(L >= l_k)``
            for ``k < 0``; ``-inf`` where no draw of the rung lies in the tail.
        tail_log_probability_standard_error: its standard error at fixed ``l_k``.
        levels: the extra levels asked for.
        level_log_probability: ``log P_0(L <= t)`` for a level ``t`` at or below the
            untilted mean ``l_0``, ``log P_0(L >= t)`` above it, from the rung whose
            mean is nearest; NaN for a level outside ``[min l_k, max l_k]``.
        level_log_probability_standard_error: its standard error.
        scale: ``n``.
    """

    tilts: jax.Array
    observable_mean: jax.Array
    observable_standard_error: jax.Array
    observable_variance: jax.Array
    log_z: jax.Array
    log_z_standard_error: jax.Array
    log_z_discretisation_error: jax.Array
    rate: jax.Array
    rate_standard_error: jax.Array
    tail_log_probability: jax.Array
    tail_log_probability_standard_error: jax.Array
    levels: jax.Array
    level_log_probability: jax.Array
    level_log_probability_standard_error: jax.Array
    scale: float


def large_deviation_rate(
    tilts: jax.typing.ArrayLike,
    observables: jax.typing.ArrayLike,
    *,
    scale: float = 1.0,
    levels: jax.typing.ArrayLike | None = None,
) -> LargeDeviationRate:
    r"""Rate function ``I(l)`` of ``L`` under ``p_0``, with error bars, from tilted chains.

    .. math::

        \log Z(k) = -\int_0^k \langle L \rangle_{k'} dk', \qquad
        I(\langle L \rangle_k) = \frac{-k \langle L \rangle_k - \log Z(k)}{n},

        \log P_0(L \le t) = \log Z(k) + \log \mathbb{E}_k\big[e^{k L} 1\{L \le t\}\big]

    (Gärtner–Ellis, Touchette 2009; exponential-tilting importance sampling,
    Siegmund 1976). The integral is the trapezoid rule with the Euler–Maclaurin
    correction ``h^2 / 12 (Var_b - Var_a)`` per interval. Errors are delete-one
    jackknife over chains (replicate ``c`` drops chain ``c`` of every rung), so
    they are valid for autocorrelated draws as long as chains are independent and
    have forgotten their start; they do not see a bias from unmixed chains.

    Args:
        tilts: ``(num_tilts,)`` strictly increasing ladder containing ``0``.
        observables: ``(num_draws, num_tilts, num_chains)`` draws of ``L``, e.g.
            ``sample_tilted(...).observables``; ``num_chains >= 2``.
        scale: ``n`` in ``P ≍ e^{-n I}`` (the dimension, the number of data, or 1 for
            ``I = -log P`` in nats).
        levels: optional ``(num_levels,)`` values ``t`` at which to estimate tail
            log-probabilities.

    Returns:
        A :class:`LargeDeviationRate`.

    Examples:
        >>> import numpy as np  # exact draws: under p_k, L = |x|^2 / 4 ~ Gamma(2, 1 / (2 + k))
        >>> tilts = np.linspace(-1.0, 6.0, 15)
        >>> rng = np.random.default_rng(0)
        >>> draws = rng.gamma(2.0, 1.0 / (2.0 + tilts)[:, None], (4000, 15, 4))
        >>> result = large_deviation_rate(tilts, draws, scale=4.0)
        >>> l = float(result.observable_mean[-1])  # exact I(l) = (l - 1 - log l) / 2
        >>> error = float(result.rate[-1]) - (l - 1 - np.log(l)) / 2
        >>> bool(abs(error) < 4 * float(result.rate_standard_error[-1]))
        True
    """
    tilts = _check_tilts(tilts, require_zero=True)
    draws = np.asarray(observables, dtype=float)
    if draws.ndim != 3 or draws.shape[1] != tilts.size:
        raise ValueError(
            f"observables must have shape (num_draws, num_tilts={tilts.size}, num_chains), "
            f"got {draws.shape}."
        )
    if draws.shape[2] < 2:
        raise ValueError(
            f"observables needs at least 2 chains per tilt for jackknife errors, got "
            f"{draws.shape[2]}."
        )
    if not np.all(np.isfinite(draws)):
        raise ValueError("observables must be finite; some draws are NaN or infinite.")
    if not (np.isfinite(scale) and scale > 0):
        raise ValueError(f"scale must be finite and > 0, got {scale!r}.")
    levels = np.zeros(0) if levels is None else np.atleast_1d(np.asarray(levels, dtype=float))
    if levels.ndim != 1 or not np.all(np.isfinite(levels)):
        raise ValueError(f"levels must be a 1-D array of finite numbers, got {levels}.")

    zero = int(np.flatnonzero(tilts == 0.0)[0])
    thresholds, lower, rung = _tail_questions(tilts, draws.mean((0, 2)), levels, zero)
    full, errors = _estimate_with_errors(tilts, draws, thresholds, lower, rung, zero=zero)
    mean, variance, log_z, discretisation, tail_log_probability = full
    rate = (-tilts * mean - log_z) / scale
    num_rungs = tilts.size
    reachable = (levels >= float(mean.min())) & (levels <= float(mean.max()))
    level_log_probability = jnp.where(reachable, tail_log_probability[num_rungs:], jnp.nan)
    level_error = jnp.where(reachable, errors[4][num_rungs:], jnp.nan)
    return LargeDeviationRate(
        tilts=jnp.asarray(tilts),
        observable_mean=mean,
        observable_standard_error=errors[0],
        observable_variance=variance,
        log_z=log_z,
        log_z_standard_error=errors[2],
        log_z_discretisation_error=discretisation,
        rate=rate,
        rate_standard_error=errors[2] / scale,
        tail_log_probability=tail_log_probability[:num_rungs],
        tail_log_probability_standard_error=errors[4][:num_rungs],
        levels=jnp.asarray(levels),
        level_log_probability=level_log_probability,
        level_log_probability_standard_error=level_error,
        scale=float(scale),
    )


def _tail_questions(tilts, mean, levels, zero):
    """Thresholds, sides and rungs of the tail probabilities, fixed from the full data."""
    nearest = np.abs(mean[None, :] - levels[:, None]).argmin(1).astype(int)
    thresholds = np.concatenate([mean, levels])
    lower = np.concatenate([tilts >= 0, levels <= mean[zero]])
    rung = np.concatenate([np.arange(tilts.size), nearest])
    return thresholds, lower, rung


@functools.partial(jax.jit, static_argnames=("zero",))
def _estimate_with_errors(tilts, draws, thresholds, lower, rung, *, zero):
    """The estimates from all chains and their delete-one jackknife standard errors."""
    num_chains = draws.shape[2]

    def estimate(chain_weights):
        return _estimate(tilts, draws, chain_weights, thresholds, lower, rung, zero)

    replicates = jax.vmap(estimate)(1.0 - jnp.eye(num_chains))
    errors = jax.tree_util.tree_map(
        lambda r: jnp.sqrt((num_chains - 1) * jnp.mean((r - r.mean(0)) ** 2, axis=0)), replicates
    )
    return estimate(jnp.ones(num_chains)), errors


def _estimate(tilts, draws, chain_weights, thresholds, lower, rung, zero):
    """Means, variances, ``log Z``, its quadrature error and tail log-probabilities.

    ``chain_weights`` (``(num_chains,)``, 0 or 1) selects the chains of a jackknife
    replicate.
    """
    weights = chain_weights / (draws.shape[0] * chain_weights.sum())
    mean = jnp.einsum("dkc,c->k", draws, weights)
    variance = jnp.einsum("dkc,c->k", (draws - mean[:, None]) ** 2, weights)
    width = jnp.diff(tilts)
    trapezoid = 0.5 * width * (mean[1:] + mean[:-1])
    # Euler–Maclaurin end correction with f' = d<L>/dk = -Var_k(L), known from the draws.
    correction = width**2 / 12.0 * (variance[1:] - variance[:-1])
    cumulative = jnp.concatenate([jnp.zeros(1), jnp.cumsum(trapezoid + correction)])
    cumulative_correction = jnp.concatenate([jnp.zeros(1), jnp.cumsum(correction)])
    log_z = -(cumulative - cumulative[zero])
    discretisation = jnp.abs(cumulative_correction - cumulative_correction[zero])
    tilt = tilts[rung]
    rung_draws = draws[:, rung, :]  # (num_draws, num_questions, num_chains)
    threshold = thresholds[:, None]
    in_tail = jnp.where(lower[:, None], rung_draws <= threshold, rung_draws >= threshold)
    # e^{k (L - t)} <= 1 inside the tail whenever the rung tilts towards it.
    log_weights = jnp.where(in_tail, tilt[:, None] * (rung_draws - threshold), -jnp.inf)
    log_mean = jax.scipy.special.logsumexp(
        log_weights, axis=(0, 2), b=jnp.broadcast_to(weights, rung_draws.shape)
    )
    tail_log_probability = log_z[rung] + tilt * thresholds + log_mean
    return mean, variance, log_z, discretisation, tail_log_probability


def _check_tilts(tilts, *, require_zero: bool) -> np.ndarray:
    values = np.asarray(tilts, dtype=float)
    if values.ndim != 1 or values.size < (2 if require_zero else 1):
        raise ValueError(f"tilts must be a 1-D array of tilt values k, got shape {values.shape}.")
    if not np.all(np.isfinite(values)):
        raise ValueError(f"tilts must be finite, got {values}.")
    if require_zero:
        if not np.all(np.diff(values) > 0):
            raise ValueError(f"tilts must be strictly increasing, got {values}.")
        if not np.any(values == 0.0):
            raise ValueError(
                f"tilts must contain 0 (the untilted reference, where log Z = 0), got {values}."
            )
    return values


__all__ = [
    "TILT_LADDER_FIELDS",
    "LargeDeviationRate",
    "TiltedSamples",
    "adapt_tilted_step_sizes",
    "large_deviation_rate",
    "sample_tilted",
    "tilt_ladder",
]
