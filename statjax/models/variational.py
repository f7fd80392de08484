r"""Mean-field Gaussian variational inference for Flax networks, written as a free energy.

A factorised Gaussian ``q(w) = prod_i N(w_i; mu_i, sigma_i^2)`` over a network's
weights, with ``sigma = softplus(rho)`` (Bayes by backprop, Blundell, Cornebise,
Kavukcuoglu & Wierstra 2015), is fitted by minimising the variational free energy
of the energy ``U(w) = loss(w) - log p(w)`` (the data loss, e.g. the summed
negative log-likelihood, plus the prior's potential) at temperature ``T``:

.. math::

    F_T[q] = \langle U \rangle_q - T\, S[q]
           = \underbrace{\mathbb E_q[\mathrm{loss}] + \mathbb E_q[-\log p]}_{\text{energy}}
             - T \underbrace{H[q]}_{\text{entropy}} ,

whose minimiser over *all* distributions is the tempered posterior
``exp(-U / T) / Z`` (Wenzel et al. 2020: ``T < 1`` "cold", ``T > 1`` warm), with
``min F = -T log Z``. At ``T = 1`` this is the negative ELBO,
``F = E_q[loss] + KL(q || p)``. For ``T != 1`` the KL form reads
``F_T = E_q[loss] + T KL(q || p_T) - T log Z_T``, with the tempered prior
``p_T = p^{1/T} / Z_T`` (for ``N(0, 1/lambda)``: ``N(0, T / lambda)``).

``tempering="likelihood"`` instead puts the temperature on the KL term only,
``F = E_q[loss] + T KL(q || p)`` (the KL-weighted or "tempered-likelihood" ELBO,
whose minimiser is ``p(D | w)^{1/T} p(w)``); its energy is then
``E_q[loss] + T E_q[-log p]``. Both forms agree at ``T = 1``.
:func:`variational_free_energy` reports every part separately
(:class:`FreeEnergyTerms`), so the two decompositions can be checked against
each other.

For a Gaussian posterior ``N(m, T Lambda^{-1})`` mean-field VI recovers the exact
mean ``m`` and the variances ``T / Lambda_ii`` — the diagonal of the *precision*,
not the marginal variances ``T (Lambda^{-1})_ii`` — and ``T`` scales every
variance exactly (``tests/models/test_variational.py``).

Flax side: :class:`MeanFieldDense` is a dense layer with a Gaussian posterior over
its kernel and bias, sampled with the local reparameterisation trick (Kingma,
Salimans & Welling 2015): the pre-activations ``b = x W`` are drawn from their
exact Gaussian ``N(x mu, x^2 sigma^2)``, one draw per example, which has a lower
variance than one weight draw per minibatch and costs two matrix products. Its
means live in the ``"params"`` collection under the names a ``nn.Dense`` uses
(``kernel``, ``bias``), and the ``rho`` of the same weights in the ``"rho"``
collection, so the means are a drop-in parameter set for the deterministic
network and ``variables = model.init(...)`` is the whole variational state an
optimizer acts on. :func:`sample_params` draws whole weight sets for any network
(e.g. the deterministic twin, to form a posterior predictive ensemble).

In a training step (``variables = model.init(key, x)``; the temperature may be a
traced schedule value, so a new ``T`` never recompiles):

.. code-block:: python

    def objective(variables, key, x, y, temperature):
        logits = model.apply(variables, x, rngs={"variational": key})
        loss = num_data * mean_cross_entropy(logits, y)  # one draw: unbiased for E_q[loss]
        mean, scale = split_variables(variables)
        terms = variational_free_energy(loss, mean, scale, GaussianPrior(1.0), temperature)
        return terms.free_energy / num_data, terms  # terms: energy, entropy, kl, ...
"""

import math
from collections.abc import Callable
from typing import Literal, NamedTuple

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax

from statjax.checks import as_key, check_positive
from statjax.models.regularizers import GaussianPrior
from statjax.types import ArrayTree, PRNGKey

__all__ = [
    "RHO_COLLECTION",
    "FreeEnergyTerms",
    "MeanFieldDense",
    "gaussian_kl",
    "init_rho",
    "mean_field_cross_entropy",
    "mean_field_entropy",
    "mean_field_kl",
    "posterior_scale",
    "rho_from_scale",
    "sample_params",
    "split_variables",
    "variational_free_energy",
]

