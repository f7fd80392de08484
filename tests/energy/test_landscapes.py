"""Energy landscapes (statjax/energy): shared contract, then each landscape's known facts.

Exact facts (log Z, moments, minima) are checked against an independent
computation: scipy (stats, optimize, integrate), a numpy transcription of the
published constants, or quadrature with statjax.thermo.grid (itself tested
against closed forms in tests/thermo/test_grid.py).
"""

import functools

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.integrate
import scipy.optimize
import scipy.stats

from statjax.energy import (
    AnisotropicGaussian,
    DoubleWell,
    MullerBrown,
    NealFunnel,
    Rastrigin,
    RingOfGaussians,
    Rosenbrock,
)
from statjax.thermo import grid_expectation, grid_log_z

# name -> (make the landscape, a position, a parameter update that must not retrace).
CASES = {
    "gaussian": (
        lambda: AnisotropicGaussian(jnp.array([1.0, -0.5, 0.0]), jnp.array([1.0, 0.5, 2.0])),
        [0.3, 0.2, -1.0],
        {"scales": jnp.array([2.0, 1.0, 0.5])},
    ),
    "double_well": (lambda: DoubleWell(dim=3, barrier=2.0), [0.4, -0.3, 0.5], {"barrier": 5.0}),
    "muller_brown": (MullerBrown, [-0.3, 0.8], {}),
    "ring": (lambda: RingOfGaussians(num_modes=6), [3.0, 1.0], {"radius": 2.0, "scale": 1.0}),
    "rosenbrock": (lambda: Rosenbrock(dim=4), [0.5, 0.2, -0.3, 1.1], {"a": 2.0, "b": 10.0}),
    "funnel": (lambda: NealFunnel(dim=3), [-1.0, 0.2, -0.4], {"sigma": 1.5}),
    "rastrigin": (lambda: Rastrigin(dim=3), [0.3, -1.2, 2.1], {"amplitude": 3.0}),
}


def _case(name, dtype=jnp.float32):
    make, position, update = CASES[name]
    return make(), jnp.asarray(position, dtype), update


# Compiled once per landscape type and shape: the landscape is an argument, so its
# parameters are traced (eager calls would compile every primitive, and the suite
# would spend its time compiling).
# One compiled function per landscape *class*: two flax struct dataclasses with the
# same static fields (DoubleWell(dim=3) and NealFunnel(dim=3)) have equal PyTreeDefs
# in this JAX/flax version, and a shared jitted function once returned one's energies
# for the other in CI.
_FUNCTIONS = {
    "energy": lambda landscape, x: landscape(x),
    "grad": lambda landscape, x: jax.grad(landscape)(x),
    "hessian": lambda landscape, x: jax.hessian(landscape)(x),
    "energies": jax.vmap(lambda landscape, x: landscape(x), in_axes=(None, 0)),
    "grads": jax.vmap(lambda landscape, x: jax.grad(landscape)(x), in_axes=(None, 0)),
}


@functools.cache
def _compiled(name, landscape_type):
    del landscape_type  # part of the cache key only
    return jax.jit(_FUNCTIONS[name])


def _per_class(name):
    return lambda landscape, x: _compiled(name, type(landscape))(landscape, x)


energy_at = _per_class("energy")
grad_at = _per_class("grad")
hessian_at = _per_class("hessian")
energies_at = _per_class("energies")
grads_at = _per_class("grads")


def _for_scipy(function, landscape):
    """``function(landscape, x)`` as a float64 numpy function of ``x``, for scipy (x64 on)."""
    return lambda x: np.asarray(function(landscape, jnp.asarray(x, jnp.float64)), np.float64)


# --- the shared contract -----------------------------------------------------------------------


@pytest.mark.parametrize("name", CASES)
def test_scalar_and_same_under_jit_and_vmap(name):
    energy_fn, x, _ = _case(name)
    energy = jax.jit(energy_fn)(x)  # (eager calls run in the docstring examples)
    assert energy.shape == () and np.isfinite(energy)
    batch = x + 0.1 * jax.random.normal(jax.random.key(0), (5, x.size))
    np.testing.assert_allclose(
        energies_at(energy_fn, batch),
        jnp.stack([energy_at(energy_fn, row) for row in batch]),
        rtol=1e-5,
    )


