"""Multi-device checks, run by ``tests/test_distributed.py`` in a child process with 8 CPU devices.

Run as ``XLA_FLAGS=--xla_force_host_platform_device_count=8 python tests/distributed_worker.py OUT.json``:
every check below runs once (one compilation per placement) and its outcome is written to ``OUT.json``
as ``{check name: {"ok": bool, "detail": str}}``; the parent test asserts each one. Importing this
module (as pytest's doctest collection and the parent test do) runs nothing and needs one device:
:func:`cases` and :data:`OTHER_CHECKS` only build numpy inputs and names.

Checks:

* ``jit/<case>``: a loss under ``jax.jit`` with its inputs sharded over a 4 x 2 ``("data", "model")``
  mesh (batch over ``"data"``, the class/feature axis over ``"model"`` where it divides) gives the
  values and the gradients (a VJP with a fixed cotangent) it gives on one device. One case per
  loss of the catalogue at least.
* ``shard_map/data_parallel/<case>``: the same loss inside ``jax.shard_map`` over ``"data"``
  (everything else replicated, as a data-parallel training step has it): the ``psum`` of each
  device's ``reduction="sum"`` equals the whole batch's sum, values and gradients. This is where
  ``shard_map``'s typing of per-device values bites (a ``lax.cond``/``scan`` carry or a
  ``custom_vjp`` argument that is replicated while the rest varies, see
  :func:`jaxloss._core.numerics.varying_like`). Losses that couple the samples of a batch
  (``separable=False``) are left out: their per-device sums are not the global loss.
* ``global/...``: the ``"mean"`` of a sharded batch with unevenly masked/weighted shards is the
  global mean, written out by hand in numpy, and differs from the mean of per-device means.
* ``shard_map/...``: :func:`jaxloss.global_mean`, :func:`jaxloss.global_sum` and
  :func:`jaxloss.vocab_parallel_cross_entropy` inside ``jax.shard_map`` against the losses on the
  whole batch on one device.
* ``explicit/<case>``: the same as ``jit/<case>`` on a mesh with ``Explicit`` axes (the default of
  ``jax.make_mesh``), inputs placed the same way, called inside ``jax.set_mesh`` with no
  ``auto_axes`` from the caller: every loss of the catalogue, values and gradients equal to one
  device (the decorator runs the loss with the axes made ``Auto``, ``jaxloss._core.meshes``).
* ``explicit/...`` (other checks): a batch-only placement, arrays placed on the mesh but called
  without ``jax.set_mesh``, a loss under ``shard_map`` over
  ``"data"`` with ``"model"`` still explicit, the unreduced loss typed with the batch's sharding,
  and a caller's own ``auto_axes`` still working.
* ``hlo/...``: the compiled program of a loss (value and gradient) with the class axis sharded
  over ``"model"`` has no all-gather, and no collective moves more than per-row vectors.
"""

from __future__ import annotations

import dataclasses
import json
import re
import sys
import time
import traceback
from collections.abc import Callable
from typing import Any

import numpy as np

N, C = 8, 6  # batch (sharded 4 ways over "data"), classes/features (sharded 2 ways over "model")
MESH_SHAPE = (4, 2)


def _spec(*axes: str | None) -> tuple[str | None, ...]:
    """A PartitionSpec as a plain tuple (turned into ``jax.sharding.PartitionSpec`` in the child)."""
    return axes


D, M, DM = _spec("data"), _spec(None, "model"), _spec("data", "model")
REP = _spec()


@dataclasses.dataclass(frozen=True)
class ShardCase:
    """``loss(*args, **static, **arrays)`` with each array placed by its spec.

    ``args`` and ``arrays`` (keyword array arguments such as ``where`` or ``weight``) hold numpy
    arrays and their specs; ``grad`` lists the positional arguments differentiated. ``separable``:
    the summed loss of a batch is the sum of its parts' (False for losses that couple the samples
    of a batch: contrastive losses, Lovasz and overlap losses over the whole batch).
    """

    name: str
    loss: str
    args: tuple[tuple[np.ndarray, tuple[str | None, ...]], ...]
    static: dict[str, Any] = dataclasses.field(default_factory=dict)
    arrays: dict[str, tuple[np.ndarray, tuple[str | None, ...]]] = dataclasses.field(default_factory=dict)
    grad: tuple[int, ...] = (0,)
    rtol: float = 2e-5
    atol: float = 2e-6
    separable: bool = True


def _rng(seed: int) -> np.random.Generator:
    return np.random.default_rng(seed)


def _normal(seed: int, shape: tuple[int, ...], scale: float = 1.0) -> np.ndarray:
    return (scale * _rng(seed).standard_normal(shape)).astype(np.float32)


def _uniform(seed: int, shape: tuple[int, ...], low: float, high: float) -> np.ndarray:
    return _rng(seed).uniform(low, high, shape).astype(np.float32)


def _labels(seed: int, shape: tuple[int, ...], classes: int) -> np.ndarray:
    return _rng(seed).integers(0, classes, shape).astype(np.int32)


def _signs(seed: int, shape: tuple[int, ...]) -> np.ndarray:
    return np.where(_rng(seed).random(shape) < 0.5, -1, 1).astype(np.float32)


def _mask(seed: int, shape: tuple[int, ...]) -> np.ndarray:
    return _rng(seed).random(shape) < 0.7


def _log_softmax(x: np.ndarray, axis: int = -1) -> np.ndarray:
    z = x - x.max(axis=axis, keepdims=True)
    return (z - np.log(np.exp(z).sum(axis=axis, keepdims=True))).astype(np.float32)


def _boxes(seed: int) -> np.ndarray:
    corner = _uniform(seed, (N, 2), 0.0, 4.0)
    size = _uniform(seed + 1, (N, 2), 0.5, 3.0)
    return np.concatenate([corner, corner + size], axis=1)


def _ignored(target: np.ndarray) -> np.ndarray:
    target = target.copy()
    target.flat[::5] = -100
    return target


