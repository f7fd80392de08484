r"""A VAE whose prior is a latent-space energy-based model (Pang et al. 2020).

"Learning Latent Space Energy-Based Prior Model" (Pang, Han, Nijkamp, Zhu & Wu,
NeurIPS 2020): a generator ``p_beta(x | z)`` stands on a prior that is an
exponential tilt of the Gaussian,

.. math::

    p_\alpha(z) = \frac{1}{Z_\alpha} e^{-E_\alpha(z)} \mathcal N(z; 0, I), \qquad
    Z_\alpha = \mathbb E_{\mathcal N(0, I)}\big[e^{-E_\alpha(z)}\big],

with ``E_alpha`` a small MLP (the paper's ``f_alpha = -E_alpha``). The latent
energy ``U_alpha(z) = E_alpha(z) + |z|^2 / 2`` has Boltzmann law ``p_alpha`` at
``beta = 1``, and the posterior energy is ``U_alpha(z) - log p_beta(x | z)``.
Maximum likelihood (their Eq. 4–5) moves

.. math::

    \nabla_\alpha \log p(x) = \mathbb E_{p(z|x)}[-\nabla_\alpha E_\alpha(z)]
        - \mathbb E_{p_\alpha(z)}[-\nabla_\alpha E_\alpha(z)], \qquad
    \nabla_\beta \log p(x) = \mathbb E_{p(z|x)}[\nabla_\beta \log p_\beta(x | z)],

with both expectations over short-run Langevin chains (their Eq. 6,
``z <- z + s grad log pi(z) + sqrt(2 s) eps``, ``K_0`` prior and ``K_1``
posterior steps; here :func:`statjax.ula` or :func:`statjax.mala` at
``beta = 1`` through :func:`~statjax.models.ebm.short_run_chains`, the one
driver). The paper's code writes the step as
``z - s^2 / 2 grad U + s N(0, I)`` with ``s = 0.4`` (prior, 60 steps) and
``s = 0.1`` (posterior, 20 steps): statjax's time step is ``s^2 / 2`` (0.08 and
0.005).

**Which variant.** The paper has no encoder: its posterior chains start from
``N(0, I)``. This VAE keeps an amortised Gaussian encoder ``q_phi(z | x)``,
trained on the ELBO (decoder and prior held fixed; ``log Z_alpha`` does not
depend on ``phi``) and used (1) as the proposal of the importance-sampled
log-likelihood and (2) optionally as the start of the posterior chains
(:class:`VAESettings`). Decoder and prior always follow the paper's MLE rule
above with the posterior samples that the settings ask for:

- ``start_from_encoder = 0``: the paper's rule exactly (chains from ``N(0, I)``);
- ``start_from_encoder = 1``: chains from ``q_phi``'s reparameterised draw;
- ``num_posterior_steps = 0`` with ``start_from_encoder = 1``: the posterior
  samples are ``q_phi``'s, and the update is exactly the gradient of the ELBO
  ``E_q[log p(x|z)] - KL(q || N(0, I)) - E_q[E_alpha(z)] - log Z_alpha``
  (the "ELBO variant").

A model built with ``prior=None`` is the same VAE with the Gaussian prior
``N(0, I)`` (``E_alpha = 0``, no prior chains).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from functools import partial
from typing import Any, Literal, NamedTuple

import flax.linen as nn
import jax
import jax.numpy as jnp
import optax
from jax.tree_util import Partial

from statjax import random as sjrandom
from statjax.checks import as_key, check_count, check_positive
from statjax.energy.combinators import interpolated_energy
from statjax.models.ebm.chains import short_run_chains
from statjax.models.variational import gaussian_kl
from statjax.pytree import Pytree, guarded_jit, static_field
from statjax.samplers.langevin import mala, ula
from statjax.thermo.ais import AISResult, ais_geometric
from statjax.types import ArrayTree, PRNGKey

__all__ = [
    "ELBOTerms",
    "LatentEBMVAE",
    "PosteriorEnergy",
    "PriorEnergyMLP",
    "VAEDecoder",
    "VAEEncoder",
    "VAEMetrics",
    "VAESettings",
    "VAETrainState",
    "elbo",
    "elbo_terms",
    "importance_log_likelihood",
    "init_vae_params",
    "init_vae_training",
    "latent_ebm_vae",
    "prior_log_z",
    "prior_log_z_ais",
    "sample_posterior",
    "sample_prior",
    "train_vae",
    "vae_loss",
    "vae_training_step",
]

Langevin = Literal["ula", "mala"]


class VAEEncoder(nn.Module):
    """``q(z | x) = N(mean(x), diag std(x)^2)`` from a ReLU MLP; ``std = softplus(a) + 1e-4``.

    Attributes:
        latent_dim: size of ``z``.
        hidden_sizes: widths of the hidden layers.
    """

    latent_dim: int
    hidden_sizes: Sequence[int] = (128,)

    @nn.compact
    def __call__(self, x: jax.Array) -> tuple[jax.Array, jax.Array]:
        """``(mean, std)``, each ``(..., latent_dim)``."""
        for width in self.hidden_sizes:
            x = nn.relu(nn.Dense(width)(x))
        mean = nn.Dense(self.latent_dim, name="mean")(x)
        std = jax.nn.softplus(nn.Dense(self.latent_dim, name="std")(x)) + 1e-4
        return mean, std


class VAEDecoder(nn.Module):
    """``z ->`` the decoder's output (Bernoulli logits or Gaussian means), a ReLU MLP.

    Attributes:
        data_dim: size of ``x``.
        hidden_sizes: widths of the hidden layers.
    """

    data_dim: int
    hidden_sizes: Sequence[int] = (128,)

    @nn.compact
    def __call__(self, z: jax.Array) -> jax.Array:
        """``(..., data_dim)``."""
        for width in self.hidden_sizes:
            z = nn.relu(nn.Dense(width)(z))
        return nn.Dense(self.data_dim)(z)


class PriorEnergyMLP(nn.Module):
    """``E_alpha(z)``: a small MLP to one number (the paper: leaky ReLU, 200 units).

    Attributes:
        hidden_sizes: widths of the hidden layers.
    """

    hidden_sizes: Sequence[int] = (200, 200)

    @nn.compact
    def __call__(self, z: jax.Array) -> jax.Array:
        """``E_alpha(z)``, shape ``z.shape[:-1]``."""
        for width in self.hidden_sizes:
            z = nn.leaky_relu(nn.Dense(width)(z), 0.1)
        return nn.Dense(1)(z)[..., 0]


class LatentEBMVAE(Pytree):
    """Encoder, decoder and (optional) latent EBM prior; see the module docstring.

    Parameters are one dict ``{"encoder", "decoder"[, "prior"]}`` of Flax
    parameter trees. Every method takes one point or a batch (leading axes).
    All fields are static (the architecture); build it with :func:`latent_ebm_vae`.

    Attributes:
        encoder: module ``x -> (mean, std)`` of ``q(z | x)``.
        decoder: module ``z ->`` Bernoulli logits or Gaussian means.
        prior: module ``z -> E_alpha(z)``, or ``None`` for the Gaussian prior.
        latent_dim: size of ``z``.
        likelihood: ``"bernoulli"`` (binary ``x``) or ``"gaussian"``.
        observation_scale: the Gaussian likelihood's standard deviation.
    """

    encoder: nn.Module = static_field()
    decoder: nn.Module = static_field()
    prior: nn.Module | None = static_field()
    latent_dim: int = static_field()
    likelihood: str = static_field()
    observation_scale: float = static_field()

    def encode(self, params: ArrayTree, x: jax.Array) -> tuple[jax.Array, jax.Array]:
        """``(mean, std)`` of ``q(z | x)``."""
        output: Any = self.encoder.apply({"params": params["encoder"]}, x)
        mean, std = output
        return mean, std

    def _output(self, params: ArrayTree, z: jax.Array) -> jax.Array:
        output: jax.Array = self.decoder.apply({"params": params["decoder"]}, z)  # type: ignore[assignment]
        return output

    def log_likelihood(self, params: ArrayTree, x: jax.Array, z: jax.Array) -> jax.Array:
        """``log p(x | z)`` summed over the data dimensions, shape ``broadcast(x, z)[:-1]``."""
        output = self._output(params, z)
        if self.likelihood == "bernoulli":
            terms = x * jax.nn.log_sigmoid(output) + (1.0 - x) * jax.nn.log_sigmoid(-output)
            return jnp.sum(terms, axis=-1)
        scale = self.observation_scale
        residual = (x - output) / scale
        normalizer = x.shape[-1] * math.log(scale * math.sqrt(2 * math.pi))
        return -0.5 * jnp.sum(residual**2, -1) - normalizer

    def prior_energy(self, params: ArrayTree, z: jax.Array) -> jax.Array:
        """``E_alpha(z)`` (0 for the Gaussian prior), shape ``z.shape[:-1]``."""
        if self.prior is None:
            return jnp.zeros(z.shape[:-1], z.dtype)
        energy: jax.Array = self.prior.apply({"params": params["prior"]}, z)  # type: ignore[assignment]
        return energy

    def latent_energy(self, params: ArrayTree, z: jax.Array) -> jax.Array:
        """``U_alpha(z) = E_alpha(z) + |z|^2 / 2``, the prior's energy at ``beta = 1``."""
        return self.prior_energy(params, z) + 0.5 * jnp.sum(z**2, axis=-1)

    def log_prior(self, params: ArrayTree, z: jax.Array, log_z: jax.typing.ArrayLike) -> jax.Array:
        """``log p_alpha(z) = -E_alpha(z) - log Z_alpha + log N(z; 0, I)``."""
        log_normal = -0.5 * jnp.sum(z**2, -1) - 0.5 * self.latent_dim * math.log(2 * math.pi)
        return -self.prior_energy(params, z) - log_z + log_normal

    def decode(self, params: ArrayTree, z: jax.Array) -> jax.Array:
        """The mean of ``p(x | z)``: ``sigmoid(logits)`` or the Gaussian mean."""
        output = self._output(params, z)
        return jax.nn.sigmoid(output) if self.likelihood == "bernoulli" else output

    def bind_prior(self, params: ArrayTree) -> Partial:
        """``z -> U_alpha(z)`` (one ``z``, a scalar), the prior chains' energy."""
        return Partial(_latent_energy, self, params)

    def bind_posterior(self, params: ArrayTree, x: jax.Array) -> PosteriorEnergy:
        """The posterior energy of the rows of ``x`` (see :class:`PosteriorEnergy`)."""
        return PosteriorEnergy(self, params, x)


