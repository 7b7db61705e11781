"""PyTorch as the benchmark's second comparator: the same function, checked before it is timed."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from benchmarks import torch_compare

pytest.importorskip("torch", reason="PyTorch is an optional benchmark dependency")


def test_pytorch_computes_the_same_function_and_gradient():
    rng = np.random.default_rng(0)
    a = rng.standard_normal((5, 5)) + 5 * np.eye(5)
    w = rng.standard_normal((5, 5))
    calls, reason = torch_compare.calls("inv", (a,), w, np.linalg.inv(a), "float64")
    assert reason is None
    forward, inputs = calls["fwd"]
    np.testing.assert_allclose(np.asarray(forward(*inputs)), np.linalg.inv(a), rtol=1e-12)
    backward, inputs = calls["grad"]
    (grad,) = backward(*inputs)
    want = jax.grad(lambda m: jnp.sum(w * jnp.linalg.inv(m)))(jnp.asarray(a))
    np.testing.assert_allclose(np.asarray(grad), want, rtol=1e-10)


def test_a_gauge_mismatch_is_reported_not_timed():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((4, 4))
    a = x + x.T
    w_eig, v = np.linalg.eigh(a)
    calls, reason = torch_compare.calls("eigh[(w, v∘v)]", (a,), (w_eig, v), (w_eig, (-v) ** 2), "float64")
    assert calls is not None  # the squared eigenvectors agree whatever the signs
    calls, reason = torch_compare.calls("eigh[(w, v∘v)]", (a,), (w_eig, v), (w_eig + 1, v * v), "float64")
    assert calls is None and "differs" in reason


def test_every_listed_case_exists_in_the_registry():
    from tests.cases import benchmark_cases

    ids = {c.id for c in benchmark_cases()}
    assert set(torch_compare.case_ids()) <= ids
