"""Regression losses: residual-based losses and likelihoods of real-valued targets."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

from jaxloss._core import checks as _checks
from jaxloss._core.decorator import loss
from jaxloss._core.errors import fail as _fail
from jaxloss._core.numerics import abs_, log_cosh, safe_where
from jaxloss._core.reduction import Reduction, inert, reduce
from jaxloss._core.runtime import flag_invalid


def _residual(input: ArrayLike, target: ArrayLike) -> jax.Array:
    """``input - target`` for floating arrays that broadcast together (as torch allows, with torch's
    warning when their shapes differ)."""
    input, target = _checks.floating(input=input, target=target)
    _checks.broadcast_with_warning(input=input, target=target)
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


# ----------------------------------------------------------------------------------------------
# Robust losses: Barron's general and adaptive loss and its named members


# Taylor coefficients 1/(n+1)! of (e^t - 1)/t: below |t| = 1/2 the truncated series is exact to
# float32 (9 terms, error < 1e-8) or float64 (16 terms, error < 2e-18) relative, and so are its derivatives.
_EXPREL_SERIES_F32 = tuple(1 / math.factorial(n + 1) for n in range(9))
_EXPREL_SERIES_F64 = tuple(1 / math.factorial(n + 1) for n in range(16))


def _exprel(t: jax.Array) -> jax.Array:
    """``(e^t - 1) / t``, 1 at ``t = 0``: smooth everywhere, derivatives included.

    Its series near 0: the quotient's derivative, ``(expm1(t) + 1)/t - expm1(t)/t^2``, cancels for
    small ``t`` (3 digits lost at ``t = 2e-3`` in float32), and so would the alpha-gradient of
    :func:`robust_loss`.
    """
    small = jnp.abs(t) < 0.5
    safe_t = safe_where(~small, t, 1.0)
    series = jnp.zeros_like(t)
    for c in reversed(_EXPREL_SERIES_F64 if t.dtype == jnp.float64 else _EXPREL_SERIES_F32):
        series = series * t + c
    return jnp.where(small, series, jnp.expm1(safe_t) / safe_t)


def _welsch(z: jax.Array) -> jax.Array:
    """``1 - exp(-z/2)``: ``-expm1`` where it cancels, and where its derivative would not (JAX
    differentiates ``expm1(t)`` as ``expm1(t) + 1``, which is 0 for ``t < -37`` in float64)."""
    return jnp.where(z < 1, -jnp.expm1(-0.5 * z), 1 - jnp.exp(-0.5 * z))


def _scaled_square(input: ArrayLike, target: ArrayLike, scale: ArrayLike) -> tuple[jax.Array, jax.Array]:
    """``((input - target) / scale)^2``, and where ``scale`` is invalid (``<= 0``): a scale that is
    replaced by 1 before dividing, so that a masked entry (set to 0 by the decorator) stays inert."""
    d = _residual(input, target)
    (scale,) = _checks.floating(scale=scale)
    _checks.broadcast(input=d, scale=scale)
    valid = scale > 0
    return jnp.square(d / safe_where(valid, scale, 1.0)), ~valid


def _robust_reduce(
    rho: jax.Array, bad_scale: jax.Array, name: str, reduction: str, where: ArrayLike | None
) -> jax.Array:
    """Reduce a robust loss, with NaN (value and gradient) where a non-positive scale counts."""
    bad = bad_scale if where is None else bad_scale & _checks.mask(where, rho.shape)
    rho = flag_invalid(rho, bad, loss=name, argument="scale", requirement="must be positive")
    return reduce(rho, reduction, where=where)


@loss(counterpart="Barron (2019) `general.py` (`lossfun`)", elementwise=True)
def robust_loss(
    input: ArrayLike,
    target: ArrayLike,
    *,
    alpha: float | ArrayLike,
    scale: float | ArrayLike,
    reduction: Reduction = "mean",
    where: ArrayLike | None = None,
) -> jax.Array:
    r"""Barron's general and adaptive robust loss, with a learnable shape ``alpha`` and scale.

    .. math::
       \rho(d, \alpha, c) = \frac{|\alpha - 2|}{\alpha}
         \left( \left( \frac{(d/c)^2}{|\alpha - 2|} + 1 \right)^{\alpha/2} - 1 \right),
       \qquad d = x - y

    with its limits: :math:`\tfrac12 (d/c)^2` at :math:`\alpha = 2`, :math:`\log(\tfrac12 (d/c)^2 + 1)`
    at 0 (Cauchy), :math:`1 - e^{-(d/c)^2/2}` at :math:`-\infty` (Welsch) and :math:`e^{(d/c)^2/2} - 1`
    at :math:`+\infty`; :math:`\alpha = 1` is Charbonnier (pseudo-Huber), :math:`-2` Geman-McClure.

    Computed as :math:`\tfrac12 b L \,\mathrm{exprel}(\tfrac12 \alpha L)` with :math:`b = |\alpha - 2|`,
    :math:`L = \log(1 + (d/c)^2 / b)` and :math:`\mathrm{exprel}(t) = (e^t - 1)/t`: the division by
    :math:`\alpha` is gone, so :math:`\alpha = 0` and its neighbourhood are exact, values and gradients
    in ``input``, ``alpha`` and ``scale``, and so are 1 and -2 (no special case: their gradients in
    ``alpha`` are the true ones). :math:`\alpha = 2` and :math:`\pm\infty` are selected exactly. At
    :math:`\alpha = 2` the derivative in :math:`\alpha` is infinite (it grows like
    :math:`\log(1/|\alpha - 2|)` from both sides); the gradient in ``alpha`` there is 0, finite as in
    Barron's implementation, and the gradients in ``input`` and ``scale`` are exact.

    Args:
      input: predictions ``x``, any shape.
      target: targets ``y``, broadcastable with ``input``; pass 0 for Barron's ``lossfun(x, ...)``
        of residuals.
      alpha: shape parameter, any real or :math:`\pm\infty`, a scalar or an array broadcastable to
        the loss (one per dimension for Barron's adaptive loss); traced and differentiable.
      scale: scale parameter :math:`c > 0`, a scalar or broadcastable array; traced and
        differentiable. A non-positive value in an entry that counts gives NaN (value and
        gradient); :func:`jaxloss.checked` reports it.
      reduction: ``"mean"``, ``"sum"`` or ``"none"``.
      where: optional boolean mask; False entries are left out of the loss.

    Returns:
      A scalar, or the broadcast shape of the arguments for ``reduction="none"``.

    Follows Barron, "A General and Adaptive Robust Loss Function" (CVPR 2019) and his reference
    ``general.py``. The adaptive loss's negative log-likelihood adds the log of its partition
    function to this :math:`\rho`, which is not computed here. Deviation from ``general.py``: at
    :math:`\alpha = 0` the gradient in ``alpha`` is the true derivative, :math:`\tfrac14 L^2 -
    \tfrac12 (L - z/(2 + z))` with :math:`z = (d/c)^2`, :math:`L = \log(1 + z/2)`, not the 0 of a
    selected closed form.

    Example:
      >>> import jax.numpy as jnp, jaxloss as jl
      >>> x = jnp.array([0.5, 2.0, 10.0])
      >>> jl.robust_loss(x, 0.0, alpha=jnp.array([2.0, 0.0, -jnp.inf]), scale=1.0, reduction="none")
      Array([0.125    , 1.0986123, 1.       ], dtype=float32)
      >>> jl.robust_loss(x, 0.0, alpha=1.0, scale=0.5, reduction="none")
      Array([ 0.41421354,  3.1231055 , 19.024982  ], dtype=float32)
    """
    z, bad = _scaled_square(input, target, scale)
    (alpha,) = _checks.floating(alpha=alpha)
    _checks.broadcast(input=z, alpha=alpha)
    b = jnp.abs(alpha - 2)
    general = jnp.isfinite(alpha) & (b > 0)
    a, b = safe_where(general, alpha, 1.0), safe_where(general, b, 1.0)
    log_term = jnp.log1p(z / b)
    rho = 0.5 * b * log_term * _exprel(0.5 * a * log_term)
    plus_infinity = alpha == jnp.inf
    limits = jnp.where(
        alpha == 2,
        0.5 * z,
        jnp.where(plus_infinity, jnp.expm1(0.5 * safe_where(plus_infinity, z, 0.0)), _welsch(z)),
    )
    return _robust_reduce(jnp.where(general, rho, limits), bad, "robust_loss", reduction, where)


@loss(counterpart="kornia `charbonnier_loss`", elementwise=True)
def charbonnier_loss(
    input: ArrayLike,
    target: ArrayLike,
    *,
    scale: float | ArrayLike = 1.0,
    reduction: Reduction = "none",
    where: ArrayLike | None = None,
) -> jax.Array:
    r"""Charbonnier (pseudo-Huber) loss, as kornia's ``charbonnier_loss``: :func:`robust_loss` at alpha = 1.

    .. math:: \ell_i = \sqrt{(d_i/c)^2 + 1} - 1 = \frac{(d_i/c)^2}{\sqrt{(d_i/c)^2 + 1} + 1}, \qquad d_i = x_i - y_i

    Computed in the second form, which keeps its accuracy for tiny residuals.

    Args:
      input: predictions ``x``, any shape.
      target: targets ``y``, broadcastable with ``input``.
      scale: Barron's scale :math:`c > 0` (traced; kornia's loss is ``scale=1``). ``c (\ell + 1)``
        is the other usual form, :math:`\sqrt{d^2 + c^2}`. A non-positive value gives NaN.
      reduction: ``"none"`` (kornia's default), ``"mean"`` or ``"sum"``.
      where: optional boolean mask; False entries are left out of the loss.

    Returns:
      The broadcast shape of ``input`` and ``target`` for ``reduction="none"``, else a scalar.

    Example:
      >>> import jax.numpy as jnp, jaxloss as jl
      >>> jl.charbonnier_loss(jnp.array([0.0, 1.0, 3.0]), jnp.zeros(3))
      Array([0.        , 0.41421354, 2.1622777 ], dtype=float32)
    """
    z, bad = _scaled_square(input, target, scale)
    return _robust_reduce(z / (jnp.sqrt(z + 1) + 1), bad, "charbonnier_loss", reduction, where)


@loss(counterpart="kornia `cauchy_loss`", elementwise=True)
def cauchy_loss(
    input: ArrayLike,
    target: ArrayLike,
    *,
    scale: float | ArrayLike = 1.0,
    reduction: Reduction = "none",
    where: ArrayLike | None = None,
) -> jax.Array:
    r"""Cauchy (Lorentzian) loss, as kornia's ``cauchy_loss``: :func:`robust_loss` at alpha = 0.

    .. math:: \ell_i = \log\left(\tfrac12 (d_i/c)^2 + 1\right), \qquad d_i = x_i - y_i

    Args:
      input: predictions ``x``, any shape.
      target: targets ``y``, broadcastable with ``input``.
      scale: Barron's scale :math:`c > 0` (traced; kornia's loss is ``scale=1``). A non-positive
        value gives NaN.
      reduction: ``"none"`` (kornia's default), ``"mean"`` or ``"sum"``.
      where: optional boolean mask; False entries are left out of the loss.

    Returns:
      The broadcast shape of ``input`` and ``target`` for ``reduction="none"``, else a scalar.

    Example:
      >>> import jax.numpy as jnp, jaxloss as jl
      >>> jl.cauchy_loss(jnp.array([0.0, 1.0, 3.0]), jnp.zeros(3))
      Array([0.        , 0.4054651, 1.7047482], dtype=float32)
    """
    z, bad = _scaled_square(input, target, scale)
    return _robust_reduce(jnp.log1p(0.5 * z), bad, "cauchy_loss", reduction, where)


@loss(counterpart="kornia `geman_mcclure_loss`", elementwise=True)
def geman_mcclure_loss(
    input: ArrayLike,
    target: ArrayLike,
    *,
    scale: float | ArrayLike = 1.0,
    reduction: Reduction = "none",
    where: ArrayLike | None = None,
) -> jax.Array:
    r"""Geman-McClure loss, as kornia's ``geman_mcclure_loss``: :func:`robust_loss` at alpha = -2.

    .. math:: \ell_i = \frac{2 (d_i/c)^2}{(d_i/c)^2 + 4}, \qquad d_i = x_i - y_i

    Barron's normalisation (bounded by 2); the original Geman-McClure :math:`d^2 / (d^2 + \sigma^2)`
    is :math:`\ell / 2` with :math:`\sigma = 2c`.

    Args:
      input: predictions ``x``, any shape.
      target: targets ``y``, broadcastable with ``input``.
      scale: Barron's scale :math:`c > 0` (traced; kornia's loss is ``scale=1``). A non-positive
        value gives NaN.
      reduction: ``"none"`` (kornia's default), ``"mean"`` or ``"sum"``.
      where: optional boolean mask; False entries are left out of the loss.

    Returns:
      The broadcast shape of ``input`` and ``target`` for ``reduction="none"``, else a scalar.

    Example:
      >>> import jax.numpy as jnp, jaxloss as jl
      >>> jl.geman_mcclure_loss(jnp.array([0.0, 1.0, 3.0]), jnp.zeros(3))
      Array([0.        , 0.4       , 1.3846154], dtype=float32)
    """
    z, bad = _scaled_square(input, target, scale)
    return _robust_reduce(2 * z / (z + 4), bad, "geman_mcclure_loss", reduction, where)


@loss(counterpart="kornia `welsch_loss`", elementwise=True)
def welsch_loss(
    input: ArrayLike,
    target: ArrayLike,
    *,
    scale: float | ArrayLike = 1.0,
    reduction: Reduction = "none",
    where: ArrayLike | None = None,
) -> jax.Array:
    r"""Welsch (Leclerc) loss, as kornia's ``welsch_loss``: :func:`robust_loss` at alpha = -infinity.

    .. math:: \ell_i = 1 - e^{-(d_i/c)^2 / 2}, \qquad d_i = x_i - y_i

    Accurate for tiny residuals (``expm1``) and, in the gradient, for large ones.

    Args:
      input: predictions ``x``, any shape.
      target: targets ``y``, broadcastable with ``input``.
      scale: Barron's scale :math:`c > 0` (traced; kornia's loss is ``scale=1``). A non-positive
        value gives NaN.
      reduction: ``"none"`` (kornia's default), ``"mean"`` or ``"sum"``.
      where: optional boolean mask; False entries are left out of the loss.

    Returns:
      The broadcast shape of ``input`` and ``target`` for ``reduction="none"``, else a scalar.

    Example:
      >>> import jax.numpy as jnp, jaxloss as jl
      >>> jl.welsch_loss(jnp.array([0.0, 1.0, 3.0]), jnp.zeros(3))
      Array([0.        , 0.39346933, 0.988891  ], dtype=float32)
    """
    z, bad = _scaled_square(input, target, scale)
    return _robust_reduce(_welsch(z), bad, "welsch_loss", reduction, where)


# ----------------------------------------------------------------------------------------------
# Keras's row-wise regression metrics used as losses

_KERAS_EPSILON = 1e-7
"""Keras's ``backend.epsilon()``."""


def _keras_rows(y_true: ArrayLike, y_pred: ArrayLike, where: ArrayLike | None) -> tuple[jax.Array, jax.Array]:
    """``y_true`` and ``y_pred`` broadcast together (rank >= 1), with the rows ``where`` drops set to 0."""
    y_true, y_pred = _checks.floating(y_true=y_true, y_pred=y_pred)
    shape = _checks.broadcast(y_true=y_true, y_pred=y_pred)
    if not shape:
        raise _fail(ValueError, "`y_true` and `y_pred` have shape (), expected rank >= 1 (the last axis is averaged)")
    y_true, y_pred = jnp.broadcast_to(y_true, shape), jnp.broadcast_to(y_pred, shape)
    return inert(where, y_true, features=1), inert(where, y_pred, features=1)


@loss(counterpart="Keras `mean_squared_logarithmic_error`")
def mean_squared_logarithmic_error(
    y_true: ArrayLike,
    y_pred: ArrayLike,
    *,
    reduction: Reduction = "mean",
    where: ArrayLike | None = None,
) -> jax.Array:
    r"""Mean squared logarithmic error over the last axis, as ``keras.losses.mean_squared_logarithmic_error``.

    .. math::
       \ell_n = \frac1D \sum_{j=1}^{D} \left(\log(1 + \max(\hat y_{nj}, \epsilon))
                                            - \log(1 + \max(y_{nj}, \epsilon))\right)^2,
       \qquad \epsilon = 10^{-7}

    Keras's argument order and names: the targets come first. (jaxloss's other regression losses
    take ``(input, target)``; this one follows the library it comes from, as DESIGN.md asks of a
    loss torch does not have.)

    Args:
      y_true: targets, shape ``(..., D)``.
      y_pred: predictions, broadcastable with ``y_true``.
      reduction: ``"mean"`` (over the rows ``n``: Keras's ``MeanSquaredLogarithmicError`` with its
        default reduction), ``"sum"`` or ``"none"`` (one value per row: Keras's function).
      where: optional boolean mask over the rows (shape broadcastable to ``(...)``); False rows are
        left out of the loss.

    Returns:
      A scalar, or shape ``(...)`` (the inputs' without the last axis) for ``reduction="none"``.

    As in Keras, values below :math:`\epsilon` are clamped (their gradient is 0).

    Example:
      >>> import jax.numpy as jnp, jaxloss as jl
      >>> jl.mean_squared_logarithmic_error(jnp.array([[1.0, 2.0]]), jnp.array([[1.5, 0.5]]), reduction="none")
      Array([0.26512304], dtype=float32)
    """
    y_true, y_pred = _keras_rows(y_true, y_pred, where)
    log_ratio = jnp.log1p(jnp.maximum(y_pred, _KERAS_EPSILON)) - jnp.log1p(jnp.maximum(y_true, _KERAS_EPSILON))
    return reduce(jnp.mean(jnp.square(log_ratio), axis=-1), reduction, where=where)


@loss(counterpart="Keras `mean_absolute_percentage_error`", custom_gradient=True)
def mean_absolute_percentage_error(
    y_true: ArrayLike,
    y_pred: ArrayLike,
    *,
    reduction: Reduction = "mean",
    where: ArrayLike | None = None,
) -> jax.Array:
    r"""Mean absolute percentage error over the last axis, as ``keras.losses.mean_absolute_percentage_error``.

    .. math::
       \ell_n = \frac{100}{D} \sum_{j=1}^{D} \frac{|y_{nj} - \hat y_{nj}|}{\max(|y_{nj}|, \epsilon)},
       \qquad \epsilon = 10^{-7}

    Keras's argument order and names: the targets come first (see
    :func:`mean_squared_logarithmic_error`).

    Args:
      y_true: targets, shape ``(..., D)``.
      y_pred: predictions, broadcastable with ``y_true``.
      reduction: ``"mean"`` (over the rows), ``"sum"`` or ``"none"`` (one value per row: Keras's
        function).
      where: optional boolean mask over the rows (shape broadcastable to ``(...)``); False rows are
        left out of the loss.

    Returns:
      A scalar, or shape ``(...)`` for ``reduction="none"``.

    Deviation: the gradient at ``y_pred == y_true`` is 0 (torch's convention for ``|x|``; Keras on the JAX
    backend inherits ``jax.grad(jnp.abs)(0.0) == 1``).

    Example:
      >>> import jax.numpy as jnp, jaxloss as jl
      >>> jl.mean_absolute_percentage_error(jnp.array([[1.0, 2.0]]), jnp.array([[1.5, 0.5]]), reduction="none")
      Array([62.5], dtype=float32)
    """
    y_true, y_pred = _keras_rows(y_true, y_pred, where)
    relative = abs_(y_true - y_pred) / jnp.maximum(jnp.abs(y_true), _KERAS_EPSILON)
    return reduce(100 * jnp.mean(relative, axis=-1), reduction, where=where)