def _latent_energy(model: LatentEBMVAE, params: ArrayTree, z: jax.Array) -> jax.Array:
    return model.latent_energy(params, z)


class PosteriorEnergy(Pytree):
    """``z -> U_alpha(z) - log p(x | z)`` for one data point ``x = data``.

    ``data`` is a leaf: with one row per chain, pass ``per_chain=("energy_fn.data",)``
    to the driver, so chain ``c`` samples ``p(z | data[c])``.

    Attributes:
        model: the VAE.
        params: its parameters.
        data: the data point(s) ``x``.
    """

    model: LatentEBMVAE
    params: ArrayTree
    data: jax.Array

    def __call__(self, z: jax.Array) -> jax.Array:
        """The posterior energy at one ``z``."""
        return self.model.latent_energy(self.params, z) - self.model.log_likelihood(
            self.params, self.data, z
        )


def latent_ebm_vae(
    encoder: nn.Module,
    decoder: nn.Module,
    prior: nn.Module | None,
    latent_dim: int,
    *,
    likelihood: Literal["bernoulli", "gaussian"] = "bernoulli",
    observation_scale: float = 1.0,
) -> LatentEBMVAE:
    """A :class:`LatentEBMVAE` (``prior=None``: the Gaussian-prior VAE).

    Args:
        encoder: Flax module ``x -> (mean, std)``.
        decoder: Flax module ``z ->`` logits (Bernoulli) or means (Gaussian).
        prior: Flax module ``z -> E_alpha(z)`` (scalar per ``z``) or ``None``.
        latent_dim: size of ``z``.
        likelihood: ``"bernoulli"`` or ``"gaussian"``.
        observation_scale: standard deviation of the Gaussian likelihood.

    Examples:
        >>> import jax, jax.numpy as jnp
        >>> model = latent_ebm_vae(
        ...     VAEEncoder(2, (8,)), VAEDecoder(4, (8,)), PriorEnergyMLP((8,)), latent_dim=2)
        >>> params = init_vae_params(model, jax.random.key(0), data_dim=4)
        >>> model.latent_energy(params, jnp.zeros((3, 2))).shape
        (3,)
    """
    for name, module in (("encoder", encoder), ("decoder", decoder)):
        if not isinstance(module, nn.Module):
            raise TypeError(f"{name} must be a flax.linen.Module, got {type(module).__name__}.")
    if prior is not None and not isinstance(prior, nn.Module):
        raise TypeError(f"prior must be a flax.linen.Module or None, got {type(prior).__name__}.")
    latent_dim = check_count("latent_dim", latent_dim)
    if likelihood not in ("bernoulli", "gaussian"):
        raise ValueError(f"likelihood must be 'bernoulli' or 'gaussian', got {likelihood!r}.")
    check_positive("observation_scale", observation_scale)
    return LatentEBMVAE(encoder, decoder, prior, latent_dim, likelihood, float(observation_scale))


