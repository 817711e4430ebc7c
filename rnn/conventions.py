"""The conventions that tie a recorded graph to the network that made it, defined once.

An unrolled network opens one scope per layer, direction and time step, and names the tensors a
drawing or a diagnostic looks for. rnn's layers write these conventions; :mod:`rnn.diagnostics`
and ``viz`` read them. Both sides import this module instead of parsing strings their own way.

- **Scopes.** ``<model>/l<k>[/reverse]/t<t>``: model, layer, direction, step, e.g.
  ``"lstm/l1/reverse/t3"``. The *family* is the path before the step part (one row of an
  unrolled picture: ``"lstm/l1/reverse"``); anything after the step part (a sub-scope inside a
  cell) belongs to the same step. Hand-written loops may use any family (``"net/t3"``).
- **Roles.** The tensors named :data:`HIDDEN` (``"h"``), :data:`CELL` (``"c"``) in a step are its
  states; :data:`INITIAL` names the initial states (``"h0"``, ``"c0"``); a boolean leaf named
  :data:`MASK` is the condition of the ``where`` that keeps a padded step's state.
- **Cell kinds.** :data:`CELL_KINDS`: the built-in cells, their gates in PyTorch's order and
  their states, one table for the command lines, the models and the drawings.

Example:
    >>> from rnn import conventions as cv
    >>> cv.step_path("lstm", 1, reverse=True, t=3)
    'lstm/l1/reverse/t3'
    >>> cv.parse_scope("lstm/l1/reverse/t3/gates")
    StepScope(family='lstm/l1/reverse', t=3, model='lstm', layer=1, reverse=True)
    >>> cv.CELL_KINDS["gru"].gates
    ('r', 'z', 'n')
"""
import re
from collections import namedtuple

import numpy as np

# ----- scopes ---------------------------------------------------------------------------------
STEP_PREFIX = "t"
LAYER_PREFIX = "l"
REVERSE = "reverse"

_STEP_PART = re.compile(r"^t(\d+)$")
_LAYER_PART = re.compile(r"^l(\d+)$")


def step_part(t):
    """The scope part of time step ``t``: ``"t3"``.

    Example:
        >>> step_part(3)
        't3'
    """
    return f"{STEP_PREFIX}{int(t)}"


def layer_part(k):
    """The scope part of layer ``k``: ``"l0"``.

    Example:
        >>> layer_part(0)
        'l0'
    """
    return f"{LAYER_PREFIX}{int(k)}"


def family_path(model, layer, reverse=False):
    """The scope of one layer and direction of ``model`` (a row of the unrolled picture).

    Example:
        >>> family_path("gru", 0), family_path("gru", 1, reverse=True)
        ('gru/l0', 'gru/l1/reverse')
    """
    return f"{model}/{layer_part(layer)}" + (f"/{REVERSE}" if reverse else "")


def step_path(model, layer, reverse=False, t=0):
    """The scope of step ``t`` of one layer and direction: ``"lstm/l0/reverse/t3"``.

    Example:
        >>> step_path("rnn", 0, t=2)
        'rnn/l0/t2'
    """
    return f"{family_path(model, layer, reverse)}/{step_part(t)}"


def _numbered(pattern, part):
    match = pattern.match(part)
    return int(match.group(1)) if match else None


def parse_step_part(part):
    """``"t3"`` -> 3; None if ``part`` is not a time-step part.

    Example:
        >>> parse_step_part("t12"), parse_step_part("tanh")
        (12, None)
    """
    return _numbered(_STEP_PART, part)


def parse_layer_part(part):
    """``"l1"`` -> 1; None if ``part`` is not a layer part.

    Example:
        >>> parse_layer_part("l1"), parse_layer_part("loss")
        (1, None)
    """
    return _numbered(_LAYER_PART, part)


class StepScope(namedtuple("StepScope", "family t model layer reverse")):
    """Where a scope path sits in an unrolled network (see :func:`parse_scope`).

    ``family``: the path before the step part (``"lstm/l1/reverse"``); ``t``: the step;
    ``model``: the path before the layer part (``"lstm"``; the whole family if there is no layer
    part); ``layer``: the layer index or None; ``reverse``: whether the family is a reverse
    direction.

    Example:
        >>> StepScope("gru/l0", 4, "gru", 0, False).step
        'gru/l0/t4'
    """

    __slots__ = ()

    @property
    def step(self):
        """The step's own scope path, ``family/t<t>`` (without sub-scopes)."""
        return f"{self.family}/{step_part(self.t)}" if self.family else step_part(self.t)


