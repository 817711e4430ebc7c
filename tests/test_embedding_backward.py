"""The embedding's backward (one-hot GEMMs for small tables, np.add.at for large) equals a scatter-add."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import microtensor as mt
from microtensor.ops import nn as nn_ops


@settings(max_examples=40, deadline=None)
@given(num_rows=st.sampled_from([1, 2, 7, 65, nn_ops.ONE_HOT_MAX_ROWS, nn_ops.ONE_HOT_MAX_ROWS + 1, 600]),
       n=st.integers(0, 300), dim=st.integers(1, 5), seed=st.integers(0, 2**16), small_blocks=st.booleans())
def test_scatter_add_rows_equals_add_at(num_rows, n, dim, seed, small_blocks):
    rng = np.random.default_rng(seed)
    indices = rng.integers(-num_rows, num_rows, size=n)              # negatives count from the end
    rows = rng.standard_normal((n, dim))
    expected = np.zeros((num_rows, dim))
    np.add.at(expected, indices, rows)
    previous = nn_ops.ONE_HOT_BLOCK
    nn_ops.ONE_HOT_BLOCK = num_rows * 3 if small_blocks else previous   # blocks of 3 rows: many blocks
    try:
        got = nn_ops.scatter_add_rows(indices, rows, num_rows)
    finally:
        nn_ops.ONE_HOT_BLOCK = previous
    assert got.shape == expected.shape and got.dtype == rows.dtype
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("num_rows", [10, nn_ops.ONE_HOT_MAX_ROWS + 10])
def test_embedding_gradient_with_repeats_and_padding(num_rows):
    rng = np.random.default_rng(0)
    weight = mt.tensor(rng.standard_normal((num_rows, 3)), requires_grad=True)
    indices = np.array([[1, 1, 4], [0, 4, 4]])
    out = mt.nn.functional.embedding(mt.tensor(indices), weight, padding_idx=0)
    upstream = rng.standard_normal(out.shape)
    (out * mt.tensor(upstream)).sum().backward()
    expected = np.zeros((num_rows, 3))
    np.add.at(expected, indices.reshape(-1), upstream.reshape(-1, 3))
    expected[0] = 0
    np.testing.assert_allclose(weight.grad, expected, rtol=1e-12, atol=1e-12)
