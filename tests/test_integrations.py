"""jaxloss inside real training loops: Flax (NNX), Haiku and Equinox models, trained with optax under
``jax.jit``, ``jax.lax.scan`` and ``jax.vmap``.

Every framework is reduced to the same pure pair ``(params, apply)`` in the framework's own idiom
(``nnx.split``/``nnx.merge``, ``hk.transform``, ``eqx.partition``/``eqx.combine``), so the training
loops below are written once. The task is a token classifier on padded sequences: the padding is
left out of the loss with ``where=``, as a real sequence model would do.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import equinox as eqx
import haiku as hk
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx

import jaxloss as jl

BATCH, TIME, FEATURES, HIDDEN, CLASSES = 8, 6, 5, 16, 4


class Model(NamedTuple):
    params: Any
    apply: Callable[[Any, jax.Array], jax.Array]  # (params, x[..., FEATURES]) -> logits[..., CLASSES]


def flax_nnx(seed: int) -> Model:
    class MLP(nnx.Module):
        def __init__(self, rngs: nnx.Rngs):
            self.hidden = nnx.Linear(FEATURES, HIDDEN, rngs=rngs)
            self.out = nnx.Linear(HIDDEN, CLASSES, rngs=rngs)

        def __call__(self, x: jax.Array) -> jax.Array:
            return self.out(nnx.relu(self.hidden(x)))

    graphdef, state = nnx.split(MLP(nnx.Rngs(seed)))
    return Model(state, lambda state, x: nnx.merge(graphdef, state)(x))


def haiku(seed: int) -> Model:
    net = hk.without_apply_rng(hk.transform(lambda x: hk.nets.MLP([HIDDEN, CLASSES])(x)))
    return Model(net.init(jax.random.key(seed), jnp.zeros((1, FEATURES))), net.apply)


def equinox(seed: int) -> Model:
    mlp = eqx.nn.MLP(FEATURES, CLASSES, HIDDEN, depth=1, key=jax.random.key(seed))
    params, static = eqx.partition(mlp, eqx.is_array)

    def apply(params: Any, x: jax.Array) -> jax.Array:
        net = eqx.combine(params, static)
        flat = x.reshape(-1, FEATURES)
        return jax.vmap(net)(flat).reshape(*x.shape[:-1], CLASSES)

    return Model(params, apply)


FRAMEWORKS = {"flax_nnx": flax_nnx, "haiku": haiku, "equinox": equinox}

LOSSES: dict[str, Callable[..., jax.Array]] = {
    "cross_entropy": lambda logits, y, where: jl.cross_entropy(logits, y, label_smoothing=0.1, where=where),
    "softmax_focal_loss": lambda logits, y, where: jl.softmax_focal_loss(logits, y, gamma=2.0, where=where),
    "poly1_cross_entropy": lambda logits, y, where: jl.poly1_cross_entropy(logits, y, epsilon=1.0, where=where),
}


def padded_sequences(seed: int = 0) -> tuple[jax.Array, jax.Array, jax.Array]:
    """Tokens ``x (B, T, F)``, labels ``y (B, T)`` from a fixed linear teacher, and the mask of real
    tokens (sequences of lengths 2..T, padded with large noise and label 0)."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(BATCH, TIME, FEATURES)).astype(np.float32)
    y = (x @ rng.normal(size=(FEATURES, CLASSES))).argmax(-1)
    lengths = rng.integers(2, TIME + 1, size=BATCH)
    real = np.arange(TIME)[None, :] < lengths[:, None]
    x = np.where(real[..., None], x, 100 * rng.normal(size=x.shape)).astype(np.float32)
    return jnp.asarray(x), jnp.asarray(np.where(real, y, 0), jnp.int32), jnp.asarray(real)


X, Y, REAL = padded_sequences()
OPTIMIZER = optax.adam(3e-2)


def objective(model: Model, loss: str = "cross_entropy") -> Callable[[Any, jax.Array, jax.Array, jax.Array], jax.Array]:
    return lambda params, x, y, where: LOSSES[loss](model.apply(params, x), y, where)


def all_finite(tree: Any) -> bool:
    return all(bool(jnp.all(jnp.isfinite(leaf))) for leaf in jax.tree_util.tree_leaves(tree))


def make_step(model: Model, loss: str = "cross_entropy") -> Callable[..., Any]:
    value_and_grad = jax.value_and_grad(objective(model, loss))

    def step(params: Any, opt_state: Any) -> tuple[Any, Any, jax.Array, Any]:
        value, grads = value_and_grad(params, X, Y, REAL)
        updates, opt_state = OPTIMIZER.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state, value, grads

    return step


@pytest.mark.parametrize(
    "framework, loss",
    [("flax_nnx", "cross_entropy"), ("haiku", "softmax_focal_loss"), ("equinox", "poly1_cross_entropy")],
)
def test_jitted_training_steps_decrease_the_loss(framework, loss):
    model = FRAMEWORKS[framework](0)
    step = jax.jit(make_step(model, loss))
    params, opt_state = model.params, OPTIMIZER.init(model.params)
    values = []
    for _ in range(12):
        params, opt_state, value, grads = step(params, opt_state)
        assert all_finite(grads)
        values.append(float(value))
    assert np.all(np.isfinite(values))
    assert values[-1] < 0.8 * values[0], values