def cases() -> list[ShardCase]:
    """One or more sharded cases per loss of the catalogue."""
    x, y = _normal(1, (N, C)), _normal(2, (N, C))
    logits, labels = _normal(3, (N, C), 2.0), _labels(4, (N,), C)
    where_nc, where_n = _mask(5, (N, C)), _mask(6, (N,))
    class_weight = _uniform(7, (C,), 0.5, 2.0)
    probs = _uniform(8, (N, C), 0.05, 0.95)
    bits = (_rng(9).random((N, C)) < 0.5).astype(np.float32)
    image, image_labels = _normal(10, (N, 4, 4, C), 2.0), _labels(11, (N, 4, 4), C)
    mask_logits, mask_bits = _normal(12, (N, 4, 4), 2.0), (_rng(13).random((N, 4, 4)) < 0.5).astype(np.float32)
    multilabel_target = np.full((N, C), -1, np.int32)
    for i in range(N):  # i % 3 + 1 distinct labels, then -1 padding
        multilabel_target[i, : i % 3 + 1] = _rng(14 + i).permutation(C)[: i % 3 + 1]
    ctc_lp = _log_softmax(_normal(30, (N, 10, C)))
    ctc_targets = _rng(31).integers(1, C, (N, 4)).astype(np.int32)
    b1, b2 = _boxes(40), _boxes(42)
    hidden, vocab_w = _normal(50, (N, 5)), _normal(51, (5, C))

    pair = ((x, DM), (y, DM))
    positive_rows = ((_uniform(70, (N, C), 0.5, 3.0), DM), (_uniform(71, (N, C), 0.0, 3.0), DM))
    cls = ((logits, DM), (labels, D))
    return [
        # regression
        ShardCase("l1_loss/weight+where", "l1_loss", pair,
                  arrays={"weight": (_uniform(20, (N, C), 0.1, 2.0), DM), "where": (where_nc, DM)}, grad=(0, 1)),
        ShardCase("mse_loss/where", "mse_loss", pair, arrays={"where": (where_nc, DM)}, grad=(0, 1)),
        ShardCase("huber_loss/weight", "huber_loss", pair, static={"delta": 0.5},
                  arrays={"weight": (_uniform(21, (N, C), 0.1, 2.0), DM)}, grad=(0, 1)),
        ShardCase("smooth_l1_loss/sum", "smooth_l1_loss", pair, static={"beta": 0.5, "reduction": "sum"}, grad=(0, 1)),
        ShardCase("poisson_nll_loss/full", "poisson_nll_loss", ((x, DM), (_uniform(22, (N, C), 0.0, 4.0), DM)),
                  static={"full": True}, grad=(0, 1)),
        ShardCase("gaussian_nll_loss", "gaussian_nll_loss", (*pair, (_uniform(23, (N, C), 0.2, 2.0), DM)),
                  grad=(0, 1, 2)),
        ShardCase("log_cosh_loss/none", "log_cosh_loss", pair, static={"reduction": "none"}, grad=(0, 1)),
        ShardCase("quantile_loss", "quantile_loss", pair, static={"quantile": 0.3}, grad=(0, 1)),
        # classification: the class axis sharded over "model"
        ShardCase("cross_entropy", "cross_entropy", cls),
        ShardCase("cross_entropy/weight+ignore+smoothing+where", "cross_entropy",
                  ((logits, DM), (_ignored(labels), D), (class_weight, _spec("model"))),
                  static={"label_smoothing": 0.1}, arrays={"where": (where_n, D)}),
        ShardCase("cross_entropy/none", "cross_entropy", cls, static={"reduction": "none"}),
        ShardCase("cross_entropy/axis=1", "cross_entropy",
                  ((_normal(24, (N, C, 4)), DM), (_labels(25, (N, 4), C), D)), static={"axis": 1}),
        ShardCase("cross_entropy/probabilities", "cross_entropy",
                  ((logits, DM), (probs / probs.sum(-1, keepdims=True), DM)), static={"label_smoothing": 0.2}),
        ShardCase("nll_loss/weight+ignore", "nll_loss",
                  ((_log_softmax(logits), DM), (_ignored(labels), D), (class_weight, _spec("model")))),
        ShardCase("softmax_focal_loss/alpha+smoothing+ignore", "softmax_focal_loss", ((logits, DM), (_ignored(labels), D)),
                  static={"gamma": 1.5, "label_smoothing": 0.1}, arrays={"alpha": (class_weight, _spec("model"))}),
        ShardCase("poly1_cross_entropy", "poly1_cross_entropy", cls, static={"epsilon": 0.5}),
        ShardCase("zero_one_loss", "zero_one_loss", cls, grad=()),
        ShardCase("binary_cross_entropy/weight", "binary_cross_entropy", ((probs, DM), (bits, DM)),
                  arrays={"weight": (_uniform(26, (N, C), 0.1, 2.0), DM)}, grad=(0, 1)),
        ShardCase("binary_cross_entropy_with_logits/pos_weight", "binary_cross_entropy_with_logits",
                  ((logits, DM), (bits, DM)), arrays={"pos_weight": (class_weight, _spec("model"))}, grad=(0, 1)),
        ShardCase("multilabel_soft_margin_loss/weight", "multilabel_soft_margin_loss", ((logits, DM), (bits, DM)),
                  arrays={"weight": (class_weight, _spec("model"))}),
        ShardCase("soft_margin_loss", "soft_margin_loss", ((logits, DM), (_signs(27, (N, C)), DM))),
        ShardCase("kl_div/batchmean", "kl_div", ((_log_softmax(logits), DM), (probs / probs.sum(-1, keepdims=True), DM)),
                  static={"reduction": "batchmean"}, grad=(0, 1)),
        ShardCase("multi_margin_loss/weight", "multi_margin_loss", cls, static={"margin": 0.7},
                  arrays={"weight": (class_weight, _spec("model"))}),
        ShardCase("multilabel_margin_loss", "multilabel_margin_loss", ((logits, DM), (multilabel_target, D))),
        # embedding
        ShardCase("margin_ranking_loss", "margin_ranking_loss",
                  ((x[:, 0], D), (y[:, 0], D), (_signs(28, (N,)), D)), static={"margin": 0.3}, grad=(0, 1)),
        ShardCase("hinge_embedding_loss", "hinge_embedding_loss", ((x, DM), (_signs(29, (N, C)), DM))),
        ShardCase("cosine_embedding_loss", "cosine_embedding_loss", (*pair, (_signs(32, (N,)), D)),
                  static={"margin": 0.2}, grad=(0, 1)),
        ShardCase("triplet_margin_loss/swap", "triplet_margin_loss", (*pair, (_normal(33, (N, C)), DM)),
                  static={"swap": True}, grad=(0, 1, 2)),
        ShardCase("triplet_margin_with_distance_loss", "triplet_margin_with_distance_loss",
                  (*pair, (_normal(33, (N, C)), DM)), grad=(0, 1, 2)),
        ShardCase("contrastive_loss", "contrastive_loss", ((x, DM), (_labels(34, (N,), 3), D)), separable=False),
        ShardCase("ntxent_loss", "ntxent_loss", ((x, DM), (_labels(34, (N,), 3), D)), static={"temperature": 0.5},
                  separable=False),
        ShardCase("supervised_contrastive_loss", "supervised_contrastive_loss", ((x, DM), (_labels(34, (N,), 3), D)),
                  static={"temperature": 0.5}, separable=False),
        # sequence
        ShardCase("ctc_loss", "ctc_loss",
                  ((ctc_lp, _spec("data", None, "model")), (ctc_targets, D),
                   (np.array([10, 9, 8, 10, 7, 10, 9, 10], np.int32), D), (np.array([4, 3, 2, 4, 1, 4, 3, 2], np.int32), D))),
        # segmentation
        ShardCase("dice_loss/multiclass", "dice_loss", ((image, _spec("data", None, None, "model")), (image_labels, D)),
                  static={"mode": "multiclass"}, separable=False),
        ShardCase("jaccard_loss/binary", "jaccard_loss", ((mask_logits, _spec("data", "model")), (mask_bits, _spec("data", "model"))),
                  static={"mode": "binary"}, separable=False),
        ShardCase("tversky_loss/multilabel", "tversky_loss",
                  ((image, _spec("data", None, None, "model")), ((image > 0).astype(np.float32), _spec("data", None, None, "model"))),
                  static={"mode": "multilabel", "alpha": 0.3, "beta": 0.7, "axis": -1}, separable=False),
        # (N, ..., 1) inputs take the drop_unit_minor_axis path (reshape behind an optimization barrier)
        ShardCase("mse_loss/column+where", "mse_loss", ((x[:, :1], D), (y[:, :1], D)),
                  arrays={"where": (where_nc[:, :1], D)}, grad=(0, 1)),
        ShardCase("sigmoid_focal_loss/column", "sigmoid_focal_loss", ((logits[:, :1], D), (bits[:, :1], D)),
                  static={"reduction": "sum"}, grad=(0, 1)),
        ShardCase("dice_loss/binary_column", "dice_loss", ((mask_logits[..., None], D), (mask_bits[..., None], D)),
                  static={"mode": "binary"}, separable=False),
        ShardCase("lovasz_hinge_loss/per_image", "lovasz_hinge_loss",
                  ((mask_logits, _spec("data", "model")), (mask_bits, _spec("data", "model"))), static={"per_image": True}),
        ShardCase("lovasz_softmax_loss", "lovasz_softmax_loss", ((image, _spec("data", None, None, "model")), (image_labels, D)),
                  separable=False),
        # detection
        ShardCase("sigmoid_focal_loss/mean", "sigmoid_focal_loss", ((logits, DM), (bits, DM)), static={"reduction": "mean"},
                  grad=(0, 1)),
        ShardCase("generalized_box_iou_loss", "generalized_box_iou_loss", ((b1, D), (b2, D)), static={"reduction": "mean"},
                  grad=(0, 1)),
        ShardCase("distance_box_iou_loss", "distance_box_iou_loss", ((b1, D), (b2, D)), static={"reduction": "mean"},
                  grad=(0, 1)),
        ShardCase("complete_box_iou_loss", "complete_box_iou_loss", ((b1, D), (b2, D)), static={"reduction": "mean"},
                  grad=(0, 1)),
        # robust regression and Keras's regression losses
        ShardCase("robust_loss", "robust_loss", pair, static={"alpha": 0.5, "scale": 1.3}, grad=(0, 1)),
        ShardCase("charbonnier_loss/scale", "charbonnier_loss", pair, static={"scale": 0.7, "reduction": "mean"},
                  grad=(0, 1)),
        ShardCase("cauchy_loss", "cauchy_loss", pair, grad=(0, 1)),
        ShardCase("geman_mcclure_loss", "geman_mcclure_loss", pair, grad=(0, 1)),
        ShardCase("welsch_loss", "welsch_loss", pair, static={"reduction": "sum"}, grad=(0, 1)),
        ShardCase("mean_squared_logarithmic_error", "mean_squared_logarithmic_error", positive_rows, grad=(0, 1)),
        ShardCase("mean_absolute_percentage_error/where", "mean_absolute_percentage_error", positive_rows,
                  arrays={"where": (where_n, D)}, grad=(0, 1)),
        # mixture-of-experts router losses: tokens over "data", experts over "model"
        ShardCase("load_balancing_loss/where", "load_balancing_loss", ((logits, DM),), static={"top_k": 2},
                  arrays={"where": (where_n, D)}, separable=False),
        ShardCase("router_z_loss/where", "router_z_loss", ((logits, DM),), arrays={"where": (where_n, D)}),
        ShardCase("sequence_balance_loss/token_mask", "sequence_balance_loss",
                  ((_normal(72, (N, 4, C), 2.0), _spec("data", None, "model")),), static={"top_k": 2},
                  arrays={"token_mask": (_mask(73, (N, 4)), D)}),
        # large vocabulary: w sharded over the vocabulary under plain jit
        ShardCase("linear_cross_entropy/w_sharded", "linear_cross_entropy",
                  ((hidden, D), (vocab_w, M), (_ignored(labels), D)), static={"label_smoothing": 0.1, "chunk_size": 2},
                  grad=(0, 1)),
    ]


