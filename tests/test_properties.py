"""Property tests over every loss, driven by the registry in ``references/``.

Hypothesis draws the seed, the batch shape and the input scale; the registry turns them into valid
inputs. The CI profile is small (``HYPOTHESIS_PROFILE=ci``, the default); run
``HYPOTHESIS_PROFILE=long python -m pytest tests/test_properties.py`` for a longer search.
"""

from __future__ import annotations

import inspect
import math
import re
import sys
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from jax.experimental import checkify
from jax.test_util import check_grads

import jaxloss as jl
from references import SPECS, Spec, to_torch

BATCHES = [(1,), (3,), (2, 3), (4, 1)]
NAMES = sorted(SPECS)
seeds = st.integers(0, 2**32 - 1)
batches = st.sampled_from(BATCHES)
scales = st.sampled_from([1e-3, 1.0, 30.0])
# eager evaluation runs every loop (scan, while) op by op in Python, up to 20 s per example for the
# CTC and Lovasz losses: a tenth of the profile's examples (at least 3) suffice there, the other
# properties cover the shapes
def eager_examples(max_examples: int) -> int:
    return max(3, max_examples // 10)


def runs_eagerly(test: Any) -> Any:
    """A property that evaluates eagerly (below ``@given``): a tenth of the profile's examples."""
    test.runs_eagerly = True
    return settings(max_examples=eager_examples(settings.default.max_examples))(test)


def _fn(spec: Spec):
    return jl.CATALOGUE[spec.name].function


def _cast(args: tuple[np.ndarray, ...], dtype: Any) -> list[jax.Array]:
    return [jnp.asarray(a, dtype) if np.issubdtype(a.dtype, np.floating) else jnp.asarray(a) for a in args]


def _draw(spec: Spec, seed: int, batch: tuple[int, ...], scale: float, dtype: Any = jnp.float32):
    args, kwargs = spec.make(np.random.default_rng(seed), batch, scale)
    return _cast(args, dtype), kwargs


def _diff(spec: Spec, args, kwargs, reduction: str = "sum"):
    def total(*diff):
        full = list(args)
        for i, d in zip(spec.grad_args, diff):
            full[i] = d
        return _fn(spec)(*full, reduction=reduction, **kwargs)

    return jax.value_and_grad(total, argnums=tuple(range(len(spec.grad_args))))(*(args[i] for i in spec.grad_args))


@pytest.mark.quick
def test_every_loss_has_a_spec():
    assert set(jl.CATALOGUE) <= set(SPECS), f"losses without a registry entry: {sorted(set(jl.CATALOGUE) - set(SPECS))}"


@pytest.mark.quick
@pytest.mark.parametrize("name", NAMES)
@given(seed=seeds, batch=batches, scale=scales)
def test_value_and_gradient_finite_on_valid_inputs(name, seed, batch, scale):
    spec = SPECS[name]
    args, kwargs = _draw(spec, seed, batch, scale)
    value, grads = _diff(spec, args, kwargs)
    assert np.isfinite(float(value)), (name, value)
    for g in grads:
        assert np.all(np.isfinite(np.asarray(g))), (name, g)


@pytest.mark.parametrize("name", [n for n in NAMES if SPECS[n].max_scale >= 1e8])
def test_finite_at_extreme_magnitudes(name):
    spec = SPECS[name]
    for seed, scale in enumerate((1e-30, 1e-8, spec.max_scale ** 0.5, spec.max_scale)):
        args, kwargs = _draw(spec, seed, (3, 2), scale)
        value, grads = _diff(spec, args, kwargs, reduction="mean")
        assert np.isfinite(float(value)), (name, scale, value)
        for g in grads:
            assert np.all(np.isfinite(np.asarray(g))), (name, scale, g)


@pytest.mark.parametrize("name", NAMES)
@given(seed=seeds, batch=batches)
@runs_eagerly
def test_jit_equals_eager(name, seed, batch):
    spec = SPECS[name]
    args, kwargs = _draw(spec, seed, batch, 1.0)
    jitted = _fn(spec)(*args, reduction="none", **kwargs)
    with jax.disable_jit():
        eager = _fn(spec)(*args, reduction="none", **kwargs)
    np.testing.assert_allclose(jitted, eager, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name", [n for n in NAMES if SPECS[n].vmap])
@given(seed=seeds, batch=batches)
def test_vmap_over_batch_equals_none(name, seed, batch):
    spec = SPECS[name]
    args, kwargs = _draw(spec, seed, batch, 1.0)
    fn = _fn(spec)
    unreduced = fn(*args, reduction="none", **kwargs)
    per_entry = jax.vmap(lambda *a: fn(*a, reduction="none", **kwargs))(*args)
    np.testing.assert_allclose(per_entry, unreduced, rtol=1e-5, atol=1e-6)
    if spec.unreduced == "batch":
        assert unreduced.shape == batch


@pytest.mark.parametrize("name", NAMES)
@given(seed=seeds, batch=batches)
def test_sum_and_mean_agree_with_none(name, seed, batch):
    spec = SPECS[name]
    args, kwargs = _draw(spec, seed, batch, 1.0)
    fn = _fn(spec)
    unreduced = np.asarray(fn(*args, reduction="none", **kwargs), np.float64)
    np.testing.assert_allclose(fn(*args, reduction="sum", **kwargs), unreduced.sum(), rtol=1e-5, atol=1e-5)
    if spec.mean_is_average:
        np.testing.assert_allclose(fn(*args, reduction="mean", **kwargs), unreduced.mean(), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name", [n for n in NAMES if jl.CATALOGUE[n].supports_where and SPECS[n].where])
@given(seed=seeds, batch=batches, data=st.data())
def test_where_equals_boolean_selection(name, seed, batch, data):
    spec = SPECS[name]
    args, kwargs = _draw(spec, seed, batch, 1.0)
    fn = _fn(spec)
    unreduced = np.asarray(fn(*args, reduction="none", **kwargs))
    mask = np.asarray(data.draw(st.lists(st.booleans(), min_size=unreduced.size, max_size=unreduced.size)), bool).reshape(unreduced.shape)
    masked_none = np.asarray(fn(*args, reduction="none", where=mask, **kwargs))
    np.testing.assert_array_equal(masked_none[~mask], 0)
    np.testing.assert_allclose(masked_none[mask], unreduced[mask], rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(fn(*args, reduction="sum", where=mask, **kwargs), unreduced[mask].sum(), rtol=1e-5, atol=1e-5)
    if spec.mean_is_average:
        expected = unreduced[mask].mean() if mask.any() else 0.0  # a mean over nothing is 0
        np.testing.assert_allclose(fn(*args, reduction="mean", where=mask, **kwargs), expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("dtype", [jnp.float16, jnp.bfloat16], ids=lambda d: jnp.dtype(d).name)
@pytest.mark.parametrize("name", NAMES)
@given(seed=seeds, batch=batches)
def test_half_precision_close_to_float32(name, dtype, seed, batch):
    spec = SPECS[name]
    half, kwargs = _draw(spec, seed, batch, 1.0, dtype)
    exact = [a.astype(jnp.float32) if a.dtype == dtype else a for a in half]  # the same values in float32
    out = _fn(spec)(*half, reduction="none", **kwargs)
    assert out.dtype == dtype
    ref = np.asarray(_fn(spec)(*exact, reduction="none", **kwargs))
    np.testing.assert_allclose(np.asarray(out, np.float32), ref, rtol=spec.half_rtol, atol=spec.half_rtol)
    _, grads = _diff(spec, half, kwargs)
    for g in grads:
        assert g.dtype == dtype


@pytest.mark.parametrize("name", [n for n in NAMES if SPECS[n].check_grads])
@given(seed=seeds)
def test_gradients_pass_check_grads(name, seed):
    spec = SPECS[name]
    with jax.enable_x64(True):
        args, kwargs = _draw(spec, seed, (2, 3), 1.0, jnp.float64)
        fn = _fn(spec)

        def total(*diff):
            full = list(args)
            for i, d in zip(spec.grad_args, diff):
                full[i] = d
            return fn(*full, reduction="sum", **kwargs)

        check_grads(total, tuple(args[i] for i in spec.grad_args), order=spec.grad_order, modes=["rev"], atol=1e-4, rtol=1e-4)


# The losses whose gradient is a reverse-mode rule (a custom_vjp: the softmax engine's statistics,
# CTC's and Lovasz's recursions): forward mode raises an error naming the loss,
# and second derivatives work as forward-over-reverse (jax.hessian) and reverse-over-reverse.
REVERSE_ONLY = {"cross_entropy", "poly1_cross_entropy", "softmax_focal_loss", "ntxent_loss",
                "supervised_contrastive_loss", "linear_cross_entropy", "ctc_loss", "lovasz_hinge_loss",
                "lovasz_softmax_loss"}


def _float64_total(spec: Spec, seed: int):
    args, kwargs = _draw(spec, seed, (2, 3), 1.0, jnp.float64)
    fn = _fn(spec)

    def total(*diff):
        full = list(args)
        for i, d in zip(spec.grad_args, diff):
            full[i] = d
        return fn(*full, reduction="sum", **kwargs)

    return total, tuple(args[i] for i in spec.grad_args)


@pytest.mark.parametrize("name", [n for n in NAMES if SPECS[n].check_grads])
def test_forward_mode_is_the_derivative_or_an_error_naming_the_loss(name):
    """jax.jvp against finite differences (float64), or, for a reverse-only loss, a TypeError that
    names it and the transforms to use (not JAX's generic custom_vjp message)."""
    with jax.enable_x64(True):
        total, primals = _float64_total(SPECS[name], 0)
        if name in REVERSE_ONLY:
            with pytest.raises(TypeError, match=rf"^{name}: forward-mode differentiation .* Use reverse mode"):
                jax.jvp(total, primals, primals)
        else:
            check_grads(total, primals, order=1, modes=["fwd"], atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("name", [n for n in NAMES if SPECS[n].check_grads and SPECS[n].grad_order == 2])
def test_hessian_forward_over_reverse_is_the_derivative_of_the_gradient(name):
    """jax.hessian (jacfwd of jacrev) and jax.jvp of jax.grad (Hessian-vector products), against
    finite differences of the gradient (float64): never an error, never a silent zero."""
    with jax.enable_x64(True):
        total, primals = _float64_total(SPECS[name], 1)
        gradient = jax.grad(total)
        check_grads(gradient, primals[:1], order=1, modes=["fwd"], atol=1e-4, rtol=1e-4)
        hessian = jax.hessian(total)(primals[0])
        reverse_over_reverse = jax.jacrev(jax.jacrev(total))(primals[0])
        np.testing.assert_allclose(hessian, reverse_over_reverse, rtol=1e-9, atol=1e-12)


@pytest.mark.quick
@pytest.mark.parametrize("name", [n for n in NAMES if SPECS[n].torch_fn is not None])
@given(seed=seeds, batch=batches, scale=scales, reduction=st.sampled_from(["mean", "sum", "none"]))
def test_parity_with_reference_on_random_shapes(name, seed, batch, scale, reduction):
    spec = SPECS[name]
    raw, kwargs = spec.make(np.random.default_rng(seed), batch, scale)
    args = [a.astype(np.float32) if np.issubdtype(a.dtype, np.floating) else a for a in raw]
    ours = np.asarray(_fn(spec)(*_cast(tuple(args), jnp.float32), reduction=reduction, **kwargs))
    theirs = spec.torch_fn(*(to_torch(a) for a in args), reduction=reduction, **kwargs).numpy()
    finite = np.isfinite(theirs)  # torch's naive forms may overflow where jaxloss does not
    np.testing.assert_allclose(ours[finite], theirs[finite], rtol=spec.torch_rtol, atol=spec.torch_rtol * 1e-2)


# --- bad input, for every loss ---------------------------------------------------------------------


@pytest.mark.parametrize("name", NAMES)
def test_bad_reduction_names_the_loss_and_the_choices(name):
    spec = SPECS[name]
    args, kwargs = _draw(spec, 0, (3,), 1.0)
    # kl_div also accepts torch's "batchmean"
    allowed = r"'mean', (?:'batchmean', )?'sum', 'none'"
    with pytest.raises(ValueError, match=rf"{name}: reduction='average' is not supported; expected one of {allowed}"):
        _fn(spec)(*args, reduction="average", **kwargs)


@pytest.mark.parametrize("name", NAMES)
def test_integer_input_is_a_type_error(name):
    spec = SPECS[name]
    args, kwargs = _draw(spec, 0, (3,), 1.0)
    args[0] = args[0].astype(jnp.int32)
    with pytest.raises(TypeError, match=rf"{name}: `\w+` must have a floating dtype, got int32"):
        _fn(spec)(*args, **kwargs)


@pytest.mark.parametrize("name", NAMES)
def test_mismatched_shapes_raise_naming_the_shapes(name):
    spec = SPECS[name]
    args, kwargs = _draw(spec, 0, (3, 2), 1.0)
    if spec.bad_shape is None:
        args[0] = jnp.zeros((*args[0].shape, 7), args[0].dtype)
        pattern = re.escape(str(tuple(args[0].shape)))
    else:
        args, pattern = spec.bad_shape(args)
    with pytest.raises(ValueError, match=rf"{name}: .*{pattern}"):
        _fn(spec)(*args, **kwargs)


@pytest.mark.parametrize("name", NAMES)
def test_nan_inputs_propagate(name):
    spec = SPECS[name]
    args, kwargs = _draw(spec, 0, (3, 2), 1.0)
    args[0] = args[0].at[(0,) * args[0].ndim].set(jnp.nan)
    assert np.isnan(float(_fn(spec)(*args, reduction="sum", **kwargs)))


# --- the (..., 1) layout of elementwise losses ----------------------------------------------------


@pytest.mark.parametrize("name", NAMES)
def test_elementwise_flag_matches_the_registry(name):
    # the catalogue's flag turns on the (..., 1) fast path; it must be set exactly on the losses
    # whose unreduced value is elementwise
    assert jl.CATALOGUE[name].elementwise == (SPECS[name].unreduced == "element")


@pytest.mark.parametrize("name", [n for n in NAMES if SPECS[n].unreduced == "element"])
def test_unit_minor_axis_gives_the_values_and_gradients_of_the_flat_batch(name):
    # inputs with a trailing size-1 axis are computed without it (drop_unit_minor_axis); values,
    # gradients and shapes must be those of the (..., 1) problem: equal to the inputs without that
    # axis, reshaped, and equal to torch
    spec = SPECS[name]
    raw, kwargs = spec.make(np.random.default_rng(3), (7,), 1.0)
    raw = tuple(a.astype(np.float32) if np.issubdtype(a.dtype, np.floating) else a for a in raw)
    kwargs_column = {k: v[..., None] if isinstance(v, np.ndarray) else v for k, v in kwargs.items()}
    flat, column = _cast(raw, jnp.float32), _cast(tuple(a[..., None] for a in raw), jnp.float32)
    shape = column[0].shape
    mask = np.arange(column[0].size).reshape(shape) % 3 != 0
    masks = ({"where": mask}, {"where": mask.reshape(flat[0].shape)}) if jl.CATALOGUE[name].supports_where else ({}, {})
    for reduction in ("none", "mean", "sum"):
        out = _fn(spec)(*column, reduction=reduction, **kwargs_column, **masks[0])
        out_flat = _fn(spec)(*flat, reduction=reduction, **kwargs, **masks[1])
        assert out.shape == (shape if reduction == "none" else ())
        np.testing.assert_allclose(np.asarray(out).reshape(-1), np.asarray(out_flat).reshape(-1), rtol=1e-6, atol=1e-7)
        if reduction != "none":
            value, grads = _diff(spec, column, {**kwargs_column, **masks[0]}, reduction)
            value_flat, grads_flat = _diff(spec, flat, {**kwargs, **masks[1]}, reduction)
            np.testing.assert_allclose(value, value_flat, rtol=1e-6)
            for g, g_flat in zip(grads, grads_flat):
                assert g.shape == shape
                np.testing.assert_allclose(np.asarray(g).reshape(-1), np.asarray(g_flat).reshape(-1), rtol=1e-6, atol=1e-7)
    if spec.torch_fn is not None:
        theirs = spec.torch_fn(*(to_torch(a[..., None]) for a in raw), reduction="none", **kwargs_column).numpy()
        ours = np.asarray(_fn(spec)(*column, reduction="none", **kwargs_column))
        assert theirs.shape == ours.shape == shape
        np.testing.assert_allclose(ours, theirs, rtol=spec.torch_rtol, atol=spec.torch_rtol * 1e-2)


def _effects(spec: Spec, args, kwargs) -> set[Any]:
    """The effects on the jaxprs of the jitted value and of value+grad (an error effect costs ~80 us
    per call of a jitted program: it takes JAX's dispatch off its C++ fast path)."""
    value = jax.make_jaxpr(lambda *a: _fn(spec)(*a, **kwargs))(*args)
    value_and_grad = jax.make_jaxpr(lambda *a: _diff(spec, a, kwargs))(*args)
    return set(value.effects) | set(value_and_grad.effects)


@pytest.mark.parametrize("name", NAMES)
def test_no_error_effect_outside_checked_mode(name):
    spec = SPECS[name]
    args, kwargs = _draw(spec, 0, (3,), 1.0)
    assert _effects(spec, args, kwargs) == set(), name


# losses that flag invalid run-time values: inside jl.value_checks() their jaxprs carry the check
# (so the test above would see one if it were traced unconditionally)
FLAGGING = ["cross_entropy", "gaussian_nll_loss", "huber_loss", "ctc_loss", "dice_loss", "linear_cross_entropy",
            "ntxent_loss", "multi_margin_loss", "kl_div", "binary_cross_entropy"]


@pytest.mark.parametrize("name", FLAGGING)
def test_value_checks_context_traces_the_error_effect(name):
    spec = SPECS[name]
    args, kwargs = _draw(spec, 0, (3,), 1.0)
    with jl.value_checks():
        effects = _effects(spec, args, kwargs)
    assert any("ErrorEffect" in type(e).__name__ for e in effects), (name, effects)


# --- masked entries are inert; invalid values poison the gradient too ------------------------------


def _dead_entries(arg: np.ndarray, mask: np.ndarray, elementwise: bool) -> np.ndarray | None:
    """Which entries of ``arg`` serve only loss entries that ``mask`` drops (None: ``arg`` is not
    laid out along the mask). An argument whose leading axes are the mask's shape has one row of
    trailing features per loss entry; an elementwise loss's arguments broadcast against the mask."""
    if arg.shape[: mask.ndim] == mask.shape:
        return np.broadcast_to(~mask.reshape(mask.shape + (1,) * (arg.ndim - mask.ndim)), arg.shape)
    if not elementwise or arg.ndim > mask.ndim:
        return None
    try:
        full = np.broadcast_shapes(arg.shape, mask.shape)
    except ValueError:
        return None
    if full != mask.shape:
        return None
    lead = mask.ndim - arg.ndim
    shared = tuple(range(lead)) + tuple(lead + i for i, n in enumerate(arg.shape) if n == 1 and mask.shape[lead + i] != 1)
    return ~np.any(mask, axis=shared).reshape(arg.shape)


def _poisoned(args, mask: np.ndarray, elementwise: bool):
    """The arguments with NaN (floats) or an absurd index (integers) wherever only dropped entries read."""
    out, poisoned = [], 0
    for a in args:
        a = np.array(a, copy=True)
        dead = _dead_entries(a, mask, elementwise)
        if dead is not None and dead.any():
            a[dead] = np.nan if np.issubdtype(a.dtype, np.floating) else 10**6
            poisoned += 1
        out.append(a)
    return out, poisoned


@pytest.mark.parametrize("name", [n for n in NAMES if jl.CATALOGUE[n].supports_where])
@given(seed=seeds, batch=batches, data=st.data())
def test_masked_entries_holding_nan_change_neither_value_nor_gradient(name, seed, batch, data):
    """DESIGN: a masked entry influences neither the value nor the gradient, whatever it holds. Every
    input entry that only masked loss entries read is set to NaN (an absurd class index or length for
    integers); value and gradients must equal those of the clean inputs under the same mask, and the
    masked entries' gradients must be 0."""
    spec = SPECS[name]
    args, kwargs = spec.make(np.random.default_rng(seed), batch, 1.0)
    args = [np.asarray(a, np.float32) if np.issubdtype(np.asarray(a).dtype, np.floating) else np.asarray(a) for a in args]
    fn = _fn(spec)
    if spec.mask_arg is None:
        shape = np.shape(fn(*_cast(args, jnp.float32), reduction="none", **kwargs))
    else:
        shape = args[spec.mask_arg].shape
    size = int(np.prod(shape))
    mask = np.asarray(data.draw(st.lists(st.booleans(), min_size=size, max_size=size)), bool).reshape(shape)
    mask.flat[0] = False  # something is masked
    dirty, poisoned = _poisoned(args, mask, spec.unreduced == "element")
    assert poisoned, f"{name}: no argument is laid out along a mask of shape {shape}"
    for reduction in ("sum", "mean"):
        clean_value, clean_grads = _diff(spec, _cast(args, jnp.float32), {**kwargs, "where": mask}, reduction)
        value, grads = _diff(spec, _cast(dirty, jnp.float32), {**kwargs, "where": mask}, reduction)
        np.testing.assert_allclose(value, clean_value, rtol=1e-6, atol=1e-7, err_msg=f"{name} {reduction} value")
        for i, g, cg in zip(spec.grad_args, grads, clean_grads):
            np.testing.assert_allclose(g, cg, rtol=1e-6, atol=1e-7, err_msg=f"{name} {reduction} gradient {i}")
            dead = _dead_entries(args[i], mask, spec.unreduced == "element")
            if dead is not None:
                np.testing.assert_array_equal(np.asarray(g)[dead], 0, err_msg=f"{name}: masked entries' gradient")


@pytest.mark.parametrize("name", [n for n in NAMES if SPECS[n].invalid is not None])
def test_an_invalid_value_gives_nan_value_and_gradient_and_checked_names_it(name):
    """An invalid value known only at run time gives NaN in the value and a non-finite gradient (so
    that a guard like optax.apply_if_finite skips the update), and jl.checked raises naming the loss.
    (zero_one_loss's gradient is zero by design: it is piecewise constant.)"""
    spec = SPECS[name]
    for seed in range(50):
        args, kwargs = spec.make(np.random.default_rng(seed), (3,), 1.0)
        bad = spec.invalid(list(args), dict(kwargs))
        if bad is not None:
            break
    else:
        pytest.fail(f"{name}: no draw in 50 seeds can hold an invalid value")
    args, kwargs = _cast(bad[0], jnp.float32), bad[1]
    value, grads = _diff(spec, args, kwargs, reduction="mean")
    assert np.isnan(float(value)), (name, value)
    if name != "zero_one_loss":
        assert any(not np.all(np.isfinite(np.asarray(g))) for g in grads), (name, grads)
    with pytest.raises(checkify.JaxRuntimeError, match=f"{name}: "):
        jl.checked(_fn(spec))(*args, **kwargs)


# --- the README's table of these properties --------------------------------------------------------


def property_table() -> str:
    """The README's table: each property of this module, in order, the losses it runs on and the
    cases per loss under CI's Hypothesis profile (read from the tests' own parametrisations)."""
    ci_examples = settings.get_profile("ci").max_examples
    rows = ["| property | losses | cases per loss | cases |", "|---|---|---|---|"]
    tests = inspect.getmembers(sys.modules[__name__], inspect.isfunction)
    for test_name, test in sorted(tests, key=lambda item: inspect.getsourcelines(item[1])[1]):
        marks = [m for m in getattr(test, "pytestmark", []) if m.name == "parametrize"]
        names = [m.args[1] for m in marks if m.args[0] == "name"]
        if not test_name.startswith("test_") or not names:
            continue
        per_loss = math.prod(len(m.args[1]) for m in marks if m.args[0] != "name")
        if hasattr(test, "hypothesis"):
            eager = getattr(test.hypothesis.inner_test, "runs_eagerly", False)
            per_loss *= eager_examples(ci_examples) if eager else ci_examples
        losses = len(names[0])
        rows.append(f"| {test_name.removeprefix('test_').replace('_', ' ')} | {losses} | {per_loss} | {losses * per_loss} |")
    return "\n".join(rows)


def test_readme_lists_every_property_with_its_case_counts():
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    section = re.search(r"<!-- property-table -->\n(.*?)\n<!-- /property-table -->", readme, flags=re.DOTALL)
    assert section is not None, "README.md has no property table"
    assert section.group(1) == property_table(), "README's property table is stale; paste:\n" + property_table()


@pytest.mark.quick
def test_quick_subset_compares_every_loss_with_its_reference():
    """``-m quick`` (README, Development) runs the parity property, which covers every loss."""
    parity = test_parity_with_reference_on_random_shapes
    assert any(m.name == "quick" for m in parity.pytestmark)
    (names,) = [m.args[1] for m in parity.pytestmark if m.name == "parametrize" and m.args[0] == "name"]
    assert sorted(names) == sorted(jl.CATALOGUE), sorted(set(jl.CATALOGUE) - set(names))