@partial(jax.jit, static_argnums=(0, 2))
def _init_params(model: LatentEBMVAE, key: jax.Array, data_dim: int) -> dict:
    # One compiled program: eager Flax init compiles every small op on its own.
    keys = jax.random.split(key, 3)
    z = jnp.zeros(model.latent_dim)
    params = {
        "encoder": model.encoder.init(keys[0], jnp.zeros(data_dim))["params"],
        "decoder": model.decoder.init(keys[1], z)["params"],
    }
    if model.prior is not None:
        params["prior"] = model.prior.init(keys[2], z)["params"]
    return params


def init_vae_params(model: LatentEBMVAE, key: PRNGKey, data_dim: int) -> dict:
    """Fresh parameters ``{"encoder", "decoder"[, "prior"]}`` for data of size ``data_dim``.

    Args:
        model: the VAE.
        key: PRNG key.
        data_dim: size of ``x``.
    """
    return _init_params(model, as_key(key), check_count("data_dim", data_dim))


class ELBOTerms(NamedTuple):
    """Per-data-point terms of the ELBO, ``(batch,)`` each.

    ``ELBO = reconstruction - kl - prior_energy - log Z_alpha`` (:func:`elbo`).

    Attributes:
        reconstruction: ``E_q[log p(x | z)]`` (Monte Carlo over the draws).
        kl: ``KL(q(z | x) || N(0, I))`` in closed form.
        prior_energy: ``E_q[E_alpha(z)]`` (Monte Carlo; 0 for the Gaussian prior).
    """

    reconstruction: jax.Array
    kl: jax.Array
    prior_energy: jax.Array