@pytest.mark.parametrize("name", CASES)
def test_gradient_matches_finite_differences(name):
    with jax.enable_x64(True):
        energy_fn, x, _ = _case(name, jnp.float64)
        step = 1e-6
        shifts = step * jnp.eye(x.size)
        finite_differences = (
            energies_at(energy_fn, x + shifts) - energies_at(energy_fn, x - shifts)
        ) / (2 * step)
        np.testing.assert_allclose(grad_at(energy_fn, x), finite_differences, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("name", CASES)
@pytest.mark.parametrize("dtype", [jnp.float32, jnp.float64])
def test_energy_has_the_dtype_of_the_position(name, dtype):
    # With x64 on, a float64 constant inside the energy would promote a float32 input.
    with jax.enable_x64(True):
        energy_fn, x, _ = _case(name, dtype)
        if name == "gaussian":  # array parameters follow the position's precision
            energy_fn = jax.tree_util.tree_map(lambda leaf: leaf.astype(dtype), energy_fn)
        assert jax.eval_shape(energy_fn, x).dtype == dtype
        assert jax.eval_shape(jax.grad(energy_fn), x).dtype == dtype


@pytest.mark.parametrize("name", [name for name, case in CASES.items() if case[2]])
def test_new_parameters_do_not_recompile(name):
    energy_fn, x, update = _case(name)
    chex.clear_trace_counter()  # the counter is shared by the parametrized cases

    @jax.jit
    @chex.assert_max_traces(n=1)
    def energy_and_grad(landscape, position):
        return jax.value_and_grad(landscape)(position)

    energy_and_grad(energy_fn, x)
    updated = energy_fn.replace(**update)
    energy, _ = energy_and_grad(updated, x)
    np.testing.assert_allclose(energy, updated(x), rtol=1e-6)
    assert not np.allclose(energy, energy_fn(x))


@pytest.mark.parametrize("name", CASES)
def test_wrong_shape_says_to_vmap(name):
    energy_fn, x, _ = _case(name)
    with pytest.raises(ValueError, match=r"shape.*jax.vmap"):
        energy_fn(jnp.stack([x, x]))


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda: DoubleWell(dim=0), r"dim must be a positive integer, got dim=0"),
        (lambda: NealFunnel(dim=2.0), r"dim=2\.0"),
        (lambda: Rastrigin(dim=-1), r"dim=-1"),
        (
            lambda: RingOfGaussians(num_modes=0),
            r"num_modes must be a positive integer, got num_modes=0",
        ),
        (lambda: Rosenbrock(dim=1), r"dim must be at least 2, got dim=1"),
        (lambda: AnisotropicGaussian(jnp.zeros((2, 2)), 1.0).dim, r"one axis.*\(2, 2\)"),
    ],
)
def test_bad_structure_raises(make, message):
    with pytest.raises(ValueError, match=message):
        make()


# --- AnisotropicGaussian -----------------------------------------------------------------------


@pytest.mark.parametrize("beta", [0.3, 1.0, 2.5])
def test_gaussian_log_z_matches_scipy(beta):
    """log Z = -beta E(x) - log N(x; mean, scales^2 / beta) at any x."""
    with jax.enable_x64(True):
        gaussian = AnisotropicGaussian(jnp.array([1.0, -0.5, 0.0]), jnp.array([1.0, 0.5, 2.0]))
        points = np.random.default_rng(0).normal(size=(4, 3))
        covariance = np.diag(np.asarray(gaussian.variance_at(beta)))
        log_density = scipy.stats.multivariate_normal(np.asarray(gaussian.mean), covariance).logpdf
        for x in points:
            log_z = -beta * float(gaussian(x)) - log_density(x)
            np.testing.assert_allclose(float(gaussian.log_z(beta)), log_z, rtol=1e-12)


