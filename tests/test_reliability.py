"""Regression tests for classes of silent wrong numbers (one test per class; the property suite in
tests/test_properties.py holds the general properties over every loss of the registry).

* a NaN in an input that counts gives NaN (kl_div and Dice used to drop NaN targets);
* a NaN probability is reported by jl.checked (`< 0 or > 1` is False for NaN);
* a bad value that does not count (masked by `where` or ignored) is not an error in checked mode;
* confident predictions keep their relative precision (sigmoid_focal_loss cancelled to 0 at logit 15).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import mpmath
import numpy as np
import pytest
from jax.experimental import checkify

import jaxloss as jl


def test_nan_target_gives_nan_in_kl_div_and_dice():
    log_p = jnp.log(jnp.array([[0.25, 0.75], [0.5, 0.5]]))
    target = jnp.array([[0.5, jnp.nan], [0.5, 0.5]])
    value, grad = jax.value_and_grad(lambda a: jl.kl_div(a, target, reduction="sum"))(log_p)
    assert np.isnan(value) and np.isnan(grad[0, 1])
    pixels = jnp.array([[0.0, 1.0, jnp.nan], [1.0, 0.0, 1.0]])  # one NaN pixel in class 0's targets
    assert np.isnan(jl.dice_loss(jnp.zeros((2, 3)), pixels, mode="multilabel", axis=0))
    assert np.isnan(jl.jaccard_loss(jnp.zeros((2, 3)), pixels, mode="multilabel", axis=0))


def test_nan_probability_is_reported_by_checked():
    x, y = jnp.array([0.5, jnp.nan]), jnp.array([1.0, 0.0])
    assert np.isnan(jl.binary_cross_entropy(x, y))
    with pytest.raises(checkify.JaxRuntimeError, match="binary_cross_entropy: `input` must hold probabilities"):
        jl.checked(jl.binary_cross_entropy)(x, y)


@pytest.mark.parametrize("case", ["cross_entropy_where", "cross_entropy_ignore_index", "nll_loss_where",
                                  "linear_cross_entropy_where", "ctc_loss_where", "multi_margin_loss_where"])
def test_bad_values_that_do_not_count_are_not_errors_in_checked_mode(case):
    """The unchecked loss ignores them (a masked or ignored sample); so must jl.checked."""
    logits = jnp.zeros((3, 4))
    bad = jnp.array([1, 9, 2])  # 9 is out of range, in the sample that does not count
    keep = jnp.array([True, False, True])
    calls = {
        "cross_entropy_where": lambda: jl.cross_entropy(logits, bad, where=keep),
        "cross_entropy_ignore_index": lambda: jl.cross_entropy(logits, bad.at[1].set(-100)),
        "nll_loss_where": lambda: jl.nll_loss(logits, bad, where=keep),
        "linear_cross_entropy_where": lambda: jl.linear_cross_entropy(jnp.ones((3, 2)), jnp.ones((2, 4)), bad, where=keep),
        "ctc_loss_where": lambda: jl.ctc_loss(jax.nn.log_softmax(jnp.zeros((3, 5, 4))), jnp.ones((3, 2), jnp.int32),
                                              jnp.array([5, 99, 5]), jnp.array([2, 2, 2]), where=keep),
        "multi_margin_loss_where": lambda: jl.multi_margin_loss(logits, bad, where=keep),
    }
    value = jl.checked(calls[case])()
    assert np.isfinite(value) and np.isfinite(calls[case]())


@pytest.mark.parametrize("logit", [10.0, 15.0, 30.0, -15.0])
@pytest.mark.parametrize("label", [0.0, 1.0])
def test_sigmoid_focal_loss_keeps_relative_precision_for_confident_predictions(logit, label):
    """softplus(-x) is computed as relu(-x) + log1p(exp(-|x|)), not softplus(x) - x (which cancels
    to 0 at x = 15 in float32, and was 0.8% high at x = 10); reference: 50-digit mpmath."""
    with mpmath.workdps(50):
        x = mpmath.mpf(logit)
        p = 1 / (1 + mpmath.exp(-x))
        ce = -(label * mpmath.log(p) + (1 - label) * mpmath.log(1 - p))
        p_t = p * label + (1 - p) * (1 - label)
        expected = float((0.25 * label + 0.75 * (1 - label)) * ce * (1 - p_t) ** 2)
    value = float(jl.sigmoid_focal_loss(jnp.array([logit]), jnp.array([label]), reduction="sum"))
    if expected < np.finfo(np.float32).tiny:  # below float32's normal range (2e-40 at logit 30)
        assert value == 0.0 or abs(value - expected) < 1e-44
    else:
        np.testing.assert_allclose(value, expected, rtol=2e-6)