def elbo_terms(model: LatentEBMVAE, params: ArrayTree, x: jax.Array, noise: jax.Array) -> ELBOTerms:
    r"""The ELBO's terms with the reparameterised draws ``z_k = mean + std * noise_k``.

    .. math::

        \log p(x) \ge \mathbb E_q[\log p(x|z)] - \mathrm{KL}(q \,\|\, \mathcal N(0, I))
            - \mathbb E_q[E_\alpha(z)] - \log Z_\alpha,

    since ``log p_alpha(z) = log N(z; 0, I) - E_alpha(z) - log Z_alpha``.

    Args:
        model: the VAE.
        params: its parameters.
        x: data ``(batch, data_dim)``.
        noise: standard normal draws ``(num_samples, batch, latent_dim)``.

    Returns:
        The terms, each ``(batch,)``.
    """
    mean, std = model.encode(params, x)
    z = mean + std * noise
    kl = jnp.sum(gaussian_kl(mean, std, 0.0, 1.0), axis=-1)
    return ELBOTerms(
        jnp.mean(model.log_likelihood(params, x, z), axis=0),
        kl,
        jnp.mean(model.prior_energy(params, z), axis=0),
    )


def elbo(terms: ELBOTerms, log_z: jax.typing.ArrayLike = 0.0) -> jax.Array:
    """``reconstruction - kl - prior_energy - log_z`` per data point.

    Args:
        terms: from :func:`elbo_terms`.
        log_z: ``log Z_alpha`` (:func:`prior_log_z`; 0 for the Gaussian prior).
    """
    return terms.reconstruction - terms.kl - terms.prior_energy - log_z


def _log_mean_exp(log_values: jax.Array) -> tuple[jax.Array, jax.Array]:
    """``log mean exp`` over axis 0 and its delta-method standard error.

    ``se = sd(w) / (sqrt(n) mean(w))``, as in :func:`statjax.thermo.ais_estimate`.
    """
    count = log_values.shape[0]
    shift = jnp.max(log_values, axis=0)
    weights = jnp.exp(log_values - shift)
    mean = jnp.mean(weights, axis=0)
    sd = jnp.std(weights, axis=0, ddof=1)
    return jnp.log(mean) + shift, sd / (math.sqrt(count) * mean)


@partial(guarded_jit, static_argnames=("model", "num_samples"))
def _prior_log_z(model, params, key, num_samples):
    z = sjrandom.normal(key, (num_samples, model.latent_dim))
    return _log_mean_exp(-model.prior_energy(params, z))


