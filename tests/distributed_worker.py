"""One process of the two-process ``jax.distributed`` check (tests/test_parallel.py).

``python tests/distributed_worker.py single`` runs the reference on one process,
unsharded; ``python tests/distributed_worker.py PORT PROCESS_ID`` joins a
two-process run on localhost (each process has 2 forced CPU devices, 4 in all),
shards 8 chains over all 4 devices and runs the same ``run_chains``. Each prints
one JSON line: the final positions and trace, gathered to every host.
"""

import json
import sys

import jax
import jax.numpy as jnp
import numpy as np

import statjax
from statjax import parallel


def energy(x):
    return 0.5 * jnp.sum(x**2)


def observe(state):
    return state.energy


def main() -> None:
    distributed = sys.argv[1] != "single"
    if distributed:
        parallel.initialize(f"localhost:{sys.argv[1]}", 2, int(sys.argv[2]))
    kernel = statjax.samplers.mala(energy, 0.1)
    key = jax.random.key(7)
    # Same seed on every process: each keeps only its own shards.
    x = np.asarray(jax.random.normal(jax.random.key(8), (8, 2)))
    start = parallel.shard_chains(x, parallel.make_mesh()) if distributed else x
    final, trace = statjax.run_chains(kernel, key, start, 10, observe=observe)
    result = {
        "process_count": jax.process_count(),
        "device_count": jax.device_count(),
        "addressable": len(final.position.addressable_shards) if distributed else None,
        "sharded": parallel.is_sharded_by_chains(final) if distributed else None,
        "mean_energy": float(np.asarray(parallel.chain_mean(trace, axis=1)).mean()),
        "position": parallel.to_host(final.position).tolist(),
        "trace": parallel.to_host(trace).tolist(),
    }
    print(json.dumps(result))
    if distributed:
        jax.distributed.shutdown()


if __name__ == "__main__":
    main()
