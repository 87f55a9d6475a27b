"""The shared core: reduction rules, the catalogue, the README table, the self-check and its stored
reference values."""

from __future__ import annotations

import inspect
import json
import re
import subprocess
import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.experimental import checkify

import jaxloss as jl
from jaxloss import _selfcheck
from jaxloss._core.catalogue import CATALOGUE
from jaxloss._core.catalogue import markdown as catalogue_markdown
from jaxloss._core.reduction import reduce

ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.quick  # the core runs in the contributors' quick subset


# --- reduce: hand-computed cases ------------------------------------------------------------------

LOSS = jnp.array([1.0, 2.0, 3.0, 4.0])
W = jnp.array([0.5, 1.0, 2.0, 0.0])
KEEP = jnp.array([True, True, False, True])


@pytest.mark.parametrize(
    "kwargs,expected",
    [
        ({}, 2.5),  # (1+2+3+4)/4
        ({"where": KEEP}, 7 / 3),  # (1+2+4)/3
        ({"weight": W}, (0.5 + 2 + 6 + 0) / 3.5),  # torch's weighted mean
        ({"weight": W, "where": KEEP}, (0.5 + 2) / 1.5),  # masked entries leave the weight sum too
        ({"weight": W, "divide_by": "count"}, 8.5 / 4),  # huber's rule
        ({"weight": W, "where": KEEP, "divide_by": "count"}, 2.5 / 3),
        ({"divide_by": jnp.array([1.0, 1.0, 2.0, 4.0])}, 10 / 8),  # an explicit denominator weight
    ],
)
def test_reduce_mean_rules(kwargs, expected):
    assert float(reduce(LOSS, "mean", **kwargs)) == pytest.approx(expected)


def test_reduce_sum_and_none_apply_mask_and_weight():
    np.testing.assert_allclose(reduce(LOSS, "none", weight=W, where=KEEP), [0.5, 2.0, 0.0, 0.0])
    assert float(reduce(LOSS, "sum", weight=W, where=KEEP)) == pytest.approx(2.5)


@pytest.mark.parametrize("kwargs", [{"where": jnp.zeros(4, bool)}, {"weight": jnp.zeros(4)}], ids=["all_masked", "zero_weights"])
def test_mean_over_nothing_is_zero_with_zero_gradient(kwargs):
    value, grad = jax.value_and_grad(lambda per_element: reduce(per_element, "mean", **kwargs))(LOSS)
    assert float(value) == 0.0
    np.testing.assert_array_equal(grad, 0.0)
    assert float(reduce(jnp.zeros((0,)), "mean")) == 0.0


def test_masked_nan_entries_do_not_poison_the_mean():
    loss = jnp.array([1.0, jnp.nan, 3.0])
    assert float(reduce(loss, "mean", where=jnp.array([True, False, True]))) == 2.0


# --- catalogue, public API, README ------------------------------------------------------------------


def test_every_catalogued_loss_is_exported_jitted_and_documented():
    assert CATALOGUE, "no losses registered"
    for name, info in CATALOGUE.items():
        assert name in jl.__all__
        assert getattr(jl, name) is info.function
        assert hasattr(info.function, "lower"), f"{name} is not a jax.jit function"
        doc = inspect.getdoc(info.function) or ""
        for part in ("Args:", "Returns:", "Example:", ">>>"):
            assert part in doc, f"{name}'s docstring lacks {part!r}"
        assert info.counterpart, name
        params = inspect.signature(info.function).parameters
        if "reduction" in params:
            assert params["reduction"].kind is inspect.Parameter.KEYWORD_ONLY, name


def test_readme_table_is_the_generated_catalogue():
    readme = (ROOT / "README.md").read_text()
    assert catalogue_markdown() in readme, "README's loss table is stale: paste `python -m jaxloss --markdown`"


def test_readme_quotes_the_latest_benchmark_results():
    readme = (ROOT / "README.md").read_text()
    results = (ROOT / "benchmarks" / "results" / "cpu.md").read_text().strip()
    assert "forward" in results and "value+grad" in results and "cores" in results.splitlines()[0]
    assert f"<!-- benchmark-results -->\n{results}\n<!-- /benchmark-results -->" in readme, (
        "README's benchmark table is stale: run `python scripts/update_readme_table.py`"
    )