def prior_log_z(
    model: LatentEBMVAE, params: ArrayTree, key: PRNGKey, num_samples: int
) -> tuple[jax.Array, jax.Array]:
    r"""``log Z_alpha = log E_{N(0,I)}[exp(-E_alpha(z))]`` by simple Monte Carlo.

    The standard error is the delta method's, ``sd(w) / (sqrt(n) mean(w))`` with
    ``w = exp(-E_alpha(z_i))``; it is honest while the tilt ``E_alpha`` is mild
    (the latent EBM is a correction to ``N(0, I)`` in a small latent space).
    Exactly 0 (with 0 error) for the Gaussian prior.

    Args:
        model: the VAE.
        params: its parameters.
        key: PRNG key.
        num_samples: draws from ``N(0, I)`` (>= 2).

    Returns:
        ``(log_z, standard_error)``, scalars.
    """
    num_samples = check_count("num_samples", num_samples, minimum=2)
    return _prior_log_z(model, params, as_key(key), num_samples)


def _half_squared_norm(z: jax.Array) -> jax.Array:
    return 0.5 * jnp.sum(z**2, axis=-1)


def prior_log_z_ais(
    model: LatentEBMVAE,
    params: ArrayTree,
    key: PRNGKey,
    num_chains: int,
    num_temperatures: int,
    step_size: jax.typing.ArrayLike,
    *,
    num_steps_per_beta: int = 1,
) -> AISResult:
    r"""``log Z_alpha`` by annealed importance sampling from ``N(0, I)`` to ``p_alpha``.

    The geometric path ``U_b(z) = |z|^2 / 2 + b E_alpha(z)``, ``b`` from 0 to 1
    (:func:`statjax.thermo.ais_geometric`, MALA transitions at each ``b``;
    Neal 2001): ``log(Z_1 / Z_0) = log E_{N(0,I)}[exp(-E_alpha)] = log Z_alpha``,
    with the delta-method standard error over the chains' weights. Unlike
    :func:`prior_log_z`, it stays accurate when ``E_alpha`` is far from flat.

    Args:
        model: the VAE (with an energy prior).
        params: its parameters.
        key: PRNG key.
        num_chains: independent AIS chains (>= 2).
        num_temperatures: path points ``b_t``, linear from 0 to 1 (>= 2).
        step_size: MALA time step.
        num_steps_per_beta: MALA steps at each ``b_t``.

    Returns:
        The :class:`~statjax.thermo.AISResult` (``log_z``, ``standard_error``, ...).
    """
    if model.prior is None:
        raise ValueError("the Gaussian-prior model has log Z_alpha = 0: nothing to estimate.")
    num_chains = check_count("num_chains", num_chains, minimum=2)
    num_temperatures = check_count("num_temperatures", num_temperatures, minimum=2)
    start_key, chain_key = jax.random.split(as_key(key))
    start = sjrandom.normal(start_key, (num_chains, model.latent_dim))
    energy = interpolated_energy(_half_squared_norm, model.bind_prior(params))
    return ais_geometric(
        mala(energy, step_size), chain_key, start, jnp.linspace(0.0, 1.0, num_temperatures),
        num_steps_per_beta=num_steps_per_beta,
    )  # fmt: skip


@partial(guarded_jit, static_argnames=("model", "num_samples"))
def _importance(model, params, x, key, log_z, num_samples):
    mean, std = model.encode(params, x)
    noise = sjrandom.normal(key, (num_samples, *mean.shape))
    z = mean + std * noise
    log_q = jnp.sum(-0.5 * noise**2 - jnp.log(std) - 0.5 * math.log(2 * math.pi), -1)
    log_weights = model.log_likelihood(params, x, z) + model.log_prior(params, z, log_z) - log_q
    return _log_mean_exp(log_weights)


def importance_log_likelihood(
    model: LatentEBMVAE,
    params: ArrayTree,
    x: jax.typing.ArrayLike,
    key: PRNGKey,
    num_samples: int,
    log_z: jax.typing.ArrayLike = 0.0,
) -> tuple[jax.Array, jax.Array]:
    r"""``log p(x)`` by importance sampling from the encoder (Burda, Grosse & Salakhutdinov 2016).

    .. math::

        \log \hat p(x) = \log \frac1K \sum_k
            \frac{p(x | z_k)\, p_\alpha(z_k)}{q(z_k | x)}, \qquad z_k \sim q(z | x),

    with ``log p_alpha`` normalised by ``log_z`` (:func:`prior_log_z`). Its mean is
    below ``log p(x)`` (Jensen) by about ``se^2 / 2``; the standard error is the
    delta method's over the ``K`` weights.

    Args:
        model: the VAE.
        params: its parameters.
        x: data ``(batch, data_dim)``.
        key: PRNG key.
        num_samples: importance samples ``K`` per data point (>= 2).
        log_z: ``log Z_alpha`` of the prior (0 for the Gaussian prior).

    Returns:
        ``(log_likelihood, standard_error)``, each ``(batch,)``.
    """
    num_samples = check_count("num_samples", num_samples, minimum=2)
    x = jnp.asarray(x)
    if x.ndim != 2:
        raise ValueError(f"x must be (batch, data_dim), got shape {x.shape}.")
    return _importance(model, params, x, as_key(key), jnp.asarray(log_z), num_samples)


