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

Which arguments are leaves: Python floats and arrays of any dtype (a float,
integer or key array: ``seed=jnp.int32(3)`` or ``seed=jax.random.key(3)`` sweeps
seeds without recompiling), and callables that are pytrees with leaves (a
:mod:`statjax.anneal` schedule; optax evaluates it at its step count). Python
integers stay static, because they are usually counts that fix a shape (the
number of inner steps of Entropy-SGD) or seeds: write ``learning_rate=1.0``,
not ``1``, for a number you sweep. Booleans, strings, ``None`` and plain
functions are static too (a new function recompiles).
"""

from __future__ import annotations

import numbers
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax

from statjax.pytree import Pytree, static_field


class TunableOptimizer(Pytree):
    """``factory(**hyperparameters)`` with the numeric hyperparameters as pytree leaves.

    Quacks like an ``optax.GradientTransformation`` (``init``/``update``), so it
    chains with optax (build the chain where the optimizer is traced, inside the
    jitted function: a chain built outside is a closure and is static again).
    Build it with :func:`tunable`.

    Attributes:
        hyperparameters: numbers and pytree schedules (leaves; traced under ``jit``).
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
        self,
        updates: optax.Updates,
        state: optax.OptState,
        params: optax.Params | None = None,
        **extra_args: Any,
    ) -> tuple[optax.Updates, optax.OptState]:
        """Optax's ``update`` with this object's hyperparameters, whatever the state holds.

        Extra keyword arguments (Entropy-SGD's ``grad_fn``) go to the wrapped transform.
        """
        hyperparams = dict(state.hyperparams)
        for name, value in self.hyperparameters.items():
            if callable(value):
                continue  # a schedule: optax evaluates it at the state's step count
            dtype = jnp.result_type(hyperparams[name])
            # The state's dtype (the parameters' float type) wins for floats, as optax's.
            hyperparams[name] = value if jnp.result_type(value) == dtype else value.astype(dtype)
        state = state._replace(hyperparams=hyperparams)
        return self._transformation().update(updates, state, params, **extra_args)


def _as_leaf(value: Any) -> Any | None:
    """``value`` as a traced hyperparameter, or ``None`` if it is a static argument."""
    if isinstance(value, bool | numbers.Integral) or value is None:
        return None  # booleans, counts and integer seeds fix the program
    if isinstance(value, numbers.Real):
        return jnp.asarray(value, float)
    if isinstance(value, jax.Array | np.ndarray):
        array = jnp.asarray(value)
        # An explicit dtype drops JAX's weak type, so 0.1 and jnp.asarray(0.1) share a program.
        return jnp.asarray(array, array.dtype)
    if callable(value) and jax.tree_util.tree_leaves(value):
        return value  # a pytree schedule: its numbers are leaves
    return None


def tunable(
    factory: Callable[..., optax.GradientTransformation], **arguments: Any
) -> TunableOptimizer:
    """An optimizer built by ``factory(**arguments)`` whose numbers are leaves (no recompiles).

    Floats (``learning_rate=1e-3``, ``b1=0.0``), arrays (a key, an integer seed
    array) and pytree schedules become leaves; Python integers, booleans,
    ``None`` and plain functions are static arguments (module docstring).

    Examples:
        >>> import jax, jax.numpy as jnp, optax, statjax
        >>> optimizer = statjax.optim.tunable(optax.sgd, learning_rate=0.1, momentum=0.5)
        >>> params = jnp.ones(2)
        >>> state = optimizer.init(params)
        >>> updates, state = optimizer.update(jnp.ones(2), state, params)
        >>> updates
        Array([-0.1, -0.1], dtype=float32)
    """
    leaves = {k: _as_leaf(v) for k, v in arguments.items()}
    numbers = {k: v for k, v in leaves.items() if v is not None}
    static = tuple(sorted((k, v) for k, v in arguments.items() if k not in numbers))
    for name, value in static:
        try:
            hash(value)
        except TypeError as error:
            raise TypeError(
                f"tunable: argument {name}={value!r} is neither a number, an array nor "
                "hashable; pass numbers as numbers and other settings as hashable values."
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
