"""Test configuration. torch is imported unconditionally: the parity suite must fail, not skip,
when torch is missing."""

import os

os.environ.setdefault("KERAS_BACKEND", "jax")  # Keras 3 references run on JAX (before keras is imported)

import hypothesis
import jax
import torch  # a missing torch is an error, never a skip

jax.config.update("jax_enable_x64", False)
torch.set_num_threads(max(1, (os.cpu_count() or 2) // 2))

hypothesis.settings.register_profile("ci", max_examples=8, deadline=None, derandomize=True)
hypothesis.settings.register_profile("long", max_examples=500, deadline=None)
# the contributors' quick subset (README): one example per loss and property
hypothesis.settings.register_profile("quick", max_examples=1, deadline=None, derandomize=True)
hypothesis.settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