def test_gaussian_log_z_and_moments_match_2d_grid():
    with jax.enable_x64(True):
        gaussian = AnisotropicGaussian(jnp.array([0.5, -1.0]), jnp.array([1.5, 0.4]))
        beta = 0.7
        # +-12 widths, spacing a tenth of a width: exact to rounding (tests/thermo/test_grid.py).
        box = dict(lower=[-21.0, -6.8], upper=[22.0, 4.8], num_points=(241, 241))
        log_z = grid_log_z(gaussian, beta, **box)
        np.testing.assert_allclose(log_z, gaussian.log_z(beta), rtol=0, atol=1e-12)
        moments = grid_expectation(gaussian, lambda x: (x, (x - gaussian.mean) ** 2), beta, **box)
        np.testing.assert_allclose(moments[0], gaussian.mean_at(beta), rtol=1e-12)
        np.testing.assert_allclose(moments[1], gaussian.variance_at(beta), rtol=1e-12)


def test_gaussian_accepts_one_scale_for_all_axes():
    isotropic = AnisotropicGaussian(jnp.zeros(3), 2.0)
    assert isotropic.dim == 3
    np.testing.assert_allclose(isotropic(jnp.full(3, 2.0)), 1.5)
    np.testing.assert_allclose(isotropic.variance_at(2.0), jnp.full(3, 2.0))
    np.testing.assert_allclose(
        isotropic.log_z(1.0), 1.5 * np.log(2 * np.pi) + 3 * np.log(2.0), rtol=1e-6
    )


# --- DoubleWell --------------------------------------------------------------------------------


@pytest.mark.parametrize("barrier", [0.5, 1.0, 4.0])
def test_double_well_minima_barrier_and_curvatures(barrier):
    well = DoubleWell(dim=3, barrier=barrier)
    for minimum in well.minima():
        np.testing.assert_allclose(energy_at(well, minimum), 0.0, atol=1e-7)
        np.testing.assert_allclose(grad_at(well, minimum), 0.0, atol=1e-6)
        np.testing.assert_allclose(
            hessian_at(well, minimum), np.diag([8 * barrier, 1, 1]), rtol=1e-6
        )
    saddle = well.saddle_point()
    np.testing.assert_allclose(energy_at(well, saddle), barrier, rtol=1e-7)
    np.testing.assert_allclose(grad_at(well, saddle), 0.0, atol=1e-7)
    np.testing.assert_allclose(hessian_at(well, saddle), np.diag([-4 * barrier, 1, 1]), rtol=1e-6)
    # The saddle is the highest point of the straight path between the wells.
    path = jnp.linspace(-1.0, 1.0, 101)[:, None] * jnp.array([1.0, 0.0, 0.0])
    assert float(jnp.max(energies_at(well, path))) == pytest.approx(barrier)


def test_double_well_is_symmetric_under_each_reflection():
    well = DoubleWell(dim=4, barrier=2.0)
    points = jax.random.normal(jax.random.key(1), (20, 4))
    energies = energies_at(well, points)
    for axis in range(4):
        reflected = points.at[:, axis].multiply(-1.0)
        np.testing.assert_allclose(energies_at(well, reflected), energies, rtol=1e-6)


# --- MullerBrown -------------------------------------------------------------------------------

# Müller & Brown (1979) constants, transcribed independently of the library.
MB_PREFACTORS = np.array([-200.0, -100.0, -170.0, 15.0])
MB_A = np.array([-1.0, -1.0, -6.5, 0.7])
MB_B = np.array([0.0, 0.0, 11.0, 0.6])
MB_C = np.array([-10.0, -10.0, -6.5, 0.7])
MB_X0 = np.array([1.0, 0.0, -0.5, -1.0])
MB_Y0 = np.array([0.0, 0.5, 1.5, 1.0])
# Literature values, rounded (e.g. Müller & Brown 1979; many later papers).
MB_MINIMA = [((-0.558, 1.442), -146.70), ((0.623, 0.028), -108.17), ((-0.050, 0.467), -80.77)]
MB_SADDLES = [((-0.822, 0.624), -40.66), ((0.212, 0.293), -72.25)]


