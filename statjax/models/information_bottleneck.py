r"""The deep variational information bottleneck (VIB) and its two information bounds.

Alemi, Fischer, Dillon & Murphy (2017), "Deep variational information
bottleneck", learn a stochastic representation ``Z`` of an input ``X`` that keeps
what predicts the label ``Y`` and forgets the rest, maximising the information
bottleneck objective (Tishby, Pereira & Bialek 1999)

.. math::

    I(Z; Y) - \beta_{\mathrm{IB}}\, I(Z; X)

through two variational bounds. With a Gaussian encoder ``p(z|x)``, a decoder
``q(y|z)`` and a variational marginal ``r(z) = N(0, I)``,

.. math::

    I(Z; Y) \ge H(Y) - E_{p(x, y) p(z|x)}[-\log q(y|z)]
    \qquad \text{(lower bound, any decoder } q\text{)},

    I(Z; X) \le E_{p(x)}\, \mathrm{KL}(p(z|x) \,\|\, r(z))
    \qquad \text{(upper bound, any marginal } r\text{)}.

The first gap is ``E_z KL(p(y|z) || q(y|z))``, the second ``KL(p(z) || r(z))``:
each bound is tight when its variational distribution is the true one. Training
minimises the VIB loss ``E[-log q(y|z)] + beta_IB E KL(p(z|x) || r(z))`` with the
reparameterisation ``z = mu(x) + sigma(x) * eps``.

**Naming.** In statjax ``beta`` is an inverse temperature. Alemi et al.'s
trade-off parameter ``beta`` is called ``bottleneck_weight`` here; it multiplies
the compression term and has nothing to do with a temperature.

All information quantities are in **nats** (natural logarithms); divide by
``log 2`` for bits.

Parameters are explicit pytrees: :class:`VIB` is a Flax Linen module and every
function here is a pure function of ``(model, params)`` with explicit PRNG keys.
"""

from collections.abc import Sequence
from typing import NamedTuple, cast

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from statjax.checks import as_key, check_count, check_positive
from statjax.models.variational import gaussian_kl
from statjax.types import ArrayTree, PRNGKey

__all__ = [
    "VIB",
    "GaussianEncoder",
    "InformationBounds",
    "gaussian_kl_divergence",
    "information_bounds",
    "label_entropy",
    "predictive_probabilities",
    "vib_loss",
]

# Alemi et al. (2017, Sec. 4) shift the pre-activation of the standard deviation
# by -5 before the softplus, so that training starts with a nearly deterministic code.
_STD_SHIFT = 5.0


class GaussianEncoder(nn.Module):
    """A diagonal Gaussian encoder ``p(z|x) = N(mu(x), diag sigma(x)^2)`` from an MLP.

    ``sigma = softplus(a - 5)`` as in Alemi et al. (2017), ``a`` the network's
    second head. With ``hidden_sizes=()`` both heads are affine in ``x``.

    Attributes:
        latent_dim: size ``K`` of ``z``.
        hidden_sizes: widths of the ReLU hidden layers.

    Examples:
        >>> import jax, jax.numpy as jnp
        >>> encoder = GaussianEncoder(latent_dim=2, hidden_sizes=(8,))
        >>> params = encoder.init(jax.random.key(0), jnp.zeros((1, 3)))
        >>> mean, std = encoder.apply(params, jnp.ones((5, 3)))
        >>> mean.shape, bool((std > 0).all())
        ((5, 2), True)
    """

    latent_dim: int
    hidden_sizes: Sequence[int] = ()

    @nn.compact
    def __call__(self, x: jax.Array) -> tuple[jax.Array, jax.Array]:
        """``(mean, std)`` of ``p(z|x)``, each ``(..., latent_dim)``."""
        for width in self.hidden_sizes:
            x = nn.relu(nn.Dense(width)(x))
        mean = nn.Dense(self.latent_dim, name="mean")(x)
        std = jax.nn.softplus(nn.Dense(self.latent_dim, name="std")(x) - _STD_SHIFT)
        return mean, std


