r"""Deep energy-based models: Flax energy networks, contrastive divergence, score matching.

A deep EBM is a network ``E_theta(x)`` read as a Boltzmann density

.. math::

    p_\theta(x) = e^{-E_\theta(x)} / Z(\theta), \qquad
    \nabla_\theta \log p_\theta(x) = -\nabla_\theta E_\theta(x)
        + \mathbb{E}_{x^- \sim p_\theta}[\nabla_\theta E_\theta(x^-)].

Networks (:class:`EnergyMLP` for vectors, :class:`EnergyConvNet` for images) use
smooth activations (swish by default) so that ``grad_x E`` is continuous and
Langevin dynamics behaves. :func:`energy_function` turns a module into the pure
``energy(params, x)`` that every function here takes; ``energy.bind(params)`` is
the one-argument energy ``x -> E_theta(x)`` of any statjax kernel or estimator,
with the parameters as traced leaves (a new ``params`` never recompiles).

Two objectives train the same networks:

- **Contrastive divergence with short-run Langevin and a replay buffer**
  (Du & Mordatch 2019, "Implicit generation and generalization in energy-based
  models"): negatives come from a few sampler steps started, per slot, from a
  persistent buffer or, with probability ``reinit_prob`` (about 5 %), from fresh
  uniform noise; the loss is
  ``mean E(x+) - mean E(x-) + alpha mean(E(x+)^2 + E(x-)^2)``.
  The sampler is any statjax kernel: :func:`du_mordatch_langevin` (their SGLD,
  with separate step size and noise scale and clipped gradients), or
  :func:`statjax.ula`, :func:`statjax.mala`, :func:`statjax.hmc`.
- **Denoising score matching** (Vincent 2011, "A connection between score
  matching and denoising autoencoders"), which needs no sampling.

Evaluation: :func:`grid_log_likelihood` (exact ``log Z`` by quadrature in 2-D,
hence exact log-likelihoods), :func:`grid_samples` (exact draws from the grid
density) and :func:`mmd_squared` (unbiased maximum mean discrepancy, Gretton et
al. 2012) in any dimension.
"""

import math
from collections.abc import Callable, Sequence
from functools import partial
from typing import Any, NamedTuple

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.tree_util import Partial

from statjax._tree import as_pytree_fn, normal_like, tree_where
from statjax.pytree import Pytree, static_field
from statjax.samplers.base import AcceptanceInfo
from statjax.samplers.langevin import LangevinState, energy_and_grad_state, is_finite_state
from statjax.thermo.grid import BoxBound, grid_density, grid_log_z
from statjax.thermo.integration import trapezoid_weights
from statjax.types import ArrayTree, EnergyFn, PRNGKey

_BUFFER_KEY = 2**32 - 1  # fold_in data of the buffer's initial noise: no update reaches it

Sampler = Callable[[EnergyFn], Any]
"""``sampler(energy_fn) -> kernel``: builds a statjax kernel on a one-argument energy.

Pass a pytree (``jax.tree_util.Partial(statjax.mala, step_size=0.01)``) so that its
numbers stay traced; a plain function or lambda works too, as a static callable.
"""

# --------------------------------------------------------------------- networks


class EnergyMLP(nn.Module):
    """A scalar energy ``E(x)`` from an MLP on vectors ``x: (..., dim)`` -> ``(...)``.

    ``E(x) = w^T a(W_L ... a(W_1 x + b_1) ...) + b + (base_precision / 2) |x|^2``;
    the optional quadratic term keeps ``exp(-E)`` normalisable on all of R^d
    whatever the network does far from the data.

    Attributes:
        hidden_sizes: widths of the hidden layers.
        activation: a smooth nonlinearity (swish by default; avoid ReLU, whose
            ``grad_x E`` is piecewise constant and gives Langevin nothing to follow).
        base_precision: ``lambda >= 0`` of the quadratic confinement.

    Example:
        >>> import jax, jax.numpy as jnp
        >>> model = EnergyMLP(hidden_sizes=(8, 8))
        >>> energies, variables = jax.eval_shape(  # shapes only: nothing is compiled
        ...     model.init_with_output, jax.random.key(0), jnp.zeros((5, 2)))
        >>> energies.shape
        (5,)
    """

    hidden_sizes: Sequence[int] = (64, 64)
    activation: Callable[[jax.Array], jax.Array] = nn.swish
    base_precision: float = 0.0

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        """Energy of ``x: (..., dim)``, shape ``(...)``."""
        hidden = x
        for width in self.hidden_sizes:
            hidden = self.activation(nn.Dense(width)(hidden))
        energy = nn.Dense(1)(hidden)[..., 0]
        if self.base_precision:
            energy = energy + 0.5 * self.base_precision * jnp.sum(x**2, axis=-1)
        return energy


class EnergyConvNet(nn.Module):
    """A scalar energy ``E(x)`` from a small convolutional network on images.

    Images ``x: (..., height, width, channels)`` go through 3 x 3 convolutions (the
    first with stride 1, the others with stride 2) and a dense layer to one
    number per image, ``(...)``; the layout follows the energy CNN of the UvA
    deep-learning tutorial on EBMs (Lippe 2021), which follows Du & Mordatch (2019).

    Attributes:
        features: channels of each convolution.
        hidden_size: width of the dense layer before the output.
        activation: a smooth nonlinearity (swish by default).

    Example:
        >>> import jax, jax.numpy as jnp
        >>> model = EnergyConvNet(features=(4, 8), hidden_size=8)
        >>> energies, variables = jax.eval_shape(  # shapes only: nothing is compiled
        ...     model.init_with_output, jax.random.key(0), jnp.zeros((3, 8, 8, 1)))
        >>> energies.shape
        (3,)
    """

    features: Sequence[int] = (16, 32, 64)
    hidden_size: int = 64
    activation: Callable[[jax.Array], jax.Array] = nn.swish

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        """Energy of images ``x: (..., height, width, channels)``, shape ``(...)``."""
        batch_shape = x.shape[:-3]
        hidden = x.reshape((-1, *x.shape[-3:]))
        for index, channels in enumerate(self.features):
            stride = 1 if index == 0 else 2
            hidden = self.activation(nn.Conv(channels, (3, 3), strides=stride)(hidden))
        hidden = hidden.reshape((hidden.shape[0], -1))
        hidden = self.activation(nn.Dense(self.hidden_size)(hidden))
        return nn.Dense(1)(hidden)[:, 0].reshape(batch_shape)