def _mb_terms(point):
    dx, dy = point[0] - MB_X0, point[1] - MB_Y0
    return MB_PREFACTORS * np.exp(MB_A * dx**2 + MB_B * dx * dy + MB_C * dy**2), dx, dy


def _mb_gradient(point):
    terms, dx, dy = _mb_terms(point)
    return np.array(
        [np.sum(terms * (2 * MB_A * dx + MB_B * dy)), np.sum(terms * (MB_B * dx + 2 * MB_C * dy))]
    )


def test_muller_brown_matches_the_published_formula():
    with jax.enable_x64(True):
        muller_brown = MullerBrown()
        points = np.random.default_rng(2).uniform([-1.5, -0.5], [1.2, 2.0], size=(20, 2))
        energies, gradients = energies_at(muller_brown, points), grads_at(muller_brown, points)
        for point, energy, gradient in zip(points, energies, gradients, strict=True):
            np.testing.assert_allclose(energy, np.sum(_mb_terms(point)[0]), rtol=1e-12)
            np.testing.assert_allclose(gradient, _mb_gradient(point), rtol=1e-10, atol=1e-9)


def test_muller_brown_minima_are_minima():
    with jax.enable_x64(True):
        muller_brown = MullerBrown()
        energy, gradient = _for_scipy(energy_at, muller_brown), _for_scipy(grad_at, muller_brown)
        for listed, (literature, literature_energy) in zip(
            muller_brown.minima(), MB_MINIMA, strict=True
        ):
            np.testing.assert_allclose(listed, literature, atol=1e-3)
            np.testing.assert_allclose(gradient(listed), 0.0, atol=1e-4)
            assert np.all(np.linalg.eigvalsh(hessian_at(muller_brown, listed)) > 0)
            start = np.asarray(listed) + np.array([0.03, -0.02])
            result = scipy.optimize.minimize(energy, start, jac=gradient, method="BFGS", tol=1e-12)
            np.testing.assert_allclose(result.x, literature, atol=1e-2)
            np.testing.assert_allclose(result.fun, literature_energy, atol=1e-2)


def test_muller_brown_saddles_are_first_order_saddles():
    with jax.enable_x64(True):
        muller_brown = MullerBrown()
        for listed, (literature, literature_energy) in zip(
            muller_brown.saddle_points(), MB_SADDLES, strict=True
        ):
            np.testing.assert_allclose(listed, literature, atol=1e-3)
            np.testing.assert_allclose(
                energy_at(muller_brown, listed), literature_energy, atol=1e-2
            )
            np.testing.assert_allclose(grad_at(muller_brown, listed), 0.0, atol=1e-4)
            eigenvalues = np.linalg.eigvalsh(hessian_at(muller_brown, listed))
            assert eigenvalues[0] < 0 < eigenvalues[1]


def test_muller_brown_basins_follow_the_steepest_descent_flow():
    """basin_of against an independent flow dx/dt = -grad E, integrated by scipy (BDF)."""
    muller_brown = MullerBrown()
    basins_of = jax.jit(jax.vmap(muller_brown.basin_of))
    np.testing.assert_array_equal(basins_of(muller_brown.minima()), [0, 1, 2])
    points = np.random.default_rng(3).uniform([-1.5, -0.4], [1.1, 2.0], size=(16, 2))
    labels = basins_of(jnp.asarray(points, jnp.float32))
    minima = np.asarray(muller_brown.minima(), np.float64)
    for point, label in zip(points, np.asarray(labels), strict=True):
        flow = scipy.integrate.solve_ivp(
            lambda t, x: -_mb_gradient(x), (0.0, 1.0), point, method="BDF", rtol=1e-8, atol=1e-10
        )
        end = flow.y[:, -1]
        assert np.min(np.linalg.norm(minima - end, axis=1)) < 1e-3  # the flow has arrived
        assert label == np.argmin(np.linalg.norm(minima - end, axis=1)), point


