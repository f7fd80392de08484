"""Grid quadrature (statjax/thermo/grid.py) against closed forms and scipy.

Tolerances. For a Gaussian of width ``w`` on a grid of spacing ``h`` through its
centre, the trapezoid rule's relative error is ``2 sum_m exp(-2 pi^2 m^2 w^2 / h^2)``
(Poisson summation; Trefethen & Weideman 2014), below 1e-80 for ``h = w / 10``,
and a box of ``+-12 w`` leaves out ``erfc(12 / sqrt 2) ~ 1e-33`` of the mass. What
is left is rounding: the tolerances below are a few hundred ulps of float32 or
float64 on ``log Z ~ 1``.
"""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.integrate
import scipy.special
import scipy.stats

from statjax.energy import AnisotropicGaussian, DoubleWell
from statjax.thermo import grid_density, grid_expectation, grid_log_z

ATOL = {jnp.float32: 2e-5, jnp.float64: 1e-11}


def _gaussian_box(gaussian, beta, num_widths=12.0):
    widths = np.sqrt(np.asarray(gaussian.variance_at(beta)))
    mean = np.asarray(gaussian.mean)
    return (mean - num_widths * widths).tolist(), (mean + num_widths * widths).tolist()


@pytest.mark.parametrize("dtype", [jnp.float32, jnp.float64])
@pytest.mark.parametrize("beta", [0.5, 1.0, 4.0])
def test_log_z_1d_gaussian(dtype, beta):
    with jax.enable_x64(dtype == jnp.float64):
        gaussian = AnisotropicGaussian(jnp.array([0.3], dtype), jnp.array([0.7], dtype))
        lower, upper = _gaussian_box(gaussian, beta)
        log_z = grid_log_z(gaussian, beta, lower, upper, 241)  # h = w / 10
        assert log_z.dtype == dtype
        exact = 0.5 * np.log(2 * np.pi * 0.7**2 / beta)
        np.testing.assert_allclose(float(log_z), exact, rtol=0, atol=ATOL[dtype])


@pytest.mark.parametrize("dtype", [jnp.float32, jnp.float64])
def test_log_z_2d_gaussian(dtype):
    with jax.enable_x64(dtype == jnp.float64):
        gaussian = AnisotropicGaussian(jnp.array([1.0, -2.0], dtype), jnp.array([0.5, 2.0], dtype))
        beta = 2.0
        lower, upper = _gaussian_box(gaussian, beta)
        log_z = grid_log_z(gaussian, beta, lower, upper, (241, 201))
        np.testing.assert_allclose(float(log_z), float(gaussian.log_z(beta)), atol=ATOL[dtype])


def test_trapezoid_error_is_the_poisson_summation_prediction():
    """On a coarse grid (h = 2 w) the error is the predicted 2 exp(-pi^2 / 2) = 1.4 %.

    This is what justifies the tolerances of the whole file: the quadrature error
    falls as ``exp(-2 pi^2 w^2 / h^2)``, so a grid ten times finer is exact.
    """
    with jax.enable_x64(True):
        harmonic = lambda x: 0.5 * jnp.sum(x**2)
        log_z = grid_log_z(harmonic, 1.0, -40.0, 40.0, 41)  # h = 2, w = 1
        predicted = sum(2 * np.exp(-2 * np.pi**2 * m**2 / 4.0) for m in (1, 2, 3))
        relative_error = np.exp(float(log_z) - 0.5 * np.log(2 * np.pi)) - 1
        np.testing.assert_allclose(relative_error, predicted, rtol=1e-9)