RHO_COLLECTION = "rho"
"""The Flax variable collection that holds ``rho``, with ``sigma = softplus(rho)``."""

_LOG_2_PI_E = math.log(2.0 * math.pi * math.e)


# ------------------------------------------------------------------ parameterisation


def posterior_scale(rho: ArrayTree) -> ArrayTree:
    """``sigma = softplus(rho) = log(1 + exp(rho))``, leafwise (Blundell et al. 2015, sec. 3.2).

    Examples:
        >>> round(float(posterior_scale(jnp.array(0.0))), 6)  # log 2
        0.693147
    """
    return jax.tree_util.tree_map(jax.nn.softplus, rho)


def rho_from_scale(scale: jax.typing.ArrayLike) -> jax.Array:
    """The ``rho`` with ``softplus(rho) = scale``: ``log(expm1(scale))``, for ``scale > 0``.

    Examples:
        >>> round(float(posterior_scale(rho_from_scale(1e-3))), 9)
        0.001
    """
    check_positive("scale", scale)
    scale = jnp.asarray(scale, jnp.float32)
    # log(expm1(s)) = s + log(1 - exp(-s)): no overflow for large s.
    return scale + jnp.log(-jnp.expm1(-scale))


def init_rho(params: ArrayTree, init_scale: float = 1e-3) -> ArrayTree:
    """A ``rho`` pytree shaped like ``params`` with every ``sigma = init_scale``.

    Turns any network's parameters into a mean-field posterior
    ``{"params": params, "rho": init_rho(params)}`` (for :func:`sample_params`).

    Examples:
        >>> rho = init_rho({"w": jnp.zeros(3)}, 0.1)
        >>> [round(s, 6) for s in posterior_scale(rho)["w"].tolist()]
        [0.1, 0.1, 0.1]
    """
    rho = rho_from_scale(init_scale)
    return jax.tree_util.tree_map(lambda w: jnp.full(jnp.shape(w), rho, jnp.result_type(w)), params)


def split_variables(variables: dict) -> tuple[ArrayTree, ArrayTree]:
    """``(mean, scale)`` of a mean-field network's variables: ``params`` and ``softplus(rho)``.

    Args:
        variables: a mapping with the collections ``"params"`` (the means) and
            ``"rho"`` (:data:`RHO_COLLECTION`), of the same tree structure: every
            parameter of the network must be variational (built from
            :class:`MeanFieldDense`, or given a ``rho`` by :func:`init_rho`).

    Returns:
        The means and the standard deviations, pytrees shaped like ``params``.

    Examples:
        >>> variables = {"params": {"w": jnp.zeros(2)}, "rho": {"w": jnp.zeros(2)}}
        >>> mean, scale = split_variables(variables)
        >>> [round(s, 6) for s in scale["w"].tolist()]
        [0.693147, 0.693147]
    """
    if "params" not in variables or RHO_COLLECTION not in variables:
        raise ValueError(
            f"variables must hold the collections 'params' and {RHO_COLLECTION!r}, got "
            f"{sorted(variables)}; build the network from MeanFieldDense layers or add a "
            "'rho' collection with init_rho(params)."
        )
    mean, rho = variables["params"], variables[RHO_COLLECTION]
    structures = jax.tree_util.tree_structure(mean), jax.tree_util.tree_structure(rho)
    if structures[0] != structures[1]:  # type: ignore[operator]  # jaxlib's PyTreeDef stub
        raise ValueError(
            "variables['params'] and variables['rho'] must have the same tree structure "
            "(every parameter variational); got "
            f"{structures[0]} and {structures[1]}."
        )
    return mean, posterior_scale(rho)


