"""Type aliases shared across statjax."""

from collections.abc import Callable
from typing import Any, TypeAlias

import jax

PRNGKey: TypeAlias = jax.Array
"""A JAX PRNG key: new-style ``jax.random.key(seed)`` or legacy ``PRNGKey``."""

ArrayTree: TypeAlias = Any
"""A pytree whose leaves are arrays (a position, a parameter set, a state)."""

EnergyFn: TypeAlias = Callable[[ArrayTree], jax.Array]
"""``E(x) -> scalar``: the untempered energy; the density is ``exp(-beta E(x))``."""

BetaLike: TypeAlias = Any
"""An inverse temperature: a float, a per-chain array, or a schedule ``step -> beta``."""