def test_muller_brown_occupations_approach_the_harmonic_limit():
    """At low temperature basin occupations tend to the Laplace approximation.

    p_k / p_0 -> exp(-beta (E_k - E_0)) sqrt(det H_0 / det H_k), with a relative
    correction O(1 / beta): on a fine grid 0.004 (basin 1) and 0.018 (basin 2)
    at beta = 1, twice that at beta = 0.5. The tolerance, 0.05 in log, leaves
    room for that correction and nothing else.
    """
    muller_brown = MullerBrown()
    beta = 1.0
    # Wells at beta = 1 are 0.016 wide across the stiffest axis: a 0.01 grid is ample.
    occupations = grid_expectation(
        muller_brown,
        lambda x: jax.nn.one_hot(muller_brown.basin_of(x), 3),
        beta,
        lower=[-0.8, -0.2],
        upper=[0.9, 1.7],
        num_points=(171, 191),
    )
    occupations = np.asarray(occupations, np.float64)
    np.testing.assert_allclose(occupations.sum(), 1.0, rtol=1e-5)
    minima = muller_brown.minima()
    energies = np.asarray(energies_at(muller_brown, minima), np.float64)
    hessians = np.stack([hessian_at(muller_brown, minimum) for minimum in minima])
    determinants = np.linalg.det(hessians.astype(np.float64))
    log_ratio_harmonic = -beta * (energies - energies[0]) + 0.5 * np.log(
        determinants[0] / determinants
    )
    np.testing.assert_allclose(np.log(occupations / occupations[0]), log_ratio_harmonic, atol=0.05)


# --- RingOfGaussians ---------------------------------------------------------------------------


def test_ring_is_normalised_at_beta_one():
    with jax.enable_x64(True):
        ring = RingOfGaussians(num_modes=8, radius=5.0, scale=0.5)
        assert float(ring.log_z(1.0)) == 0.0
        # Box: the radius plus 12 widths; spacing 0.05 = scale / 10.
        log_z = grid_log_z(ring, 1.0, [-11.0, -11.0], [11.0, 11.0], 441)
        np.testing.assert_allclose(float(log_z), 0.0, atol=1e-10)


@pytest.mark.parametrize("beta, tolerance", [(0.5, 1e-2), (2.0, 2e-6), (4.0, 1e-8)])
def test_ring_separated_modes_log_z_matches_grid_to_its_documented_error(beta, tolerance):
    with jax.enable_x64(True):
        ring = RingOfGaussians()
        log_z = grid_log_z(ring, beta, [-11.0, -11.0], [11.0, 11.0], 441)
        np.testing.assert_allclose(ring.separated_modes_log_z(beta), log_z, rtol=0, atol=tolerance)
        np.testing.assert_allclose(ring.separated_modes_log_z(1.0), 0.0, atol=1e-15)


def test_ring_modes_are_local_minima_with_equal_weight():
    ring = RingOfGaussians(num_modes=5, radius=4.0, scale=0.5)
    centers = ring.mode_centers()
    np.testing.assert_allclose(jnp.linalg.norm(centers, axis=1), 4.0, rtol=1e-6)
    np.testing.assert_allclose(jnp.linalg.norm(grads_at(ring, centers), axis=1), 0.0, atol=1e-4)
    nearest_mode = lambda x: jax.nn.one_hot(jnp.argmin(jnp.sum((x - centers) ** 2, axis=1)), 5)
    weights = grid_expectation(ring, nearest_mode, 1.0, [-7.0, -7.0], [7.0, 7.0], 281)
    np.testing.assert_allclose(weights, 0.2, atol=1e-5)


def test_ring_log_z_refuses_other_temperatures():
    ring = RingOfGaussians()
    with pytest.raises(ValueError, match=r"only at beta = 1, got beta=2\.0.*separated_modes_log_z"):
        ring.log_z(2.0)
    with pytest.raises(TypeError, match="concrete beta"):
        jax.jit(ring.log_z)(1.0)