class EnergyFunction(Pytree):
    """The pure energy ``energy(params, x) = module.apply({"params": params}, x)``.

    Hashable (the module is a static field), so it can be a static argument of
    ``jax.jit``; :meth:`bind` gives the one-argument energy of a kernel.
    """

    module: nn.Module = static_field()

    def __call__(self, params: ArrayTree, x: jax.Array) -> jax.Array:
        """``E_theta(x)``: a scalar for one input, ``(...)`` for a batch."""
        return self.module.apply({"params": params}, x)

    def bind(self, params: ArrayTree) -> Partial:
        """``x -> E_theta(x)``, a ``Partial`` whose leaves are ``params`` (traced: no recompile)."""
        return Partial(self, params)


def energy_function(module: nn.Module) -> EnergyFunction:
    """The pure energy ``energy(params, x)`` of a Flax module (see :class:`EnergyFunction`).

    Example:
        >>> import jax, jax.numpy as jnp
        >>> energy = energy_function(EnergyMLP(hidden_sizes=(4,)))
        >>> params = jax.eval_shape(energy.module.init, jax.random.key(0), jnp.zeros(2))["params"]
        >>> jax.eval_shape(energy, params, jnp.ones(2)).shape  # E(params, x): a scalar
        ()
    """
    if not isinstance(module, nn.Module):
        raise TypeError(f"module must be a flax.linen.Module, got {type(module).__name__}.")
    return EnergyFunction(module)


# ------------------------------------------------------------------ the sampler


class DuMordatchLangevin(Pytree):
    """Du & Mordatch's short-run SGLD: separate step size and noise, clipped gradients.

    One step at inverse temperature ``beta = 1 / T``:

        x' = clip(x - step_size * clip(grad E(x), -grad_clip, grad_clip)
                  + noise_scale * sqrt(T) * xi,  lower, upper),     xi ~ N(0, I)

    (Du & Mordatch 2019, Algorithm 1 and section 3.2, who decouple the noise from
    the step and clamp the gradient; the UvA tutorial uses ``step_size = 10``,
    ``noise_scale = 0.005``, ``grad_clip = 0.03`` on images in ``[-1, 1]``, which
    ``lower``/``upper`` enforce). As everywhere in statjax the drift does not depend
    on the temperature and the noise grows as ``sqrt(T)``; with
    ``noise_scale = sqrt(2 step_size)``, no clipping and no bounds, this is exactly
    :func:`statjax.ula`. Otherwise it samples no Boltzmann law exactly: it is a
    noisy descent, which is what short-run contrastive divergence uses. A
    non-finite proposal is refused (the chain stays put), as in ULA. Build it with
    :func:`du_mordatch_langevin`.
    """

    energy_fn: EnergyFn
    step_size: jax.Array
    noise_scale: jax.Array
    grad_clip: jax.Array
    lower: jax.Array
    upper: jax.Array

    def init(self, position: ArrayTree) -> LangevinState:
        """Start a chain at ``position``, caching its energy and gradient."""
        return energy_and_grad_state(self.energy_fn, position)

    def step(
        self, key: PRNGKey, state: LangevinState, beta: jax.typing.ArrayLike
    ) -> tuple[LangevinState, AcceptanceInfo]:
        """One step at inverse temperature ``beta``."""
        noise = normal_like(key, state.position)
        scale = self.noise_scale * jax.lax.rsqrt(jnp.asarray(beta, self.noise_scale.dtype))

        def move(x, gradient, xi):
            drift = self.step_size * jnp.clip(gradient, -self.grad_clip, self.grad_clip)
            return jnp.clip(x - drift + scale * xi, self.lower, self.upper).astype(x.dtype)

        position = jax.tree_util.tree_map(move, state.position, state.energy_grad, noise)
        proposal = energy_and_grad_state(self.energy_fn, position)
        is_finite = is_finite_state(proposal)
        new_state = tree_where(is_finite, proposal, state)
        return new_state, AcceptanceInfo(is_finite.astype(state.energy.dtype), is_finite)


def du_mordatch_langevin(
    energy_fn: EnergyFn,
    step_size: jax.typing.ArrayLike,
    noise_scale: jax.typing.ArrayLike,
    grad_clip: jax.typing.ArrayLike = math.inf,
    lower: jax.typing.ArrayLike = -math.inf,
    upper: jax.typing.ArrayLike = math.inf,
) -> DuMordatchLangevin:
    """Du & Mordatch's (2019) Langevin kernel (see :class:`DuMordatchLangevin`).

    Args:
        energy_fn: ``E(x) -> scalar``, differentiable.
        step_size: multiplier of the (clipped) gradient, ``> 0``.
        noise_scale: standard deviation of the noise at ``T = 1``, ``>= 0``.
        grad_clip: each gradient component is clipped to ``[-grad_clip, grad_clip]``.
        lower, upper: every coordinate is clipped to ``[lower, upper]`` after a step.

    Example:
        >>> import jax, jax.numpy as jnp
        >>> kernel = du_mordatch_langevin(lambda x: 0.5 * jnp.sum(x**2), 10.0, 0.0, 0.03)
        >>> state, info = kernel.step(jax.random.key(0), kernel.init(jnp.ones(2)), 1.0)
        >>> print(state.position.round(5))  # the gradient 1 is clipped to 0.03: a move of 10 * 0.03
        [0.7 0.7]
    """
    _check_number("step_size", step_size, lambda v: v > 0, "> 0")
    _check_number("noise_scale", noise_scale, lambda v: v >= 0, ">= 0 (may be 0)")
    _check_number("grad_clip", grad_clip, lambda v: v > 0, "> 0 (math.inf for none)")
    _check_number("lower", lower, lambda v: not np.isnan(v), "a number (-math.inf for none)")
    _check_number("upper", upper, lambda v: _is_traced(lower) or v > np.asarray(lower), "> lower")
    dtype = jnp.result_type(float)
    return DuMordatchLangevin(
        as_pytree_fn(energy_fn),
        *(jnp.asarray(value, dtype) for value in (step_size, noise_scale, grad_clip, lower, upper)),
    )


