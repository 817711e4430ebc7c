"""Small unrolled networks to draw: one call builds a model, runs it and backpropagates.

Used by the command line, the gallery, the golden files and the tests, so that they all draw the
same, reproducible graphs (seeded with ``mt.manual_seed``, float64 by default so that printed
numbers do not depend on float32 rounding).

Example:
    >>> loss, model = unrolled("gru", steps=2, hidden=2)
    >>> type(model).__name__, loss.shape, loss.grad is not None
    ('GRU', (), True)
"""
import microtensor as mt
import rnn
from rnn.conventions import CELL_KINDS, positive_int

CELLS = tuple(CELL_KINDS)          # "lstm", "gru", "rnn", "rnn_relu": rnn's one table of cell kinds
LOSSES = ("last", "all")


def unrolled(cell="lstm", steps=4, hidden=3, layers=1, input_size=2, batch=1, bidirectional=False,
             loss="last", seed=0, dtype="float64", lengths=None, weight_scale=None, forget_bias=None,
             backward=True):
    """Build ``rnn.RNN/LSTM/GRU``, run it over ``steps`` random inputs, make a loss, backpropagate.

    Args:
        cell: a name of :data:`rnn.conventions.CELL_KINDS` (``"lstm"``, ``"gru"``, ``"rnn"``,
            ``"rnn_relu"``).
        steps, hidden, layers, input_size, batch: sizes (T, H, num_layers, I, B).
        bidirectional: two directions per layer.
        loss: ``"last"`` (a fixed random projection of the last output: gradients have to travel
            back through time, which is what shows vanishing gradients) or ``"all"`` (of every
            step's output).
        seed: for ``mt.manual_seed``. dtype: ``"float64"`` or ``"float32"``.
        lengths: optional per-sequence lengths (masked steps).
        weight_scale: if given, multiply the recurrent weights by it (e.g. 0.5 to make a vanilla
            RNN's gradients vanish faster).
        forget_bias: LSTM only: add this to the forget gate's input bias (the common "forget
            bias 1" init keeps the cell state, and its gradient, alive over more steps).
        backward: run ``loss.backward(keep_grads=True)``.

    The forward runs under ``mt.keep_values()``, so a drawing shows every node's value.

    Returns:
        ``(loss, model)``.

    Example:
        >>> loss, lstm = unrolled("lstm", steps=3, hidden=2)
        >>> lstm.weight_hh_l0.shape
        (8, 2)
    """
    if cell not in CELLS:
        raise ValueError(f"cell must be one of {CELLS}, not {cell!r}")
    if loss not in LOSSES:
        raise ValueError(f"loss must be one of {LOSSES}, not {loss!r}")
    for label, value in (("steps", steps), ("hidden", hidden), ("layers", layers),
                         ("input_size", input_size), ("batch", batch)):
        positive_int(value, label)
    mt.manual_seed(seed)
    kind = CELL_KINDS[cell]
    options = {"nonlinearity": kind.nonlinearity} if kind.nonlinearity else {}
    model = getattr(rnn, kind.layer)(input_size, hidden, num_layers=layers,
                                     bidirectional=bidirectional, **options)
    if dtype == "float64":
        model = model.double()
    elif dtype != "float32":
        raise ValueError(f"dtype must be 'float64' or 'float32', not {dtype!r}")
    if weight_scale is not None:
        with mt.no_grad():
            for name, p in model.named_parameters():
                if name.startswith("weight_hh"):
                    p.data *= weight_scale
    if forget_bias is not None:
        if cell != "lstm":
            raise ValueError("forget_bias applies to cell='lstm' only")
        with mt.no_grad():
            for name, p in model.named_parameters():
                if name.startswith("bias_ih"):
                    p.data[hidden:2 * hidden] += forget_bias     # gate order i, f, g, o
    x = mt.randn(steps, batch, input_size, dtype=dtype, name="x")
    with mt.keep_values():          # for drawing: every node's value, not only the saved ones
        output, _ = model(x, lengths=lengths)                     # (T, B, D*H)
        target = mt.randn(*output.shape[1:], dtype=dtype, name="target")
        with mt.scope("loss"):
            chosen = output[-1] if loss == "last" else output
            value = (chosen * target).sum()
            value.name = "loss"
    if backward:
        value.backward(keep_grads=True)
    return value, model
