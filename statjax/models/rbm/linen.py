"""The RBM as a Flax Linen module, and its ``params`` as :class:`~statjax.models.rbm.RBMParams`."""

import flax.linen as nn
import jax

from statjax.models.rbm.energies import free_energy
from statjax.models.rbm.params import GaussianRBMParams, RBMParams


class RBM(nn.Module):
    """Flax Linen RBM whose ``__call__`` is the free energy ``F(v)``.

    The module only declares the parameters (so that they can be created with
    ``init`` and combined with other Flax code); the math lives in the pure
    functions of :mod:`statjax.models.rbm`. Convert with :func:`params_from_flax`.

    Examples:
        >>> import jax, jax.numpy as jnp
        >>> module = RBM(num_hidden=3)
        >>> variables = module.init(jax.random.key(0), jnp.zeros(5))
        >>> params = params_from_flax(variables["params"])
        >>> value = module.apply(variables, jnp.ones(5))
        >>> bool(jnp.allclose(value, free_energy(params, jnp.ones(5))))
        True
    """

    num_hidden: int
    gaussian: bool = False
    weight_scale: float = 0.01

    @nn.compact
    def __call__(self, visible: jax.Array) -> jax.Array:
        """The free energy ``F(v)`` of one or a batch of visible vectors."""
        num_visible = visible.shape[-1]
        weights = self.param(
            "weights", nn.initializers.normal(self.weight_scale), (num_visible, self.num_hidden)
        )
        visible_bias = self.param("visible_bias", nn.initializers.zeros, (num_visible,))
        hidden_bias = self.param("hidden_bias", nn.initializers.zeros, (self.num_hidden,))
        if self.gaussian:
            log_sigma = self.param("log_sigma", nn.initializers.zeros, (num_visible,))
            params: RBMParams | GaussianRBMParams = GaussianRBMParams(
                weights, visible_bias, hidden_bias, log_sigma
            )
        else:
            params = RBMParams(weights, visible_bias, hidden_bias)
        return free_energy(params, visible)


def params_from_flax(params: dict) -> RBMParams | GaussianRBMParams:
    """:class:`RBMParams` or :class:`GaussianRBMParams` from an :class:`RBM`'s ``params`` dict."""
    if "log_sigma" in params:
        return GaussianRBMParams(**params)
    return RBMParams(**params)


__all__ = ["RBM", "params_from_flax"]