# --- Rosenbrock --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "a, b, dim", [(1.0, 100.0, 2), (2.0, 100.0, 2), (-0.5, 5.0, 2), (1.0, 100.0, 5)]
)
def test_rosenbrock_minimum(a, b, dim):
    with jax.enable_x64(True):
        banana = Rosenbrock(a=a, b=b, dim=dim)
        minimum = banana.minimum()
        assert float(energy_at(banana, minimum)) == 0.0
        np.testing.assert_allclose(grad_at(banana, minimum), 0.0, atol=1e-12)
        assert np.all(np.linalg.eigvalsh(hessian_at(banana, minimum)) > 0)
        # The classic start (-1.2, 1); in 5-D, away from the local minimum near
        # (-1, 1, ..., 1) (Shang & Qiu 2006).
        start = np.r_[-1.2 if dim == 2 else 0.8, np.ones(dim - 1)]
        result = scipy.optimize.minimize(
            _for_scipy(energy_at, banana),
            start,
            jac=_for_scipy(grad_at, banana),
            method="BFGS",
            options={"gtol": 1e-10},
        )
        np.testing.assert_allclose(result.x, minimum, atol=1e-5)
        assert result.fun < 1e-10


def test_rosenbrock_minimum_is_nan_where_unknown():
    assert np.all(np.isnan(Rosenbrock(a=2.0, dim=3).minimum()))
    np.testing.assert_allclose(Rosenbrock(a=0.0, dim=3).minimum(), 0.0)


def test_rosenbrock_2d_log_z_and_moments_match_grid():
    with jax.enable_x64(True):
        banana = Rosenbrock(a=0.5, b=5.0)
        beta = 2.0
        # x0 ~ N(0.5, 1/4): +-8 widths; x1 = x0^2 + N(0, 1/20) reaches 4.5^2 ~ 20. Spacings
        # 0.05 and 0.04 are a tenth and a fifth of the widths: rounding error only.
        box = dict(lower=[-3.5, -2.0], upper=[4.5, 21.0], num_points=(161, 576))
        np.testing.assert_allclose(grid_log_z(banana, beta, **box), banana.log_z(beta), atol=1e-10)
        mean, square = grid_expectation(banana, lambda x: (x, x**2), beta, **box)
        np.testing.assert_allclose(mean, banana.mean_at(beta), rtol=1e-10)
        np.testing.assert_allclose(square - mean**2, banana.variance_at(beta), rtol=1e-9)


def test_rosenbrock_exact_facts_refuse_more_dimensions():
    with pytest.raises(ValueError, match=r"log_z is exact only in two dimensions, got dim=3"):
        Rosenbrock(dim=3).log_z(1.0)


# --- NealFunnel --------------------------------------------------------------------------------


def test_funnel_energy_is_the_negative_log_density():
    with jax.enable_x64(True):
        funnel = NealFunnel(dim=5, sigma=3.0)
        points = np.random.default_rng(4).normal(size=(10, 5)) * np.array([3.0, 1, 1, 1, 1])
        log_density = scipy.stats.norm.logpdf(points[:, 0], 0.0, 3.0) + np.sum(
            scipy.stats.norm.logpdf(points[:, 1:], 0.0, np.exp(points[:, :1] / 2)), axis=1
        )
        np.testing.assert_allclose(energies_at(funnel, points), -log_density, rtol=1e-12)


@pytest.mark.parametrize("beta", [1.0, 2.0])
def test_funnel_2d_log_z_by_grid(beta):
    """sigma = 1: a plain grid resolves both the neck and the mouth of the funnel.

    The box holds v within +-6 widths (mass outside 2e-9) and x within 9 widths
    at the top of the box; the x spacing is half the width at the neck.
    """
    with jax.enable_x64(True):
        funnel = NealFunnel(dim=2, sigma=1.0)
        v_mean, v_width = float(funnel.mean_at(beta)[0]), 1.0 / np.sqrt(beta)
        v_low, v_high = v_mean - 6 * v_width, v_mean + 6 * v_width
        x_high = 9 * np.exp(v_high / 2) * v_width
        x_spacing = 0.5 * np.exp(v_low / 2) * v_width
        num_x = int(2 * x_high / x_spacing) + 1
        log_z = grid_log_z(funnel, beta, [v_low, -x_high], [v_high, x_high], (241, num_x))
        np.testing.assert_allclose(float(log_z), float(funnel.log_z(beta)), atol=1e-7)


