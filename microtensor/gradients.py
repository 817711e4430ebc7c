"""Gradient values an op's ``backward`` may hand back: ndarrays, and two lazy forms.

Part of the public extension surface (:mod:`microtensor.extend`), used by the built-in ops exactly
as a user's op may use them:

- :func:`unbroadcast` sums a gradient down to an input's shape (every broadcasting binary op);
- :class:`IndexedGrad` is a gradient that is zero except at an index (indexing's backward), added
  into one buffer instead of materialised per use;
- :class:`OuterGrad` is a weight gradient kept as factors ``sum_i L_i.T @ R_i`` and multiplied
  out once (matmul's one-GEMM weight gradient over an unrolled sequence).

The backward pass accepts either lazy form from any op's ``backward`` and turns it into an
ndarray before any hook, ``.grad`` or other op sees it, with one exception an op opts into:
an op whose class sets ``accepts_outer_grad = True`` receives an :class:`OuterGrad` as its
``grad`` unevaluated (``transpose`` does: it swaps the factors for free), and must then use
only ``OuterGrad``'s own methods on it (``transpose``, ``to_dense``, ``shape``, ``dtype``).

Example:
    >>> unbroadcast(np.ones((2, 3)), (1, 3))
    array([[2., 2., 2.]])
"""
import numpy as np


def unbroadcast(grad, shape):
    """Sum ``grad`` down to ``shape``, undoing NumPy broadcasting (leading axes and size-1 axes).

    Example:
        >>> unbroadcast(np.ones((2, 3)), (3,))
        array([2., 2., 2.])
    """
    if grad.shape == shape:
        return grad
    extra = grad.ndim - len(shape)
    if extra:
        grad = grad.sum(axis=tuple(range(extra)))
    axes = tuple(i for i, n in enumerate(shape) if n == 1 and grad.shape[i] != 1)
    if axes:
        grad = grad.sum(axis=axes, keepdims=True)
    return grad


class IndexedGrad:
    """A gradient that is zero everywhere except at ``index`` (what indexing's backward returns).

    ``x[t]`` of a ``(T, B, 4H)`` tensor is taken T times in an unrolled RNN; a dense gradient for
    each would allocate and sum T full ``(T, B, 4H)`` arrays (quadratic in T). The backward pass
    instead adds ``values`` into one buffer at ``index``. Any op may return one from ``backward``;
    hooks and ``.grad`` only ever see the dense ndarray.

    Example:
        >>> g = IndexedGrad((3, 2), (1,), np.ones(2, dtype=np.float32))
        >>> g.to_dense()
        array([[0., 0.],
               [1., 1.],
               [0., 0.]], dtype=float32)
    """

    __slots__ = ("shape", "index", "values", "advanced")

    def __init__(self, shape, index, values, advanced=False):
        self.shape = shape
        self.index = index
        self.values = values
        self.advanced = advanced     # integer/boolean arrays: repeated entries must accumulate

    @property
    def dtype(self):
        return self.values.dtype

    def astype(self, dtype):
        return IndexedGrad(self.shape, self.index, self.values.astype(dtype), self.advanced)

    def add_into(self, buffer):
        """buffer[index] += values, in place (accumulating repeated advanced indices)."""
        if self.advanced:
            np.add.at(buffer, self.index, self.values)
        else:
            buffer[self.index] += self.values

    def to_dense(self):
        """The full gradient as a new ndarray."""
        out = np.zeros(self.shape, dtype=self.values.dtype)
        if self.advanced:
            np.add.at(out, self.index, self.values)
        else:
            out[self.index] = self.values
        return out


class OuterGrad:
    """A weight gradient kept as a sum of products ``sum_i lefts[i].T @ rights[i]``, computed late.

    An unrolled RNN multiplies by the same weight at every step; each step's matmul backward
    contributes ``x_t.T @ g_t``. Computing and adding T small products costs T GEMMs and T
    full-size additions; keeping the factors and multiplying once, ``concat(x).T @ concat(g)``,
    is one large GEMM. Any op's backward may return one for an input ``W`` it computes as
    ``left.T @ right`` (MatMul's does); the backward pass concatenates them, passes them through
    an op that sets ``accepts_outer_grad = True`` (``transpose``: ``W.T`` in ``x @ W.T``) by
    swapping the factors, and turns them into an ndarray (``to_dense``) before anything else sees
    them. Pending rows are bounded
    (``max_pending``): past that, they are multiplied out into a partial sum.

    Example:
        >>> a, g = np.ones((2, 3), dtype=np.float32), np.ones((2, 4), dtype=np.float32)
        >>> total = OuterGrad([a], [g])
        >>> total.extend(OuterGrad([a], [g]))
        >>> total.to_dense()[0]
        array([4., 4., 4., 4.], dtype=float32)
        >>> total.transpose((1, 0)).shape
        (4, 3)
    """

    __slots__ = ("lefts", "rights", "partial", "pending")
    max_pending = 1 << 23          # elements of pending factors (32 MB of float32)

    def __init__(self, lefts, rights, partial=None):
        self.lefts = lefts
        self.rights = rights
        self.partial = partial     # an ndarray holding terms already multiplied out, or None
        self.pending = sum(x.size for x in lefts) + sum(x.size for x in rights)

    @property
    def shape(self):
        return (self.lefts[0].shape[1], self.rights[0].shape[1])

    @property
    def dtype(self):
        return self.rights[0].dtype

    def astype(self, dtype):
        return self.to_dense().astype(dtype)

    def transpose(self, axes=(1, 0)):
        """(sum_i L_i.T R_i).T = sum_i R_i.T L_i: swap the factors, nothing is computed."""
        if tuple(int(x) for x in axes) == (0, 1):
            return self
        partial = None if self.partial is None else self.partial.T
        return OuterGrad(self.rights, self.lefts, partial)

    def copy(self):
        """A new accumulator (own lists) with the same value."""
        return OuterGrad(list(self.lefts), list(self.rights), self.partial)

    def extend(self, other):
        """self += other, in place (self must be an accumulator made by ``copy``)."""
        self.lefts.extend(other.lefts)
        self.rights.extend(other.rights)
        self.pending += other.pending
        if other.partial is not None:
            self.partial = other.partial if self.partial is None else self.partial + other.partial
        if self.pending > self.max_pending:
            self.partial = self.to_dense()
            self.lefts, self.rights, self.pending = [], [], 0

    def to_dense(self):
        """The gradient as a new ndarray: one GEMM over all pending terms."""
        if not self.lefts:
            return self.partial.copy()
        if len(self.lefts) == 1:
            out = self.lefts[0].T @ self.rights[0]
        else:
            out = np.concatenate(self.lefts).T @ np.concatenate(self.rights)
        if self.partial is not None:
            out += self.partial
        return out