def sample_params(key: PRNGKey, mean: ArrayTree, scale: ArrayTree) -> ArrayTree:
    """One draw ``w = mu + sigma * eps``, ``eps ~ N(0, I)``, of a whole parameter set.

    The plain reparameterisation (Kingma & Welling 2014; Blundell et al. 2015);
    ``jax.vmap`` over keys for an ensemble.

    Args:
        key: PRNG key (legacy or typed).
        mean: the means ``mu``, a pytree (:func:`split_variables`).
        scale: the standard deviations ``sigma``, a pytree of the same structure.

    Returns:
        A pytree shaped like ``mean``.

    Examples:
        >>> draw = sample_params(jax.random.key(0), {"w": jnp.zeros(3)}, {"w": jnp.ones(3)})
        >>> draw["w"].shape
        (3,)
    """
    leaves, treedef = jax.tree_util.tree_flatten(mean)
    keys = jax.random.split(as_key(key), len(leaves))
    noise = [
        jax.random.normal(k, jnp.shape(w), jnp.result_type(w))
        for k, w in zip(keys, leaves, strict=True)
    ]
    return jax.tree_util.tree_map(
        lambda mu, sigma, eps: mu + sigma * eps,
        mean,
        scale,
        jax.tree_util.tree_unflatten(treedef, noise),
    )


# ------------------------------------------------------------------ Gaussian identities


def gaussian_kl(
    mean_q: jax.typing.ArrayLike,
    scale_q: jax.typing.ArrayLike,
    mean_p: jax.typing.ArrayLike,
    scale_p: jax.typing.ArrayLike,
) -> jax.Array:
    r"""Elementwise ``KL(N(mu_q, s_q^2) || N(mu_p, s_p^2))`` in nats.

    .. math::

        \mathrm{KL} = \log\frac{s_p}{s_q} + \frac{s_q^2 + (\mu_q - \mu_p)^2}{2 s_p^2} - \frac12 .

    Examples:
        >>> round(float(gaussian_kl(1.0, 1.0, 0.0, 1.0)), 6)  # a unit shift: 1/2
        0.5
    """
    mean_q, scale_q, mean_p, scale_p = (jnp.asarray(a) for a in (mean_q, scale_q, mean_p, scale_p))
    variance_ratio = jnp.square(scale_q / scale_p)
    return 0.5 * (
        variance_ratio + jnp.square((mean_q - mean_p) / scale_p) - 1.0 - jnp.log(variance_ratio)
    )


def mean_field_entropy(scale: ArrayTree) -> jax.Array:
    """``H[q] = sum_i (1/2) log(2 pi e sigma_i^2)``: the entropy of the factorised Gaussian.

    Examples:
        >>> round(float(mean_field_entropy({"w": jnp.ones(2)})), 6)  # log(2 pi e)
        2.837877
    """
    return jnp.asarray(
        sum(
            jnp.sum(0.5 * _LOG_2_PI_E + jnp.log(sigma))
            for sigma in jax.tree_util.tree_leaves(scale)
        )
    )


def mean_field_cross_entropy(mean: ArrayTree, scale: ArrayTree, prior: GaussianPrior) -> jax.Array:
    r"""``E_q[-log p(w)]`` for ``q = N(mu, diag sigma^2)`` and the prior ``N(0, 1 / lambda)``.

    .. math::

        \mathbb E_q[-\log p] = \sum_i \frac{\lambda_i}{2} (\mu_i^2 + \sigma_i^2)
                               + \log Z_{\text{prior}},

    the prior's potential averaged over ``q`` plus its log-normaliser
    (:meth:`GaussianPrior.log_normalizer`): the prior's share of ``<U>``.

    Examples:
        >>> prior = GaussianPrior(precision=1.0)
        >>> value = mean_field_cross_entropy(jnp.zeros(1), jnp.ones(1), prior)
        >>> round(float(value), 6)  # 1/2 + log(2 pi) / 2
        1.418939
    """
    second_moment = jax.tree_util.tree_map(
        lambda mu, sigma: jnp.square(mu) + jnp.square(sigma), mean, scale
    )
    # potential(w) = (lambda / 2) sum w^2 is linear in w^2, so E_q of it is potential
    # evaluated at sqrt(E_q w^2).
    return prior.potential(jax.tree_util.tree_map(jnp.sqrt, second_moment)) + (
        prior.log_normalizer(mean)
    )


def mean_field_kl(mean: ArrayTree, scale: ArrayTree, prior: GaussianPrior) -> jax.Array:
    """``KL(q || p) = sum_i KL(N(mu_i, sigma_i^2) || N(0, 1 / lambda_i))`` in closed form.

    Equals ``mean_field_cross_entropy - mean_field_entropy`` (tested).

    Examples:
        >>> prior = GaussianPrior(precision=1.0)
        >>> float(mean_field_kl(jnp.zeros(3), jnp.ones(3), prior))  # q = p
        0.0
    """
    prior_scale = prior.scale(mean)
    kls = jax.tree_util.tree_map(
        lambda mu, sigma, s_p: jnp.sum(gaussian_kl(mu, sigma, 0.0, s_p)), mean, scale, prior_scale
    )
    return jnp.asarray(sum(jax.tree_util.tree_leaves(kls)))