def _is_traced(value) -> bool:
    return isinstance(value, jax.core.Tracer)


def _check_number(name: str, value, is_valid, expected: str) -> None:
    """Raise ``ValueError`` unless a concrete scalar ``value`` passes ``is_valid``; tracers pass."""
    try:
        array = np.asarray(value, dtype=float)
    except (jax.errors.TracerArrayConversionError, jax.errors.ConcretizationTypeError):
        return
    except (TypeError, ValueError) as error:
        raise TypeError(f"{name} must be a number, got {name}={value!r}.") from error
    if array.ndim != 0 or np.isnan(array) or not is_valid(array):
        raise ValueError(f"{name} must be a scalar {expected}, got {name}={value!r}.")


def short_run_chains(
    kernel: Any,
    key: PRNGKey,
    positions: ArrayTree,
    num_steps: jax.typing.ArrayLike,
    beta: jax.typing.ArrayLike = 1.0,
) -> tuple[Any, jax.Array]:
    """Run ``num_steps`` steps of a statjax kernel on every chain; return the final states.

    The in-graph counterpart of :func:`statjax.run_chains` for use inside a jitted
    training step: no checks, no trace, and ``num_steps`` may be traced (a
    ``fori_loop``). Step ``t`` uses ``fold_in(key, t)`` split over the chains, as
    ``run_chains`` does.

    Args:
        kernel: any statjax kernel (``init``/``step``).
        key: PRNG key.
        positions: starting points, leading axis = chains, ``(num_chains, ...)``.
        num_steps: number of kernel steps (may be traced; 0 returns the start).
        beta: inverse temperature, a scalar.

    Returns:
        ``(states, acceptance_rate)``: the final states (``.position``, ``.energy``)
        with a leading chain axis, and the acceptance rate averaged over chains and
        steps (``nan`` if ``num_steps`` is 0).

    Example:
        >>> import jax, jax.numpy as jnp, statjax
        >>> kernel = statjax.mala(lambda x: 0.5 * jnp.sum(x**2), 0.1)
        >>> states, rate = short_run_chains(kernel, jax.random.key(0), jnp.zeros((4, 2)), 10)
        >>> states.position.shape
        (4, 2)
    """
    states = jax.vmap(kernel.init)(positions)
    num_chains = jax.tree_util.tree_leaves(positions)[0].shape[0]
    step = jax.vmap(kernel.step, in_axes=(0, 0, None))

    def body(t, carry):
        states, acceptance = carry
        keys = jax.random.split(jax.random.fold_in(key, t), num_chains)
        states, info = step(keys, states, beta)
        return states, acceptance + jnp.mean(info.acceptance_rate)

    zero = jnp.zeros((), states.energy.dtype)
    states, acceptance = jax.lax.fori_loop(0, num_steps, body, (states, zero))
    return states, acceptance / num_steps


# --------------------------------------------------------------------- training


class EBMTrainState(NamedTuple):
    """Everything a training run carries from one update to the next.

    Attributes:
        params: the energy network's parameters.
        opt_state: the optax optimizer's state.
        buffer: the replay buffer ``(buffer_size, *event_shape)`` (contrastive
            divergence), or an empty ``(0,)`` array (score matching).
        key: the run's PRNG key; update ``t`` uses ``fold_in(key, t)``.
        step: number of updates done, an int32 scalar.
    """

    params: ArrayTree
    opt_state: optax.OptState
    buffer: jax.Array
    key: PRNGKey
    step: jax.Array


class ContrastiveDivergenceSettings(NamedTuple):
    """Numbers of a contrastive-divergence update; all traced (a sweep never recompiles).

    Defaults follow Du & Mordatch (2019) and the UvA tutorial.

    Attributes:
        num_sampling_steps: kernel steps per update (60 in the tutorial).
        reinit_prob: probability that a negative chain starts from fresh noise
            instead of a buffer entry (0.05).
        regularization: ``alpha`` of the penalty ``alpha (E(x+)^2 + E(x-)^2)`` (0.1).
        noise_low, noise_high: fresh noise is uniform on ``[noise_low, noise_high]``
            in every coordinate.
        data_noise: standard deviation of Gaussian noise added to the data batch
            (the tutorial's 0.005 on images; 0 for none).
        beta: inverse temperature of the sampler (1 for the model's own law).
    """

    num_sampling_steps: jax.typing.ArrayLike = 60
    reinit_prob: jax.typing.ArrayLike = 0.05
    regularization: jax.typing.ArrayLike = 0.1
    noise_low: jax.typing.ArrayLike = -1.0
    noise_high: jax.typing.ArrayLike = 1.0
    data_noise: jax.typing.ArrayLike = 0.0
    beta: jax.typing.ArrayLike = 1.0


class TrainMetrics(NamedTuple):
    """Per-update numbers (stacked over updates by the training loops).

    Attributes:
        loss: the objective that was differentiated.
        energy_data: mean energy of the data batch.
        energy_samples: mean energy of the negatives (``nan`` for score matching).
        acceptance_rate: the sampler's mean acceptance (``nan`` for score matching).
    """

    loss: jax.Array
    energy_data: jax.Array
    energy_samples: jax.Array
    acceptance_rate: jax.Array