def _funnel_in_whitened_coordinates(funnel, beta):
    """E in (v, u) with x_i = e^{v/2} u_i; the Jacobian e^{n v / 2} enters as -n v / (2 beta)."""
    num_rest = funnel.dim - 1

    def to_x(z):
        return z.at[1:].multiply(jnp.exp(z[0] / 2))

    return lambda z: funnel(to_x(z)) - num_rest * z[0] / (2 * beta), to_x


@pytest.mark.parametrize("beta", [0.5, 1.0, 3.0])
def test_funnel_sigma_3_log_z_and_moments(beta):
    """sigma = 3 (a neck e^{-4.5} wide) by a grid in whitened coordinates."""
    with jax.enable_x64(True):
        funnel = NealFunnel(dim=2)
        energy, to_x = _funnel_in_whitened_coordinates(funnel, beta)
        # v ~ N(m, 9 / beta) and u ~ N(0, 1 / beta): +-12 widths, spacing a tenth of a width.
        v_mean, width = float(funnel.mean_at(beta)[0]), 1 / np.sqrt(beta)
        box = dict(
            lower=[v_mean - 36 * width, -12 * width], upper=[v_mean + 36 * width, 12 * width]
        )
        box["num_points"] = 241
        np.testing.assert_allclose(
            float(grid_log_z(energy, beta, **box)), float(funnel.log_z(beta)), atol=1e-9
        )
        mean, square = grid_expectation(energy, lambda z: (to_x(z), to_x(z) ** 2), beta, **box)
        np.testing.assert_allclose(mean, funnel.mean_at(beta), atol=1e-9)
        np.testing.assert_allclose(square - mean**2, funnel.variance_at(beta), rtol=1e-8)


def test_funnel_log_z_at_beta_one_is_zero_in_any_dimension():
    for dim in (1, 2, 10, 100):
        np.testing.assert_allclose(NealFunnel(dim=dim).log_z(1.0), 0.0, atol=1e-6)
        np.testing.assert_allclose(NealFunnel(dim=dim).mean_at(1.0), 0.0, atol=1e-6)


# --- Rastrigin ---------------------------------------------------------------------------------


def test_rastrigin_global_minimum_and_integer_points():
    with jax.enable_x64(True):
        rastrigin = Rastrigin(dim=3, amplitude=10.0)
        origin = rastrigin.minimum()
        assert float(energy_at(rastrigin, origin)) == 0.0
        np.testing.assert_allclose(grad_at(rastrigin, origin), 0.0, atol=1e-12)
        curvature = (2 + 40 * np.pi**2) * np.eye(3)
        np.testing.assert_allclose(hessian_at(rastrigin, origin), curvature, rtol=1e-12)
        integer_points = jnp.array([[1, 0, 0], [2, -3, 1], [-5, 4, 0]], jnp.float64)
        np.testing.assert_allclose(
            energies_at(rastrigin, integer_points), jnp.sum(integer_points**2, axis=1), atol=1e-10
        )
        points = jax.random.uniform(jax.random.key(5), (1000, 3), minval=-5.12, maxval=5.12)
        assert float(jnp.min(energies_at(rastrigin, points))) > 0.0


@pytest.mark.parametrize("k", [[1, 0], [-2, 3], [4, -1]])
def test_rastrigin_local_minima_sit_near_integers(k):
    with jax.enable_x64(True):
        rastrigin = Rastrigin(dim=2, amplitude=10.0)
        start = np.asarray(k, np.float64) + 0.2
        result = scipy.optimize.minimize(
            _for_scipy(energy_at, rastrigin),
            start,
            jac=_for_scipy(grad_at, rastrigin),
            method="BFGS",
            options={"gtol": 1e-10},
        )
        # Pulled towards the origin by k / (1 + 2 pi^2 A) to first order.
        predicted = np.asarray(k) * (1 - 1 / (1 + 2 * np.pi**2 * 10.0))
        np.testing.assert_allclose(result.x, predicted, atol=1e-4)
        assert np.all(np.linalg.eigvalsh(hessian_at(rastrigin, jnp.asarray(result.x))) > 0)
        assert np.sum(np.square(k)) - 1 < result.fun < np.sum(np.square(k))