def test_readme_commands_install_torch_first_and_ci_runs_the_readme_test_command():
    readme = (ROOT / "README.md").read_text()
    demo, tests = re.findall(r"```bash\n(.*?)\n```", readme)[:2]
    assert demo.endswith("python -m jaxloss") and 'pip install -e ".[examples]"' in demo
    assert tests.index("pip install torch==2.13.0") < tests.index('pip install -e ".[test]"') < tests.index("python -m pytest")
    ci = subprocess.run(
        ["awk", "/^\\*\\*Install and run the tests\\*\\*/{found=1} found && /^```bash/{getline; print; exit}", "README.md"],
        capture_output=True, text=True, cwd=ROOT,
    ).stdout.strip()
    assert ci == tests  # the same extraction .ci/run performs
    assert "awk '/^\\*\\*Install and run the tests\\*\\*/" in (ROOT / ".ci" / "run").read_text()


# --- self-check ------------------------------------------------------------------------------------


def test_self_check_command_passes_on_this_backend():
    out = subprocess.run([sys.executable, "-m", "jaxloss"], capture_output=True, text=True, cwd=ROOT, timeout=600)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    assert re.search(rf"^{len(CATALOGUE)} passed, 0 failed in [\d.]+ s$", out.stdout, flags=re.MULTILINE), out.stdout[-500:]
    # one row per loss, numbered as it finishes (printed and flushed one by one, not as a final table)
    for i, name in enumerate(CATALOGUE, 1):
        assert re.search(rf"^\[{i}/{len(CATALOGUE)}\]\s+{name}\s+pass\s", out.stdout, flags=re.MULTILINE), name


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "jaxloss", *args], capture_output=True, text=True, cwd=ROOT, timeout=600)


def test_cli_help_prints_usage_and_exits():
    out = _cli("--help")
    assert out.returncode == 0 and out.stdout.startswith("usage: python -m jaxloss [-h] [--list | --markdown]")
    assert " passed, " not in out.stdout  # and no self-check ran


@pytest.mark.parametrize("args", [("--bogus",), ("--list", "extra"), ("--list", "--markdown")])
def test_cli_unknown_or_conflicting_options_are_an_error(args):
    out = _cli(*args)
    assert out.returncode == 2 and "usage: python -m jaxloss" in out.stderr and out.stdout == ""


def test_cli_catalogue_is_plain_text():
    out = _cli("--list")
    assert out.returncode == 0
    rows = out.stdout.splitlines()[2:]
    assert len(rows) == len(CATALOGUE)
    for row in rows:
        assert not re.search(r"`|:\w+:|\\", row), row  # no reStructuredText roles, literals or LaTeX


def test_every_loss_has_a_self_check_case():
    stored = set(_selfcheck.load_reference())
    assert set(CATALOGUE) <= stored, f"losses without a self-check case: {sorted(set(CATALOGUE) - stored)}"
    assert stored <= set(CATALOGUE), f"self-check cases of unknown losses: {sorted(stored - set(CATALOGUE))}"