class VIB(nn.Module):
    """Encoder ``p(z|x)`` (:class:`GaussianEncoder`) and categorical decoder ``q(y|z)``.

    The decoder is an MLP from ``z`` to ``num_classes`` logits; with
    ``decoder_hidden_sizes=()`` it is the softmax (logistic) regression of Alemi et
    al. (2017). ``model.apply(params, x)`` returns the encoder's ``(mean, std)``;
    ``model.apply(params, z, method=VIB.decode)`` the decoder's logits.

    Attributes:
        latent_dim: size ``K`` of ``z``.
        num_classes: number of labels.
        encoder_hidden_sizes: widths of the encoder's ReLU layers.
        decoder_hidden_sizes: widths of the decoder's ReLU layers.

    Examples:
        >>> import jax, jax.numpy as jnp
        >>> model = VIB(latent_dim=2, num_classes=3, encoder_hidden_sizes=(8,))
        >>> params = model.init(jax.random.key(0), jnp.zeros((1, 4)))["params"]
        >>> mean, std = model.apply({"params": params}, jnp.ones((5, 4)))
        >>> model.apply({"params": params}, mean, method=VIB.decode).shape
        (5, 3)
    """

    latent_dim: int
    num_classes: int
    encoder_hidden_sizes: Sequence[int] = ()
    decoder_hidden_sizes: Sequence[int] = ()

    def setup(self):
        """The encoder, the decoder's hidden layers and its output layer."""
        self.encoder = GaussianEncoder(self.latent_dim, tuple(self.encoder_hidden_sizes))
        self.decoder_layers = [nn.Dense(width) for width in self.decoder_hidden_sizes]
        self.decoder_output = nn.Dense(self.num_classes)

    def __call__(self, x: jax.Array) -> tuple[jax.Array, jax.Array]:
        """The encoder's ``(mean, std)`` for inputs ``x``."""
        # Initialising through __call__ alone must create the decoder's parameters too.
        mean, std = self.encoder(x)
        if self.is_initializing():
            self.decode(mean)
        return mean, std

    def decode(self, z: jax.Array) -> jax.Array:
        """Logits of ``q(y|z)``: ``z (..., K) -> (..., num_classes)``."""
        for layer in self.decoder_layers:
            z = nn.relu(layer(z))
        return self.decoder_output(z)


class InformationBounds(NamedTuple):
    """The VIB's two bounds on a batch, in nats (scalars).

    Attributes:
        information_zx_upper: ``E_x KL(p(z|x) || r(z)) >= I(Z; X)``.
        information_zy_lower: ``H(Y) - E[-log q(y|z)] <= I(Z; Y)``.
        cross_entropy: ``E[-log q(y|z)]``, the decoder's loss.
    """

    information_zx_upper: jax.Array
    information_zy_lower: jax.Array
    cross_entropy: jax.Array


def gaussian_kl_divergence(
    mean: jax.typing.ArrayLike,
    std: jax.typing.ArrayLike,
    marginal_std: jax.typing.ArrayLike = 1.0,
) -> jax.Array:
    r"""``KL(N(mean, diag std^2) || N(0, marginal_std^2 I))`` per example, in nats.

    .. math::

        \mathrm{KL} = \sum_k \Big[\log\frac{s_r}{s_k}
            + \frac{s_k^2 + \mu_k^2}{2 s_r^2} - \frac12\Big].

    Averaged over ``x`` it is the VIB's upper bound on ``I(Z; X)`` with the
    variational marginal ``r(z) = N(0, marginal_std^2 I)`` (Alemi et al. 2017
    take ``marginal_std = 1``); the bound is exact when ``r`` is the true marginal.

    Args:
        mean: ``(..., K)`` encoder means.
        std: ``(..., K)`` encoder standard deviations, positive.
        marginal_std: scalar or ``(K,)``, the standard deviation of ``r(z)``.

    Returns:
        ``(...)`` the divergence of each example's code distribution.

    Examples:
        >>> import jax.numpy as jnp
        >>> float(gaussian_kl_divergence(jnp.zeros(3), jnp.ones(3)))
        0.0
    """
    return jnp.sum(gaussian_kl(mean, std, 0.0, marginal_std), axis=-1)