@pytest.mark.parametrize("framework", sorted(FRAMEWORKS))
def test_scan_training_loop_decreases_the_loss(framework):
    model = FRAMEWORKS[framework](1)
    step = make_step(model)

    @jax.jit
    def train(params: Any) -> tuple[Any, jax.Array, jax.Array]:
        def body(carry: Any, _: None) -> tuple[Any, tuple[jax.Array, jax.Array]]:
            params, opt_state, value, grads = step(*carry)
            finite = jnp.all(jnp.array([jnp.all(jnp.isfinite(g)) for g in jax.tree_util.tree_leaves(grads)]))
            return (params, opt_state), (value, finite)

        (params, _), (values, finite) = jax.lax.scan(body, (params, OPTIMIZER.init(params)), None, length=20)
        return params, values, finite

    params, values, finite = train(model.params)
    assert bool(jnp.all(finite))
    assert bool(jnp.all(jnp.isfinite(values)))
    assert float(values[-1]) < 0.7 * float(values[0]), values
    assert float(objective(model)(params, X, Y, REAL)) < float(values[0])


@pytest.mark.parametrize("framework", sorted(FRAMEWORKS))
def test_vmapped_ensemble_training_decreases_every_members_loss(framework):
    members = [FRAMEWORKS[framework](seed) for seed in (2, 3, 4)]
    params = jax.tree_util.tree_map(lambda *leaves: jnp.stack(leaves), *(m.params for m in members))
    step = jax.jit(jax.vmap(make_step(members[0])))
    opt_state = jax.vmap(OPTIMIZER.init)(params)
    first = None
    for _ in range(12):
        params, opt_state, values, grads = step(params, opt_state)
        assert values.shape == (3,) and all_finite(grads)
        first = values if first is None else first
    assert bool(jnp.all(values < 0.8 * first)), (first, values)


@pytest.mark.parametrize("framework", sorted(FRAMEWORKS))
def test_vmapped_per_sequence_gradients_average_to_the_batch_gradient(framework):
    model = FRAMEWORKS[framework](5)

    def per_sequence(params: Any, x: jax.Array, y: jax.Array, where: jax.Array) -> jax.Array:
        return jl.cross_entropy(model.apply(params, x), y, where=where, reduction="sum")

    grads = jax.jit(jax.vmap(jax.grad(per_sequence), in_axes=(None, 0, 0, 0)))(model.params, X, Y, REAL)
    total = jax.jit(jax.grad(lambda p: jl.cross_entropy(model.apply(p, X), Y, where=REAL, reduction="sum")))
    expected = total(model.params)
    summed = jax.tree_util.tree_map(lambda g: g.sum(0), grads)
    for got, want in zip(jax.tree_util.tree_leaves(summed), jax.tree_util.tree_leaves(expected)):
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)
    assert all_finite(grads)


@pytest.mark.parametrize("framework", sorted(FRAMEWORKS))
def test_padding_masked_with_where_does_not_reach_the_loss_or_its_gradient(framework):
    model = FRAMEWORKS[framework](6)
    value_and_grad = jax.jit(jax.value_and_grad(objective(model)))
    other_padding = jnp.where(REAL[..., None], X, -X)  # different junk in the padded positions
    value, grads = value_and_grad(model.params, X, Y, REAL)
    value2, grads2 = value_and_grad(model.params, other_padding, Y, REAL)
    np.testing.assert_allclose(value, value2, rtol=1e-6)
    for g, g2 in zip(jax.tree_util.tree_leaves(grads), jax.tree_util.tree_leaves(grads2)):
        np.testing.assert_allclose(g, g2, rtol=1e-5, atol=1e-7)
    # and the mean is over real tokens only: equal to the loss of the boolean selection
    logits = model.apply(model.params, X)
    np.testing.assert_allclose(value, jl.cross_entropy(logits[REAL], Y[REAL], label_smoothing=0.1), rtol=1e-5)


@pytest.mark.parametrize("loss", ["mse_loss", "binary_cross_entropy_with_logits", "cross_entropy"])
def test_training_through_missing_labels_stored_as_nan(loss):
    """Real data often stores a missing label as NaN (a float target) and masks it out: training must
    go through it, every step finite, the loss falling, and the parameters equal to training on the
    same data with the missing labels replaced by anything else (they reach nothing)."""
    rng = np.random.default_rng(0)
    x = jnp.asarray(rng.standard_normal((64, FEATURES)), jnp.float32)
    if loss == "cross_entropy":  # class-probability targets; a missing row is NaN
        y = jax.nn.one_hot(jnp.asarray(rng.integers(0, CLASSES, 64)), CLASSES)
    else:
        y = jnp.asarray(rng.uniform(size=(64, CLASSES)) < 0.5, jnp.float32)
    missing = jnp.asarray(rng.uniform(size=y.shape[:1] if loss == "cross_entropy" else y.shape) < 0.3)
    nan_rows = missing[:, None] if loss == "cross_entropy" else missing
    y_nan, y_zero = jnp.where(nan_rows, jnp.nan, y), jnp.where(nan_rows, 0.0, y)
    fn = getattr(jl, loss)
    optimizer = optax.adam(0.05)

    def train(targets):
        params = {"w": jnp.zeros((FEATURES, CLASSES)), "b": jnp.zeros(CLASSES)}
        state = optimizer.init(params)

        @jax.jit
        def step(params, state):
            value, grads = jax.value_and_grad(lambda p: fn(x @ p["w"] + p["b"], targets, where=~missing))(params)
            updates, state = optimizer.update(grads, state)
            return optax.apply_updates(params, updates), state, value, grads

        values = []
        for _ in range(30):
            params, state, value, grads = step(params, state)
            assert all(bool(jnp.all(jnp.isfinite(g))) for g in jax.tree.leaves(grads)), loss
            values.append(float(value))
        return params, values

    params, values = train(y_nan)
    assert np.isfinite(values).all() and values[-1] < values[0], values
    reference, _ = train(y_zero)
    for a, b in zip(jax.tree.leaves(params), jax.tree.leaves(reference)):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)
