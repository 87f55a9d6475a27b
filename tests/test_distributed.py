"""Losses under multi-device sharding (issue 10), and the shard_map helpers.

The multi-device checks need 8 devices, which XLA only simulates on CPU when
``--xla_force_host_platform_device_count=8`` is set before jax is imported; this process keeps its
single device, so they run once, all together, in a child process (``tests/distributed_worker.py``,
whose docstring lists them) and each check is one test here. The helpers' argument checks and
their one-device behaviour are tested in this process.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.sharding import PartitionSpec as P

import jaxloss as jl
from jaxloss._core.catalogue import CATALOGUE
from tests import distributed_worker as worker

ROOT = Path(__file__).resolve().parent.parent
HELPERS = ("global_mean", "global_sum", "vocab_parallel_cross_entropy")


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, object]]:
    out = tmp_path_factory.mktemp("distributed") / "results.json"
    env = dict(os.environ)
    env["XLA_FLAGS"] = (env.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=8").strip()
    env["JAX_PLATFORMS"] = "cpu"  # the simulated devices are CPU devices, even where a GPU is present
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    proc = subprocess.run([sys.executable, str(ROOT / "tests" / "distributed_worker.py"), str(out)],
                          env=env, cwd=ROOT, capture_output=True, text=True, timeout=1200)
    assert proc.returncode == 0, f"the 8-device child failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-4000:]}"
    return json.loads(out.read_text())


@pytest.mark.parametrize("name", worker.check_names())
def test_on_eight_devices(results: dict[str, dict[str, object]], name: str) -> None:
    assert name in results, f"the child did not report {name}"
    assert results[name]["ok"], results[name]["detail"]


def test_child_reports_exactly_the_listed_checks(results: dict[str, dict[str, object]]) -> None:
    assert sorted(k for k in results if not k.startswith("_")) == sorted(worker.check_names())


def test_every_loss_has_a_sharded_case() -> None:
    covered = {case.loss for case in worker.cases()}
    missing = sorted(set(CATALOGUE) - covered)
    assert not missing, f"losses without a case in tests/distributed_worker.py: {missing}"


def test_class_axis_is_sharded_for_the_class_index_losses() -> None:
    for loss in ("cross_entropy", "nll_loss", "softmax_focal_loss"):
        specs = [case.args[0][1] for case in worker.cases() if case.loss == loss]
        assert ("data", "model") in specs, loss


def test_helpers_are_exported_but_not_losses() -> None:
    for name in HELPERS:
        assert name in jl.__all__ and callable(getattr(jl, name))
        assert name not in CATALOGUE


# ----------------------------------------------------------------------------------------------
# One device: the helpers reduce to the losses' own reductions, and check their arguments

MESH = jax.sharding.Mesh(jax.devices()[:1], ("data",))


REPLICATED = P()


def _on_mesh(fn, *in_specs, out_specs=REPLICATED):  # type: ignore[no-untyped-def]
    return jax.jit(jax.shard_map(fn, mesh=MESH, in_specs=in_specs, out_specs=out_specs))


RNG = np.random.default_rng(0)
X, Y = RNG.standard_normal((6, 4)).astype(np.float32), RNG.standard_normal((6, 4)).astype(np.float32)
W, MASK = RNG.uniform(0.1, 2.0, (6, 4)).astype(np.float32), RNG.random((6, 4)) < 0.6


@pytest.mark.parametrize(
    ("name", "helper", "reference"),
    [
        ("mean", lambda v: jl.global_mean(v, "data"), lambda: jl.l1_loss(X, Y)),
        ("mean/where", lambda v: jl.global_mean(v, "data", where=MASK), lambda: jl.l1_loss(X, Y, where=MASK)),
        ("mean/weight", lambda v: jl.global_mean(v, "data", weight=W, where=MASK),
         lambda: jl.l1_loss(X, Y, weight=W, where=MASK)),
        ("mean/count", lambda v: jl.global_mean(v, "data", weight=W, divide_by="count"),
         lambda: jnp.sum(W * jnp.abs(X - Y)) / X.size),  # hand: weighted sum over the number of entries
        ("mean/array", lambda v: jl.global_mean(v, "data", divide_by=W), lambda: jnp.sum(jnp.abs(X - Y)) / jnp.sum(W)),
        ("sum/where", lambda v: jl.global_sum(v, "data", where=MASK), lambda: jl.l1_loss(X, Y, where=MASK, reduction="sum")),
    ],
)
def test_global_reductions_on_one_device_match_the_loss(name, helper, reference) -> None:  # type: ignore[no-untyped-def]
    got = _on_mesh(lambda x, y: helper(jl.l1_loss(x, y, reduction="none")), P("data"), P("data"))(X, Y)
    np.testing.assert_allclose(got, reference(), rtol=1e-6)


def test_global_mean_keeps_half_precision_dtype() -> None:
    got = _on_mesh(lambda v: jl.global_mean(v, "data"), P("data"))(jnp.asarray(X, jnp.bfloat16))
    assert got.dtype == jnp.bfloat16
    np.testing.assert_allclose(np.float32(got), X.mean(), rtol=1e-2, atol=1e-2)


ERRORS = {
    "divide_by_choice": (lambda: jl.global_mean(X, "data", divide_by="samples"), ValueError,
                         "global_mean: divide_by=.samples. is not supported"),
    "where_dtype": (lambda: jl.global_mean(X, "data", where=np.ones((6, 4), np.float32)), TypeError, "global_mean: `where`"),
    "integer_loss": (lambda: jl.global_sum(np.arange(4), "data"), TypeError, "global_sum: `loss`"),
    "weight_shape": (lambda: jl.vocab_parallel_cross_entropy(X, np.zeros(6, np.int32), np.ones(5, np.float32), axis_name="data"),
                     ValueError, "vocab_parallel_cross_entropy: `weight`"),
    "target_shape": (lambda: jl.vocab_parallel_cross_entropy(X, np.zeros(5, np.int32), axis_name="data"), ValueError,
                     "vocab_parallel_cross_entropy: `target`"),
    "target_dtype": (lambda: jl.vocab_parallel_cross_entropy(X, np.zeros(6, np.float32), axis_name="data"), TypeError,
                     "vocab_parallel_cross_entropy: `target`"),
    "reduction": (lambda: jl.vocab_parallel_cross_entropy(X, np.zeros(6, np.int32), axis_name="data", reduction="avg"),
                  ValueError, "reduction"),
}


@pytest.mark.parametrize(("call", "error", "message"), list(ERRORS.values()), ids=list(ERRORS))
def test_helper_errors_name_the_helper_and_the_argument(call, error, message) -> None:  # type: ignore[no-untyped-def]
    def inside(x):  # type: ignore[no-untyped-def]
        call()
        return x

    with pytest.raises(error, match=message.replace("(", r"\(")):
        _on_mesh(inside, P("data"), out_specs=P("data"))(X)