def init_training(
    key: PRNGKey,
    params: ArrayTree,
    optimizer: optax.GradientTransformation,
    *,
    buffer_size: int = 0,
    event_shape: Sequence[int] = (),
    noise_low: float = -1.0,
    noise_high: float = 1.0,
) -> EBMTrainState:
    """A fresh :class:`EBMTrainState`; the replay buffer starts as uniform noise.

    Args:
        key: PRNG key of the run (the buffer's noise uses ``fold_in(key, 2^32 - 1)``).
        params: initial network parameters.
        optimizer: an optax transformation; Du & Mordatch use
            ``optax.adam(1e-4, b1=0.0, b2=0.999)``.
        buffer_size: replay-buffer entries (0 for score matching).
        event_shape: shape of one data point, e.g. ``(2,)`` or ``(8, 8, 1)``.
        noise_low, noise_high: bounds of the buffer's uniform noise.

    Example:
        >>> import jax, jax.numpy as jnp, optax
        >>> state = init_training(jax.random.key(0), {"w": jnp.zeros(2)}, optax.adam(1e-3),
        ...                       buffer_size=100, event_shape=(2,))
        >>> state.buffer.shape
        (100, 2)
    """
    if isinstance(buffer_size, bool) or not isinstance(buffer_size, int) or buffer_size < 0:
        raise ValueError(f"buffer_size must be an integer >= 0, got buffer_size={buffer_size!r}.")
    if not noise_low < noise_high:
        raise ValueError(f"need noise_low < noise_high, got {noise_low} and {noise_high}.")
    if buffer_size:
        buffer = jax.random.uniform(
            jax.random.fold_in(key, _BUFFER_KEY), (buffer_size, *event_shape), minval=noise_low,
            maxval=noise_high,
        )  # fmt: skip
    else:
        buffer = jnp.zeros((0,))
    return EBMTrainState(params, optimizer.init(params), buffer, key, jnp.zeros((), jnp.int32))


def sample_replay_buffer(
    key: PRNGKey,
    buffer: jax.Array,
    batch_size: int,
    reinit_prob: jax.typing.ArrayLike,
    noise_low: jax.typing.ArrayLike = -1.0,
    noise_high: jax.typing.ArrayLike = 1.0,
) -> tuple[jax.Array, jax.Array]:
    """Starting points of the negative chains: buffer entries, or fresh noise w.p. ``reinit_prob``.

    Each of the ``batch_size`` slots independently takes a uniformly chosen buffer
    entry (with replacement) or, with probability ``reinit_prob``, uniform noise on
    ``[noise_low, noise_high]`` (Du & Mordatch 2019, section 3.1: 5 % fresh noise
    keeps the buffer from collapsing onto a few modes).

    Args:
        key: PRNG key.
        buffer: ``(buffer_size, *event_shape)``.
        batch_size: number of chains (static).
        reinit_prob: probability of fresh noise per slot, in ``[0, 1]``.
        noise_low, noise_high: bounds of the fresh noise.

    Returns:
        ``(starts, is_fresh)``: ``(batch_size, *event_shape)`` and the boolean mask
        ``(batch_size,)`` of the slots that took fresh noise.

    Example:
        >>> import jax, jax.numpy as jnp
        >>> starts, is_fresh = sample_replay_buffer(jax.random.key(0), jnp.zeros((10, 2)), 4, 0.5)
        >>> starts.shape, is_fresh.shape
        ((4, 2), (4,))
    """
    key_index, key_fresh, key_noise = jax.random.split(key, 3)
    indices = jax.random.randint(key_index, (batch_size,), 0, buffer.shape[0])
    is_fresh = jax.random.uniform(key_fresh, (batch_size,)) < reinit_prob
    noise = jax.random.uniform(
        key_noise, (batch_size, *buffer.shape[1:]), buffer.dtype, noise_low, noise_high
    )
    mask = is_fresh.reshape((batch_size,) + (1,) * (buffer.ndim - 1))
    return jnp.where(mask, noise, buffer[indices]), is_fresh


def contrastive_divergence_loss(
    params: ArrayTree,
    energy_fn: Callable[[ArrayTree, jax.Array], jax.Array],
    data: jax.Array,
    negatives: jax.Array,
    regularization: jax.typing.ArrayLike = 0.1,
) -> tuple[jax.Array, tuple[jax.Array, jax.Array]]:
    r"""Du & Mordatch's loss ``mean E(x+) - mean E(x-) + alpha mean(E(x+)^2 + E(x-)^2)``.

    Its gradient in ``theta`` is the maximum-likelihood gradient
    ``E_data[grad E] - E_model[grad E]`` with the model expectation replaced by the
    negatives (held fixed: gradients do not flow through the sampler), plus the
    energy-magnitude penalty that keeps energies near 0 (Du & Mordatch 2019, eq. 4).

    Args:
        params: network parameters.
        energy_fn: ``energy(params, x)``, batched over the leading axis.
        data: positive examples ``(n, *event_shape)``.
        negatives: model samples ``(m, *event_shape)``.
        regularization: ``alpha >= 0``.

    Returns:
        ``(loss, (mean_energy_data, mean_energy_negatives))``.

    Example:
        >>> import jax.numpy as jnp
        >>> energy = lambda params, x: params * jnp.sum(x**2, -1)
        >>> loss, _ = contrastive_divergence_loss(1.0, energy, jnp.zeros((3, 2)), jnp.ones((3, 2)))
        >>> print(round(float(loss), 6))  # 0 - 2 + 0.1 * (0 + 4)
        -1.6
    """
    energy_data = energy_fn(params, data)
    energy_negatives = energy_fn(params, jax.lax.stop_gradient(negatives))
    penalty = regularization * (jnp.mean(energy_data**2) + jnp.mean(energy_negatives**2))
    mean_data, mean_negatives = jnp.mean(energy_data), jnp.mean(energy_negatives)
    return mean_data - mean_negatives + penalty, (mean_data, mean_negatives)