def parse_scope(scope):
    """Parse a scope path into a :class:`StepScope`; None outside any time step.

    The first ``t<k>`` part marks the step; parts after it are sub-scopes of the same step.

    Example:
        >>> s = parse_scope("lstm/l1/reverse/t3/gates")
        >>> s.family, s.t, s.layer, s.reverse, s.step
        ('lstm/l1/reverse', 3, 1, True, 'lstm/l1/reverse/t3')
        >>> parse_scope("net/t0"), parse_scope("head")
        (StepScope(family='net', t=0, model='net', layer=None, reverse=False), None)
    """
    if not scope:
        return None
    parts = scope.split("/")
    for i, part in enumerate(parts):
        t = parse_step_part(part)
        if t is None:
            continue
        family = parts[:i]
        reverse = bool(family) and family[-1] == REVERSE
        before = family[:-1] if reverse else family
        layer = parse_layer_part(before[-1]) if before else None
        model = before[:-1] if layer is not None else family
        return StepScope("/".join(family), t, "/".join(model), layer, reverse)
    return None


# ----- roles: the names a step gives the tensors that a drawing or a diagnostic looks for ---------
HIDDEN = "h"          # a step's hidden state (its output)
CELL = "c"            # an LSTM step's cell state
MASK = "mask"         # the boolean (B, 1) leaf that keeps a padded step's state: where(mask, new, old)
INITIAL = {HIDDEN: "h0", CELL: "c0"}   # the initial states, separate leaves of each layer/direction


# ----- cell kinds -----------------------------------------------------------------------------
CellKind = namedtuple("CellKind", "name layer cell nonlinearity gates states torch_layer")
CellKind.__doc__ = """One built-in cell kind.

``name``: the key (``"lstm"``); ``layer`` / ``cell``: the class names in :mod:`rnn`;
``nonlinearity``: the RNN's activation (None for gated cells); ``gates``: the gate names in
PyTorch's row order of ``weight_ih``; ``states``: the role names of the state tuple;
``torch_layer``: the PyTorch class with the same parameters."""

CELL_KINDS = {
    "lstm": CellKind("lstm", "LSTM", "LSTMCell", None, ("i", "f", "g", "o"), (HIDDEN, CELL),
                     "LSTM"),
    "gru": CellKind("gru", "GRU", "GRUCell", None, ("r", "z", "n"), (HIDDEN,), "GRU"),
    "rnn": CellKind("rnn", "RNN", "RNNCell", "tanh", ("h",), (HIDDEN,), "RNN"),
    "rnn_relu": CellKind("rnn_relu", "RNN", "RNNCell", "relu", ("h",), (HIDDEN,), "RNN"),
}


def cell_kind(name):
    """The :class:`CellKind` called ``name`` (case-insensitive), or a ValueError listing them.

    Example:
        >>> cell_kind("LSTM").states
        ('h', 'c')
        >>> cell_kind("tcn")
        Traceback (most recent call last):
        ...
        ValueError: cell must be one of lstm, gru, rnn, rnn_relu; got 'tcn'
    """
    key = str(name).lower()
    if key not in CELL_KINDS:
        raise ValueError(f"cell must be one of {', '.join(CELL_KINDS)}; got {name!r}")
    return CELL_KINDS[key]


# ----- arguments ------------------------------------------------------------------------------
def positive_int(value, what):
    """``value`` as an int if it is a positive integer, else a ValueError naming ``what``.

    Bools and floats are refused (``True`` is not a size, ``2.0`` hides a bug), as PyTorch does.

    Example:
        >>> positive_int(3, "hidden_size")
        3
        >>> positive_int(0, "hidden_size")
        Traceback (most recent call last):
        ...
        ValueError: hidden_size must be a positive integer, got 0
    """
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value <= 0:
        raise ValueError(f"{what} must be a positive integer, got {value!r}")
    return int(value)
