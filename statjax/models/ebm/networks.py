"""Energy networks: Flax modules read as Boltzmann energies, and their pure energy function.

Networks use smooth activations (swish by default) so that ``grad_x E`` is
continuous and Langevin dynamics behaves. :func:`energy_function` turns a module
into the pure ``energy(params, x)`` that training takes; ``energy.bind(params)``
is the one-argument energy ``x -> E_theta(x)`` of any statjax kernel or
estimator, with the parameters as traced leaves (a new ``params`` never
recompiles).
"""

from collections.abc import Callable, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
from jax.tree_util import Partial

from statjax.pytree import Pytree, static_field
from statjax.types import ArrayTree


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

    Examples:
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

    Examples:
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
        energy: jax.Array = self.module.apply({"params": params}, x)  # type: ignore[assignment]
        return energy

    def bind(self, params: ArrayTree) -> Partial:
        """``x -> E_theta(x)``, a ``Partial`` whose leaves are ``params`` (traced: no recompile)."""
        return Partial(self, params)


def energy_function(module: nn.Module) -> EnergyFunction:
    """The pure energy ``energy(params, x)`` of a Flax module (see :class:`EnergyFunction`).

    Examples:
        >>> import jax, jax.numpy as jnp
        >>> energy = energy_function(EnergyMLP(hidden_sizes=(4,)))
        >>> params = jax.eval_shape(energy.module.init, jax.random.key(0), jnp.zeros(2))["params"]
        >>> jax.eval_shape(energy, params, jnp.ones(2)).shape  # E(params, x): a scalar
        ()
    """
    if not isinstance(module, nn.Module):
        raise TypeError(f"module must be a flax.linen.Module, got {type(module).__name__}.")
    return EnergyFunction(module)


__all__ = ["EnergyConvNet", "EnergyFunction", "EnergyMLP", "energy_function"]