def _step_keys(state: EBMTrainState) -> jax.Array:
    """Keys of update ``state.step``: (minibatch, buffer, chains, data noise)."""
    return jax.random.split(jax.random.fold_in(state.key, state.step), 4)


def contrastive_divergence_step(
    state: EBMTrainState,
    data_batch: jax.Array,
    *,
    energy_fn: Callable[[ArrayTree, jax.Array], jax.Array],
    sampler: Sampler,
    optimizer: optax.GradientTransformation,
    settings: ContrastiveDivergenceSettings | None = None,
) -> tuple[EBMTrainState, TrainMetrics]:
    """One update of contrastive divergence with a replay buffer (Du & Mordatch 2019).

    1. draw ``len(data_batch)`` starting points with :func:`sample_replay_buffer`;
    2. run ``settings.num_sampling_steps`` steps of ``sampler(energy_fn.bind(params))``
       on them at ``settings.beta`` (:func:`short_run_chains`);
    3. take one optimizer step on :func:`contrastive_divergence_loss`;
    4. write the chains' end points into the buffer, first in first out (the
       oldest entries are overwritten, as in Du & Mordatch's buffer).

    Pure and jittable: use it inside your own ``jit``/``scan``, or call
    :func:`train_contrastive_divergence`. Update ``t`` draws its numbers from
    ``fold_in(state.key, t)``, so a resumed run repeats an uninterrupted one.

    Args:
        state: the current :class:`EBMTrainState` (with a buffer at least as
            large as the batch).
        data_batch: positive examples ``(batch_size, *event_shape)``.
        energy_fn: ``energy(params, x)`` (e.g. from :func:`energy_function`).
        sampler: ``energy -> kernel`` (see :data:`Sampler`).
        optimizer: the optax transformation the state was built with.
        settings: :class:`ContrastiveDivergenceSettings` (``None``: the defaults).

    Returns:
        The new state and this update's :class:`TrainMetrics`.

    Example:
        >>> import jax, jax.numpy as jnp, optax
        >>> from jax.tree_util import Partial
        >>> energy = lambda precision, x: 0.5 * precision * jnp.sum(x**2, -1)  # or a network
        >>> optimizer = optax.adam(1e-3, b1=0.0)
        >>> state = init_training(jax.random.key(1), jnp.array(1.0), optimizer, buffer_size=64,
        ...                       event_shape=(2,))
        >>> sampler = Partial(du_mordatch_langevin, step_size=0.1, noise_scale=0.01)
        >>> def update(state, batch):  # jit it, or scan it, in a training loop
        ...     return contrastive_divergence_step(
        ...         state, batch, energy_fn=energy, sampler=sampler, optimizer=optimizer,
        ...         settings=ContrastiveDivergenceSettings(num_sampling_steps=5))
        >>> new_state, metrics = jax.eval_shape(update, state, jnp.ones((16, 2)))  # shapes only
        >>> new_state.buffer.shape, metrics.loss.shape
        ((64, 2), ())
    """
    settings = ContrastiveDivergenceSettings() if settings is None else settings
    batch_size = data_batch.shape[0]
    _, key_buffer, key_chains, key_noise = _step_keys(state)
    starts, _ = sample_replay_buffer(
        key_buffer, state.buffer, batch_size, settings.reinit_prob, settings.noise_low,
        settings.noise_high,
    )  # fmt: skip
    kernel = sampler(Partial(energy_fn, state.params))
    final, acceptance = short_run_chains(
        kernel, key_chains, starts, settings.num_sampling_steps, settings.beta
    )
    negatives = jax.lax.stop_gradient(final.position)
    noise = jax.random.normal(key_noise, data_batch.shape, data_batch.dtype)
    data = data_batch + settings.data_noise * noise
    (loss, (energy_data, energy_samples)), grads = jax.value_and_grad(
        contrastive_divergence_loss, has_aux=True
    )(state.params, energy_fn, data, negatives, settings.regularization)
    updates, opt_state = optimizer.update(grads, state.opt_state, state.params)
    params = optax.apply_updates(state.params, updates)
    slots = (state.step * batch_size + jnp.arange(batch_size)) % state.buffer.shape[0]
    buffer = state.buffer.at[slots].set(negatives.astype(state.buffer.dtype))
    new_state = EBMTrainState(params, opt_state, buffer, state.key, state.step + 1)
    return new_state, TrainMetrics(loss, energy_data, energy_samples, acceptance)


def denoising_score_matching_loss(
    params: ArrayTree,
    energy_fn: Callable[[ArrayTree, jax.Array], jax.Array],
    key: PRNGKey,
    data: jax.Array,
    noise_scale: jax.typing.ArrayLike,
) -> tuple[jax.Array, jax.Array]:
    r"""Denoising score matching (Vincent 2011): match ``-grad E`` to the denoising score.

    With ``x~ = x + sigma eps``, ``eps ~ N(0, I)``, the model score
    ``s(x~) = -grad_x E(x~)`` is regressed onto ``grad log q(x~ | x) = -eps / sigma``:

    .. math::

        J(\theta) = \tfrac12 \, \mathbb{E}_{x, \epsilon}
            \big\| \nabla_x E_\theta(x + \sigma \epsilon) - \epsilon / \sigma \big\|^2,

    whose minimiser over all energies is ``-log`` of the *smoothed* data density
    ``p * N(0, sigma^2 I)`` (Vincent 2011, eq. 11): for Gaussian data ``N(mu, Sigma)``
    a quadratic energy learns the precision ``(Sigma + sigma^2 I)^-1``, not
    ``Sigma^-1``. The constant in the energy is not identified.

    Args:
        params: network parameters.
        energy_fn: ``energy(params, x)`` on one input (it is vmapped here).
        key: PRNG key for ``eps``.
        data: ``(n, *event_shape)``.
        noise_scale: ``sigma > 0``.

    Returns:
        ``(loss, mean_energy_of_noisy_data)``.

    Example:
        >>> import jax, jax.numpy as jnp
        >>> energy = lambda precision, x: 0.5 * precision * jnp.sum(x**2)
        >>> data = jnp.zeros((1000, 2))  # sigma^2 = 0.01: the optimum is precision = 100
        >>> loss, _ = denoising_score_matching_loss(100.0, energy, jax.random.key(0), data, 0.1)
        >>> print(round(float(loss), 6))
        0.0
    """
    noise = jax.random.normal(key, data.shape, data.dtype)
    noisy = data + noise_scale * noise
    energies, grads = jax.vmap(jax.value_and_grad(partial(energy_fn, params)))(noisy)
    residual = (grads - noise / noise_scale).reshape(data.shape[0], -1)
    return 0.5 * jnp.mean(jnp.sum(residual**2, axis=-1)), jnp.mean(energies)


