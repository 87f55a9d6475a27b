"""Detection losses: the focal loss of dense detectors and the IoU family of bounding-box losses.

All follow ``torchvision.ops``: boxes are ``(x1, y1, x2, y2)`` in the last axis and the default
reduction is ``"none"``. Integer boxes raise ``TypeError`` (torchvision converts them to floats),
as integer inputs do everywhere in jaxloss.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from typing import Any, TypeVar

import jax
import jax.numpy as jnp
from jax.custom_derivatives import SymbolicZero
from jax.typing import ArrayLike

from jaxloss._core import checks as _checks
from jaxloss._core.decorator import loss
from jaxloss._core.numerics import safe_where
from jaxloss._core.reduction import Reduction, inert, reduce

F = TypeVar("F", bound=Callable[..., Any])


# --------------------------------------------------------------------------------------------------
# Focal loss


def _focal_parts(x: jax.Array, y: jax.Array, pw: jax.Array | None, alpha: jax.Array, gamma: jax.Array) -> dict:
    """The sigmoid focal loss and the pieces of its derivatives, in log space.

    With ``e = exp(-|x|)``, ``d = sigmoid(|x|)`` and ``t = log1p(e)``: ``softplus(x) = relu(x) + t``,
    ``softplus(-x) = softplus(x) - x``, and ``1 - p_t = u d`` with ``u = (1-y) + y e`` for ``x >= 0``
    and ``y + (1-y) e`` otherwise. ``u`` only underflows to 0 for a hard label and ``|x| > 87``,
    where ``log u = -|x|`` to working precision; so every term is finite for any finite logit and
    any ``gamma >= 0`` (the focal factor is ``exp(gamma log(1 - p_t))``, never ``0 ** gamma``).
    """
    ax = jnp.abs(x)
    e = jnp.exp(-ax)
    d = 1.0 / (1.0 + e)
    t = jnp.log1p(e)
    nonneg = x >= 0
    u = jnp.where(nonneg, (1 - y) + y * e, y + (1 - y) * e)
    ok = u > 0
    u_safe = jnp.where(ok, u, 1.0)
    log_1mpt = jnp.where(ok, jnp.log(u_safe), -ax) - t  # log(1 - p_t)
    m = jnp.exp(gamma * log_1mpt)  # (1 - p_t) ** gamma
    sp_pos = jnp.maximum(x, 0) + t  # softplus(x)  = -log(1 - p)
    sp_neg = jnp.maximum(-x, 0) + t  # softplus(-x) = -log p; not sp_pos - x, which cancels to 0 at x = 15
    py = y if pw is None else pw * y
    ce = (1 - y) * sp_pos + py * sp_neg  # binary_cross_entropy_with_logits with pos_weight
    use_alpha = alpha >= 0
    a = jnp.where(use_alpha, alpha * y + (1 - alpha) * (1 - y), 1.0)
    return dict(out=a * ce * m, x=x, y=y, pw=pw, py=py, alpha=alpha, gamma=gamma, e=e, d=d, nonneg=nonneg,
                ok=ok, u_safe=u_safe, log_1mpt=log_1mpt, m=m, sp_pos=sp_pos, sp_neg=sp_neg, ce=ce, a=a,
                use_alpha=use_alpha)


@jax.custom_jvp
def _quotient(a: jax.Array, b: jax.Array) -> jax.Array:
    """``a / b`` whose derivative is ``(da - (a / b) db) / b``: autodiff's ``-a db / b**2`` squares
    ``b``, which underflows to 0 in float32 for ``b`` below 1e-19 (``1 - p_t`` at logits beyond
    +-44), making second derivatives of the focal loss NaN."""
    return a / b


@_quotient.defjvp
def _quotient_jvp(primals: tuple, tangents: tuple) -> tuple[jax.Array, jax.Array]:
    (a, b), (da, db) = primals, tangents
    q = _quotient(a, b)
    return q, (da - q * db) / b


def _focal_derivatives(f: dict, which: tuple[bool, ...]) -> tuple[jax.Array | None, ...]:
    """Elementwise derivatives of the loss w.r.t. ``(x, y, pos_weight, alpha, gamma)``, only those
    flagged in ``which`` (the others are None)."""
    y, pw, alpha, gamma = f["y"], f["pw"], f["alpha"], f["gamma"]
    a, ce, m, e, d = f["a"], f["ce"], f["m"], f["e"], f["d"]
    p = jnp.where(f["nonneg"], d, e * d)  # sigmoid(x)
    q = jnp.where(f["nonneg"], e * d, d)  # sigmoid(-x)
    out: list[jax.Array | None] = [None] * 5
    if which[0]:
        # d log(1 - p_t)/dx = (1 - 2y) p q / (1 - p_t), and p q / (1 - p_t) = e d / u (d where u = 0)
        r = jnp.where(f["ok"], _quotient(e * d, f["u_safe"]), d)
        out[0] = a * m * ((1 - y) * p - f["py"] * q + ce * gamma * (1 - 2 * y) * r)
    if which[1]:
        dm = gamma * jnp.exp((gamma - 1) * f["log_1mpt"]) * (q - p)  # d (1 - p_t)^gamma / dy
        da = jnp.where(f["use_alpha"], 2 * alpha - 1, 0.0)
        dce = (f["sp_neg"] if pw is None else pw * f["sp_neg"]) - f["sp_pos"]
        out[1] = da * ce * m + a * (dce * m + ce * dm)
    if which[2] and pw is not None:
        out[2] = a * m * y * f["sp_neg"]
    if which[3]:
        out[3] = jnp.where(f["use_alpha"], 2 * y - 1, 0.0) * ce * m
    if which[4]:
        out[4] = f["out"] * f["log_1mpt"]
    return tuple(out)


@functools.partial(jax.custom_jvp, nondiff_argnums=(0,))
def _focal(has_pw: bool, x: jax.Array, y: jax.Array, pw: jax.Array, alpha: jax.Array, gamma: jax.Array) -> jax.Array:
    return _focal_parts(x, y, pw if has_pw else None, alpha, gamma)["out"]


def _focal_jvp(has_pw: bool, primals: tuple, tangents: tuple) -> tuple[jax.Array, jax.Array]:
    # symbolic_zeros: a tangent that is a SymbolicZero is not perturbed, so only the derivatives
    # that are needed are computed, in the same pass as the value. Reverse mode transposes the
    # linear part (one product per perturbed argument), so the residuals are those derivatives:
    # one array the loss's size for the logits, as a hand-written VJP would save.
    x, y, pw, alpha, gamma = primals
    f = _focal_parts(x, y, pw if has_pw else None, alpha, gamma)
    perturbed = tuple(not isinstance(t, SymbolicZero) for t in tangents)
    terms = [deriv * t for deriv, t in zip(_focal_derivatives(f, perturbed), tangents) if deriv is not None]
    out = f["out"]
    return out, functools.reduce(jnp.add, terms) if terms else jnp.zeros_like(out)


_focal.defjvp(_focal_jvp, symbolic_zeros=True)


@loss(
    counterpart="torchvision `sigmoid_focal_loss`; optax `sigmoid_focal_loss`",
    stable_form="logits (log space)",
    custom_gradient=True,
    elementwise=True,
)
def sigmoid_focal_loss(
    inputs: ArrayLike,
    targets: ArrayLike,
    *,
    alpha: float | jax.Array = 0.25,
    gamma: float | jax.Array = 2.0,
    reduction: Reduction = "none",
    pos_weight: ArrayLike | None = None,
    where: ArrayLike | None = None,
) -> jax.Array:
    r"""Sigmoid focal loss (RetinaNet), as ``torchvision.ops.sigmoid_focal_loss``.

    .. math::
       \ell_i = \alpha_t\, \mathrm{BCE}(x_i, y_i)\, (1 - p_t)^\gamma, \qquad
       p = \sigma(x_i),\quad p_t = p\, y_i + (1 - p)(1 - y_i),\quad
       \alpha_t = \alpha y_i + (1 - \alpha)(1 - y_i)

    where ``BCE`` is ``binary_cross_entropy_with_logits`` (with ``pos_weight`` multiplying its
    positive term, as in torch). ``alpha < 0`` disables the class balancing (``alpha_t = 1``).

    Everything is computed in log space, with an analytic derivative (a custom JVP that computes
    only the derivatives that are asked for, in the pass that computes the value), so values and
    gradients are finite for any finite logit (``+-1e4`` included) and any ``gamma >= 0``; torch's
    gradient is NaN for ``0 < gamma < 1`` when ``p_t`` rounds to 1, and torch overflows
    ``(1 - p_t)`` to 0 where this keeps ``exp(gamma log(1 - p_t))``. Forward and reverse mode
    (``jax.jvp``, ``jax.grad``) and higher orders (``jax.hessian``) all work.

    Args:
      inputs: logits ``x``, any shape.
      targets: targets ``y`` in ``[0, 1]`` (hard or soft labels), the shape of ``inputs``.
      alpha: weight of the positive class in ``[0, 1]``; negative disables it (traced).
      gamma: focusing exponent ``>= 0`` (traced).
      reduction: ``"none"`` (torchvision's default), ``"mean"`` or ``"sum"``.
      pos_weight: optional weight of the positive term of the cross-entropy, broadcastable to
        ``inputs`` (a jaxloss extension; torchvision has none). In channels-last layouts a
        ``(C,)`` vector weighs each class.
      where: optional boolean mask broadcastable to ``inputs``; False entries are left out.

    Returns:
      The shape of ``inputs`` for ``reduction="none"``, else a scalar.

    Example:
      >>> import jax.numpy as jnp, jaxloss as jl
      >>> jl.sigmoid_focal_loss(jnp.array([-2.0, 0.0, 3.0]), jnp.array([0.0, 1.0, 1.0]))
      Array([1.3526718e-03, 4.3321699e-02, 2.7320833e-05], dtype=float32)
    """
    inputs, targets = _checks.floating(inputs=inputs, targets=targets)
    _checks.same_shape(inputs=inputs, targets=targets)
    dtype = inputs.dtype
    if pos_weight is None:
        pw = jnp.ones((), dtype)
    else:
        (pw,) = _checks.floating(pos_weight=pos_weight)
        pw = _checks.broadcastable_to("pos_weight", pw, inputs.shape, "`inputs` of shape").astype(dtype)
    alpha, gamma = jnp.asarray(alpha, dtype), jnp.asarray(gamma, dtype)
    _checks.rank("alpha", alpha, 0)
    _checks.rank("gamma", gamma, 0)
    per_element = _focal(pos_weight is not None, inputs, targets.astype(dtype), pw, alpha, gamma)
    return reduce(per_element, reduction, where=where)


# --------------------------------------------------------------------------------------------------
# Box losses


_UNIT_BOX = (0.0, 0.0, 1.0, 1.0)
"""What box pairs that ``where`` drops become: a box with a finite IoU loss and gradient against itself."""


def _boxes(boxes1: ArrayLike, boxes2: ArrayLike, where: ArrayLike | None) -> tuple[jax.Array, jax.Array]:
    """Check two floating arrays of ``(..., 4)`` boxes with the same shape; the pairs ``where`` drops
    become unit boxes (:func:`jaxloss._core.reduction.inert`), so that whatever they held reaches
    neither the value nor the gradient."""
    out = []
    for name, b in (("boxes1", boxes1), ("boxes2", boxes2)):
        (b,) = _checks.floating(**{name: b})
        _checks.rank(name, b, set(range(1, max(b.ndim, 1) + 1)))
        _checks.shape(name, b, (*b.shape[:-1], 4))
        out.append(b)
    _checks.same_shape(boxes1=out[0], boxes2=out[1])
    if where is not None:
        masked = _checks.mask(where, out[0].shape[:-1])
        out = [inert(masked, b, jnp.asarray(_UNIT_BOX, b.dtype), features=1) for b in out]
    return out[0], out[1]


def _iou_geometry(b1: jax.Array, b2: jax.Array) -> dict[str, jax.Array]:
    """IoU (with torchvision's fixed ``1e-7``), enclosing box and centre distance of box pairs."""
    x1, y1, x2, y2 = jnp.moveaxis(b1, -1, 0)
    x1g, y1g, x2g, y2g = jnp.moveaxis(b2, -1, 0)
    iw = jnp.minimum(x2, x2g) - jnp.maximum(x1, x1g)
    ih = jnp.minimum(y2, y2g) - jnp.maximum(y1, y1g)
    inter = jnp.where((iw > 0) & (ih > 0), iw * ih, 0.0)  # only boxes that overlap on both axes
    union = (x2 - x1) * (y2 - y1) + (x2g - x1g) * (y2g - y1g) - inter
    cw = jnp.maximum(x2, x2g) - jnp.minimum(x1, x1g)
    ch = jnp.maximum(y2, y2g) - jnp.minimum(y1, y1g)
    centre_dist2 = jnp.square((x1 + x2 - x1g - x2g) / 2) + jnp.square((y1 + y2 - y1g - y2g) / 2)
    return dict(inter=inter, union=union, cw=cw, ch=ch, centre_dist2=centre_dist2,
                w=x2 - x1, h=y2 - y1, wg=x2g - x1g, hg=y2g - y1g)


def _aspect_angle(w: jax.Array, h: jax.Array) -> jax.Array:
    """``atan(w / h)`` with torch's values where ``h != 0``, ``+-pi/2`` at ``h = 0`` and 0 for a
    zero-size box (torch: NaN), with finite gradients everywhere."""
    point = (w == 0) & (h == 0)
    sign = jnp.where(h < 0, -1.0, 1.0).astype(w.dtype)
    ws, hs = safe_where(point, 1.0, w * sign), safe_where(point, 1.0, h * sign)
    # divide by a constant scale first: arctan2's derivative h / (w^2 + h^2) would underflow to
    # h / 0 for tiny boxes (|w|, |h| < 1e-19 in float32)
    scale = jax.lax.stop_gradient(jnp.maximum(jnp.abs(ws), jnp.abs(hs)))
    return jnp.where(point, 0.0, jnp.arctan2(ws / scale, hs / scale))


def _with_args(text: str) -> Callable[[F], F]:
    """Put the argument list shared by several losses in place of ``{args}`` in their docstrings."""

    def fill(fn: F) -> F:
        fn.__doc__ = (fn.__doc__ or "").replace("    {args}\n", text + "\n")
        return fn

    return fill


_BOX_DOC_ARGS = """
    Args:
      boxes1: predicted boxes ``(..., 4)`` as ``(x1, y1, x2, y2)`` with ``x1 <= x2, y1 <= y2``.
      boxes2: target boxes, the shape of ``boxes1``. Both must be floating: unlike torchvision,
        integer boxes raise ``TypeError`` (convert them with ``.astype(jnp.float32)``).
      reduction: ``"none"`` (torchvision's default), ``"mean"`` or ``"sum"``; the mean of no boxes
        is 0.
      eps: small number that keeps the divisions finite (traced).
      where: optional boolean mask broadcastable to ``boxes1.shape[:-1]``; False boxes are left out.

    Returns:
      ``boxes1.shape[:-1]`` for ``reduction="none"``, else a scalar.
"""


@loss(counterpart="torchvision `generalized_box_iou_loss`")
@_with_args(_BOX_DOC_ARGS)
def generalized_box_iou_loss(
    boxes1: ArrayLike,
    boxes2: ArrayLike,
    *,
    reduction: Reduction = "none",
    eps: float | jax.Array = 1e-7,
    where: ArrayLike | None = None,
) -> jax.Array:
    r"""Generalized IoU loss, as ``torchvision.ops.generalized_box_iou_loss``.

    .. math::
       \ell = 1 - \frac{I}{U + \epsilon} + \frac{C - U}{C + \epsilon}

    with ``I`` the intersection (0 unless the boxes overlap on both axes), ``U`` the union and
    ``C`` the area of the smallest enclosing box. Lies in ``[0, 2)``; disjoint boxes give more
    than 1. Degenerate (zero-area) boxes give finite values and gradients.
    {args}
    Example:
      >>> import jax.numpy as jnp, jaxloss as jl
      >>> jl.generalized_box_iou_loss(jnp.array([[0.0, 0, 1, 1], [0, 0, 1, 1]]),
      ...                             jnp.array([[0.0, 0, 1, 1], [2, 0, 3, 1]]))
      Array([1.1920929e-07, 1.3333334e+00], dtype=float32)
    """
    g = _iou_geometry(*_boxes(boxes1, boxes2, where))
    iou = g["inter"] / (g["union"] + eps)
    area_c = g["cw"] * g["ch"]
    return reduce(1 - iou + (area_c - g["union"]) / (area_c + eps), reduction, where=where)


def _diou(g: dict[str, jax.Array], eps: Any) -> tuple[jax.Array, jax.Array]:
    iou = g["inter"] / (g["union"] + eps)
    diag2 = jnp.square(g["cw"]) + jnp.square(g["ch"]) + eps
    return 1 - iou + g["centre_dist2"] / diag2, iou


@loss(counterpart="torchvision `distance_box_iou_loss`")
@_with_args(_BOX_DOC_ARGS)
def distance_box_iou_loss(
    boxes1: ArrayLike,
    boxes2: ArrayLike,
    *,
    reduction: Reduction = "none",
    eps: float | jax.Array = 1e-7,
    where: ArrayLike | None = None,
) -> jax.Array:
    r"""Distance IoU loss, as ``torchvision.ops.distance_box_iou_loss``.

    .. math::
       \ell = 1 - \frac{I}{U + \epsilon} + \frac{\rho^2}{c^2 + \epsilon}

    with ``rho`` the distance between the box centres and ``c`` the diagonal of the smallest
    enclosing box.
    {args}
    Example:
      >>> import jax.numpy as jnp, jaxloss as jl
      >>> jl.distance_box_iou_loss(jnp.array([0.0, 0, 1, 1]), jnp.array([2.0, 0, 3, 1]))
      Array(1.4, dtype=float32)
    """
    loss_, _ = _diou(_iou_geometry(*_boxes(boxes1, boxes2, where)), eps)
    return reduce(loss_, reduction, where=where)


@loss(counterpart="torchvision `complete_box_iou_loss`")
@_with_args(_BOX_DOC_ARGS)
def complete_box_iou_loss(
    boxes1: ArrayLike,
    boxes2: ArrayLike,
    *,
    reduction: Reduction = "none",
    eps: float | jax.Array = 1e-7,
    where: ArrayLike | None = None,
) -> jax.Array:
    r"""Complete IoU loss, as ``torchvision.ops.complete_box_iou_loss``.

    .. math::
       \ell = \ell_{\mathrm{DIoU}} + \alpha v, \qquad
       v = \frac{4}{\pi^2}\left(\arctan\frac{w_g}{h_g} - \arctan\frac{w}{h}\right)^2, \qquad
       \alpha = \frac{v}{1 - \mathrm{IoU} + v + \epsilon}

    As in torchvision, ``alpha`` carries no gradient and the DIoU part always uses ``1e-7`` (``eps``
    only enters ``alpha``). A box of zero height has aspect angle ``+-pi/2`` (torch's
    ``atan(inf)``); a box of zero width and height has angle 0 where torch gives NaN.
    {args}
    Example:
      >>> import jax.numpy as jnp, jaxloss as jl
      >>> jl.complete_box_iou_loss(jnp.array([0.0, 0, 2, 1]), jnp.array([0.0, 0, 1, 2]))
      Array(0.7629183, dtype=float32)
    """
    g = _iou_geometry(*_boxes(boxes1, boxes2, where))
    diou, iou = _diou(g, 1e-7)
    v = (4 / math.pi**2) * jnp.square(_aspect_angle(g["wg"], g["hg"]) - _aspect_angle(g["w"], g["h"]))
    alpha = jax.lax.stop_gradient(v / (1 - iou + v + eps))
    return reduce(diou + alpha * v, reduction, where=where)