def _kernel(langevin: Langevin, energy: Any, step_size: jax.typing.ArrayLike) -> Any:
    if langevin == "ula":
        return ula(energy, step_size)
    if langevin == "mala":
        return mala(energy, step_size)
    raise ValueError(f"langevin must be 'ula' or 'mala', got {langevin!r}.")


def sample_prior(
    model: LatentEBMVAE,
    params: ArrayTree,
    key: PRNGKey,
    num_chains: int,
    num_steps: jax.typing.ArrayLike,
    step_size: jax.typing.ArrayLike,
    *,
    langevin: Langevin = "ula",
) -> jax.Array:
    """Short-run chains on ``U_alpha`` at ``beta = 1`` from ``N(0, I)``; their end points.

    The paper's prior sampler (``K_0`` Langevin steps from ``p_0 = N(0, I)``).
    Jittable (``num_steps`` and ``step_size`` may be traced); the chains go
    through :func:`~statjax.models.ebm.short_run_chains`, the one driver. The
    Gaussian-prior model returns the ``N(0, I)`` draws themselves.

    Args:
        model: the VAE.
        params: its parameters.
        key: PRNG key.
        num_chains: number of chains (samples).
        num_steps: Langevin steps.
        step_size: the kernel's time step.
        langevin: ``"ula"`` (the paper) or ``"mala"``.

    Returns:
        ``(num_chains, latent_dim)``.
    """
    start_key, chain_key = jax.random.split(as_key(key))
    start = sjrandom.normal(start_key, (num_chains, model.latent_dim))
    if model.prior is None:
        return start
    kernel = _kernel(langevin, model.bind_prior(params), step_size)
    final, _ = short_run_chains(kernel, chain_key, start, num_steps)
    position: jax.Array = final.position
    return position


def sample_posterior(
    model: LatentEBMVAE,
    params: ArrayTree,
    key: PRNGKey,
    x: jax.Array,
    start: jax.Array,
    num_steps: jax.typing.ArrayLike,
    step_size: jax.typing.ArrayLike,
    *,
    langevin: Langevin = "ula",
) -> tuple[jax.Array, jax.Array]:
    """Short-run chains on the posterior energy of each row of ``x``, from ``start``.

    Chain ``c`` targets ``p(z | x[c]) ∝ exp(-U_alpha(z)) p(x[c] | z)`` at
    ``beta = 1`` (the data ride on the kernel as a per-chain leaf).

    Args:
        model: the VAE.
        params: its parameters.
        key: PRNG key.
        x: data ``(batch, data_dim)``, one chain per row.
        start: starting latents ``(batch, latent_dim)``.
        num_steps: Langevin steps (may be traced; 0 returns ``start``).
        step_size: the kernel's time step.
        langevin: ``"ula"`` (the paper) or ``"mala"``.

    Returns:
        ``(positions (batch, latent_dim), acceptance_rate)``.
    """
    kernel = _kernel(langevin, model.bind_posterior(params, x), step_size)
    final, rate = short_run_chains(
        kernel, as_key(key), start, num_steps, per_chain=("energy_fn.data",)
    )
    position: jax.Array = final.position
    return position, rate


class VAESettings(NamedTuple):
    """Numbers of one update; all traced (a sweep never recompiles).

    Attributes:
        num_prior_steps: ``K_0`` (paper: 60).
        prior_step_size: time step of the prior chains (paper: ``0.4^2 / 2 = 0.08``).
        num_posterior_steps: ``K_1`` (paper: 20; 0 with ``start_from_encoder=1``
            is the ELBO variant).
        posterior_step_size: time step of the posterior chains (paper:
            ``0.1^2 / 2 = 0.005``).
        start_from_encoder: 0 starts the posterior chains at ``N(0, I)`` (the
            paper; the default), 1 at ``q``'s draw. With 1, the encoder can pull
            the posterior where the prior's short-run chains never go, and
            ``E_alpha`` then falls there without bound (measured on digits:
            KL(q || N(0, I)) from 13 to 1e5 nats in 2000 updates).
    """

    num_prior_steps: jax.typing.ArrayLike = 60
    prior_step_size: jax.typing.ArrayLike = 0.08
    num_posterior_steps: jax.typing.ArrayLike = 20
    posterior_step_size: jax.typing.ArrayLike = 0.005
    start_from_encoder: jax.typing.ArrayLike = 0.0


