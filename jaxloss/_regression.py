"""Regression losses: residual-based losses and likelihoods of real-valued targets."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

from jaxloss._core import checks as _checks
from jaxloss._core.decorator import loss
from jaxloss._core.numerics import abs_, log_cosh, safe_where
from jaxloss._core.reduction import Reduction, reduce
from jaxloss._core.runtime import flag_invalid


def _residual(input: ArrayLike, target: ArrayLike) -> jax.Array:
    """``input - target`` for floating arrays that broadcast together (as torch allows)."""
    input, target = _checks.floating(input=input, target=target)
    _checks.broadcast(input=input, target=target)
    return input - target


@loss(counterpart="`F.l1_loss`", custom_gradient=True, elementwise=True)
def l1_loss(
    input: ArrayLike,
    target: ArrayLike,
    *,
    reduction: Reduction = "mean",
    weight: ArrayLike | None = None,
    where: ArrayLike | None = None,
) -> jax.Array:
    r"""Mean absolute error, as ``torch.nn.functional.l1_loss``.

    .. math:: \ell_i = w_i \, |x_i - y_i|

    Args:
      input: predictions ``x``, any shape.
      target: targets ``y``, broadcastable with ``input``.
      reduction: ``"mean"`` (divided by the sum of the weights of the entries that count, or by
        their number without ``weight``), ``"sum"`` or ``"none"``.
      weight: optional per-element weights broadcastable to the loss (torch 2.13's ``weight``).
      where: optional boolean mask; False entries are left out of the loss.

    Returns:
      A scalar, or the broadcast shape of ``input`` and ``target`` for ``reduction="none"``.

    The gradient at a zero residual is 0, as in torch (a custom JVP of ``|x|``).

    Example:
      >>> import jax.numpy as jnp, jaxloss as jl
      >>> jl.l1_loss(jnp.array([1.0, 2.0, 3.0]), jnp.array([1.5, 2.0, 1.0]))
      Array(0.8333334, dtype=float32)
    """
    return reduce(abs_(_residual(input, target)), reduction, where=where, weight=weight)


@loss(counterpart="`F.mse_loss`", elementwise=True)
def mse_loss(
    input: ArrayLike,
    target: ArrayLike,
    *,
    reduction: Reduction = "mean",
    weight: ArrayLike | None = None,
    where: ArrayLike | None = None,
) -> jax.Array:
    r"""Mean squared error, as ``torch.nn.functional.mse_loss``.

    .. math:: \ell_i = w_i \, (x_i - y_i)^2

    Args:
      input: predictions ``x``, any shape.
      target: targets ``y``, broadcastable with ``input``.
      reduction: ``"mean"`` (divided by the sum of the weights of the entries that count, or by
        their number without ``weight``), ``"sum"`` or ``"none"``.
      weight: optional per-element weights broadcastable to the loss (torch 2.13's ``weight``).
      where: optional boolean mask; False entries are left out of the loss.

    Returns:
      A scalar, or the broadcast shape of ``input`` and ``target`` for ``reduction="none"``.

    Example:
      >>> import jax.numpy as jnp, jaxloss as jl
      >>> jl.mse_loss(jnp.array([1.0, 2.0, 3.0]), jnp.array([1.5, 2.0, 1.0]))
      Array(1.4166667, dtype=float32)
    """
    return reduce(jnp.square(_residual(input, target)), reduction, where=where, weight=weight)


@loss(counterpart="`F.huber_loss`", custom_gradient=True, elementwise=True)
def huber_loss(
    input: ArrayLike,
    target: ArrayLike,
    *,
    reduction: Reduction = "mean",
    delta: float | jax.Array = 1.0,
    weight: ArrayLike | None = None,
    where: ArrayLike | None = None,
) -> jax.Array:
    r"""Huber loss, as ``torch.nn.functional.huber_loss``.

    .. math::
       \ell_i = w_i \begin{cases} \tfrac12 d_i^2 & |d_i| < \delta \\
                                  \delta (|d_i| - \tfrac12 \delta) & \text{otherwise} \end{cases},
       \qquad d_i = x_i - y_i

    Args:
      input: predictions ``x``, any shape.
      target: targets ``y``, broadcastable with ``input``.
      reduction: ``"mean"``, ``"sum"`` or ``"none"``. With ``weight``, ``"mean"`` divides by the
        number of entries that count, not by the sum of weights (torch's rule for this loss).
      delta: threshold between the quadratic and linear parts, > 0 (traced). A non-positive value
        gives NaN (torch raises); :func:`jaxloss.checked` reports it.
      weight: optional per-element weights broadcastable to the loss.
      where: optional boolean mask; False entries are left out of the loss.

    Returns:
      A scalar, or the broadcast shape of ``input`` and ``target`` for ``reduction="none"``.

    Equals ``delta * smooth_l1_loss(..., beta=delta)``.

    Example:
      >>> import jax.numpy as jnp, jaxloss as jl
      >>> jl.huber_loss(jnp.array([0.0, 0.0]), jnp.array([0.5, 3.0]), reduction="none")
      Array([0.125, 2.5  ], dtype=float32)
    """
    d = abs_(_residual(input, target))
    per_element = jnp.where(d < delta, 0.5 * d * d, delta * (d - 0.5 * delta))
    per_element = flag_invalid(per_element, delta <= 0, loss="huber_loss", argument="delta", requirement="must be positive")
    return reduce(per_element, reduction, where=where, weight=weight, divide_by="count")


@loss(counterpart="`F.smooth_l1_loss`", custom_gradient=True, elementwise=True)
def smooth_l1_loss(
    input: ArrayLike,
    target: ArrayLike,
    *,
    reduction: Reduction = "mean",
    beta: float | jax.Array = 1.0,
    where: ArrayLike | None = None,
) -> jax.Array:
    r"""Smooth L1 loss, as ``torch.nn.functional.smooth_l1_loss``.

    .. math::
       \ell_i = \begin{cases} \tfrac12 d_i^2 / \beta & |d_i| < \beta \\
                              |d_i| - \tfrac12 \beta & \text{otherwise} \end{cases},
       \qquad d_i = x_i - y_i

    Args:
      input: predictions ``x``, any shape.
      target: targets ``y``, broadcastable with ``input``.
      reduction: ``"mean"``, ``"sum"`` or ``"none"``.
      beta: threshold, >= 0 (traced). ``beta=0`` is exactly :func:`l1_loss` (values and gradients).
        A negative value gives NaN (torch raises); :func:`jaxloss.checked` reports it.
      where: optional boolean mask; False entries are left out of the loss.

    Returns:
      A scalar, or the broadcast shape of ``input`` and ``target`` for ``reduction="none"``.

    Example:
      >>> import jax.numpy as jnp, jaxloss as jl
      >>> jl.smooth_l1_loss(jnp.array([0.0, 0.0]), jnp.array([0.5, 3.0]), reduction="none")
      Array([0.125, 2.5  ], dtype=float32)
    """
    d = abs_(_residual(input, target))
    quadratic = d < beta
    per_element = jnp.where(quadratic, 0.5 * d * d / safe_where(quadratic, beta, 1.0), d - 0.5 * beta)
    per_element = flag_invalid(per_element, beta < 0, loss="smooth_l1_loss", argument="beta", requirement="must be non-negative")
    return reduce(per_element, reduction, where=where)


@loss(counterpart="`F.poisson_nll_loss`", static=("log_input", "full"), elementwise=True)
def poisson_nll_loss(
    input: ArrayLike,
    target: ArrayLike,
    *,
    log_input: bool = True,
    full: bool = False,
    eps: float | jax.Array = 1e-8,
    reduction: Reduction = "mean",
    where: ArrayLike | None = None,
) -> jax.Array:
    r"""Poisson negative log-likelihood, as ``torch.nn.functional.poisson_nll_loss``.

    .. math::
       \ell_i = \begin{cases} e^{x_i} - y_i x_i & \text{log\_input} \\
                              x_i - y_i \log(x_i + \epsilon) & \text{otherwise} \end{cases}
       \; + \; [\text{full},\ y_i > 1] \left(y_i \log y_i - y_i + \tfrac12 \log(2\pi y_i)\right)

    Args:
      input: the predicted log-rate (``log_input=True``, the stable form) or rate, any shape.
      target: observed counts ``y``, broadcastable with ``input``.
      log_input: whether ``input`` is the log of the rate (static).
      full: add the Stirling approximation of ``log(y!)``, only where ``y > 1`` as torch does (static).
      eps: added to the rate before its log when ``log_input=False`` (traced).
      reduction: ``"mean"``, ``"sum"`` or ``"none"``.
      where: optional boolean mask; False entries are left out of the loss.

    Returns:
      A scalar, or the broadcast shape of ``input`` and ``target`` for ``reduction="none"``.

    Example:
      >>> import jax.numpy as jnp, jaxloss as jl
      >>> jl.poisson_nll_loss(jnp.zeros(3), jnp.array([1.0, 1.5, 2.0]), full=True, reduction="none")
      Array([1.       , 1.2298687, 1.6518065], dtype=float32)
    """
    input, target = _checks.floating(input=input, target=target)
    _checks.broadcast(input=input, target=target)
    if log_input:
        per_element = jnp.exp(input) - target * input
    else:
        per_element = input - target * jnp.log(input + eps)
    if full:
        counts = target > 1
        y = safe_where(counts, target, 2.0)
        stirling = y * jnp.log(y) - y + 0.5 * jnp.log(2 * math.pi * y)
        per_element = per_element + jnp.where(counts, stirling, 0.0)
    return reduce(per_element, reduction, where=where)


def _gaussian_var_shape(input: jax.Array, var: jax.Array) -> jax.Array:
    """Apply torch's rules for the shape of ``var`` (see ``gaussian_nll_loss``)."""
    if var.ndim == 0 or var.shape == input.shape:
        return var
    if var.shape == input.shape[:-1]:
        return var[..., None]
    if var.ndim == input.ndim and sum(v for i, v in zip(input.shape, var.shape) if i != v) == 1:
        return var
    raise ValueError(
        f"gaussian_nll_loss: `var` has shape {tuple(var.shape)}, expected the shape of `input` "
        f"{tuple(input.shape)}, `input.shape[:-1]` {tuple(input.shape[:-1])}, or `input`'s shape with "
        "one dimension of size 1 (or a scalar)"
    )


@loss(counterpart="`F.gaussian_nll_loss`", static=("full",), elementwise=True)
def gaussian_nll_loss(
    input: ArrayLike,
    target: ArrayLike,
    var: ArrayLike,
    *,
    full: bool = False,
    eps: float | jax.Array = 1e-6,
    reduction: Reduction = "mean",
    where: ArrayLike | None = None,
) -> jax.Array:
    r"""Gaussian negative log-likelihood, as ``torch.nn.functional.gaussian_nll_loss``.

    .. math::
       \ell_i = \tfrac12 \left(\log \max(v_i, \epsilon) + \frac{(x_i - y_i)^2}{\max(v_i, \epsilon)}\right)
                \; + \; [\text{full}] \tfrac12 \log 2\pi

    Args:
      input: predicted means ``x``, any shape.
      target: targets ``y``, broadcastable with ``input``.
      var: predicted variances ``v``: the shape of ``input``; ``input.shape[:-1]`` (one variance
        per row); ``input``'s shape with one dimension of size 1; or a scalar. Any other shape
        raises ``ValueError`` and an integer ``var`` raises ``TypeError``, as in torch. A negative
        entry gives NaN (torch raises); :func:`jaxloss.checked` reports it.
      full: add the constant ``0.5 log(2 pi)`` (static).
      eps: lower clamp of ``var`` for stability (traced). As in torch the clamp is invisible to the
        gradient, which flows to ``var`` as if it were not clamped.
      reduction: ``"mean"``, ``"sum"`` or ``"none"``.
      where: optional boolean mask; False entries are left out of the loss.

    Returns:
      A scalar, or the broadcast shape of the arguments for ``reduction="none"``.

    Example:
      >>> import jax.numpy as jnp, jaxloss as jl
      >>> jl.gaussian_nll_loss(jnp.array([1.0]), jnp.array([0.0]), jnp.array([0.0]))
      Array(499993.1, dtype=float32)
    """
    input, target, var = _checks.floating(input=input, target=target, var=var)
    var = _gaussian_var_shape(input, var)
    _checks.broadcast(input=input, target=target, var=var)
    clamped = var + jax.lax.stop_gradient(jnp.maximum(var, eps) - var)
    per_element = 0.5 * (jnp.log(clamped) + jnp.square(input - target) / clamped)
    if full:
        per_element = per_element + 0.5 * math.log(2 * math.pi)
    per_element = flag_invalid(per_element, var < 0, loss="gaussian_nll_loss", argument="var", requirement="must be non-negative")
    return reduce(per_element, reduction, where=where)


@loss(counterpart="optax `log_cosh`; Keras `LogCosh`", elementwise=True)
def log_cosh_loss(
    input: ArrayLike,
    target: ArrayLike,
    *,
    reduction: Reduction = "mean",
    where: ArrayLike | None = None,
) -> jax.Array:
    r"""Log-cosh loss: quadratic near zero, linear (``|d| - log 2``) far away.

    .. math:: \ell_i = \log\cosh(x_i - y_i) = |d_i| + \log(1 + e^{-2|d_i|}) - \log 2

    Computed in the stable form above, so it stays finite for residuals where ``cosh`` overflows
    (``|d| > 89`` in float32). Its gradient is ``tanh(d)``. Elementwise as ``optax.log_cosh``;
    Keras' ``LogCosh`` is this with ``reduction="mean"`` over the last axis.

    Args:
      input: predictions ``x``, any shape.
      target: targets ``y``, broadcastable with ``input``.
      reduction: ``"mean"``, ``"sum"`` or ``"none"``.
      where: optional boolean mask; False entries are left out of the loss.

    Returns:
      A scalar, or the broadcast shape of ``input`` and ``target`` for ``reduction="none"``.

    Example:
      >>> import jax.numpy as jnp, jaxloss as jl
      >>> jl.log_cosh_loss(jnp.array([0.0, 1.0, 1000.0]), jnp.zeros(3), reduction="none")
      Array([0.0000000e+00, 4.3378082e-01, 9.9930682e+02], dtype=float32)
    """
    return reduce(log_cosh(_residual(input, target)), reduction, where=where)


@loss(counterpart="pinball loss (pytorch-forecasting `QuantileLoss`)", custom_gradient=True, elementwise=True)
def quantile_loss(
    input: ArrayLike,
    target: ArrayLike,
    *,
    quantile: float | ArrayLike = 0.5,
    reduction: Reduction = "mean",
    where: ArrayLike | None = None,
) -> jax.Array:
    r"""Quantile (pinball) loss of predicted quantiles.

    .. math:: \ell_i = \max(q\, e_i,\ (q - 1)\, e_i), \qquad e_i = y_i - x_i

    With a scalar ``quantile`` the loss is elementwise over the broadcast of ``input`` and
    ``target``. With a vector of ``Q`` quantiles, ``input`` holds one prediction per quantile in its
    last axis ``(..., Q)`` and ``target`` is either ``input.shape[:-1]`` (one observation per row, as
    pytorch-forecasting's ``QuantileLoss``) or broadcastable to ``input``.
    ``quantile=0.5`` is half the absolute error. The gradient at ``e = 0`` is the average of the two
    one-sided slopes, ``0.5 - q`` with respect to ``input`` (what ``torch.maximum`` gives).

    Args:
      input: predicted quantiles, any shape (``(..., Q)`` with a vector of quantiles).
      target: observations (see above).
      quantile: ``q`` in ``[0, 1]``, a scalar or a ``(Q,)`` vector (traced). A value outside
        ``[0, 1]`` gives NaN; :func:`jaxloss.checked` reports it.
      reduction: ``"mean"``, ``"sum"`` or ``"none"``.
      where: optional boolean mask broadcastable to the unreduced loss.

    Returns:
      A scalar, or the broadcast shape (``(..., Q)`` with a vector of quantiles) for ``"none"``.

    Example:
      >>> import jax.numpy as jnp, jaxloss as jl
      >>> preds = jnp.array([[1.0, 2.0, 3.0]])  # 10%, 50%, 90% quantiles of one observation
      >>> jl.quantile_loss(preds, jnp.array([2.5]), quantile=jnp.array([0.1, 0.5, 0.9]), reduction="none")
      Array([[0.14999998, 0.25      , 0.05000001]], dtype=float32)
    """
    input, target, quantile = _checks.floating(input=input, target=target, quantile=quantile)
    _checks.rank("quantile", quantile, {0, 1})
    if quantile.ndim == 1:
        _checks.rank("input", input, set(range(1, input.ndim + 1)))
        _checks.shape("input", input, (*input.shape[:-1], quantile.shape[0]))
        if target.shape == input.shape[:-1]:
            target = target[..., None]
    _checks.broadcast(input=input, target=target, quantile=quantile)
    e = target - input
    per_element = 0.5 * abs_(e) + (quantile - 0.5) * e
    bad = (quantile < 0) | (quantile > 1)
    per_element = flag_invalid(per_element, bad, loss="quantile_loss", argument="quantile", requirement="must lie in [0, 1]")
    return reduce(per_element, reduction, where=where)
