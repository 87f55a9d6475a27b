"""jaxloss: loss functions for JAX with torch's semantics.

Every loss is a jitted pure function importable from the top level::

    import jaxloss as jl
    loss = jl.cross_entropy(logits, labels)

Families live in private modules (``_regression``, ``_classification``, ...); their losses are
re-exported here name by name, and ``__all__`` lists every loss of :data:`CATALOGUE`.
"""

from jaxloss._api import CATALOGUE, checked

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
)

# classification

# embedding

# sequence

# segmentation

# detection

# large_vocabulary

__version__ = "0.1.0"

__all__ = ["CATALOGUE", "checked", *CATALOGUE]
