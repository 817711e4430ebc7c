"""The engine's error hierarchy.

Every error is also a standard Python exception (``ShapeError`` is a ``ValueError``,
``GraphFreedError`` a ``RuntimeError``...), so code that catches the standard ones keeps working.

Example:
    >>> import microtensor as mt
    >>> try:
    ...     mt.zeros(3, 4) @ mt.zeros(5, 6)
    ... except mt.ShapeError as e:
    ...     print(e)
    matmul: (3, 4) @ (5, 6): inner dimensions 4 != 5
"""


class MicrotensorError(Exception):
    """Base class of every error raised on purpose by microtensor."""


class ShapeError(MicrotensorError, ValueError):
    """Operands of an op have shapes that do not fit; the message names the op and every shape."""


class GraphFreedError(MicrotensorError, RuntimeError):
    """``backward()`` reached a node whose saved arrays were freed by an earlier backward pass."""


class AnomalyError(MicrotensorError, RuntimeError):
    """Raised in ``detect_anomaly()`` mode where the first NaN/Inf appears (op, scope, direction)."""


class GradcheckError(MicrotensorError, AssertionError):
    """Analytic and numeric gradients disagree; the message names input, element and both values."""
