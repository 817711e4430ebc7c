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
    """Base class of every error raised on purpose by microtensor.

    Example:
        >>> import microtensor as mt
        >>> issubclass(mt.ShapeError, mt.MicrotensorError)
        True
    """


class ShapeError(MicrotensorError, ValueError):
    """Operands of an op have shapes that do not fit; the message names the op and every shape.

    Example:
        >>> import microtensor as mt
        >>> try:
        ...     mt.ones(2, 3) + mt.ones(4)
        ... except ValueError as e:          # a ShapeError is a ValueError
        ...     print(e)
        add: (2, 3) + (4,): shapes cannot be broadcast together
    """


class GraphFreedError(MicrotensorError, RuntimeError):
    """``backward()`` reached a node whose saved arrays were freed by an earlier backward pass.

    Example:
        >>> import microtensor as mt
        >>> y = (mt.ones(2, requires_grad=True) * 3).sum()
        >>> y.backward()
        >>> try:
        ...     y.backward()
        ... except mt.GraphFreedError as e:
        ...     print("retain_graph=True" in str(e))
        True
    """


class AnomalyError(MicrotensorError, RuntimeError):
    """Raised in ``detect_anomaly()`` mode where the first NaN/Inf appears (op, scope, direction).

    Example:
        >>> import microtensor as mt
        >>> with mt.detect_anomaly():
        ...     try:
        ...         mt.tensor([-1.0]).sqrt()
        ...     except mt.AnomalyError as e:
        ...         print(e)
        forward of 'sqrt' in scope '' produced NaN (inputs were finite)
    """


class GradcheckError(MicrotensorError, AssertionError):
    """Analytic and numeric gradients disagree; the message names input, element and both values.

    An ``AssertionError``, so a failed :func:`~microtensor.gradcheck` fails a test like an assert.

    Example:
        >>> import microtensor as mt
        >>> issubclass(mt.GradcheckError, AssertionError)
        True
    """


FREED_MESSAGE = ("Trying to backward through the graph a second time (or to reach a node whose "
                 "saved arrays were already freed by backward()). Pass retain_graph=True to the "
                 "first backward() if you need to backward through the graph again.")