def test_self_check_needs_neither_torch_nor_the_registry():
    """The self-check ships with the package: it reads its stored inputs, never torch or ``references``."""
    code = ("import sys; sys.modules.update(torch=None, references=None)\n"
            "from jaxloss import _selfcheck\n"
            "value, grad = _selfcheck.compute('l1_loss', _selfcheck.load_reference()['l1_loss'])\n"
            "assert value.shape == (4,) and grad.shape == (4,)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=600)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]


def _assert_same_case(stored, fresh, where):
    """Equal structure, dtypes, shapes and options; arrays equal up to float32 rounding."""
    if isinstance(fresh, dict) and "values" in fresh:
        assert (stored["dtype"], stored["shape"]) == (fresh["dtype"], fresh["shape"]), where
        # torch's float32 kernels round differently on different CPUs (vector widths, summation
        # order); a gradient entry that is a difference of O(1) terms is exact only to float32
        # rounding of those terms, so the absolute tolerance scales with the array's magnitude
        fresh_value = np.asarray(fresh["values"], np.float64)
        scale = float(np.max(np.abs(fresh_value), initial=1.0))
        np.testing.assert_allclose(np.asarray(stored["values"], np.float64), fresh_value, rtol=1e-6, atol=1e-6 * scale,
                                   err_msg=where)
    elif isinstance(fresh, dict):
        assert stored.keys() == fresh.keys(), where
        for key in fresh:
            _assert_same_case(stored[key], fresh[key], f"{where}/{key}")
    elif isinstance(fresh, list):
        assert len(stored) == len(fresh), where
        for i, (s, f) in enumerate(zip(stored, fresh)):
            _assert_same_case(s, f, f"{where}/{i}")
    else:
        assert stored == fresh, where


def test_stored_reference_values_are_what_torch_gives_now(tmp_path, monkeypatch):
    """The JSON shipped with the package is reproducible from the registry and live torch by the script."""
    scripts = str(ROOT / "scripts")
    sys.path.insert(0, scripts)
    try:
        import make_reference_values
    finally:
        sys.path.remove(scripts)
    monkeypatch.setattr(_selfcheck, "reference_path", lambda: tmp_path / "reference.json")
    monkeypatch.setattr(make_reference_values, "reference_path", lambda: tmp_path / "reference.json")
    make_reference_values.main()
    fresh = json.loads((tmp_path / "reference.json").read_text())
    stored = json.loads((ROOT / "jaxloss" / "_selfcheck" / "reference.json").read_text())
    assert fresh.keys() == stored.keys()
    for name in fresh:
        _assert_same_case(stored[name], fresh[name], name)


def test_readme_python_examples_run():
    """Every README code block that imports jaxloss is a complete program, and it runs."""
    blocks = [b for b in re.findall(r"```python\n(.*?)```", (ROOT / "README.md").read_text(), re.S) if "import jaxloss" in b]
    assert blocks
    for block in blocks:
        exec(compile(block, "README.md", "exec"), {})


def test_checked_retraces_a_function_jitted_without_checks():
    """The value-checks switch is part of the jit cache key: a program traced (and cached) without
    checks is traced again under jl.checked, so it still reports the bad value."""
    x, y, var = jnp.zeros(2), jnp.ones(2), jnp.array([1.0, -1.0])
    step = jax.jit(lambda v: jl.gaussian_nll_loss(x, y, v))
    assert jnp.isnan(step(var))  # traced and cached without checks
    with pytest.raises(checkify.JaxRuntimeError, match="gaussian_nll_loss: `var` must be non-negative"):
        jl.checked(step)(var)
    assert jnp.isnan(step(var))  # and the unchecked program is unchanged


def test_value_checks_context_reports_errors_under_jit():
    step = jax.jit(checkify.checkify(jl.cross_entropy, errors=checkify.user_checks))
    logits, labels = jnp.zeros((2, 3)), jnp.array([0, 5])
    with jl.value_checks():
        err, value = step(logits, labels)
    assert "cross_entropy: `target`" in err.get()
    assert jnp.isnan(value)
    err, _ = step(logits, labels)  # outside the context: no check traced
    assert err.get() is None


def test_all_is_literal_and_lists_every_loss_and_helper():
    """``__all__`` is written out (static readers, IDEs and mkdocstrings see it without importing)
    and names every loss of the catalogue, in order, after the helpers."""
    import ast

    tree = ast.parse((ROOT / "jaxloss" / "__init__.py").read_text())
    (node,) = [n for n in tree.body if isinstance(n, ast.Assign) and any(getattr(t, "id", None) == "__all__" for t in n.targets)]
    literal = ast.literal_eval(node.value)
    assert literal == jl.__all__
    helpers = ["CATALOGUE", "LinearCrossEntropyStats", "ShapeWarning", "checked", "global_mean", "global_sum", "value_checks",
               "vocab_parallel_cross_entropy"]
    assert literal == helpers + list(CATALOGUE)
    assert all(hasattr(jl, name) for name in literal)


def test_errors_name_their_loss_once_without_hidden_state():
    """A check raises without knowing its loss; the loss's decorator prefixes the name on the way
    out (once, even when traced inside another jitted function), helpers name themselves, and no
    module of the package keeps a context variable for it."""
    with pytest.raises(ValueError, match=r"^mse_loss: shapes do not broadcast: `input` \(3,\), `target` \(4,\)") as info:
        jax.jit(lambda a, b: jl.l1_loss(a, a) + jl.mse_loss(a, b))(jnp.zeros(3), jnp.zeros(4))
    assert str(info.value).count("mse_loss:") == 1
    with pytest.raises(TypeError, match=r"^global_mean: `loss` must have a floating dtype"):
        jl.global_mean(jnp.zeros(3, jnp.int32), "data")
    sources = "".join(p.read_text() for p in (ROOT / "jaxloss").rglob("*.py"))
    assert "contextvars" not in sources and "ContextVar" not in sources