# ------------------------------------------------------------------ the free energy


class FreeEnergyTerms(NamedTuple):
    """The variational free energy and its parts (all in nats, summed over the data set).

    Attributes:
        free_energy: ``F``, the objective (see :func:`variational_free_energy`).
        expected_loss: ``E_q[loss]`` (an unbiased estimate when the loss is sampled).
        prior_energy: ``E_q[-log p]``, the prior potential averaged over ``q`` plus
            its log-normaliser.
        entropy: ``S = H[q]``.
        kl: ``KL(q || p) = prior_energy - entropy`` (to the untempered prior).
        temperature: ``T``.
        energy: ``<U>``, the energy part: ``expected_loss + prior_energy``
            (``tempering="posterior"``) or ``expected_loss + T prior_energy``
            (``"likelihood"``), so that ``F = energy - T entropy`` in both.
    """

    free_energy: jax.Array
    expected_loss: jax.Array
    prior_energy: jax.Array
    entropy: jax.Array
    kl: jax.Array
    temperature: jax.Array
    energy: jax.Array


def variational_free_energy(
    expected_loss: jax.typing.ArrayLike,
    mean: ArrayTree,
    scale: ArrayTree,
    prior: GaussianPrior,
    temperature: jax.typing.ArrayLike | optax.Schedule = 1.0,
    *,
    tempering: Literal["posterior", "likelihood"] = "posterior",
    step: jax.typing.ArrayLike | None = None,
) -> FreeEnergyTerms:
    r"""The mean-field variational free energy ``F = <U>_q - T S[q]`` and its parts.

    With ``U = loss - log p`` (``tempering="posterior"``, the default; Wenzel et
    al. 2020's tempered posterior ``exp(-U / T)``):

    .. math::

        F = \mathbb E_q[\mathrm{loss}] + \mathbb E_q[-\log p] - T H[q]
          = \mathbb E_q[\mathrm{loss}] + T\, \mathrm{KL}(q \| p_T) - T \log Z_T ,

    ``p_T = p^{1/T} / Z_T``; at ``T = 1``, ``F = E_q[loss] + KL(q || p)``, the
    negative ELBO of Bayes by backprop (Blundell et al. 2015, eq. 1). With
    ``tempering="likelihood"`` the temperature weighs the KL term only,
    ``F = E_q[loss] + T KL(q || p)`` (target ``p(D | w)^{1/T} p(w)``).

    Everything but ``expected_loss`` is exact (closed-form Gaussian integrals);
    pass a one-draw minibatch estimate of ``E_q[loss]`` (scaled to the data set)
    for an unbiased estimate of ``F`` whose gradient is Bayes by backprop's.

    Args:
        expected_loss: ``E_q[loss]`` or an unbiased estimate, a scalar.
        mean: ``mu`` of ``q`` (:func:`split_variables`).
        scale: ``sigma`` of ``q``, shaped like ``mean``.
        prior: the Gaussian prior (:class:`~statjax.models.regularizers.GaussianPrior`).
        temperature: ``T >= 0``, a float, a traced scalar (no recompile for a new
            value) or an ``optax.Schedule`` evaluated at ``step``.
        tempering: ``"posterior"`` (temper ``U`` as a whole) or ``"likelihood"``
            (temper the KL term only).
        step: the step count at which a schedule ``temperature`` is evaluated.

    Returns:
        :class:`FreeEnergyTerms`.

    Examples:
        >>> prior = GaussianPrior(precision=1.0)
        >>> terms = variational_free_energy(2.0, jnp.zeros(3), jnp.ones(3), prior)
        >>> float(terms.kl), float(terms.free_energy)  # q = p: F = E_q[loss]
        (0.0, 2.0)
    """
    if tempering not in ("posterior", "likelihood"):
        raise ValueError(f"tempering must be 'posterior' or 'likelihood', got {tempering!r}.")
    if callable(temperature):
        if step is None:
            raise ValueError("temperature is a schedule: pass the step count as step=.")
        temperature = temperature(step)
    check_positive("temperature", temperature, allow_zero=True)
    temperature = jnp.asarray(temperature, jnp.float32)
    expected_loss = jnp.asarray(expected_loss)
    prior_energy = mean_field_cross_entropy(mean, scale, prior)
    entropy = mean_field_entropy(scale)
    kl = mean_field_kl(mean, scale, prior)
    if tempering == "posterior":
        energy = expected_loss + prior_energy
    else:
        energy = expected_loss + temperature * prior_energy
    return FreeEnergyTerms(
        free_energy=energy - temperature * entropy,
        expected_loss=expected_loss,
        prior_energy=prior_energy,
        entropy=entropy,
        kl=kl,
        temperature=temperature,
        energy=energy,
    )


