r"""Energies built from other energies: the geometric path between two, and a tilt.

- :class:`InterpolatedEnergy`, ``E_b = (1 - b) E_0 + b E_1``: the geometric path
  ``exp(-E_b) = exp(-E_0)^{1 - b} exp(-E_1)^b`` between a tractable base and a
  target, walked by annealed importance sampling
  (:func:`statjax.thermo.ais_geometric`; Neal 2001) and by thermodynamic
  integration (``d log Z_b / db = -<E_1 - E_0>_b``; Gelman & Meng 1998).
- :class:`TiltedEnergy`, ``E_k = E_0 + k L``: a reference measure
  ``p_0 ∝ exp(-E_0)`` exponentially tilted by an observable ``L``, the ensembles
  of large-deviation theory (:mod:`statjax.thermo.large_deviations`; Touchette
  2009).

Both are :class:`statjax.pytree.Pytree`\ s: the mixing fraction ``b``, the tilt
``k`` and the parameters of the energies they combine are leaves, so a kernel
built on them never recompiles for new numbers, and a leaf may carry a chain
axis (``per_chain=("energy_fn.tilt",)`` in :func:`statjax.run_chains` runs one
tilt per chain). Build them with :func:`interpolated_energy` and
:func:`tilted_energy`, which make plain functions pytrees (a field holding a bare
``lambda`` cannot cross ``jit``).
"""

from collections.abc import Callable

import jax
import jax.numpy as jnp

from statjax._tree import as_pytree_fn
from statjax.pytree import Pytree
from statjax.types import ArrayTree, EnergyFn


class InterpolatedEnergy(Pytree):
    """``E_b(x) = (1 - b) E_0(x) + b E_1(x)``: the geometric path between two energies.

    ``exp(-E_b)`` interpolates geometrically between ``exp(-E_0)`` (``b = 0``) and
    ``exp(-E_1)`` (``b = 1``).

    Attributes:
        base_energy_fn: ``E_0``, e.g. a wide Gaussian with known ``log Z``.
        target_energy_fn: ``E_1``.
        fraction: ``b`` in ``[0, 1]``.

    Examples:
        >>> energy = interpolated_energy(lambda x: 0.0 * x, lambda x: 2.0 * x, 0.25)
        >>> float(energy(1.0))
        0.5
    """

    base_energy_fn: EnergyFn
    target_energy_fn: EnergyFn
    fraction: jax.Array | float = 0.0

    def __call__(self, x: ArrayTree) -> jax.Array:
        """``(1 - b) E_0(x) + b E_1(x)``."""
        return (1.0 - self.fraction) * self.base_energy_fn(x) + self.fraction * (
            self.target_energy_fn(x)
        )


def interpolated_energy(
    base_energy_fn: EnergyFn, target_energy_fn: EnergyFn, fraction: jax.typing.ArrayLike = 0.0
) -> InterpolatedEnergy:
    """``(1 - b) E_0 + b E_1`` as a pytree energy (see :class:`InterpolatedEnergy`).

    Examples:
        >>> import jax.numpy as jnp
        >>> energy = interpolated_energy(lambda x: jnp.sum(x**2), jnp.sum, 0.5)
        >>> float(energy(jnp.ones(2)))
        2.0
    """
    return InterpolatedEnergy(
        as_pytree_fn(base_energy_fn), as_pytree_fn(target_energy_fn), jnp.asarray(fraction)
    )


class TiltedEnergy(Pytree):
    """``E_k(x) = E_0(x) + k L(x)``: a reference energy tilted by an observable.

    ``exp(-E_k) ∝ p_0(x) exp(-k L(x))``: ``k > 0`` favours low ``L``, ``k < 0``
    high ``L``. ``tilt`` may be ``(num_chains,)`` when the kernel runs with
    ``per_chain=("energy_fn.tilt",)``: every chain then samples its own ensemble.

    Attributes:
        reference_energy_fn: ``E_0``, the energy of the reference measure ``p_0``.
        observable_fn: ``L``, the observable whose large deviations are wanted.
        tilt: ``k``.
    """

    reference_energy_fn: EnergyFn
    observable_fn: Callable[[ArrayTree], jax.Array]
    tilt: jax.Array | float = 0.0

    def __call__(self, x: ArrayTree) -> jax.Array:
        """``E_0(x) + k L(x)``."""
        return self.reference_energy_fn(x) + self.tilt * self.observable_fn(x)


def tilted_energy(
    reference_energy_fn: EnergyFn,
    observable_fn: Callable[[ArrayTree], jax.Array],
    tilt: jax.typing.ArrayLike = 0.0,
) -> TiltedEnergy:
    """The tilted energy ``E_0(x) + k L(x)`` as a pytree (see :class:`TiltedEnergy`).

    Args:
        reference_energy_fn: ``E_0(x) -> scalar``; ``p_0 ∝ exp(-E_0)``.
        observable_fn: ``L(x) -> scalar``. Pass the same object to every call
            (a ``jax.tree_util.Partial`` holding data, say) so that recording it in
            :func:`statjax.thermo.sample_tilted` compiles once.
        tilt: ``k`` (a scalar, or one per chain).

    Examples:
        >>> import jax.numpy as jnp
        >>> energy = tilted_energy(lambda x: 0.5 * jnp.sum(x**2), jnp.sum, tilt=2.0)
        >>> float(energy(jnp.ones(2)))
        5.0
    """
    return TiltedEnergy(
        as_pytree_fn(reference_energy_fn), as_pytree_fn(observable_fn), jnp.asarray(tilt, float)
    )


__all__ = ["InterpolatedEnergy", "TiltedEnergy", "interpolated_energy", "tilted_energy"]
