"""Double descent of random-features regression, and its removal by the optimal ridge.

A linear teacher ``y = <beta, x> + noise`` with ``x ~ N(0, I_d)``, ``|beta| = 1``
and noise standard deviation ``noise_std`` is fitted by ReLU random features
``f(x) = sum_j a_j relu(<w_j, x> / sqrt(d))`` (Rahimi & Recht 2007), ``w_j ~ N(0, I_d)``
fixed, on ``num_train`` points, for ``p = ratio * num_train`` features at every
``ratio`` of ``feature_ratios``. The second layer ``a`` is fitted

- by minimum-norm least squares (the pseudo-inverse, ridge ``lambda -> 0``), whose
  test error peaks at the interpolation threshold ``p = n`` (Belkin et al. 2019;
  Mei & Montanari 2019): the square feature matrix there has a vanishing smallest
  singular value;
- by ridge regression, ``min (1/n)|y - Phi a|^2 + lambda |a|^2``, with ``lambda``
  chosen per draw on a validation set from a log-spaced grid (``ridge_tuned``),
  and with the ``lambda`` of least mean test error per ``p`` (``ridge_oracle``, the
  "optimal" ridge of Nakkiran, Venkat, Kakade & Ma 2021). Optimally tuned ridge
  removes the peak.

Every point is averaged over ``num_seeds`` independent draws of data, noise and
feature weights (the teacher is fixed by ``seed``); within a draw the features are
nested, ``p`` features being the first ``p`` of the largest set, so the curves of
one draw differ only by ``p`` (common random numbers). Error bars are standard
errors of the mean over draws; at ``p = n`` the min-norm error has heavy tails
(``E 1/s_min^2`` diverges for a square Gaussian matrix), so there the error bar is
only indicative. Test error is the mean squared error on ``num_test`` fresh points
(the noise floor is ``noise_std^2``).

The summary reports where each curve peaks, whether the min-norm peak sits at the
interpolation threshold within one grid step, and the peak-to-neighbour ratio
``err(p = n) / mean(err at the two neighbouring ratios)`` with and without ridge.
Writes ``double_descent.png`` (test error against ``p / n``; train error in a
second panel). A checkpoint is taken after every ``checkpoint_every`` feature
counts (the unit); a resumed run gives the same summary.

Example:
    $ statjax run configs/double_descent.yaml
"""

import dataclasses
import functools

import jax
import jax.numpy as jnp
import numpy as np
from matplotlib.figure import Figure

from statjax.config import ConfigError, ExperimentConfig, setting
from statjax.models import random_features as rf
from statjax.runs import Run


@dataclasses.dataclass(frozen=True, kw_only=True)
class Config(ExperimentConfig):
    """Settings of the double-descent experiment; ``checkpoint_every`` counts feature ratios."""

    input_dim: int = setting(20, ge=1, help="input dimension d")
    num_train: int = setting(100, ge=2, help="training points n")
    num_validation: int = setting(200, ge=1, help="points that tune ridge_tuned's lambda")
    num_test: int = setting(1000, ge=1, help="fresh points of the test error")
    noise_std: float = setting(0.5, ge=0, help="label-noise standard deviation")
    feature_ratios: tuple[float, ...] = setting(
        gt=0, min_length=3, help="p / n values, increasing, including 1.0 (p = n)"
    )
    num_seeds: int = setting(20, ge=2, help="independent draws averaged per point")
    ridge_min: float = setting(1e-6, gt=0, help="smallest lambda of the ridge grid")
    ridge_max: float = setting(10.0, gt=0, help="largest lambda of the ridge grid")
    num_ridges: int = setting(29, ge=2, help="log-spaced lambdas in the grid")

    def validate(self) -> None:
        """Ratios increase, include the threshold 1.0 between two others; the grid is ordered."""
        ratios = list(self.feature_ratios)
        if ratios != sorted(set(ratios)):
            raise ConfigError("feature_ratios", ratios, "strictly increasing p / n values")
        if 1.0 not in ratios or ratios[0] == 1.0 or ratios[-1] == 1.0:
            raise ConfigError(
                "feature_ratios", ratios, "a grid containing 1.0 (p = n) with a value each side"
            )
        counts = [round(ratio * self.num_train) for ratio in ratios]
        if min(counts) < 1 or len(set(counts)) != len(counts):
            raise ConfigError(
                "feature_ratios", ratios, f"distinct feature counts p >= 1 (got p = {counts})"
            )
        if self.ridge_max <= self.ridge_min:
            raise ConfigError("ridge_max", self.ridge_max, f"> ridge_min ({self.ridge_min})")


