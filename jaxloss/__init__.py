"""jaxloss: loss functions for JAX with torch's semantics.

Every loss is a jitted pure function importable from the top level::

    import jaxloss as jl
    loss = jl.cross_entropy(logits, labels)

Families live in private modules (``_regression``, ``_classification``, ...) on the shared core
``_core``; their losses are re-exported here name by name, and ``__all__`` lists them literally (so
that static readers see the API), checked against :data:`CATALOGUE` by the tests.
"""

from jaxloss._core.catalogue import CATALOGUE
from jaxloss._core.errors import ShapeWarning
from jaxloss._core.reduction import global_mean, global_sum
from jaxloss._core.runtime import checked, value_checks

# regression
from jaxloss._regression import (
    gaussian_nll_loss,
    huber_loss,
    l1_loss,
    log_cosh_loss,
    mse_loss,
    poisson_nll_loss,
    quantile_loss,
    smooth_l1_loss,
    robust_loss,
    charbonnier_loss,
    cauchy_loss,
    geman_mcclure_loss,
    welsch_loss,
    mean_squared_logarithmic_error,
    mean_absolute_percentage_error,
)

# classification
from jaxloss._classification import (
    binary_cross_entropy,
    binary_cross_entropy_with_logits,
    cross_entropy,
    kl_div,
    multi_margin_loss,
    multilabel_margin_loss,
    multilabel_soft_margin_loss,
    nll_loss,
    poly1_cross_entropy,
    soft_margin_loss,
    softmax_focal_loss,
    zero_one_loss,
)

# embedding
from jaxloss._embedding import (
    contrastive_loss,
    cosine_embedding_loss,
    hinge_embedding_loss,
    margin_ranking_loss,
    ntxent_loss,
    supervised_contrastive_loss,
    triplet_margin_loss,
    triplet_margin_with_distance_loss,
)

# sequence
from jaxloss._sequence import ctc_loss

# segmentation
from jaxloss._segmentation import (
    dice_loss,
    jaccard_loss,
    lovasz_hinge_loss,
    lovasz_softmax_loss,
    tversky_loss,
)

# detection
from jaxloss._detection import (
    complete_box_iou_loss,
    distance_box_iou_loss,
    generalized_box_iou_loss,
    sigmoid_focal_loss,
)

# large_vocabulary
from jaxloss._large_vocabulary import LinearCrossEntropyStats, linear_cross_entropy, vocab_parallel_cross_entropy

# mixture_of_experts
from jaxloss._mixture_of_experts import load_balancing_loss, router_z_loss, sequence_balance_loss

__version__ = "0.1.0"

__all__ = [
    # helpers and types
    "CATALOGUE",
    "LinearCrossEntropyStats",
    "ShapeWarning",
    "checked",
    "global_mean",
    "global_sum",
    "value_checks",
    "vocab_parallel_cross_entropy",
    # the losses, in catalogue order (tests/test_core.py checks this list against the catalogue)
    "l1_loss",
    "mse_loss",
    "huber_loss",
    "smooth_l1_loss",
    "poisson_nll_loss",
    "gaussian_nll_loss",
    "log_cosh_loss",
    "quantile_loss",
    "robust_loss",
    "charbonnier_loss",
    "cauchy_loss",
    "geman_mcclure_loss",
    "welsch_loss",
    "mean_squared_logarithmic_error",
    "mean_absolute_percentage_error",
    "cross_entropy",
    "nll_loss",
    "softmax_focal_loss",
    "poly1_cross_entropy",
    "zero_one_loss",
    "binary_cross_entropy",
    "binary_cross_entropy_with_logits",
    "multilabel_soft_margin_loss",
    "soft_margin_loss",
    "kl_div",
    "multi_margin_loss",
    "multilabel_margin_loss",
    "margin_ranking_loss",
    "hinge_embedding_loss",
    "cosine_embedding_loss",
    "triplet_margin_loss",
    "triplet_margin_with_distance_loss",
    "contrastive_loss",
    "ntxent_loss",
    "supervised_contrastive_loss",
    "ctc_loss",
    "dice_loss",
    "jaccard_loss",
    "tversky_loss",
    "lovasz_hinge_loss",
    "lovasz_softmax_loss",
    "sigmoid_focal_loss",
    "generalized_box_iou_loss",
    "distance_box_iou_loss",
    "complete_box_iou_loss",
    "linear_cross_entropy",
    "load_balancing_loss",
    "router_z_loss",
    "sequence_balance_loss",
]