def score_matching_step(
    state: EBMTrainState,
    data_batch: jax.Array,
    *,
    energy_fn: Callable[[ArrayTree, jax.Array], jax.Array],
    optimizer: optax.GradientTransformation,
    noise_scale: jax.typing.ArrayLike,
) -> tuple[EBMTrainState, TrainMetrics]:
    """One optimizer step on :func:`denoising_score_matching_loss` (no sampling).

    Args:
        state: the current :class:`EBMTrainState` (its buffer is unused).
        data_batch: ``(batch_size, *event_shape)``.
        energy_fn: ``energy(params, x)``.
        optimizer: the optax transformation the state was built with.
        noise_scale: ``sigma > 0`` (may be traced).

    Returns:
        The new state and this update's :class:`TrainMetrics` (sampler fields ``nan``).

    Example:
        >>> import jax, jax.numpy as jnp, optax
        >>> energy = lambda precision, x: 0.5 * precision * jnp.sum(x**2, -1)  # or a network
        >>> state = init_training(jax.random.key(1), jnp.array(1.0), optax.adam(1e-3))
        >>> def update(state, batch):  # jit it, or scan it, in a training loop
        ...     return score_matching_step(state, batch, energy_fn=energy,
        ...                                optimizer=optax.adam(1e-3), noise_scale=0.1)
        >>> new_state, metrics = jax.eval_shape(update, state, jnp.ones((16, 2)))  # shapes only
        >>> metrics.loss.shape
        ()
    """
    key_noise = _step_keys(state)[3]
    (loss, energy_data), grads = jax.value_and_grad(denoising_score_matching_loss, has_aux=True)(
        state.params, energy_fn, key_noise, data_batch, noise_scale
    )
    updates, opt_state = optimizer.update(grads, state.opt_state, state.params)
    params = optax.apply_updates(state.params, updates)
    nan = jnp.full((), jnp.nan, loss.dtype)
    new_state = state._replace(params=params, opt_state=opt_state, step=state.step + 1)
    return new_state, TrainMetrics(loss, energy_data, nan, nan)


def _minibatch(state: EBMTrainState, data: jax.Array, batch_size: int) -> jax.Array:
    """Update ``state.step``'s minibatch: ``batch_size`` rows drawn with replacement."""
    indices = jax.random.randint(_step_keys(state)[0], (batch_size,), 0, data.shape[0])
    return data[indices]


@partial(jax.jit, static_argnames=("energy_fn", "optimizer", "num_steps", "batch_size"))
def _train_cd(state, data, sampler, settings, *, energy_fn, optimizer, num_steps, batch_size):
    def body(state, _):
        batch = _minibatch(state, data, batch_size)
        return contrastive_divergence_step(
            state, batch, energy_fn=energy_fn, sampler=sampler, optimizer=optimizer,
            settings=settings,
        )  # fmt: skip

    return jax.lax.scan(body, state, length=num_steps)


@partial(jax.jit, static_argnames=("energy_fn", "optimizer", "num_steps", "batch_size"))
def _train_dsm(state, data, noise_scale, *, energy_fn, optimizer, num_steps, batch_size):
    def body(state, _):
        batch = _minibatch(state, data, batch_size)
        return score_matching_step(
            state, batch, energy_fn=energy_fn, optimizer=optimizer, noise_scale=noise_scale
        )

    return jax.lax.scan(body, state, length=num_steps)


def _check_training(state, data, num_steps, batch_size, *, needs_buffer: bool) -> jax.Array:
    data = jnp.asarray(data)
    for name, value in (("num_steps", num_steps), ("batch_size", batch_size)):
        if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
            raise ValueError(f"{name} must be an integer >= 1, got {name}={value!r}.")
    if data.ndim < 1 or data.shape[0] < 1:
        raise ValueError(f"data must be (num_examples, *event_shape), got shape {data.shape}.")
    if needs_buffer:
        if state.buffer.shape[1:] != data.shape[1:]:
            raise ValueError(
                f"the replay buffer holds points of shape {state.buffer.shape[1:]} but data has "
                f"shape {data.shape[1:]}; build the state with event_shape={data.shape[1:]}."
            )
        if state.buffer.shape[0] < batch_size:
            raise ValueError(
                f"batch_size={batch_size} exceeds the replay buffer's {state.buffer.shape[0]} "
                "entries; use a larger buffer_size in init_training."
            )
    return data