# One compiled program per feature count p (the SVD's shape); draws and the ridge
# grid are batched and traced, so a new noise level or grid does not recompile.
@functools.partial(jax.jit, static_argnames=("num_features", "sizes"))
def _errors(inputs, targets, weights, ridges, *, num_features: int, sizes: tuple[int, int]):
    """Train, validation and test MSE per draw and ridge ``(num_seeds, 1 + num_ridges)``.

    ``inputs (S, N, d)``, ``targets (S, N)``, ``weights (S, p_max, d)``: the first
    ``num_features`` rows of each draw's weights are its features (nested in p).
    """
    num_train, num_validation = sizes
    all_ridges = jnp.concatenate([jnp.zeros(1), ridges])  # lambda = 0: min-norm

    def one_draw(inputs, targets, weights):
        features = rf.random_features(inputs, weights[:num_features])
        coefficients = rf.ridge_regression(features[:num_train], targets[:num_train], all_ridges)
        squared = (features @ coefficients.T - targets[:, None]) ** 2  # (points, ridges)
        validation_end = num_train + num_validation
        return (
            squared[:num_train].mean(0),
            squared[num_train:validation_end].mean(0),
            squared[validation_end:].mean(0),
        )

    return jax.vmap(one_draw)(inputs, targets, weights)


def _draws(config: Config, num_features_max: int):
    """The teacher and every draw's inputs, targets and feature weights (float32)."""
    key_teacher, key_x, key_noise, key_w = jax.random.split(jax.random.key(config.seed), 4)
    teacher = jax.random.normal(key_teacher, (config.input_dim,))
    teacher = teacher / jnp.linalg.norm(teacher)  # |beta| = 1: signal variance 1
    num_points = config.num_train + config.num_validation + config.num_test
    # Drawn once, outside the per-p programs: a generator inside vmap costs far more
    # to compile than the regression itself.
    inputs = jax.random.normal(key_x, (config.num_seeds, num_points, config.input_dim))
    noise = config.noise_std * jax.random.normal(key_noise, (config.num_seeds, num_points))
    weights = jax.random.normal(key_w, (config.num_seeds, num_features_max, config.input_dim))
    return inputs, inputs @ teacher + noise, weights


