r"""Random-features regression: fixed random first layer, ridge or min-norm least squares.

The random-features model of Rahimi & Recht (2007) is
``f(x) = sum_j a_j sigma(<w_j, x> / sqrt(d))`` with random, untrained weights
``w_j ~ N(0, I_d)`` and trained second-layer coefficients ``a``. Its test error as a
function of the number of features ``p`` for ``n`` training points shows *double
descent*: with the minimum-norm interpolating solution (ridge ``lambda -> 0``) the
error peaks at the interpolation threshold ``p = n``, where the feature matrix is
square and its smallest singular value goes to zero (Belkin, Hsu, Ma & Mandal 2019;
Mei & Montanari 2019). A well-chosen ridge removes the peak (Nakkiran, Venkat,
Kakade & Ma 2021).

:func:`ridge_regression` returns the coefficients for a whole grid of ridge
penalties from one singular value decomposition, ``lambda = 0`` being the
minimum-norm least-squares solution (the pseudo-inverse).
"""

import jax
import jax.numpy as jnp
import numpy as np

from statjax.checks import check_positive

__all__ = ["random_features", "ridge_regression"]


def random_features(
    inputs: jax.typing.ArrayLike,
    weights: jax.typing.ArrayLike,
    activation=jax.nn.relu,
) -> jax.Array:
    r"""Random features ``phi_j(x) = sigma(<w_j, x> / sqrt(d))`` (Rahimi & Recht 2007).

    With ``w_j ~ N(0, I_d)`` and the ReLU, ``(1/p) Phi Phi^T`` tends to the
    arc-cosine kernel of degree 1 (Cho & Saul 2009),
    ``|x||x'| / (2 pi d) * (sin t + (pi - t) cos t)``, ``t`` the angle between ``x``
    and ``x'``.

    Args:
        inputs: ``(n, d)`` inputs.
        weights: ``(p, d)`` random first-layer weights (draw them once and use the
            same ones for training and test inputs).
        activation: the nonlinearity ``sigma``.

    Returns:
        ``(n, p)`` feature matrix.

    Examples:
        >>> import jax, jax.numpy as jnp
        >>> weights = jax.random.normal(jax.random.key(0), (50, 3))
        >>> random_features(jnp.ones((4, 3)), weights).shape
        (4, 50)
    """
    inputs, weights = jnp.asarray(inputs), jnp.asarray(weights)
    if inputs.ndim != 2 or weights.ndim != 2 or inputs.shape[1] != weights.shape[1]:
        raise ValueError(
            f"inputs, weights: expected shapes (n, d) and (p, d), got {inputs.shape} and "
            f"{weights.shape}."
        )
    return activation(inputs @ weights.T / np.sqrt(inputs.shape[1]))


def ridge_regression(
    features: jax.typing.ArrayLike,
    targets: jax.typing.ArrayLike,
    ridges: jax.typing.ArrayLike,
    rcond: float | None = None,
) -> jax.Array:
    r"""Ridge coefficients for every penalty in ``ridges``, from one SVD; ``0`` is min-norm.

    For each ``lambda`` the minimiser of ``(1/n) |y - Phi a|^2 + lambda |a|^2``,

    .. math::

        a_\lambda = V \,\mathrm{diag}\Big(\frac{s_i}{s_i^2 + n\lambda}\Big) U^\top y,
        \qquad \Phi = U\, \mathrm{diag}(s)\, V^\top \text{ (thin SVD)},

    and at ``lambda = 0`` the minimum-norm least-squares solution
    ``a_0 = Phi^+ y`` (Moore–Penrose; singular values below ``rcond * s_max`` are
    treated as zero, as ``numpy.linalg.lstsq`` does). For ``p >= n`` the min-norm
    solution interpolates the training data. ``ridges`` is traced: a new grid does
    not recompile.

    Args:
        features: ``(n, p)`` design matrix.
        targets: ``(n,)`` or ``(n, k)`` targets.
        ridges: ``(r,)`` penalties ``lambda >= 0``.
        rcond: relative cut-off of small singular values at ``lambda = 0``;
            default ``max(n, p)`` times the machine epsilon of the dtype.

    Returns:
        ``(r, p)`` or ``(r, p, k)`` coefficients, one row per penalty.

    Examples:
        >>> import jax.numpy as jnp
        >>> features = jnp.array([[1.0, 0.0], [0.0, 2.0], [0.0, 0.0]])
        >>> ridge_regression(features, jnp.array([1.0, 1.0, 5.0]), jnp.array([0.0]))
        Array([[1. , 0.5]], dtype=float32)
    """
    features = jnp.asarray(features)
    if not jnp.issubdtype(features.dtype, jnp.floating):
        features = features.astype(float)
    targets = jnp.asarray(targets, features.dtype)
    ridges = jnp.atleast_1d(jnp.asarray(ridges, features.dtype))
    if features.ndim != 2 or targets.shape[:1] != features.shape[:1] or targets.ndim > 2:
        raise ValueError(
            f"features, targets: expected shapes (n, p) and (n,) or (n, k), got "
            f"{features.shape} and {targets.shape}."
        )
    if ridges.ndim != 1:
        raise ValueError(f"ridges: expected a 1-D array of penalties, got shape {ridges.shape}.")
    check_positive("ridges", ridges, allow_zero=True)
    if rcond is None:
        rcond = max(features.shape) * float(jnp.finfo(features.dtype).eps)
    return _ridge_path(features, targets, ridges, rcond)


@jax.jit
def _ridge_path(features, targets, ridges, rcond):
    num_train = features.shape[0]
    left, singular, right_t = jnp.linalg.svd(features, full_matrices=False)
    projected = jnp.tensordot(left.T, targets, axes=1)  # U^T y: (m,) or (m, k)
    kept = singular > rcond * singular[0]
    safe = jnp.where(kept, singular, 1.0)
    # s / (s^2 + n lambda); at lambda = 0 this is 1 / s on the kept values, 0 elsewhere.
    gains = jnp.where(kept, safe / (safe**2 + num_train * ridges[:, None]), 0.0)
    scaled = gains.reshape(gains.shape + (1,) * (targets.ndim - 1)) * projected
    return jnp.einsum("mp,rm...->rp...", right_t, scaled)
