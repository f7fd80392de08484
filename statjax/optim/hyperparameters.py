"""Optimizers whose numbers are pytree leaves, so a new learning rate never recompiles.

An optax ``GradientTransformation`` is a pair of closures: its numbers are baked
into the functions, so a jitted training loop that takes one as a static
argument compiles a new program for every newly built optimizer, even one with
the same numbers (measured on ``statjax.models.rbm.train_rbm``: 0.84 s with a
new ``optax.sgd(0.05)`` against 0.07 s for the same object again).

:func:`tunable` builds the optimizer from its *factory* and hyperparameters
instead: the factory (``optax.adam``) is static, the hyperparameters are leaves.
``init`` and ``update`` go through ``optax.inject_hyperparams``, which carries the
numbers in the optimizer state, and ``update`` first writes this object's numbers
into that state, so the result is a pure function of the leaves. Every statjax
training entry point (RBM, EBM, the experiments) takes one as a traced argument.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import optax

from statjax.pytree import Pytree, static_field


class TunableOptimizer(Pytree):
    """``factory(**hyperparameters)`` with the numeric hyperparameters as pytree leaves.

    Quacks like an ``optax.GradientTransformation`` (``init``/``update``), so it
    chains with optax. Build it with :func:`tunable`.

    Attributes:
        hyperparameters: numeric hyperparameters (leaves; traced under ``jit``).
        factory: the optax factory, e.g. ``optax.adam`` (static).
        static_arguments: non-numeric arguments (booleans, dtypes, functions),
            as sorted ``(name, value)`` pairs (static).
    """

    hyperparameters: dict[str, jax.Array]
    factory: Callable[..., optax.GradientTransformation] = static_field()
    static_arguments: tuple[tuple[str, Any], ...] = static_field(default=())

    def _transformation(self) -> optax.GradientTransformation:
        static = dict(self.static_arguments)
        return optax.inject_hyperparams(self.factory, static_args=tuple(static))(
            **self.hyperparameters, **static
        )

    def init(self, params: optax.Params) -> optax.OptState:
        """The optimizer state for ``params`` (hyperparameters stored in it)."""
        return self._transformation().init(params)

    def update(
        self, updates: optax.Updates, state: optax.OptState, params: optax.Params | None = None
    ) -> tuple[optax.Updates, optax.OptState]:
        """optax's ``update`` with this object's hyperparameters, whatever the state holds."""
        hyperparams = dict(state.hyperparams)
        for name, value in self.hyperparameters.items():
            hyperparams[name] = jnp.asarray(value, jnp.result_type(hyperparams[name]))
        state = state._replace(hyperparams=hyperparams)
        return self._transformation().update(updates, state, params)


def _is_number(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    return isinstance(value, int | float) or (
        isinstance(value, jax.Array | jnp.ndarray) and jnp.issubdtype(value.dtype, jnp.number)
    )


def tunable(
    factory: Callable[..., optax.GradientTransformation], **arguments: Any
) -> TunableOptimizer:
    """An optimizer built by ``factory(**arguments)`` whose numbers are leaves (no recompiles).

    Numbers (``learning_rate=1e-3``, ``b1=0.0``) become float leaves; everything
    else (booleans, ``None``, functions, schedules) is a static argument.

    Example:
        >>> import jax, jax.numpy as jnp, optax, statjax
        >>> optimizer = statjax.optim.tunable(optax.sgd, learning_rate=0.1, momentum=0.5)
        >>> params = jnp.ones(2)
        >>> state = optimizer.init(params)
        >>> updates, state = optimizer.update(jnp.ones(2), state, params)
        >>> updates
        Array([-0.1, -0.1], dtype=float32)
    """
    numbers = {k: jnp.asarray(v, float) for k, v in arguments.items() if _is_number(v)}
    static = tuple(sorted((k, v) for k, v in arguments.items() if k not in numbers))
    for name, value in static:
        try:
            hash(value)
        except TypeError as error:
            raise TypeError(
                f"tunable: argument {name}={value!r} is neither a number nor hashable; "
                "pass numbers as numbers and other settings as hashable values."
            ) from error
    return TunableOptimizer(numbers, factory, static)


def split_optimizer(optimizer: Any) -> tuple[Any, Any]:
    """``(traced, static)``: a :class:`TunableOptimizer` is traced, any other optimizer static.

    Training entry points jit with the first as an argument and the second as a
    static argument, and use whichever is not ``None``.
    """
    if isinstance(optimizer, TunableOptimizer):
        return optimizer, None
    return None, optimizer


__all__ = ["TunableOptimizer", "split_optimizer", "tunable"]