# ------------------------------------------------------------------ Flax layer


def _constant_rho(init_scale: float) -> Callable:
    rho = float(np.log(np.expm1(init_scale)))

    def init(shape, dtype=jnp.float32):
        return jnp.full(shape, rho, dtype)

    return init


class MeanFieldDense(nn.Module):
    r"""A dense layer with a factorised Gaussian posterior, sampled by local reparameterisation.

    Weights ``W_ij ~ N(mu_ij, sigma_ij^2)``, bias ``c_j ~ N(nu_j, tau_j^2)``; for
    inputs ``x`` the pre-activations are exactly Gaussian,

    .. math::

        b_{nj} \sim \mathcal N\Big(\sum_i x_{ni} \mu_{ij} + \nu_j,\;
                                   \sum_i x_{ni}^2 \sigma_{ij}^2 + \tau_j^2\Big),

    and are drawn directly, independently per example (Kingma, Salimans & Welling
    2015, sec. 2.3). ``deterministic=True`` returns the mean ``x mu + nu``.

    Variables: ``params/{kernel, bias}`` hold the means (``nn.Dense``'s names and
    shapes), ``rho/{kernel, bias}`` the ``rho`` with ``sigma = softplus(rho)``.

    Attributes:
        features: output width.
        use_bias: with a (variational) bias.
        init_scale: the initial ``sigma`` of every weight (small, so that training
            starts near the deterministic network, as in Blundell et al. 2015).
        kernel_init, bias_init: initialisers of the means.
        rng_collection: the Flax rng stream of the pre-activation noise.

    Examples:
        >>> layer = MeanFieldDense(features=3)
        >>> variables = layer.init(jax.random.key(0), jnp.ones((2, 4)))
        >>> sorted(variables), variables["params"]["kernel"].shape
        (['params', 'rho'], (4, 3))
        >>> y = layer.apply(variables, jnp.ones((2, 4)), rngs={"variational": jax.random.key(1)})
        >>> y.shape
        (2, 3)
    """

    features: int
    use_bias: bool = True
    init_scale: float = 1e-3
    kernel_init: Callable = nn.initializers.lecun_normal()
    bias_init: Callable = nn.initializers.zeros_init()
    rng_collection: str = "variational"

    @nn.compact
    def __call__(self, x: jax.Array, deterministic: bool = False) -> jax.Array:
        """Draw the pre-activations ``(..., features)``; their mean if ``deterministic``."""
        check_positive("init_scale", self.init_scale)
        shape = (jnp.shape(x)[-1], self.features)
        kernel_mean = self.param("kernel", self.kernel_init, shape)
        kernel_rho = self.variable(
            RHO_COLLECTION, "kernel", _constant_rho(self.init_scale), shape
        ).value
        mean = x @ kernel_mean
        variance = jnp.square(x) @ jnp.square(jax.nn.softplus(kernel_rho))
        if self.use_bias:
            bias_mean = self.param("bias", self.bias_init, (self.features,))
            bias_rho = self.variable(
                RHO_COLLECTION, "bias", _constant_rho(self.init_scale), (self.features,)
            ).value
            mean = mean + bias_mean
            variance = variance + jnp.square(jax.nn.softplus(bias_rho))
        if deterministic:
            return mean
        noise = jax.random.normal(self.make_rng(self.rng_collection), mean.shape, mean.dtype)
        return mean + jnp.sqrt(variance) * noise