@pytest.mark.parametrize("beta, barrier", [(1.0, 1.0), (5.0, 1.0), (2.0, 3.0)])
def test_log_z_1d_double_well_matches_quad_and_bessel(beta, barrier):
    with jax.enable_x64(True):
        well = DoubleWell(dim=1, barrier=barrier)
        log_z = float(grid_log_z(well, beta, -3.0, 3.0, 1201))
    density = lambda x: np.exp(-beta * barrier * (x**2 - 1) ** 2)
    quad, _ = scipy.integrate.quad(density, -np.inf, np.inf, epsabs=0, epsrel=1e-13)
    np.testing.assert_allclose(log_z, np.log(quad), rtol=0, atol=1e-10)
    # int exp(-a (x^2 - 1)^2) dx = (pi / 2) e^{-a/2} [I_{-1/4}(a/2) + I_{1/4}(a/2)].
    half = 0.5 * beta * barrier
    bessel = (
        0.5 * np.pi * np.exp(-half) * (scipy.special.iv(-0.25, half) + scipy.special.iv(0.25, half))
    )
    np.testing.assert_allclose(log_z, np.log(bessel), rtol=0, atol=1e-10)


def test_density_is_normalised_and_has_the_exact_marginal():
    gaussian = AnisotropicGaussian(jnp.array([0.5, 0.0]), jnp.array([1.0, 0.3]))
    beta = 0.5
    lower, upper = _gaussian_box(gaussian, beta)
    (x_axis, y_axis), density = grid_density(gaussian, beta, lower, upper, (161, 121))
    assert x_axis.shape == (161,) and y_axis.shape == (121,) and density.shape == (161, 121)
    marginal_x = jax.scipy.integrate.trapezoid(density, y_axis, axis=1)
    np.testing.assert_allclose(
        float(jax.scipy.integrate.trapezoid(marginal_x, x_axis)), 1.0, rtol=1e-5
    )
    exact = scipy.stats.norm.pdf(np.asarray(x_axis), 0.5, np.sqrt(1.0 / beta))
    np.testing.assert_allclose(np.asarray(marginal_x), exact, atol=1e-6)
    # density[i, j] sits at (x_axis[i], y_axis[j]).
    i, j = 40, 70
    point = jnp.array([x_axis[i], y_axis[j]])
    expected = jnp.exp(-beta * gaussian(point) - gaussian.log_z(beta))
    np.testing.assert_allclose(float(density[i, j]), float(expected), rtol=1e-5)


def test_density_1d_accepts_scalar_bounds():
    (axis,), density = grid_density(DoubleWell(dim=1), 1.0, -3.0, 3.0, 601)
    assert axis.shape == density.shape == (601,)
    np.testing.assert_allclose(float(jax.scipy.integrate.trapezoid(density, axis)), 1.0, rtol=1e-5)
    # Symmetric up to the float32 rounding of the grid coordinates.
    np.testing.assert_allclose(np.asarray(density), np.asarray(density[::-1]), atol=1e-6)


def test_expectation_gives_exact_moments_and_keeps_the_pytree():
    gaussian = AnisotropicGaussian(jnp.array([0.5, -1.0]), jnp.array([1.0, 0.3]))
    beta = 3.0
    lower, upper = _gaussian_box(gaussian, beta)
    moments = grid_expectation(
        gaussian,
        lambda x: {
            "one": jnp.ones((), jnp.int32),
            "mean": x,
            "deviation": (x - gaussian.mean) ** 2,
        },
        beta,
        lower,
        upper,
        201,
    )
    np.testing.assert_allclose(float(moments["one"]), 1.0, rtol=1e-6)
    np.testing.assert_allclose(moments["mean"], gaussian.mean_at(beta), atol=1e-5)
    np.testing.assert_allclose(moments["deviation"], gaussian.variance_at(beta), rtol=1e-5)