def train_contrastive_divergence(
    state: EBMTrainState,
    data: jax.typing.ArrayLike,
    *,
    energy_fn: Callable[[ArrayTree, jax.Array], jax.Array],
    sampler: Sampler,
    optimizer: optax.GradientTransformation,
    num_steps: int,
    batch_size: int,
    settings: ContrastiveDivergenceSettings | None = None,
) -> tuple[EBMTrainState, TrainMetrics]:
    """``num_steps`` :func:`contrastive_divergence_step` updates in one jitted ``lax.scan``.

    Minibatches are ``batch_size`` rows of ``data`` drawn with replacement from
    ``fold_in(state.key, t)``; ``settings`` and the sampler's numbers are traced,
    while ``energy_fn``, ``optimizer``, ``num_steps`` and ``batch_size`` are static
    (build the optimizer once). ``N`` steps equal two calls of ``N / 2``.

    Returns:
        The final state and the :class:`TrainMetrics` of every update (leading
        axis ``num_steps``).

    Example:
        >>> import jax, jax.numpy as jnp, optax, statjax
        >>> from jax.tree_util import Partial
        >>> def energy(precision, x):  # or energy_function(EnergyMLP())
        ...     return 0.5 * precision * jnp.sum(x**2, -1)
        >>> optimizer = optax.adam(1e-3, b1=0.0)
        >>> state = init_training(jax.random.key(1), jnp.array(1.0), optimizer, buffer_size=64,
        ...                       event_shape=(2,))
        >>> state, metrics = train_contrastive_divergence(
        ...     state, jnp.ones((100, 2)), energy_fn=energy, optimizer=optimizer,
        ...     sampler=Partial(statjax.mala, step_size=0.05), num_steps=3, batch_size=16,
        ...     settings=ContrastiveDivergenceSettings(num_sampling_steps=5))
        >>> metrics.loss.shape
        (3,)
    """
    data = _check_training(state, data, num_steps, batch_size, needs_buffer=True)
    settings = ContrastiveDivergenceSettings() if settings is None else settings
    settings = ContrastiveDivergenceSettings(*(jnp.asarray(value) for value in settings))
    return _train_cd(
        state, data, as_pytree_fn(sampler), settings, energy_fn=energy_fn, optimizer=optimizer,
        num_steps=int(num_steps), batch_size=int(batch_size),
    )  # fmt: skip


def train_score_matching(
    state: EBMTrainState,
    data: jax.typing.ArrayLike,
    *,
    energy_fn: Callable[[ArrayTree, jax.Array], jax.Array],
    optimizer: optax.GradientTransformation,
    num_steps: int,
    batch_size: int,
    noise_scale: jax.typing.ArrayLike,
) -> tuple[EBMTrainState, TrainMetrics]:
    """``num_steps`` :func:`score_matching_step` updates in one jitted ``lax.scan``.

    Minibatches as in :func:`train_contrastive_divergence`; ``noise_scale`` is traced.

    Example:
        >>> import jax, jax.numpy as jnp, optax
        >>> def energy(precision, x):  # or energy_function(EnergyMLP())
        ...     return 0.5 * precision * jnp.sum(x**2, -1)
        >>> optimizer = optax.adam(1e-3)
        >>> state = init_training(jax.random.key(1), jnp.array(1.0), optimizer)
        >>> state, metrics = train_score_matching(
        ...     state, jnp.ones((100, 2)), energy_fn=energy, optimizer=optimizer, num_steps=3,
        ...     batch_size=16, noise_scale=0.1)
        >>> metrics.loss.shape
        (3,)
    """
    data = _check_training(state, data, num_steps, batch_size, needs_buffer=False)
    _check_number("noise_scale", noise_scale, lambda v: v > 0, "> 0")
    return _train_dsm(
        state, data, jnp.asarray(noise_scale, data.dtype), energy_fn=energy_fn,
        optimizer=optimizer, num_steps=int(num_steps), batch_size=int(batch_size),
    )  # fmt: skip


# ------------------------------------------------------------------- evaluation


@jax.jit
def _energies(energy_fn, points):
    return jax.vmap(energy_fn)(points)


def grid_log_likelihood(
    energy_fn: EnergyFn,
    data: jax.typing.ArrayLike,
    lower: BoxBound,
    upper: BoxBound,
    num_points: int | Sequence[int] = 200,
) -> tuple[jax.Array, jax.Array]:
    """Exact log-likelihoods ``log p(x) = -E(x) - log Z`` in 1-D or 2-D, ``log Z`` by quadrature.

    ``log Z = log int_box exp(-E)`` by the trapezoid rule
    (:func:`statjax.thermo.grid_log_z`), so the result is exact up to the mass of
    ``exp(-E)`` outside the box and a quadrature error that falls geometrically
    once the grid spacing resolves the narrowest feature of ``E``. Choose a box
    that holds the data and the model's mass.

    Args:
        energy_fn: ``E(x) -> scalar`` on one point ``(dim,)`` (``energy.bind(params)``).
        data: points ``(n, dim)``, ``dim`` 1 or 2.
        lower, upper: corners of the box.
        num_points: grid points per axis.

    Returns:
        ``(log_likelihoods, log_z)``: ``(n,)`` and a scalar.

    Example:
        >>> import jax.numpy as jnp
        >>> gaussian = lambda x: 0.5 * jnp.sum(x**2)  # N(0, I): log p(0) = -log(2 pi)
        >>> log_p, log_z = grid_log_likelihood(gaussian, jnp.zeros((1, 2)), [-8, -8], [8, 8], 161)
        >>> print(round(float(log_p[0]), 5), round(-float(jnp.log(2 * jnp.pi)), 5))
        -1.83788 -1.83788
    """
    data = jnp.asarray(data)
    dim = np.atleast_1d(lower).size
    if data.ndim != 2 or data.shape[1] != dim:
        raise ValueError(f"data must be (n, {dim}) for a {dim}-D box, got shape {data.shape}.")
    log_z = grid_log_z(energy_fn, 1.0, lower, upper, num_points)
    return -_energies(as_pytree_fn(energy_fn), data) - log_z, log_z


