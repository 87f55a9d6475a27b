"""Everything the loss families share; a family module imports from here and from nowhere else in
jaxloss (``tests/test_lint.py`` runs import-linter's contracts from ``pyproject.toml``).

* :mod:`~jaxloss._core.decorator`: ``@loss`` (jit with static configuration, half precision, the
  ``(..., 1)`` fast path, naming errors, the catalogue entry);
* :mod:`~jaxloss._core.catalogue`: the catalogue of losses and the README's table;
* :mod:`~jaxloss._core.errors`: trace-time errors named after their loss;
* :mod:`~jaxloss._core.checks`: trace-time argument checks;
* :mod:`~jaxloss._core.runtime`: run-time value checks (NaN, and ``jl.checked``);
* :mod:`~jaxloss._core.reduction`: reduction, masks and weights, on one device and across devices;
* :mod:`~jaxloss._core.numerics`: numerically careful building blocks;
* :mod:`~jaxloss._core.softmax`: the softmax engine (row statistics, their merge, the logits
  gradient, torch's class-index rules).
"""