def test_traced_beta_vmaps_and_parameters_do_not_recompile():
    gaussian = AnisotropicGaussian(jnp.zeros(2), jnp.array([1.0, 0.5]))
    betas = jnp.array([1.0, 2.0, 4.0])
    curve = jax.vmap(lambda beta: grid_log_z(gaussian, beta, [-12.0, -6.0], [12.0, 6.0], 241))(
        betas
    )
    np.testing.assert_allclose(curve, jax.vmap(gaussian.log_z)(betas), atol=2e-5)

    chex.clear_trace_counter()

    @jax.jit
    @chex.assert_max_traces(n=1)
    def log_z_of(landscape, beta):
        return grid_log_z(landscape, beta, [-12.0, -12.0], [12.0, 12.0], 241)

    for scales, beta in [((1.0, 0.5), 1.0), ((0.7, 2.0), 2.0)]:
        landscape = gaussian.replace(scales=jnp.array(scales))
        np.testing.assert_allclose(log_z_of(landscape, beta), landscape.log_z(beta), atol=2e-5)

    # Without an outer jit: a new beta, box or parameter reuses grid_log_z's own program.
    from statjax.thermo import grid as grid_module

    grid_log_z(gaussian, 1.0, [-12.0, -6.0], [12.0, 6.0], 241)
    compiled_before = grid_module._log_z_on_grid._cache_size()
    for scales, beta, half_width in [((1.0, 0.5), 2.0, 10.0), ((0.7, 2.0), 0.5, 30.0)]:
        landscape = gaussian.replace(scales=jnp.array(scales))
        box = ([-half_width] * 2, [half_width] * 2)
        np.testing.assert_allclose(
            grid_log_z(landscape, beta, *box, 241), landscape.log_z(beta), atol=2e-5
        )
    assert grid_module._log_z_on_grid._cache_size() == compiled_before


HARMONIC = lambda x: 0.5 * jnp.sum(x**2)


@pytest.mark.parametrize(
    "beta, lower, upper, num_points, message",
    [
        (0.0, [-1.0], [1.0], 10, r"beta must be positive.*beta=0\.0"),
        (-2.0, [-1.0], [1.0], 10, r"beta must be positive.*beta=-2\.0"),
        (float("nan"), [-1.0], [1.0], 10, r"beta must be positive.*beta=nan"),
        (jnp.array([1.0, 2.0]), [-1.0], [1.0], 10, r"beta must be a scalar.*\(2,\)"),
        (1.0, [1.0], [-1.0], 10, r"lower must be below upper.*lower=\[1\.0\].*upper=\[-1\.0\]"),
        (1.0, [0.0, 0.0], [1.0, 0.0], 10, r"lower must be below upper"),
        (1.0, [0.0] * 3, [1.0] * 3, 10, r"lower must have length 1 or 2.*\[0\.0, 0\.0, 0\.0\]"),
        (1.0, [], [], 10, r"lower must have length 1 or 2"),
        (1.0, [0.0], [1.0, 1.0], 10, r"same length.*lower=\[0\.0\].*upper=\[1\.0, 1\.0\]"),
        (1.0, [0.0], [np.inf], 10, r"upper must hold finite numbers"),
        (1.0, [0.0], [1.0], 1, r"num_points must be an integer >= 2.*num_points=1"),
        (1.0, [0.0], [1.0], 2.5, r"num_points.*num_points=2\.5"),
        (1.0, [0.0, 0.0], [1.0, 1.0], (10,), r"num_points.*2 here.*num_points=\(10,\)"),
    ],
)
def test_bad_arguments_name_the_argument_and_value(beta, lower, upper, num_points, message):
    for function in (grid_log_z, grid_density):
        with pytest.raises(ValueError, match=message):
            function(HARMONIC, beta, lower, upper, num_points)
    with pytest.raises(ValueError, match=message):
        grid_expectation(HARMONIC, lambda x: x, beta, lower, upper, num_points)


def test_beta_must_be_a_number():
    with pytest.raises(TypeError, match=r"beta must be a number, got beta='hot'"):
        grid_log_z(HARMONIC, "hot", [-1.0], [1.0], 10)


def test_energy_must_be_scalar():
    with pytest.raises(ValueError, match="scalar per position"):
        grid_log_z(lambda x: x**2, 1.0, [-1.0], [1.0], 11)