def grid_samples(
    key: PRNGKey,
    energy_fn: EnergyFn,
    num_samples: int,
    lower: BoxBound,
    upper: BoxBound,
    num_points: int | Sequence[int] = 200,
) -> jax.Array:
    """Independent draws from ``exp(-E) / Z`` restricted to a 2-D box, through the grid.

    A grid node is drawn with probability ``density * trapezoid weight`` (the
    weights :func:`grid_log_likelihood` integrates with) and moved uniformly within
    its cell of side ``h``: exact up to the resolution ``h``. It measures the
    *model* (not a sampler) when comparing to data with :func:`mmd_squared`.

    Args:
        key: PRNG key.
        energy_fn: ``E(x) -> scalar`` on one point ``(2,)``.
        num_samples: number of draws.
        lower, upper: corners of the 2-D box.
        num_points: grid points per axis.

    Returns:
        ``(num_samples, 2)``.

    Example:
        >>> import jax, jax.numpy as jnp
        >>> draws = grid_samples(jax.random.key(0), lambda x: 0.5 * jnp.sum(x**2), 1000,
        ...                      [-6.0, -6.0], [6.0, 6.0], 61)
        >>> print(bool(abs(float(draws.var()) - 1.0) < 0.15))  # 5 standard errors
        True
    """
    if np.atleast_1d(lower).size != 2:
        raise ValueError(f"grid_samples needs a 2-D box, got lower={lower!r}.")
    (x_axis, y_axis), density = grid_density(energy_fn, 1.0, lower, upper, num_points)
    spacing = jnp.array([x_axis[1] - x_axis[0], y_axis[1] - y_axis[0]])
    weights = jnp.outer(trapezoid_weights(x_axis), trapezoid_weights(y_axis))
    key_cell, key_jitter = jax.random.split(key)
    cells = jax.random.categorical(
        key_cell, jnp.log(density * weights).ravel(), shape=(num_samples,)
    )
    rows, columns = jnp.unravel_index(cells, density.shape)
    centres = jnp.stack([x_axis[rows], y_axis[columns]], axis=-1)
    jitter = jax.random.uniform(key_jitter, (num_samples, 2), minval=-0.5, maxval=0.5)
    return centres + jitter * spacing


def median_bandwidth(x: jax.typing.ArrayLike, y: jax.typing.ArrayLike) -> jax.Array:
    """The median heuristic: median Euclidean distance between distinct points of ``x`` and ``y``.

    Gretton et al. (2012), section 8: the Gaussian kernel's width set to the
    median distance between points of the pooled sample.

    Args:
        x: ``(m, *event_shape)``.
        y: ``(n, *event_shape)``.

    Returns:
        A scalar bandwidth.

    Example:
        >>> import jax.numpy as jnp
        >>> print(float(median_bandwidth(jnp.array([[0.0], [1.0]]), jnp.array([[3.0]]))))
        2.0
    """
    pooled = jnp.concatenate([_flat(x), _flat(y)])
    distances = jnp.sqrt(_squared_distances(pooled, pooled))
    upper_triangle = jnp.triu_indices(pooled.shape[0], k=1)
    return jnp.median(distances[upper_triangle])


def _flat(points) -> jax.Array:
    points = jnp.asarray(points)
    return points.reshape(points.shape[0], -1)


def _squared_distances(a: jax.Array, b: jax.Array) -> jax.Array:
    squared = jnp.sum(a**2, 1)[:, None] + jnp.sum(b**2, 1)[None, :] - 2.0 * a @ b.T
    return jnp.maximum(squared, 0.0)


def mmd_squared(
    x: jax.typing.ArrayLike,
    y: jax.typing.ArrayLike,
    bandwidth: jax.typing.ArrayLike | None = None,
) -> jax.Array:
    r"""Unbiased squared maximum mean discrepancy with a Gaussian kernel (Gretton et al. 2012).

    .. math::

        \mathrm{MMD}^2_u = \frac{1}{m(m-1)} \sum_{i \ne j} k(x_i, x_j)
            + \frac{1}{n(n-1)} \sum_{i \ne j} k(y_i, y_j)
            - \frac{2}{mn} \sum_{i, j} k(x_i, y_j),
        \qquad k(a, b) = \exp\!\big(-\|a - b\|^2 / (2 h^2)\big)

    (their eq. 3, Lemma 6). Its expectation is 0 when ``x`` and ``y`` come from the
    same law, so it can be negative; it is a squared distance between the kernel
    mean embeddings otherwise. Points are flattened, so images work as they are.

    Args:
        x: ``(m, *event_shape)``, ``m >= 2``.
        y: ``(n, *event_shape)``, ``n >= 2``.
        bandwidth: ``h > 0``; ``None`` takes :func:`median_bandwidth` of the pooled
            sample.

    Returns:
        A scalar.

    Example:
        >>> import jax, jax.numpy as jnp
        >>> x = jax.random.normal(jax.random.key(0), (100, 2))
        >>> far, near = mmd_squared(x, x + 3.0, 1.0), mmd_squared(x[:50], x[50:], 1.0)
        >>> print(bool(far > 0.5), bool(abs(near) < 0.05))
        True True
    """
    x, y = _flat(x), _flat(y)
    if x.shape[0] < 2 or y.shape[0] < 2 or x.shape[1:] != y.shape[1:]:
        raise ValueError(
            f"x and y must hold >= 2 points each of the same size, got shapes {x.shape} and "
            f"{y.shape} (flattened)."
        )
    if bandwidth is None:
        bandwidth = median_bandwidth(x, y)
    else:
        _check_number("bandwidth", bandwidth, lambda v: v > 0, "> 0")
    return _mmd_squared(x, y, jnp.asarray(bandwidth, x.dtype))


@jax.jit
def _mmd_squared(x, y, bandwidth):
    def mean_kernel(a, b, exclude_diagonal):
        gram = jnp.exp(-_squared_distances(a, b) / (2.0 * bandwidth**2))
        if exclude_diagonal:
            count = a.shape[0]
            return (jnp.sum(gram) - jnp.trace(gram)) / (count * (count - 1))
        return jnp.mean(gram)

    return mean_kernel(x, x, True) + mean_kernel(y, y, True) - 2.0 * mean_kernel(x, y, False)
