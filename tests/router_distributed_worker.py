"""The router losses on 8 simulated devices, run by ``tests/test_robust_and_router.py`` in a child process.

Run as ``XLA_FLAGS=--xla_force_host_platform_device_count=8 python tests/router_distributed_worker.py OUT.json``.
Each check shards a batch of router logits over the 8 devices of a ``("data",)`` mesh inside
``jax.shard_map``, with ``axis_name="data"``, and compares the value and the gradient with the loss
of the whole batch on one device. The token masks are uneven (one device holds only padding), so a
per-device loss averaged over devices differs from the global one; each check also records that
difference (``local_differs``: the ``pmean`` of per-device means, the ``psum`` of per-device sums,
each with its device's own expert statistics), so that the parent knows the comparison could fail. Writes
``{check: {"value": [sharded, one device], "grad_error": max |difference|, "grad_finite": bool,
"grad_norm": of the one-device gradient, "local_differs": bool}}``.
"""

from __future__ import annotations

import json
import sys
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import PartitionSpec as P

import jaxloss as jl

B, S, E = 16, 5, 6  # sequences (2 per device), tokens per sequence, experts


def _inputs() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    logits = rng.standard_normal((B, S, E)).astype(np.float32) * 2
    mask = rng.random((B, S)) < 0.6
    mask[:2] = False  # device 0 holds only padding
    mask[2:4] = True  # device 1 holds none
    logits[~mask] = np.nan  # padding holds garbage: it must stay inert
    return logits, mask


CASES: dict[str, Any] = {
    "load_balancing_loss": lambda x, m, **kw: jl.load_balancing_loss(x, top_k=2, where=m, **kw),
    "load_balancing_loss/sum": lambda x, m, **kw: jl.load_balancing_loss(x, top_k=1, where=m, reduction="sum", **kw),
    "router_z_loss": lambda x, m, **kw: jl.router_z_loss(x, where=m, **kw),
    "sequence_balance_loss": lambda x, m, **kw: jl.sequence_balance_loss(x, top_k=2, token_mask=m, **kw),
    # without a mask (a replicated all-True one inside; equal shards, so only the balance loss's
    # expert statistics can tell global from per-device): the padding's NaN logits replaced by 0
    "load_balancing_loss/no_mask": lambda x, m, **kw: jl.load_balancing_loss(jnp.nan_to_num(x), top_k=2, **kw),
}


def main(out: str) -> None:
    assert jax.device_count() == 8, jax.devices()
    mesh = jax.sharding.Mesh(np.array(jax.devices()), ("data",))
    logits, mask = _inputs()
    results = {}
    for name, fn in CASES.items():
        def sharded(x, m, fn=fn):  # type: ignore[no-untyped-def]
            return jax.shard_map(lambda a, b: fn(a, b, axis_name="data"), mesh=mesh,
                                 in_specs=(P("data"), P("data")), out_specs=P())(x, m)

        combine = jax.lax.psum if name.endswith("/sum") else jax.lax.pmean

        def per_device(x, m, fn=fn, combine=combine):  # type: ignore[no-untyped-def]
            return jax.shard_map(lambda a, b: combine(fn(a, b), "data"), mesh=mesh,
                                 in_specs=(P("data"), P("data")), out_specs=P())(x, m)

        value, grad = jax.jit(jax.value_and_grad(sharded))(logits, mask)
        one_value, one_grad = jax.jit(jax.value_and_grad(lambda x, m, fn=fn: fn(x, m)))(logits, mask)
        local = jax.jit(per_device)(logits, mask)
        results[name] = {
            "value": [float(value), float(one_value)],
            "grad_error": float(np.max(np.abs(np.asarray(grad) - np.asarray(one_grad)))),
            "grad_finite": bool(np.all(np.isfinite(np.asarray(grad)))),
            "grad_norm": float(np.linalg.norm(np.asarray(one_grad))),
            "local_differs": bool(abs(float(local) - float(one_value)) > 1e-3 * abs(float(one_value))),
        }
    with open(out, "w") as f:
        json.dump(results, f)


if __name__ == "__main__":
    main(sys.argv[1])