def _mean_and_error(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean over draws (axis 0) and its standard error."""
    return values.mean(0), values.std(0, ddof=1) / np.sqrt(values.shape[0])


def _peak(curve: np.ndarray, threshold_index: int) -> dict:
    """Where ``curve`` peaks, and ``curve[threshold] / mean(curve at its two neighbours)``."""
    index = int(np.argmax(curve))
    neighbours = 0.5 * (curve[threshold_index - 1] + curve[threshold_index + 1])
    return {
        "peak_index": index,
        "peak_at_threshold_within_one_step": abs(index - threshold_index) <= 1,
        "peak_to_neighbour_ratio": float(curve[threshold_index] / neighbours),
    }


def run(config: Config, run: Run) -> dict:
    """Sweep ``p / n``; min-norm and ridge test errors averaged over draws; plot; summarise."""
    ratios = np.asarray(config.feature_ratios)
    counts = [round(ratio * config.num_train) for ratio in ratios]
    threshold_index = int(np.flatnonzero(ratios == 1.0)[0])
    inputs, targets, weights = _draws(config, max(counts))
    ridges = jnp.geomspace(config.ridge_min, config.ridge_max, config.num_ridges)
    sizes = (config.num_train, config.num_validation)
    names = ("min_norm", "ridge_tuned", "ridge_oracle")
    num_ratios = len(counts)
    initial = {name: np.zeros(num_ratios, np.float64) for name in names}
    initial |= {f"{name}_stderr": np.zeros(num_ratios, np.float64) for name in names}
    initial |= {
        "train_min_norm": np.zeros(num_ratios, np.float64),
        "oracle_ridge": np.zeros(num_ratios, np.float64),
    }

    def advance(state, chunk):
        state = {name: np.array(value) for name, value in state.items()}
        index = chunk.start  # one feature count per chunk (log_every=1)
        num_features = counts[index]
        train, validation, test = (
            np.asarray(a, np.float64)
            for a in _errors(
                inputs, targets, weights, ridges, num_features=num_features, sizes=sizes
            )
        )
        tuned = np.argmin(validation[:, 1:], axis=1) + 1  # per draw, on validation data
        oracle = int(np.argmin(test[:, 1:].mean(0))) + 1  # per p, on the test error
        per_draw = {
            "min_norm": test[:, 0],
            "ridge_tuned": test[np.arange(len(tuned)), tuned],
            "ridge_oracle": test[:, oracle],
        }
        for name, values in per_draw.items():
            state[name][index], state[f"{name}_stderr"][index] = _mean_and_error(values)
        state["train_min_norm"][index] = _mean_and_error(train[:, 0])[0]
        state["oracle_ridge"][index] = float(ridges[oracle - 1])
        return state, {
            "feature_ratio": float(ratios[index]), "num_features": num_features,
            **{f"test_error_{name}": float(state[name][index]) for name in names},
            **{f"test_error_{name}_stderr": float(state[f"{name}_stderr"][index])
               for name in names},
            "train_error_min_norm": float(state["train_min_norm"][index]),
            "oracle_ridge": float(state["oracle_ridge"][index]),
        }  # fmt: skip

    state = run.loop(initial, advance, num_ratios, log_every=1, desc="p / n")
    curves = {name: np.asarray(state[name], np.float64) for name in names}
    errors_of = {name: np.asarray(state[f"{name}_stderr"], np.float64) for name in names}
    train_min_norm = np.asarray(state["train_min_norm"], np.float64)
    oracle_ridges = np.asarray(state["oracle_ridge"], np.float64).tolist()
    run.save_figure(
        _figure(config, ratios, curves, errors_of, np.asarray(train_min_norm)),
        "double_descent.png",
    )
    peaks = {name: _peak(curve, threshold_index) for name, curve in curves.items()}
    for entry in peaks.values():
        entry["peak_ratio"] = float(ratios[entry.pop("peak_index")])
    return {
        "experiment": "double descent of ReLU random-features regression; ridge removes the peak",
        "num_train": config.num_train,
        "interpolation_threshold_ratio": 1.0,
        "feature_ratios": ratios.tolist(),
        "num_features": counts,
        "noise_floor": config.noise_std**2,
        "test_error": {name: curve.tolist() for name, curve in curves.items()},
        "test_error_stderr": {name: error.tolist() for name, error in errors_of.items()},
        "train_error_min_norm": np.asarray(train_min_norm).tolist(),
        "oracle_ridge": oracle_ridges,
        "peaks": peaks,
        "min_norm_peak_at_threshold": peaks["min_norm"]["peak_at_threshold_within_one_step"],
        "ridge_removes_peak": bool(
            peaks["ridge_tuned"]["peak_to_neighbour_ratio"] < 1.0
            and peaks["ridge_oracle"]["peak_to_neighbour_ratio"] < 1.0
        ),
    }


def _figure(config, ratios, curves, errors_of, train_min_norm) -> Figure:
    figure = Figure(figsize=(10.0, 4.0), layout="constrained")
    test_ax, train_ax = figure.subplots(1, 2)
    labels = {
        "min_norm": "min-norm least squares (lambda -> 0)",
        "ridge_tuned": "ridge, lambda tuned on validation data",
        "ridge_oracle": "ridge, optimal lambda per p (oracle)",
    }
    styles = {"min_norm": "-", "ridge_tuned": "-", "ridge_oracle": "--"}
    for name, label in labels.items():
        test_ax.errorbar(
            ratios, curves[name], yerr=errors_of[name], marker="o", markersize=3, capsize=2,
            linestyle=styles[name], label=label,
        )  # fmt: skip
    for ax in (test_ax, train_ax):
        ax.axvline(
            1.0, color="k", linestyle=":", linewidth=1, label="interpolation threshold p = n"
        )
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("parameters per training point, p / n")
    test_ax.axhline(config.noise_std**2, color="gray", linewidth=1, label="noise floor")
    test_ax.set_ylabel("test mean squared error")
    test_ax.set_title(
        f"Double descent: ReLU random features, n = {config.num_train}, d = {config.input_dim}\n"
        f"mean over {config.num_seeds} draws, error bars: standard error",
        fontsize=9,
    )
    test_ax.legend(fontsize=7)
    train_ax.plot(ratios, np.maximum(train_min_norm, 1e-12), marker="o", markersize=3)
    train_ax.set_ylabel("train mean squared error (min-norm)")
    train_ax.set_title("Min-norm fit interpolates (train error -> 0) from p = n on", fontsize=9)
    return figure
