"""statjax vs scikit-learn's BernoulliRBM: PCD-1 on binarised digits, same work, same process.

Data: scikit-learn's 8x8 digits binarised at half intensity (``X / 16 > 0.5``),
a fixed split (``train_test_split(..., test_size=297, random_state=0)``: 1500
train, 297 test; 1500 is a multiple of the default batch sizes, so neither side
drops or pads a batch). Both train a Bernoulli-Bernoulli RBM by PCD-1 with the
same hidden units, batch size, learning rate (plain SGD on the batch-mean
gradient, no momentum, no weight decay: what ``BernoulliRBM`` does) and epochs,
weights ``N(0, 0.01^2)``, zero biases.

What is timed (best of --repeats, interleaved, each side run once first):
- sklearn: ``BernoulliRBM(...).fit(X_train)`` (initialisation is negligible; no
  per-epoch scoring, ``verbose=0``).
- statjax: ``train_rbm(..., persistent=True)`` with ``optax.sgd(lr)``, blocking on
  the final parameters; the first (compiling) call is the warm-up. It reshuffles
  the data every epoch, sklearn does not.
Throughput = training examples processed per second (epochs x 1500); ratio =
statjax / sklearn (> 1: statjax faster).

Log-likelihood: both final models are evaluated by statjax on the test set
(sklearn's ``components_.T``, ``intercept_visible_``, ``intercept_hidden_`` loaded
into an ``RBMParams``): exact ``log Z`` when the hidden layer is enumerable
(<= 25 units), else AIS from the base-rate RBM of the training data
(``ais_betas(--ais-scale)``, --ais-chains chains; the column shows the largest
AIS standard error). Plain SGD at batch 10 leaves the final iterate noisy (about
+-1.5 nats between seeds at 16 hidden), so each side trains --ll-seeds models
(seeds 0, 1, ...; untimed) and the table gives mean +- sd over them.

Many RBMs at once: one jitted ``vmap`` over --num-lrs learning rates of a full
PCD-1 training (``init_training`` + ``training_step`` scanned over batches and
epochs, the rate a traced leaf of ``statjax.optim.tunable(optax.sgd, ...)``),
against the same jitted single training called once per rate, and against 8 x
sklearn's time.

    python benchmarks/bench_rbm_sklearn.py
    python benchmarks/bench_rbm_sklearn.py --hidden 256 --epochs 50 --repeats 5
"""

import argparse
import platform
import time
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
import optax
import sklearn
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from sklearn.neural_network import BernoulliRBM

from statjax.models import rbm
from statjax.optim import tunable
from timing import best_times


def load_data():
    digits = load_digits()
    data = (digits.data / 16.0 > 0.5).astype(np.float32)
    train, test = train_test_split(data, test_size=297, random_state=0)
    return train, test


def sklearn_runner(num_hidden, args, seed=0):
    def run(train):
        model = BernoulliRBM(
            n_components=num_hidden,
            learning_rate=args.lr,
            batch_size=args.batch_size,
            n_iter=args.epochs,
            random_state=seed,
        )
        return model.fit(train)

    return run


def statjax_runner(num_hidden, args, seed=0):
    optimizer = optax.sgd(args.lr)

    def run(train):
        params = rbm.init_rbm(jax.random.key(1000 + seed), train.shape[1], num_hidden)
        state, _ = rbm.train_rbm(
            jax.random.key(seed), params, train, optimizer,
            num_epochs=args.epochs, batch_size=args.batch_size, persistent=True,
        )  # fmt: skip
        return state.params

    return run


@partial(jax.jit, static_argnames=("num_hidden", "num_epochs", "batch_size"))
def fit_pcd1(key, data, learning_rate, *, num_hidden, num_epochs, batch_size):
    """A whole PCD-1 training with plain SGD at ``learning_rate`` (traced), one jitted call.

    The optimizer is ``statjax.optim.tunable(optax.sgd, ...)``, whose rate is a
    traced leaf (so it can be vmapped); keys follow ``train_rbm``'s rule (one
    Gibbs key, the epoch's permutation from ``fold_in(data_key, epoch)``).
    """
    key_init, key_chains, key_data, key_gibbs = jax.random.split(key, 4)
    params = rbm.init_rbm(key_init, data.shape[1], num_hidden)
    chains = data[jax.random.choice(key_chains, data.shape[0], (batch_size,))]
    optimizer = tunable(optax.sgd, learning_rate=learning_rate)
    state = rbm.init_training(params, optimizer, chains)
    num_batches = data.shape[0] // batch_size

    def epoch(state, index):
        order = jax.random.permutation(jax.random.fold_in(key_data, index), data.shape[0])
        batches = data[order[: num_batches * batch_size]].reshape(num_batches, batch_size, -1)

        def step(state, batch):
            return rbm.training_step(state, key_gibbs, batch, optimizer)[0], None

        return jax.lax.scan(step, state, batches)[0], None

    state, _ = jax.lax.scan(epoch, state, jnp.arange(num_epochs))
    return state.params


def sequential_runner(single):
    def run(key, data, rates):
        return [single(key, data, rate) for rate in rates]

    return run


def vmapped_runner(many):
    def run(key, data, rates):
        return many(key, data, rates)

    return run


