"""The replay buffer of short-run contrastive divergence (Du & Mordatch 2019, section 3.1)."""

import jax
import jax.numpy as jnp

from statjax.checks import as_key
from statjax.types import PRNGKey


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
        noise_low: lower bound of the fresh noise.
        noise_high: upper bound of the fresh noise.

    Returns:
        ``(starts, is_fresh)``: ``(batch_size, *event_shape)`` and the boolean mask
        ``(batch_size,)`` of the slots that took fresh noise.

    Examples:
        >>> import jax, jax.numpy as jnp
        >>> starts, is_fresh = sample_replay_buffer(jax.random.key(0), jnp.zeros((10, 2)), 4, 0.5)
        >>> starts.shape, is_fresh.shape
        ((4, 2), (4,))
    """
    key_index, key_fresh, key_noise = jax.random.split(as_key(key), 3)
    indices = jax.random.randint(key_index, (batch_size,), 0, buffer.shape[0])
    is_fresh = jax.random.uniform(key_fresh, (batch_size,)) < reinit_prob
    noise = jax.random.uniform(
        key_noise, (batch_size, *buffer.shape[1:]), buffer.dtype, noise_low, noise_high
    )
    mask = is_fresh.reshape((batch_size,) + (1,) * (buffer.ndim - 1))
    return jnp.where(mask, noise, buffer[indices]), is_fresh


__all__ = ["sample_replay_buffer"]