OTHER_CHECKS = (
    "global/mse_loss/uneven_mask",
    "global/cross_entropy/weight+ignore",
    "shard_map/global_mean/mse_loss+where",
    "shard_map/global_mean/cross_entropy_weighted",
    "shard_map/global_mean/weight+divide_by_count",
    "shard_map/global_mean/nothing_counts",
    "shard_map/global_sum/l1_loss",
    "shard_map/vocab_parallel_cross_entropy/plain",
    "shard_map/vocab_parallel_cross_entropy/weight+ignore+smoothing+where",
    "shard_map/vocab_parallel_cross_entropy/none",
    "shard_map/vocab_parallel_cross_entropy/sum",
    "shard_map/vocab_parallel_cross_entropy/axis=1",
    "shard_map/vocab_parallel_cross_entropy/bfloat16",
    "shard_map/vocab_parallel_cross_entropy/bad_target_nan",
    "shard_map/vocab_parallel_cross_entropy/classes_over_both_axes",
    "shard_map/vocab_parallel_cross_entropy/matches_linear_cross_entropy",
    "explicit/batch_only/every_case",
    "explicit/placed_without_set_mesh/every_case",
    "explicit/unreduced_keeps_batch_sharding",
    "explicit/shard_map_over_data",
    "explicit/cross_entropy/auto_axes",
    "hlo/detector_sees_a_gather",
    "hlo/cross_entropy",
    "hlo/nll_loss",
    "hlo/softmax_focal_loss",
    "hlo/vocab_parallel_cross_entropy",
)