def label_entropy(labels: jax.typing.ArrayLike, num_classes: int) -> jax.Array:
    """``H(Y) = -sum_c p_c log p_c`` of the labels' empirical marginal, in nats.

    The constant of the VIB's lower bound on ``I(Z; Y)`` (Alemi et al. 2017, Sec. 3);
    computed once from the training labels.

    Args:
        labels: ``(N,)`` integer labels in ``[0, num_classes)``.
        num_classes: number of classes.

    Returns:
        Scalar entropy, at most ``log(num_classes)``.

    Examples:
        >>> import numpy as np
        >>> round(float(label_entropy(np.array([0, 1, 0, 1]), 2)), 4)  # log 2
        0.6931
    """
    labels = np.asarray(labels)
    if not np.issubdtype(labels.dtype, np.integer):
        raise TypeError(f"labels: expected integer class labels, got dtype {labels.dtype}.")
    if labels.size == 0 or labels.min() < 0 or labels.max() >= num_classes:
        raise ValueError(
            f"labels: expected a non-empty array of values in [0, num_classes={num_classes}), "
            f"got range [{labels.min() if labels.size else None}, "
            f"{labels.max() if labels.size else None}]."
        )
    probs = jnp.bincount(jnp.asarray(labels), length=num_classes) / labels.size
    return -jnp.sum(jnp.where(probs > 0, probs * jnp.log(jnp.where(probs > 0, probs, 1.0)), 0.0))


def information_bounds(
    kl_divergence: jax.typing.ArrayLike,
    log_likelihood: jax.typing.ArrayLike,
    entropy_y: jax.typing.ArrayLike,
) -> InformationBounds:
    r"""The VIB bounds from per-example KLs and decoder log-likelihoods (Alemi et al. 2017).

    ``I(Z; X) <= mean(kl_divergence)`` and ``I(Z; Y) >= entropy_y + mean(log_likelihood)``:

    .. math::

        I(Z;Y) = H(Y) - H(Y|Z) \ge H(Y) - E[-\log q(y|z)],

    since the cross-entropy ``E[-log q(y|z)]`` exceeds ``H(Y|Z)`` by
    ``E_z KL(p(y|z) || q(y|z)) >= 0``. Works for any decoder: discrete ``Y``
    (``entropy_y`` a Shannon entropy) or continuous ``Y`` (a differential entropy,
    ``log_likelihood`` a log-density).

    Args:
        kl_divergence: ``(N,)`` ``KL(p(z|x_i) || r(z))``
            (:func:`gaussian_kl_divergence`).
        log_likelihood: ``(N, ...)`` ``log q(y_i | z_i)`` with ``z_i ~ p(z|x_i)``
            (any extra axes, e.g. several ``z`` draws, are averaged too).
        entropy_y: scalar ``H(Y)`` (:func:`label_entropy` for class labels).

    Returns:
        :class:`InformationBounds` of batch means; their Monte-Carlo error is
        the standard error of the means.

    Examples:
        >>> import jax.numpy as jnp
        >>> bounds = information_bounds(jnp.array([1.0, 3.0]), jnp.log(jnp.array([0.5, 0.5])),
        ...                             jnp.log(2.0))
        >>> float(bounds.information_zx_upper), float(bounds.information_zy_lower)
        (2.0, 0.0)
    """
    cross_entropy = -jnp.mean(jnp.asarray(log_likelihood))
    return InformationBounds(
        information_zx_upper=jnp.mean(jnp.asarray(kl_divergence)),
        information_zy_lower=jnp.asarray(entropy_y) - cross_entropy,
        cross_entropy=cross_entropy,
    )


