"""Losses on meshes with ``Explicit`` axes, the default of ``jax.make_mesh`` since jax 0.7.

Under a mesh with explicit axes, every operation must type its result's sharding, and JAX refuses
those it cannot infer: a gather of class weights by batch-sharded labels, the ``(N, N)`` label
comparison of a contrastive loss, a sort or a reshape across a sharded axis, a ``scan`` carry that
starts replicated. A loss is a small, self-contained computation whose natural sharding XLA finds
by itself, so the decorator runs every loss body with the explicit axes switched to ``Auto``
(:func:`jax.sharding.auto_axes`, which reshards nothing on the way in) and types the result for
the caller: a reduced loss is replicated, an unreduced one keeps the sharding of the input it has
the shape of, or else the sharding of the batch axis it shares with the first input. Arrays placed on a mesh
but called without ``jax.set_mesh`` are handled under their own mesh. Without a
mesh, under ``Auto`` axes, or when no input is sharded over an explicit axis (inside a
``shard_map`` over the batch axis, for instance), nothing changes.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
from jax.sharding import AxisType, PartitionSpec


def _explicit_axes(mesh: Any) -> tuple[str, ...]:
    if mesh.empty:
        return ()
    return tuple(name for name, kind in zip(mesh.axis_names, mesh.axis_types) if kind == AxisType.Explicit)


def _inputs_mesh(inputs: list[jax.Array]) -> Any:
    """The mesh the inputs are placed on (arrays put on a mesh without ``jax.set_mesh`` carry it in
    their type), or None."""
    for a in inputs:
        sharding = jax.typeof(a).sharding
        mesh = getattr(sharding, "mesh", None)
        if mesh is not None and not mesh.empty:
            return mesh
    return None


def _spec(a: jax.Array) -> PartitionSpec:
    sharding = jax.typeof(a).sharding
    return PartitionSpec() if sharding is None else sharding.spec


def _names(spec: PartitionSpec) -> set[str]:
    """The mesh axes a partition spec shards over."""
    return {name for entry in spec for name in ((entry,) if isinstance(entry, str) else entry or ())}


def _result_spec(out: jax.ShapeDtypeStruct, inputs: list[jax.Array]) -> PartitionSpec:
    """The sharding a result is typed with: that of an input of its shape, else the leading axis
    of the first input when the result starts with that axis, else replicated."""
    if out.ndim == 0:
        return PartitionSpec()
    for a in inputs:
        if a.shape == out.shape:
            return _spec(a)
    first = next((a for a in inputs if a.ndim >= 1), None)
    if first is not None and first.shape[0] == out.shape[0]:
        leading = tuple(_spec(first))[:1]
        return PartitionSpec(*leading, *([None] * (out.ndim - len(leading))))
    return PartitionSpec()


def on_auto_axes(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """``fn(*args, **kwargs)`` with the current mesh's ``Explicit`` axes made ``Auto`` (a no-op
    without such axes); the result is typed as described in the module docstring."""
    leaves, tree = jax.tree_util.tree_flatten((args, kwargs))
    where_array = [isinstance(leaf, jax.Array) for leaf in leaves]
    inputs = [leaf for leaf, is_array in zip(leaves, where_array) if is_array]
    mesh = jax.sharding.get_abstract_mesh()
    if mesh.empty:  # arrays placed on a mesh, called without jax.set_mesh: their mesh, as the context
        placed = _inputs_mesh(inputs)
        if placed is not None and _explicit_axes(placed):
            with jax.sharding.use_abstract_mesh(placed):
                return on_auto_axes(fn, *args, **kwargs)
        return fn(*args, **kwargs)
    explicit = _explicit_axes(mesh)
    if not any(_names(_spec(a)) & set(explicit) for a in inputs):
        return fn(*args, **kwargs)  # replicated over the explicit axes: JAX types everything

    def on_arrays(*arrays: jax.Array) -> Any:
        supply = iter(arrays)
        call_args, call_kwargs = jax.tree_util.tree_unflatten(
            tree, [next(supply) if is_array else leaf for leaf, is_array in zip(leaves, where_array)])
        return fn(*call_args, **call_kwargs)

    shapes = jax.eval_shape(jax.sharding.auto_axes(on_arrays, axes=explicit, out_sharding=PartitionSpec()), *inputs)
    specs = jax.tree_util.tree_map(lambda o: _result_spec(o, inputs), shapes)
    return jax.sharding.auto_axes(on_arrays, axes=explicit, out_sharding=specs)(*inputs)