def test_log_likelihood(params, train, test, args):
    num_hidden = params.weights.shape[1]
    if num_hidden <= rbm.MAX_ENUMERATED_UNITS:
        return float(rbm.log_likelihood(params, test)), 0.0
    result = rbm.ais_log_z(
        jax.random.key(3), params, rbm.base_rate_visible_bias(train),
        betas=rbm.ais_betas(args.ais_scale), num_chains=args.ais_chains,
    )  # fmt: skip
    value = float(rbm.log_likelihood(params, test, result.log_z))
    return value, float(result.standard_error)


def summary(values):
    """``mean +- sd`` over seeds."""
    values = np.asarray(values)
    spread = values.std(ddof=1) if values.size > 1 else 0.0
    return f"{values.mean():.2f} +- {spread:.2f}"


def from_sklearn(model):
    return rbm.RBMParams(
        jnp.asarray(model.components_.T, jnp.float32),
        jnp.asarray(model.intercept_visible_, jnp.float32),
        jnp.asarray(model.intercept_hidden_, jnp.float32),
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hidden", type=int, nargs="+", default=[16, 64, 256])
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--batch-size", type=int, default=10)
    parser.add_argument("--lr", type=float, default=0.1)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--ais-scale", type=float, default=0.2, help="ais_betas(scale)")
    parser.add_argument("--ais-chains", type=int, default=100)
    parser.add_argument("--ll-seeds", type=int, default=3, help="models per side for the LL")
    parser.add_argument("--num-lrs", type=int, default=8, help="rates vmapped at once")
    parser.add_argument("--vmap-hidden", type=int, nargs="*", default=None)
    args = parser.parse_args()

    train, test = load_data()
    train_jax, test_jax = jnp.asarray(train), jnp.asarray(test)
    work = args.epochs * (train.shape[0] // args.batch_size) * args.batch_size
    print(
        f"# {platform.processor() or platform.machine()}, {jax.devices()[0].device_kind}, "
        f"jax {jax.__version__}, sklearn {sklearn.__version__}; digits > 0.5, "
        f"{train.shape[0]} train / {test.shape[0]} test, PCD-1, batch {args.batch_size}, "
        f"lr {args.lr}, {args.epochs} epochs, best of {args.repeats}"
    )
    print(
        f"{'hidden':>6} {'sklearn ex/s':>13} {'statjax ex/s':>13} {'ratio':>6} "
        f"{'sklearn test LL':>16} {'statjax test LL':>16} {'log Z':>10}"
    )
    sklearn_times = {}
    for num_hidden in args.hidden:
        peer_time, our_time = best_times(
            [sklearn_runner(num_hidden, args), statjax_runner(num_hidden, args)],
            train,
            repeats=args.repeats,
        )
        sklearn_times[num_hidden] = peer_time
        # Test log-likelihood of freshly trained models (untimed), one per seed.
        peer_lls, our_lls, errors = [], [], []
        for seed in range(args.ll_seeds):
            peer_params = from_sklearn(sklearn_runner(num_hidden, args, seed)(train))
            our_params = statjax_runner(num_hidden, args, seed)(train_jax)
            for params, lls in ((peer_params, peer_lls), (our_params, our_lls)):
                value, error = test_log_likelihood(params, train_jax, test_jax, args)
                lls.append(value)
                errors.append(error)
        method = "exact" if max(errors) == 0 else f"AIS<={max(errors):.2f}"
        peer_ll, our_ll = summary(peer_lls), summary(our_lls)
        peer, ours = work / peer_time, work / our_time
        print(
            f"{num_hidden:6d} {peer:13.4g} {ours:13.4g} {ours / peer:6.2f} "
            f"{peer_ll:>16} {our_ll:>16} {method:>10}",
            flush=True,
        )

    rates = jnp.linspace(0.025, 0.2, args.num_lrs)
    print(
        f"\n# many RBMs at once: {args.num_lrs} learning rates {np.asarray(rates).round(3)}, "
        f"PCD-1, {args.epochs} epochs each; total examples/s "
        f"(sklearn x{args.num_lrs} = {args.num_lrs} x its single-run time above)"
    )
    print(
        f"{'hidden':>6} {'sklearn x' + str(args.num_lrs):>13} {'sequential':>13} "
        f"{'vmap':>13} {'vmap/seq':>9} {'vmap/sk':>8}"
    )
    for num_hidden in args.vmap_hidden if args.vmap_hidden is not None else args.hidden:
        config = dict(num_hidden=num_hidden, num_epochs=args.epochs, batch_size=args.batch_size)
        single = partial(fit_pcd1, **config)
        many = jax.jit(jax.vmap(single, in_axes=(None, None, 0)))
        runners = [sequential_runner(single), vmapped_runner(many)]
        seq_time, vmap_time = best_times(
            runners, jax.random.key(4), train_jax, rates, repeats=args.repeats
        )
        total = args.num_lrs * work
        if num_hidden not in sklearn_times:
            start = time.perf_counter()
            sklearn_runner(num_hidden, args)(train)
            sklearn_times[num_hidden] = time.perf_counter() - start
        peer = total / (args.num_lrs * sklearn_times[num_hidden])
        seq, vm = total / seq_time, total / vmap_time
        print(
            f"{num_hidden:6d} {peer:13.4g} {seq:13.4g} {vm:13.4g} {vm / seq:9.2f} {vm / peer:8.2f}",
            flush=True,
        )


if __name__ == "__main__":
    main()
