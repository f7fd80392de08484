"""Argument checks shared by the landscapes (private)."""

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike


def check_dim(value: int, landscape: str, name: str = "dim") -> None:
    """Raise ``ValueError`` unless a structural size (``dim``, ``num_modes``) is a positive int."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{landscape}: {name} must be a positive integer, got {name}={value!r}.")


def as_position(x: ArrayLike, dim: int, landscape: str) -> jax.Array:
    """``x`` as a floating array of shape ``(dim,)``; an integer ``x`` becomes the default float.

    Shapes are static under ``jit``, so a wrong shape fails at trace time with a
    message that says to ``vmap`` over a batch rather than pass it whole.
    """
    x = jnp.asarray(x)
    if x.shape != (dim,):
        raise ValueError(
            f"{landscape} takes one position of shape ({dim},), got shape {x.shape}; "
            "use jax.vmap for a batch of positions."
        )
    return x.astype(jnp.result_type(x, float))
