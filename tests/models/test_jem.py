"""JEM: its energy is -logsumexp of the logits; its classifier part is a softmax classifier's."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from jax.tree_util import Partial

from statjax.models import jem as jem_module
from statjax.models.jem import JEMClassifier, JEMSettings, init_training, jem, train_jem
from statjax.samplers import du_mordatch_langevin


@pytest.fixture(scope="module")
def setup():
    model = jem(JEMClassifier(hidden_sizes=(8,), num_classes=3))
    # One compiled init (eager, Flax would compile each small op); data from numpy.
    params = jax.jit(model.module.init)(jax.random.key(0), jnp.zeros(4))["params"]
    rng = np.random.default_rng(1)
    x = rng.uniform(-1, 1, (32, 4)).astype(np.float32)
    labels = rng.integers(0, 3, 32).astype(np.int32)
    return model, params, x, labels


def test_energy_is_minus_logsumexp_of_the_logits(setup):
    model, params, x, _ = setup
    logits = np.asarray(model.logits(params, x), np.float64)
    expected = -np.log(np.sum(np.exp(logits), -1))
    np.testing.assert_allclose(np.asarray(model(params, x)), expected, rtol=1e-5)
    np.testing.assert_allclose(
        np.asarray(model.class_probabilities(params, x)),
        np.exp(logits) / np.exp(logits).sum(-1, keepdims=True),
        rtol=1e-5,
    )


def test_without_the_generative_term_a_step_is_a_softmax_classifiers(setup):
    """generative_weight = 0: the same parameters as optax on the softmax cross-entropy."""
    model, params, x, labels = setup
    optimizer = optax.sgd(0.1)
    sampler = Partial(du_mordatch_langevin, step_size=1.0, noise_scale=0.01)
    state = init_training(jax.random.key(3), params, optimizer, buffer_size=64, event_shape=(4,))
    settings = JEMSettings(generative_weight=0.0, num_sampling_steps=2)
    new_state, metrics = jax.jit(
        lambda state: jem_module.jem_training_step(
            state, x, labels, model=model, sampler=sampler, optimizer=optimizer, settings=settings
        )
    )(state)

    def cross_entropy(params):
        logits = model.module.apply({"params": params}, x)
        return jnp.mean(optax.softmax_cross_entropy_with_integer_labels(logits, labels))

    @jax.jit  # the plain classifier's SGD step, in one program
    def plain_step(params):
        grads = jax.grad(cross_entropy)(params)
        updates = optimizer.update(grads, optimizer.init(params))[0]
        return optax.apply_updates(params, updates), cross_entropy(params)

    expected, expected_loss = plain_step(params)
    leaves = jax.tree_util.tree_leaves
    for a, b in zip(leaves(new_state.params), leaves(expected), strict=True):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(float(metrics.cross_entropy), float(expected_loss), rtol=1e-6)


def test_training_checks_its_arguments(setup):
    model, params, x, labels = setup
    optimizer = optax.sgd(0.1)
    state = init_training(jax.random.key(3), params, optimizer, buffer_size=8, event_shape=(4,))
    sampler = Partial(du_mordatch_langevin, step_size=1.0, noise_scale=0.01)
    with pytest.raises(ValueError, match="replay buffer"):
        train_jem(state, x, labels, model=model, sampler=sampler, optimizer=optimizer,
                  num_steps=1, batch_size=16)  # fmt: skip
    with pytest.raises(ValueError, match="rows"):
        train_jem(state, x, labels[:5], model=model, sampler=sampler, optimizer=optimizer,
                  num_steps=1, batch_size=4)  # fmt: skip
