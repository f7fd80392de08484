"""Argument checks shared by the landscapes (private)."""

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike


def check_dim(dim: int, landscape: str) -> None:
    """Raise ``ValueError`` unless ``dim`` is a positive Python integer."""
    if isinstance(dim, bool) or not isinstance(dim, int) or dim < 1:
        raise ValueError(f"{landscape}: dim must be a positive integer, got dim={dim!r}.")


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