class VAETrainState(NamedTuple):
    """Parameters, optimizer state, key and update count (a checkpointable pytree).

    Attributes:
        params: ``{"encoder", "decoder"[, "prior"]}``.
        opt_state: the optax state.
        key: the run's key; update ``t`` draws from ``fold_in(key, t)``.
        step: updates done.
    """

    params: ArrayTree
    opt_state: ArrayTree
    key: jax.Array
    step: jax.Array


class VAEMetrics(NamedTuple):
    """Per-update numbers (batch means).

    Attributes:
        loss: the surrogate differentiated.
        gaussian_elbo: ``E_q[log p(x|z)] - KL(q || N(0, I))`` (one draw).
        kl: ``KL(q || N(0, I))``.
        posterior_log_likelihood: ``log p(x | z)`` at the posterior samples.
        energy_posterior: ``E_alpha`` at the posterior samples.
        energy_prior: ``E_alpha`` at the prior samples (the gap to the line
            above is the prior's contrastive-divergence signal).
    """

    loss: jax.Array
    gaussian_elbo: jax.Array
    kl: jax.Array
    posterior_log_likelihood: jax.Array
    energy_posterior: jax.Array
    energy_prior: jax.Array


def vae_loss(
    params: ArrayTree,
    model: LatentEBMVAE,
    x: jax.Array,
    noise: jax.Array,
    posterior_samples: jax.Array,
    prior_samples: jax.Array,
) -> tuple[jax.Array, VAEMetrics]:
    """The surrogate whose gradient is the update of the module docstring.

    ``-ELBO_phi - mean log p(x | z_post) + mean E_alpha(z_post) - mean E_alpha(z_prior)``:
    the ELBO term with decoder and prior held fixed (it trains the encoder only),
    the samples held fixed (no gradient through the chains), so each block of
    parameters receives exactly its own rule.

    Args:
        params: the VAE's parameters.
        model: the VAE.
        x: data ``(batch, data_dim)``.
        noise: the encoder draw's standard normals ``(batch, latent_dim)``.
        posterior_samples: ``(batch, latent_dim)``, one per row of ``x``.
        prior_samples: ``(num_prior, latent_dim)``.

    Returns:
        ``(loss, metrics)``.
    """
    frozen = {
        name: (value if name == "encoder" else jax.lax.stop_gradient(value))
        for name, value in params.items()
    }
    terms = elbo_terms(model, frozen, x, noise[None])
    encoder_loss = -jnp.mean(elbo(terms))
    posterior_samples = jax.lax.stop_gradient(posterior_samples)
    prior_samples = jax.lax.stop_gradient(prior_samples)
    posterior_log_likelihood = jnp.mean(model.log_likelihood(params, x, posterior_samples))
    energy_posterior = jnp.mean(model.prior_energy(params, posterior_samples))
    energy_prior = jnp.mean(model.prior_energy(params, prior_samples))
    loss = encoder_loss - posterior_log_likelihood + energy_posterior - energy_prior
    gaussian_elbo = jnp.mean(terms.reconstruction - terms.kl)
    return loss, VAEMetrics(
        loss, gaussian_elbo, jnp.mean(terms.kl), posterior_log_likelihood, energy_posterior,
        energy_prior,
    )  # fmt: skip


def init_vae_training(key: PRNGKey, params: ArrayTree, optimizer: Any) -> VAETrainState:
    """The training state at update 0 (``key`` drives minibatches, draws and chains).

    Args:
        key: PRNG key of the run.
        params: initial parameters (:func:`init_vae_params`).
        optimizer: an optax ``GradientTransformation``.
    """
    return VAETrainState(params, optimizer.init(params), as_key(key), jnp.zeros((), jnp.int32))