def vib_loss(
    model: VIB,
    params: ArrayTree,
    x: jax.Array,
    labels: jax.Array,
    key: PRNGKey,
    bottleneck_weight: jax.typing.ArrayLike,
    entropy_y: jax.typing.ArrayLike,
    num_samples: int = 1,
) -> tuple[jax.Array, InformationBounds]:
    r"""The VIB loss and the batch's information bounds (Alemi et al. 2017, Sec. 3).

    .. math::

        J = \frac1N \sum_i E_{\epsilon}\big[-\log q(y_i | \mu(x_i) + \sigma(x_i)\epsilon)\big]
            + \beta_{\mathrm{IB}}\, \mathrm{KL}(p(z|x_i) \,\|\, N(0, I)),

    so that minimising ``J`` maximises ``I(Z;Y)_lower - beta_IB I(Z;X)_upper``.
    The expectation over ``epsilon`` uses ``num_samples`` reparameterised draws.

    Args:
        model: the :class:`VIB` module (static under ``jit``).
        params: its ``params`` collection.
        x: ``(N, D)`` inputs.
        labels: ``(N,)`` integer labels.
        key: PRNG key of the ``epsilon`` draws.
        bottleneck_weight: Alemi et al.'s ``beta`` (not an inverse temperature),
            ``>= 0``; traced, so a sweep does not recompile.
        entropy_y: ``H(Y)`` in nats (:func:`label_entropy`), a constant of the bound.
        num_samples: draws of ``z`` per example.

    Returns:
        ``(loss, bounds)``: the scalar loss to minimise and :class:`InformationBounds`.

    Examples:
        >>> import jax, jax.numpy as jnp
        >>> model = VIB(latent_dim=2, num_classes=2)
        >>> params = model.init(jax.random.key(0), jnp.zeros((1, 3)))["params"]
        >>> x, y = jnp.ones((4, 3)), jnp.array([0, 1, 0, 1])
        >>> loss, bounds = vib_loss(model, params, x, y, jax.random.key(1), 1e-3, jnp.log(2.0))
        >>> bool(bounds.information_zy_lower <= jnp.log(2.0))
        True
    """
    num_samples = check_count("num_samples", num_samples)
    check_positive("bottleneck_weight", bottleneck_weight, allow_zero=True)
    mean, std = _encode(model, params, x)
    noise = jax.random.normal(as_key(key), (num_samples, *mean.shape), mean.dtype)
    z = mean + std * noise
    log_probs = jax.nn.log_softmax(_decode(model, params, z))
    log_likelihood = jnp.take_along_axis(log_probs, labels[None, :, None], axis=-1)[..., 0]
    bounds = information_bounds(gaussian_kl_divergence(mean, std), log_likelihood, entropy_y)
    loss = bounds.cross_entropy + bottleneck_weight * bounds.information_zx_upper
    return loss, bounds


def predictive_probabilities(
    model: VIB, params: ArrayTree, x: jax.Array, key: PRNGKey, num_samples: int = 12
) -> jax.Array:
    """``p(y|x) = E_{p(z|x)} softmax(decoder(z))`` by Monte Carlo over ``num_samples`` codes.

    Alemi et al. (2017) average 12 draws of ``z`` at test time.

    Args:
        model: the :class:`VIB` module.
        params: its ``params`` collection.
        x: ``(N, D)`` inputs.
        key: PRNG key of the draws.
        num_samples: draws of ``z`` per input.

    Returns:
        ``(N, num_classes)`` class probabilities.

    Examples:
        >>> import jax, jax.numpy as jnp
        >>> model = VIB(latent_dim=2, num_classes=3)
        >>> params = model.init(jax.random.key(0), jnp.zeros((1, 4)))["params"]
        >>> probs = predictive_probabilities(model, params, jnp.ones((5, 4)), jax.random.key(1))
        >>> probs.shape, bool(jnp.allclose(probs.sum(-1), 1.0))
        ((5, 3), True)
    """
    num_samples = check_count("num_samples", num_samples)
    mean, std = _encode(model, params, x)
    noise = jax.random.normal(as_key(key), (num_samples, *mean.shape), mean.dtype)
    logits = _decode(model, params, mean + std * noise)
    return jnp.mean(jax.nn.softmax(logits, axis=-1), axis=0)


# ``Module.apply`` is typed to return ``(output, state)`` as well (with ``mutable=``);
# without it, it returns the method's output.
def _encode(model: VIB, params: ArrayTree, x: jax.Array) -> tuple[jax.Array, jax.Array]:
    return cast(tuple[jax.Array, jax.Array], model.apply({"params": params}, x))


def _decode(model: VIB, params: ArrayTree, z: jax.Array) -> jax.Array:
    return cast(jax.Array, model.apply({"params": params}, z, method=VIB.decode))
