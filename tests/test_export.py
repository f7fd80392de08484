"""statjax traces as ArviZ InferenceData: shapes, names, diagnostics equal to statjax's, netCDF."""

import arviz as az
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import statjax
from statjax.diagnostics import effective_sample_size, potential_scale_reduction
from statjax.export import record, to_inference_data
from statjax.samplers import positions_by_temperature, replica_exchange

# Both sides compute Vehtari et al. (2021) from the same draws; statjax in float32,
# ArviZ in float64: they differ by rounding only.
RTOL = 1e-4


def _energy(x):
    return 0.5 * jnp.sum(x**2 / jnp.array([1.0, 4.0]))


@pytest.fixture(scope="module")
def mala_trace():
    kernel = statjax.mala(_energy, 0.8)
    _, trace = statjax.run_chains(kernel, jax.random.key(0), jnp.zeros((4, 2)), 300, observe=record)
    return trace


@pytest.fixture(scope="module")
def tempering_trace():
    ladder = jnp.array([0.25, 0.5, 1.0])
    kernel = replica_exchange(statjax.mala(_energy, 0.8), ladder)
    _, trace = statjax.run_chains(
        kernel,
        jax.random.key(1),
        jnp.zeros((4, 3, 2)),
        300,
        observe=lambda state: positions_by_temperature(state),
    )
    return ladder, trace


def test_record_keeps_position_and_sample_stats(mala_trace):
    idata = to_inference_data(mala_trace)
    assert dict(idata.posterior.sizes) == {"chain": 4, "draw": 300, "x_dim_0": 2}
    stats = idata.sample_stats
    assert {"acceptance_rate", "is_accepted", "energy"} <= set(stats.data_vars)
    # (draw, chain) became (chain, draw): chain 1's third draw is where it was.
    np.testing.assert_array_equal(
        idata.posterior["x"].values[1, 2], np.asarray(mala_trace["posterior"][2, 1])
    )
    np.testing.assert_array_equal(
        stats["energy"].values.T, np.asarray(mala_trace["sample_stats"]["energy"])
    )


def test_diagnostics_equal_statjax(mala_trace):
    idata = to_inference_data(mala_trace)
    draws = mala_trace["posterior"]
    np.testing.assert_allclose(
        az.rhat(idata)["x"].values, potential_scale_reduction(draws), rtol=RTOL
    )
    np.testing.assert_allclose(
        az.ess(idata, method="bulk")["x"].values, effective_sample_size(draws, "bulk"), rtol=RTOL
    )
    np.testing.assert_allclose(
        az.ess(idata, method="tail")["x"].values, effective_sample_size(draws, "tail"), rtol=RTOL
    )


def test_replica_exchange_by_temperature(tempering_trace):
    ladder, trace = tempering_trace
    idata = to_inference_data(trace, temperature_axis=0, betas=ladder)
    assert idata.posterior["x"].dims == ("chain", "draw", "beta", "x_dim_1")
    np.testing.assert_array_equal(idata.posterior["beta"].values, np.asarray(ladder))
    # One R-hat per temperature: the slots are never pooled.
    for slot in range(3):
        np.testing.assert_allclose(
            az.rhat(idata)["x"].values[slot],
            potential_scale_reduction(trace[:, :, slot]),
            rtol=RTOL,
        )


def test_netcdf_round_trip(mala_trace, tmp_path):
    idata = to_inference_data(mala_trace, attrs={"kernel": "mala"})
    path = tmp_path / "trace.nc"
    idata.to_netcdf(str(path))
    loaded = az.from_netcdf(str(path))
    for group in ("posterior", "sample_stats"):
        for name, variable in getattr(idata, group).data_vars.items():
            np.testing.assert_array_equal(getattr(loaded, group)[name].values, variable.values)
    assert loaded.posterior.attrs["kernel"] == "mala"


def test_pytree_trace_names_variables_by_path():
    trace = {"w": np.zeros((5, 2, 3)), "b": np.ones((5, 2))}
    idata = to_inference_data(trace, sample_stats={"lp": np.zeros((5, 2))}, warmup=trace)
    assert set(idata.posterior.data_vars) == {"w", "b"}
    assert idata.warmup_posterior["w"].shape == (2, 5, 3)
    assert idata.posterior["w"].shape == (2, 5, 3)
    assert "lp" in idata.sample_stats


def test_bad_input_named():
    with pytest.raises(ValueError, match=r"\(num_draws, num_chains"):
        to_inference_data(np.zeros(10))
    with pytest.raises(ValueError, match="temperature_axis"):
        to_inference_data(np.zeros((5, 2, 3)), betas=np.ones(3))
    with pytest.raises(ValueError, match="one entry per temperature"):
        to_inference_data(np.zeros((5, 2, 3)), temperature_axis=0, betas=np.ones(4))
    with pytest.raises(ValueError, match="not an event axis"):
        to_inference_data(np.zeros((5, 2)), temperature_axis=0)
