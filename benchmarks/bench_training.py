"""A whole small training step: a two-layer MLP on scikit-learn's bundled 8x8 digits (batch 64, 10
classes) trained with Adam, the loss being ``jl.cross_entropy`` (jaxloss column) or optax's
``softmax_cross_entropy_with_integer_labels`` (optax column), and the same model, loss and optimiser
in torch. Everything but the loss is the same program, so the ratio is what the loss adds to a step
at the batch sizes most training runs use. Each timed sample runs ``CALLS`` steps, cycling through the
training batches and carrying the parameters and optimiser state from step to step.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax
import torch
import torch.nn.functional as F
from sklearn.datasets import load_digits

import jaxloss as jl
from benchmarks._harness import BenchCase

BATCH, HIDDEN, CALLS = 64, 128, 200


def _batches() -> list[tuple[np.ndarray, np.ndarray]]:
    digits = load_digits()
    x = (digits.data / 16.0).astype(np.float32)
    y = digits.target.astype(np.int32)
    n = len(x) // BATCH * BATCH
    return [(x[i : i + BATCH], y[i : i + BATCH]) for i in range(0, n, BATCH)]


def _init(seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {
        "w1": (rng.standard_normal((64, HIDDEN)) / 8).astype(np.float32),
        "b1": np.zeros(HIDDEN, np.float32),
        "w2": (rng.standard_normal((HIDDEN, 10)) / np.sqrt(HIDDEN)).astype(np.float32),
        "b2": np.zeros(10, np.float32),
    }


def _jax_trainer(loss_fn: Callable[[jax.Array, jax.Array], jax.Array]) -> Callable[[], Any]:
    optimizer = optax.adam(1e-3)

    @jax.jit
    def step(params: Any, opt_state: Any, x: jax.Array, y: jax.Array) -> tuple[Any, Any, jax.Array]:
        def objective(p: Any) -> jax.Array:
            logits = jax.nn.relu(x @ p["w1"] + p["b1"]) @ p["w2"] + p["b2"]
            return loss_fn(logits, y)

        value, grads = jax.value_and_grad(objective)(params)
        updates, opt_state = optimizer.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state, value

    batches = [(jnp.asarray(x), jnp.asarray(y)) for x, y in _batches()]
    params = jax.tree.map(jnp.asarray, _init())
    state = {"params": params, "opt": optimizer.init(params), "i": 0}

    def run() -> jax.Array:
        x, y = batches[state["i"] % len(batches)]
        state["params"], state["opt"], value = step(state["params"], state["opt"], x, y)
        state["i"] += 1
        return value

    return run


def _torch_trainer() -> Callable[[], torch.Tensor]:
    init = _init()
    model = torch.nn.Sequential(torch.nn.Linear(64, HIDDEN), torch.nn.ReLU(), torch.nn.Linear(HIDDEN, 10))
    with torch.no_grad():  # the same initial weights (torch's Linear stores (out, in))
        for layer, w, b in ((model[0], "w1", "b1"), (model[2], "w2", "b2")):
            layer.weight.copy_(torch.from_numpy(init[w].T))
            layer.bias.copy_(torch.from_numpy(init[b]))
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    batches = [(torch.from_numpy(x), torch.from_numpy(y.astype(np.int64))) for x, y in _batches()]
    state = {"i": 0}

    def run() -> torch.Tensor:
        x, y = batches[state["i"] % len(batches)]
        optimizer.zero_grad(set_to_none=True)
        value = F.cross_entropy(model(x), y)
        value.backward()
        optimizer.step()
        state["i"] += 1
        return value.detach()

    return run


def cases(quick: bool) -> list[BenchCase]:
    return [
        BenchCase(
            name=f"training step: MLP 64-{HIDDEN}-10 on digits, batch {BATCH}, Adam",
            jaxloss=_jax_trainer(jl.cross_entropy),
            optax=_jax_trainer(lambda z, y: jnp.mean(optax.softmax_cross_entropy_with_integer_labels(z, y))),
            torch=_torch_trainer(),
            calls=20 if quick else CALLS,
        )
    ]