def vae_training_step(
    state: VAETrainState,
    x: jax.Array,
    *,
    model: LatentEBMVAE,
    optimizer: Any,
    settings: VAESettings,
    langevin: Langevin = "ula",
) -> tuple[VAETrainState, VAEMetrics]:
    """One update (Pang et al. 2020, Alg. 1, with the encoder of the module docstring).

    1. ``z_q = mean + std * eps`` from the encoder;
    2. posterior chains: ``num_posterior_steps`` Langevin steps on each row's
       posterior energy, from ``z_q`` or from ``N(0, I)``;
    3. prior chains: ``num_prior_steps`` Langevin steps on ``U_alpha`` from ``N(0, I)``;
    4. one optimizer step on :func:`vae_loss`.

    Update ``t`` draws from ``fold_in(state.key, t)``: a resumed run repeats.

    Args:
        state: the training state.
        x: the minibatch ``(batch, data_dim)``.
        model: the VAE.
        optimizer: an optax ``GradientTransformation``.
        settings: the chains' numbers.
        langevin: ``"ula"`` (the paper) or ``"mala"``.

    Returns:
        ``(state, metrics)``.
    """
    keys = jax.random.split(jax.random.fold_in(state.key, state.step), 5)
    batch_size = x.shape[0]
    noise = sjrandom.normal(keys[1], (batch_size, model.latent_dim))
    mean, std = model.encode(state.params, x)
    fresh = sjrandom.normal(keys[2], (batch_size, model.latent_dim))
    start = jnp.where(jnp.asarray(settings.start_from_encoder) > 0, mean + std * noise, fresh)
    posterior, _ = sample_posterior(
        model, state.params, keys[3], x, start, settings.num_posterior_steps,
        settings.posterior_step_size, langevin=langevin,
    )  # fmt: skip
    prior = sample_prior(
        model, state.params, keys[4], batch_size, settings.num_prior_steps,
        settings.prior_step_size, langevin=langevin,
    )  # fmt: skip
    grads, metrics = jax.grad(vae_loss, has_aux=True)(
        state.params, model, x, noise, posterior, prior
    )
    updates, opt_state = optimizer.update(grads, state.opt_state, state.params)
    params = optax.apply_updates(state.params, updates)
    return VAETrainState(params, opt_state, state.key, state.step + 1), metrics


@partial(guarded_jit, static_argnames=("model", "optimizer", "num_steps", "batch_size", "langevin"))
def _train(state, x, settings, model, optimizer, num_steps, batch_size, langevin):
    def body(state, _):
        batch_key = jax.random.fold_in(jax.random.fold_in(state.key, state.step), 7)
        indices = sjrandom.randint(batch_key, (batch_size,), 0, x.shape[0])
        return vae_training_step(
            state, x[indices], model=model, optimizer=optimizer, settings=settings,
            langevin=langevin,
        )  # fmt: skip

    return jax.lax.scan(body, state, length=num_steps)


def train_vae(
    state: VAETrainState,
    x: jax.typing.ArrayLike,
    *,
    model: LatentEBMVAE,
    optimizer: Any,
    num_steps: int,
    batch_size: int,
    settings: VAESettings | None = None,
    langevin: Langevin = "ula",
) -> tuple[VAETrainState, VAEMetrics]:
    """``num_steps`` updates on minibatches drawn with replacement, in one compiled scan.

    ``model``, ``optimizer`` and ``langevin`` are static (build them once); the
    settings are traced. ``experiments/vae_ebm_digits.py`` trains both priors this
    way (its test runs it on a tiny budget; no doctest here, to keep the suite's
    compile count down).

    Args:
        state: the training state (:func:`init_vae_training`).
        x: training data ``(num_examples, data_dim)``.
        model: the VAE.
        optimizer: an optax ``GradientTransformation``.
        num_steps: updates.
        batch_size: examples per update (and chains per sampler).
        settings: the chains' numbers (:class:`VAESettings`).
        langevin: ``"ula"`` (the paper) or ``"mala"``.

    Returns:
        The state and the metrics stacked over updates.
    """
    x = jnp.asarray(x)
    num_steps = check_count("num_steps", num_steps)
    batch_size = check_count("batch_size", batch_size)
    if x.ndim != 2:
        raise ValueError(f"x must be (num_examples, data_dim), got shape {x.shape}.")
    if langevin not in ("ula", "mala"):
        raise ValueError(f"langevin must be 'ula' or 'mala', got {langevin!r}.")
    settings = VAESettings() if settings is None else settings
    settings = VAESettings(*(jnp.asarray(value) for value in settings))
    return _train(
        state, x, settings, model=model, optimizer=optimizer, num_steps=num_steps,
        batch_size=batch_size, langevin=langevin,
    )  # fmt: skip