def check_names() -> list[str]:
    """Every check the child reports, in order."""
    all_cases = cases()
    return ([f"jit/{c.name}" for c in all_cases] + [f"explicit/{c.name}" for c in all_cases]
            + [f"shard_map/data_parallel/{c.name}" for c in all_cases if c.separable] + list(OTHER_CHECKS))


# ----------------------------------------------------------------------------------------------
# The child process


class Mismatch(AssertionError):
    pass


def _close(what: str, got: Any, want: Any, rtol: float = 2e-5, atol: float = 2e-6) -> None:
    got, want = np.asarray(got, np.float64), np.asarray(want, np.float64)
    if got.shape != want.shape:
        raise Mismatch(f"{what}: shape {got.shape} != {want.shape}")
    if not np.allclose(got, want, rtol=rtol, atol=atol, equal_nan=True):
        err = np.max(np.abs(got - want) / (np.abs(want) + atol))
        raise Mismatch(f"{what}: max rel err {err:.2e}\n got {got.ravel()[:6]}\nwant {want.ravel()[:6]}")


def _finite(what: str, *arrays: Any) -> None:
    for a in arrays:
        if not np.all(np.isfinite(np.asarray(a, np.float64))):
            raise Mismatch(f"{what}: not finite")


class Child:
    def __init__(self) -> None:
        import jax
        from jax.sharding import AxisType, NamedSharding, PartitionSpec

        import jaxloss

        if jax.device_count() != 8:
            raise RuntimeError(f"expected 8 devices, got {jax.device_count()}; set XLA_FLAGS before importing jax")
        self.jax, self.jl, self.P, self.NamedSharding = jax, jaxloss, PartitionSpec, NamedSharding
        # Values and gradients do not depend on XLA's optimisations; compiling without them
        # halves the time of the ~100 compilations below. The compiled-program checks turn them on.
        jax.config.update("jax_disable_most_optimizations", True)
        self.mesh = jax.make_mesh(MESH_SHAPE, ("data", "model"), axis_types=(AxisType.Auto, AxisType.Auto))
        self.results: dict[str, dict[str, Any]] = {}

    def sharding(self, spec: tuple[str | None, ...]) -> Any:
        return self.NamedSharding(self.mesh, self.P(*spec))

    def run(self, name: str, check: Callable[[], None]) -> None:
        start = time.perf_counter()
        try:
            check()
            self.results[name] = {"ok": True, "detail": f"{time.perf_counter() - start:.2f}s"}
        except Exception as e:  # every check is reported, none stops the others
            detail = str(e) if isinstance(e, Mismatch) else traceback.format_exc(limit=4)
            self.results[name] = {"ok": False, "detail": detail[-3000:]}

    # -- jit with sharded inputs --------------------------------------------------------------

    def value_and_grads(self, case: ShardCase, placed: list[Any]) -> tuple[Any, Any]:
        """``(loss, gradients of sum(loss * cotangent))`` for the case, jitted on ``placed`` arrays."""
        jax, jnp = self.jax, self.jax.numpy
        fn = getattr(self.jl, case.loss)
        n_args = len(case.args)
        keys = list(case.arrays)

        def total(*arrays: Any) -> tuple[Any, Any]:
            out = fn(*arrays[:n_args], **case.static, **dict(zip(keys, arrays[n_args:])))
            cot = 1.0 + 0.5 * jnp.sin(jnp.arange(out.size, dtype=jnp.float32)).reshape(out.shape)
            return jnp.sum(out * cot), out

        if not case.grad:
            return jax.jit(lambda *a: total(*a)[1])(*placed), ()
        (_, out), grads = jax.jit(jax.value_and_grad(total, argnums=case.grad, has_aux=True))(*placed)
        return out, grads

    def jit_case(self, case: ShardCase, explicit: bool = False, set_mesh: bool = True) -> None:
        """``case`` under ``jit`` on arrays sharded over the mesh (Auto axes, or with ``explicit``
        a ``jax.make_mesh`` mesh with its default Explicit axes, set as the current mesh unless
        ``set_mesh`` is False: arrays placed on it and called without ``jax.set_mesh``) equals one
        device."""
        jax = self.jax
        host = [a for a, _ in case.args] + [a for a, _ in case.arrays.values()]
        specs = [s for _, s in case.args] + [s for _, s in case.arrays.values()]
        one = jax.devices()[0]
        want_out, want_grads = self.value_and_grads(case, [jax.device_put(a, one) for a in host])
        if explicit:
            mesh = self.explicit_mesh()
            placed = [jax.device_put(a, self.NamedSharding(mesh, self.P(*s))) for a, s in zip(host, specs)]
            if set_mesh:
                with jax.set_mesh(mesh):
                    got_out, got_grads = self.value_and_grads(case, placed)
            else:
                got_out, got_grads = self.value_and_grads(case, placed)
        else:
            placed = [jax.device_put(a, self.sharding(s)) for a, s in zip(host, specs)]
            got_out, got_grads = self.value_and_grads(case, placed)
        if len(placed[0].sharding.device_set) != 8:
            raise Mismatch("the first input is not spread over the 8 devices")
        _finite(f"{case.loss} value", want_out)
        _close(f"{case.loss} value", got_out, want_out, case.rtol, case.atol)
        for i, g, w in zip(case.grad, got_grads, want_grads):
            _finite(f"{case.loss} grad of argument {i}", w)
            _close(f"{case.loss} grad of argument {i}", g, w, case.rtol, case.atol)

    def data_parallel_case(self, case: ShardCase) -> None:
        """Inside ``shard_map`` over "data" (the rest replicated): ``psum`` of each device's
        ``reduction="sum"`` equals the sum over the whole batch, values and gradients."""
        jax = self.jax
        fn = getattr(self.jl, case.loss)
        static = {**case.static, "reduction": "sum"}
        n_args, keys = len(case.args), list(case.arrays)
        host = [a for a, _ in case.args] + [a for a, _ in case.arrays.values()]
        specs = [tuple(a if a == "data" else None for a in s) for _, s in case.args + tuple(case.arrays.values())]

        def summed(*arrays: Any) -> Any:
            return fn(*arrays[:n_args], **static, **dict(zip(keys, arrays[n_args:])))

        def local(*arrays: Any) -> Any:
            return jax.lax.psum(summed(*arrays), "data")

        self.compare(case.loss, self.smap(local, tuple(specs)), summed, host, specs, case.grad, case.rtol, case.atol)

    # -- global reductions under jit -----------------------------------------------------------

    def uneven_mse(self) -> None:
        jl, jnp = self.jl, self.jax.numpy
        x, y = _normal(60, (N, C)), _normal(61, (N, C))
        mask = np.zeros((N, C), bool)
        mask[:2] = True  # shard 0 ("data" rows 0-1): all 12 entries count
        mask[2, 0] = True  # shard 1: one entry; shards 2 and 3: none
        x[2, 0] = y[2, 0] + 10.0  # ... with a large error
        sq = (x.astype(np.float64) - y) ** 2
        want = sq[mask].sum() / mask.sum()  # hand: global mean over the 13 counted entries
        shard_means = [sq[r : r + 2][mask[r : r + 2]].mean() for r in (0, 2)]  # shards 2, 3 have nothing
        mean_of_means = np.mean(shard_means)
        got = self.jax.jit(lambda a, b, m: jl.mse_loss(a, b, where=m))(
            *(self.jax.device_put(v, self.sharding(DM)) for v in (x, y, mask)))
        _close("mse_loss sharded mean", got, want, 1e-5)
        if abs(mean_of_means - want) < 1.0:
            raise Mismatch(f"test data do not separate the global mean {want} from the mean of means {mean_of_means}")
        del jnp

    def uneven_cross_entropy(self) -> None:
        jl = self.jl
        logits, labels = _normal(62, (N, C), 2.0), _labels(63, (N,), C)
        labels[2:6] = -100  # shards 1 and 2 hold only ignored samples
        labels[6] = 0
        weight = np.array([10.0, 1, 1, 1, 1, 1], np.float32)
        lf = logits.astype(np.float64)
        nll = np.log(np.exp(lf).sum(-1)) - lf[np.arange(N), np.maximum(labels, 0)]
        keep = labels != -100
        w_y = np.where(keep, weight[np.maximum(labels, 0)], 0.0)
        want = (w_y * nll).sum() / w_y.sum()  # hand: torch's weighted mean over the global batch
        got = self.jax.jit(lambda a, b, w: jl.cross_entropy(a, b, w))(
            self.jax.device_put(logits, self.sharding(DM)), self.jax.device_put(labels, self.sharding(D)),
            self.jax.device_put(weight, self.sharding(_spec("model"))))
        _close("cross_entropy sharded weighted mean", got, want, 1e-5)
        per_shard = [(w_y[r : r + 2] * nll[r : r + 2]).sum() / w_y[r : r + 2].sum() for r in (0, 6)]
        if abs(np.mean(per_shard) - want) < 0.1:
            raise Mismatch("test data do not separate the global weighted mean from the mean of means")

    # -- shard_map -----------------------------------------------------------------------------

    def smap(self, fn: Callable[..., Any], in_specs: tuple[Any, ...], out_specs: Any = None) -> Callable[..., Any]:
        P = self.P
        return self.jax.shard_map(fn, mesh=self.mesh, in_specs=tuple(P(*s) for s in in_specs),
                                  out_specs=P() if out_specs is None else P(*out_specs))

    def compare(self, what: str, sharded: Callable[..., Any], reference: Callable[..., Any], args: list[np.ndarray],
                specs: list[tuple[str | None, ...]], grad: tuple[int, ...], rtol: float = 2e-5, atol: float = 2e-6,
                reference_on_mesh: bool = False) -> tuple[Any, Any]:
        """Values and gradients of ``sum(f(...) * cotangent)`` of the shard_map program and of the
        reference (on one device, or on the mesh with the same placement if ``reference_on_mesh``);
        returns the sharded ``(value, grads)``."""
        jax, jnp = self.jax, self.jax.numpy

        def with_cot(f: Callable[..., Any]) -> Callable[..., Any]:
            def total(*a: Any) -> Any:
                out = f(*a)
                cot = 1.0 + 0.5 * jnp.sin(jnp.arange(out.size, dtype=jnp.float32)).reshape(out.shape)
                return jnp.sum(out.astype(jnp.float32) * cot), out
            if not grad:
                return jax.jit(lambda *a: ((None, f(*a)), ()))
            return jax.jit(jax.value_and_grad(total, argnums=grad, has_aux=True))

        places = [self.sharding(s) for s in specs] if reference_on_mesh else [jax.devices()[0]] * len(args)
        (_, want), want_g = with_cot(reference)(*(jax.device_put(a, p) for a, p in zip(args, places)))
        (_, got), got_g = with_cot(sharded)(*(jax.device_put(a, self.sharding(s)) for a, s in zip(args, specs)))
        _finite(f"{what} value", want)
        _close(f"{what} value", got, want, rtol, atol)
        for i, g, w in zip(grad, got_g, want_g):
            _finite(f"{what} grad {i}", w)
            _close(f"{what} grad {i}", g, w, rtol, atol)
        return got, got_g

    def global_mean_mse(self) -> None:
        jl, lax = self.jl, self.jax.lax
        x, y, mask = _normal(64, (N, C)), _normal(65, (N, C)), _mask(66, (N, C))
        mask[2:4] = False  # one data shard with nothing to count
        local = lambda a, b, m: jl.global_mean(jl.mse_loss(a, b, reduction="none"), "data", where=m)  # noqa: E731
        self.compare("global_mean(mse)", self.smap(local, (D, D, D)), lambda a, b, m: jl.mse_loss(a, b, where=m),
                     [x, y, mask], [D, D, D], (0, 1))
        naive = self.jax.jit(self.smap(lambda a, b, m: lax.pmean(jl.mse_loss(a, b, where=m), "data"), (D, D, D)))(x, y, mask)
        if abs(float(naive) - float(jl.mse_loss(x, y, where=mask))) < 1e-3:
            raise Mismatch("a mean of per-device means agrees with the global mean: the data do not test anything")

    def global_mean_cross_entropy(self) -> None:
        jl, jnp = self.jl, self.jax.numpy
        logits, labels, weight = _normal(67, (N, C), 2.0), _ignored(_labels(68, (N,), C)), _uniform(69, (C,), 0.5, 3.0)

        def local(x: Any, t: Any, w: Any) -> Any:
            per_sample = jl.cross_entropy(x, t, w, reduction="none")
            w_y = jnp.where(t != -100, w[jnp.clip(t, 0, C - 1)], 0.0)  # torch's denominator weights
            return jl.global_mean(per_sample, "data", divide_by=w_y)

        self.compare("global_mean(cross_entropy, weight)", self.smap(local, (D, D, REP)),
                     lambda x, t, w: jl.cross_entropy(x, t, w), [logits, labels, weight], [D, D, REP], (0, 2))

    def global_mean_weight_count(self) -> None:
        jl = self.jl
        x, y, w, mask = _normal(70, (N, C)), _normal(71, (N, C)), _uniform(72, (N, C), 0.1, 2.0), _mask(73, (N, C))
        # huber_loss's mean divides by the number of entries even with weights (divide_by="count")
        local = lambda a, b, ww, m: jl.global_mean(  # noqa: E731
            jl.huber_loss(a, b, reduction="none"), ("data", "model"), weight=ww, where=m, divide_by="count")
        self.compare("global_mean(huber, weight, count)", self.smap(local, (DM,) * 4),
                     lambda a, b, ww, m: jl.huber_loss(a, b, weight=ww, where=m), [x, y, w, mask], [DM] * 4, (0, 1, 2))
        local_w = lambda a, b, ww, m: jl.global_mean(jl.l1_loss(a, b, reduction="none"), ("data", "model"), weight=ww, where=m)  # noqa: E731
        hand = (w * np.abs(x - y))[mask].sum() / w[mask].sum()  # hand: weighted mean, denominator = counted weights
        got, _ = self.compare("global_mean(l1, weight)", self.smap(local_w, (DM,) * 4),
                              lambda a, b, ww, m: jl.l1_loss(a, b, weight=ww, where=m), [x, y, w, mask], [DM] * 4, (0,))
        _close("global_mean(l1, weight) by hand", got, hand, 1e-5)

    def global_mean_nothing(self) -> None:
        jax, jl = self.jax, self.jl
        x, y = _normal(74, (N, C)), _normal(75, (N, C))
        none = np.zeros((N, C), bool)
        f = self.smap(lambda a, b, m: jl.global_mean(jl.mse_loss(a, b, reduction="none"), "data", where=m), (D, D, D))
        value, grad = jax.jit(jax.value_and_grad(f))(x, y, none)
        _close("mean over nothing", value, 0.0, 0, 0)
        _close("gradient of a mean over nothing", grad, np.zeros((N, C)), 0, 0)

    def global_sum_l1(self) -> None:
        jl = self.jl
        x, y, mask = _normal(76, (N, C)), _normal(77, (N, C)), _mask(78, (N, C))
        local = lambda a, b, m: jl.global_sum(jl.l1_loss(a, b, reduction="none"), ("data", "model"), where=m)  # noqa: E731
        self.compare("global_sum(l1)", self.smap(local, (DM,) * 3),
                     lambda a, b, m: jl.l1_loss(a, b, where=m, reduction="sum"), [x, y, mask], [DM] * 3, (0, 1))

    def vocab(self, name: str, shape: tuple[int, ...], *, axis: int = -1, weight: bool = False, ignore: bool = False,
              where: bool = False, reduction: str = "mean", dtype: Any = np.float32, **config: Any) -> None:
        jl = self.jl
        logits = _normal(80, shape, 3.0).astype(dtype)
        target_shape = tuple(s for i, s in enumerate(shape) if i != axis % len(shape))
        labels = _labels(81, target_shape, shape[axis])
        if ignore:
            labels = _ignored(labels)
        args, specs = [logits, labels], [[None] * len(shape), ["data"] + [None] * (len(target_shape) - 1)]
        specs[0][0], specs[0][axis] = "data", "model"
        kw_names = []
        if weight:
            args.append(_uniform(82, (shape[axis],), 0.5, 2.0))
            specs.append([])
            kw_names.append("weight")
        if where:
            args.append(_mask(83, target_shape))
            specs.append(specs[1])
            kw_names.append("where")
        specs_t = [tuple(s) for s in specs]
        batch = None if reduction == "none" else "data"

        def local(x: Any, t: Any, *rest: Any) -> Any:
            return jl.vocab_parallel_cross_entropy(x, t, axis_name="model", batch_axis=batch, axis=axis,
                                                   reduction=reduction, **config, **dict(zip(kw_names, rest)))

        def reference(x: Any, t: Any, *rest: Any) -> Any:
            return jl.cross_entropy(x, t, axis=axis, reduction=reduction, **config, **dict(zip(kw_names, rest)))

        out_specs = specs_t[1] if reduction == "none" else None
        low = dtype != np.float32
        got, grads = self.compare(name, self.smap(local, tuple(specs_t), out_specs), reference, args, specs_t,
                                  (0, 2) if weight else (0,), rtol=1e-2 if low else 2e-5, atol=1e-2 if low else 2e-6)
        if got.dtype != logits.dtype or grads[0].dtype != logits.dtype:
            raise Mismatch(f"{name}: dtype {got.dtype}/{grads[0].dtype}, want {logits.dtype}")

    def vocab_bad_target(self) -> None:
        jl = self.jl
        logits, labels = _normal(84, (N, C)), _labels(85, (N,), C)
        labels[3] = C  # out of range
        f = self.smap(lambda x, t: jl.vocab_parallel_cross_entropy(x, t, axis_name="model", reduction="none"),
                      (DM, D), D)
        out = np.asarray(self.jax.jit(f)(logits, labels))
        if not (np.isnan(out[3]) and np.all(np.isfinite(np.delete(out, 3)))):
            raise Mismatch(f"out-of-range target: want NaN at 3 only, got {out}")

    def vocab_two_axes(self) -> None:
        """The classes sharded over the 8 devices of both axes, the batch replicated."""
        jl = self.jl
        both = _spec(None, ("data", "model"))
        logits, labels, weight = _normal(89, (4, 16), 2.0), _ignored(_labels(79, (4,), 16)), _uniform(78, (16,), 0.5, 2.0)
        local = lambda x, t, w: jl.vocab_parallel_cross_entropy(  # noqa: E731
            x, t, w, axis_name=("data", "model"), label_smoothing=0.1)
        self.compare("classes over (data, model)", self.smap(local, (both, REP, REP)),
                     lambda x, t, w: jl.cross_entropy(x, t, w, label_smoothing=0.1), [logits, labels, weight],
                     [both, REP, REP], (0, 2))

    def vocab_vs_linear(self) -> None:
        jl, jnp = self.jl, self.jax.numpy
        x, w, labels = _normal(86, (N, 5)), _normal(87, (5, C)), _ignored(_labels(88, (N,), C))
        config = {"label_smoothing": 0.1, "reduction": "none"}

        def via_logits(h: Any, ww: Any, t: Any) -> Any:
            return jl.vocab_parallel_cross_entropy(jnp.dot(h, ww), t, axis_name="model", **config)

        def fused(h: Any, ww: Any, t: Any) -> Any:
            return jl.linear_cross_entropy(h, ww, t, vocab_axis="model", chunk_size=2, **config)

        self.compare("vocab_parallel_cross_entropy(x @ w) vs linear_cross_entropy(vocab_axis)",
                     self.smap(via_logits, (REP, M, REP), REP), self.smap(fused, (REP, M, REP), REP),
                     [x, w, labels], [REP, M, REP], (0, 1), reference_on_mesh=True)

    # -- a mesh with Explicit axes (the default of jax.make_mesh) -------------------------------

    def explicit_mesh(self) -> Any:
        from jax.sharding import AxisType

        return self.jax.make_mesh(MESH_SHAPE, ("data", "model"), axis_types=(AxisType.Explicit,) * 2)

    def explicit_compare(self, what: str, fn: Callable[..., Any], args: list[np.ndarray],
                         specs: list[tuple[str | None, ...]], grad: tuple[int, ...]) -> None:
        """``fn`` (a scalar loss) on arrays placed on an Explicit mesh equals ``fn`` on one device."""
        jax = self.jax
        mesh = self.explicit_mesh()
        step = jax.jit(jax.value_and_grad(fn, argnums=grad))
        want, want_g = step(*(jax.device_put(a, jax.devices()[0]) for a in args))
        with jax.set_mesh(mesh):
            placed = [jax.device_put(a, self.NamedSharding(mesh, self.P(*s))) for a, s in zip(args, specs)]
            got, got_g = step(*placed)
        _close(f"{what} value", got, want)
        for i, g, w in zip(grad, got_g, want_g):
            _close(f"{what} grad {i}", g, w)

    def explicit_every_case(self, batch_only: bool = False, set_mesh: bool = True) -> None:
        """Every case on the Explicit mesh, with only the batch sharded (over "data"; classes,
        weights and features replicated: the commonest data-parallel layout) or as the case
        places it, called inside ``jax.set_mesh`` or on arrays merely placed on the mesh."""
        failures = []
        for case in cases():
            if batch_only:
                case = dataclasses.replace(
                    case,
                    args=tuple((a, tuple(x if x == "data" else None for x in s)) for a, s in case.args),
                    arrays={k: (a, tuple(x if x == "data" else None for x in s)) for k, (a, s) in case.arrays.items()})
            try:
                self.jit_case(case, explicit=True, set_mesh=set_mesh)
            except Exception as e:  # report every case that fails, not only the first
                failures.append(f"{case.name}: {str(e).splitlines()[0][:300]}")
        if failures:
            raise Mismatch("\n".join(failures))

    def explicit_unreduced_sharding(self) -> None:
        """The unreduced loss is typed with the sharding of the batch it comes from: the input of
        its shape for an elementwise loss, the batch axis of the logits for a per-sample loss."""
        jax, jl = self.jax, self.jl
        mesh = self.explicit_mesh()
        logits, labels, x = _normal(100, (N, C)), _labels(101, (N,), C), _normal(102, (N, C))
        with jax.set_mesh(mesh):
            per_sample = jax.jit(lambda a, t: jl.cross_entropy(a, t, reduction="none"))(
                jax.device_put(logits, self.NamedSharding(mesh, self.P(*DM))),
                jax.device_put(labels, self.NamedSharding(mesh, self.P(*D))))
            per_element = jax.jit(lambda a, b: jl.mse_loss(a, b, reduction="none"))(
                *(jax.device_put(v, self.NamedSharding(mesh, self.P(*DM))) for v in (x, x + 1)))
        for what, out, spec in (("cross_entropy", per_sample, D), ("mse_loss", per_element, DM)):
            got = tuple(out.sharding.spec)
            if got[: len(spec)] != spec or any(g is not None for g in got[len(spec):]):
                raise Mismatch(f"{what}(reduction='none') is sharded as {got}, expected {spec}")
        _close("mse_loss unreduced", per_element, np.ones((N, C)), 1e-6)

    def explicit_shard_map_over_data(self) -> None:
        """Inside ``shard_map`` over "data" of an Explicit mesh, "model" stays Explicit: a class-
        weighted cross-entropy (a gather of the weights by the labels) still runs, and the psum of
        the per-device sums is the whole batch's sum."""
        jax, jl = self.jax, self.jl
        mesh = self.explicit_mesh()
        logits, labels, weight = _normal(103, (N, C), 2.0), _ignored(_labels(104, (N,), C)), _uniform(105, (C,), 0.5, 2.0)

        def summed(x: Any, t: Any, w: Any) -> Any:
            return jl.cross_entropy(x, t, w, reduction="sum", label_smoothing=0.1)

        local = jax.shard_map(lambda x, t, w: jax.lax.psum(summed(x, t, w), "data"), mesh=mesh, axis_names={"data"},
                              in_specs=(self.P("data"), self.P("data"), self.P()), out_specs=self.P())
        step = jax.jit(jax.value_and_grad(local, argnums=(0, 2)))
        want, want_g = jax.jit(jax.value_and_grad(summed, argnums=(0, 2)))(logits, labels, weight)
        with jax.set_mesh(mesh):
            got, got_g = step(*(jax.device_put(a, self.NamedSharding(mesh, self.P(*s)))
                                for a, s in ((logits, D), (labels, D), (weight, REP))))
        _close("shard_map cross_entropy value", got, want)
        for g, w in zip(got_g, want_g):
            _close("shard_map cross_entropy grad", g, w)

    def explicit_cross_entropy(self) -> None:
        """A caller's own ``jax.sharding.auto_axes`` around a loss (the workaround before the losses
        did it themselves) still works."""
        jax, jl = self.jax, self.jl
        logits, labels, weight = _normal(97, (N, C), 2.0), _ignored(_labels(98, (N,), C)), _uniform(99, (C,), 0.5, 2.0)
        loss = jax.sharding.auto_axes(lambda x, t, w: jl.cross_entropy(x, t, w, label_smoothing=0.1),
                                      out_sharding=self.P())
        self.explicit_compare("auto_axes(cross_entropy)", loss, [logits, labels, weight], [DM, D, _spec("model")], (0, 2))

    # -- compiled programs ---------------------------------------------------------------------

    def hlo_text(self, fn: Callable[..., Any], args: list[np.ndarray], specs: list[tuple[str | None, ...]]) -> str:
        jax = self.jax
        placed = [jax.device_put(a, self.sharding(s)) for a, s in zip(args, specs)]
        return jax.jit(jax.value_and_grad(fn)).lower(*placed).compile().as_text()

    def no_gather(self, what: str, text: str, block_elements: int) -> None:
        """No all-gather at all, and every collective's result smaller than one device's logits."""
        collectives = [ln.strip() for ln in text.splitlines()
                       if re.search(r"= .*\b(all-gather|all-reduce|all-to-all|collective-permute|reduce-scatter)(-start)?\(", ln)]
        gathers = [ln for ln in collectives if "all-gather" in ln]
        if gathers:
            raise Mismatch(f"{what}: {len(gathers)} all-gather(s) in the compiled program:\n" + "\n".join(g[:200] for g in gathers))
        for ln in collectives:
            result = ln.split("=", 1)[1].split("(")[0]
            for dims in re.findall(r"\[([\d,]*)\]", result):
                size = int(np.prod([int(d) for d in dims.split(",") if d])) if dims else 1
                if size >= block_elements:
                    raise Mismatch(f"{what}: a collective moves {size} >= {block_elements} elements:\n{ln[:200]}")
        if not any("all-reduce" in ln for ln in collectives):
            raise Mismatch(f"{what}: no all-reduce: the class axis was not sharded")

    def hlo_loss(self, loss: str) -> None:
        """Value and gradient with the class axis (and the class weights) sharded over "model",
        with torch's options that touch the class axis (weight, ignore_index, label smoothing)."""
        jl = self.jl
        n, c = 16, 64  # each device holds a (4, 32) block of the (16, 64) logits
        logits, labels, weight = _normal(90, (n, c)), _ignored(_labels(91, (n,), c)), _uniform(92, (c,), 0.5, 2.0)
        calls = {
            "cross_entropy": lambda x, t, w: jl.cross_entropy(x, t, w, label_smoothing=0.1),
            "nll_loss": lambda x, t, w: jl.nll_loss(x, t, w),
            "softmax_focal_loss": lambda x, t, w: jl.softmax_focal_loss(x, t, w, alpha=w, label_smoothing=0.1),
        }
        text = self.hlo_text(calls[loss], [logits, labels, weight], [DM, D, _spec("model")])
        self.no_gather(loss, text, (n // 4) * (c // 2))

    def hlo_detector(self) -> None:
        """The check above fails on a program that does gather the logits (so it can fail)."""
        jax, jl = self.jax, self.jl
        n, c = 16, 64
        logits, labels = _normal(95, (n, c)), _labels(96, (n,), c)

        def gathered(x: Any, t: Any) -> Any:
            return jl.cross_entropy(jax.lax.with_sharding_constraint(x, self.sharding(REP)), t)

        try:
            self.no_gather("gathered logits", self.hlo_text(gathered, [logits, labels], [DM, D]), (n // 4) * (c // 2))
        except Mismatch as e:
            if "all-gather" not in str(e):
                raise
            return
        raise Mismatch("an all-gather of the whole logits went unnoticed")

    def hlo_vocab(self) -> None:
        jl = self.jl
        n, c = 16, 64
        logits, labels = _normal(93, (n, c)), _labels(94, (n,), c)
        f = self.smap(lambda x, t: jl.vocab_parallel_cross_entropy(x, t, axis_name="model", batch_axis="data"), (DM, D))
        self.no_gather("vocab_parallel_cross_entropy", self.hlo_text(f, [logits, labels], [DM, D]), (n // 4) * (c // 2))

    def all(self) -> dict[str, dict[str, Any]]:
        for case in cases():
            self.run(f"jit/{case.name}", lambda case=case: self.jit_case(case))
        for case in cases():
            self.run(f"explicit/{case.name}", lambda case=case: self.jit_case(case, explicit=True))
        for case in cases():
            if case.separable:
                self.run(f"shard_map/data_parallel/{case.name}", lambda case=case: self.data_parallel_case(case))
        checks: dict[str, Callable[[], None]] = {
            "global/mse_loss/uneven_mask": self.uneven_mse,
            "global/cross_entropy/weight+ignore": self.uneven_cross_entropy,
            "shard_map/global_mean/mse_loss+where": self.global_mean_mse,
            "shard_map/global_mean/cross_entropy_weighted": self.global_mean_cross_entropy,
            "shard_map/global_mean/weight+divide_by_count": self.global_mean_weight_count,
            "shard_map/global_mean/nothing_counts": self.global_mean_nothing,
            "shard_map/global_sum/l1_loss": self.global_sum_l1,
            "shard_map/vocab_parallel_cross_entropy/plain": lambda: self.vocab("plain", (N, C)),
            "shard_map/vocab_parallel_cross_entropy/weight+ignore+smoothing+where": lambda: self.vocab(
                "weight+ignore+smoothing+where", (N, C), weight=True, ignore=True, where=True, label_smoothing=0.2),
            "shard_map/vocab_parallel_cross_entropy/none": lambda: self.vocab("none", (N, C), weight=True, reduction="none"),
            "shard_map/vocab_parallel_cross_entropy/sum": lambda: self.vocab("sum", (N, C), ignore=True, reduction="sum"),
            "shard_map/vocab_parallel_cross_entropy/axis=1": lambda: self.vocab("axis=1", (N, C, 3), axis=1, ignore=True),
            "shard_map/vocab_parallel_cross_entropy/bfloat16": lambda: self.vocab(
                "bfloat16", (N, C), dtype=self.jax.numpy.bfloat16, label_smoothing=0.1),
            "shard_map/vocab_parallel_cross_entropy/bad_target_nan": self.vocab_bad_target,
            "shard_map/vocab_parallel_cross_entropy/classes_over_both_axes": self.vocab_two_axes,
            "shard_map/vocab_parallel_cross_entropy/matches_linear_cross_entropy": self.vocab_vs_linear,
            "explicit/batch_only/every_case": lambda: self.explicit_every_case(batch_only=True),
            "explicit/placed_without_set_mesh/every_case": lambda: self.explicit_every_case(set_mesh=False),
            "explicit/unreduced_keeps_batch_sharding": self.explicit_unreduced_sharding,
            "explicit/shard_map_over_data": self.explicit_shard_map_over_data,
            "explicit/cross_entropy/auto_axes": self.explicit_cross_entropy,
            "hlo/detector_sees_a_gather": self.hlo_detector,
            "hlo/cross_entropy": lambda: self.hlo_loss("cross_entropy"),
            "hlo/nll_loss": lambda: self.hlo_loss("nll_loss"),
            "hlo/softmax_focal_loss": lambda: self.hlo_loss("softmax_focal_loss"),
            "hlo/vocab_parallel_cross_entropy": self.hlo_vocab,
        }
        assert tuple(checks) == OTHER_CHECKS
        for name, check in checks.items():
            if name.startswith("hlo/"):  # inspect the program XLA really runs
                self.jax.config.update("jax_disable_most_optimizations", False)
            self.run(name, check)
        return self.results


def main(argv: list[str]) -> int:
    out_path = argv[1]
    start = time.perf_counter()
    results = Child().all()
    results["_total_seconds"] = {"ok": True, "detail": f"{time.perf_counter() - start:.1f}"}
    with open(out_path, "w") as f:
        json.dump(results, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
