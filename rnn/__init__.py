"""rnn: recurrent networks built only from microtensor's public API.

The math of one step is a stateless function in :mod:`rnn.steps` (``lstm_step(x, (h, c),
weight_ih, weight_hh, bias_ih, bias_hh)``), written out as primitive ops so the unrolled graph
shows every gate; cells (:mod:`rnn.cells`) and layers (:mod:`rnn.layers`, any cell over time,
layers and directions) own the weights and call it; :mod:`rnn.fused` has the same math as single
fused ops for speed. :mod:`rnn.conventions` holds what rnn and its readers (diagnostics, viz)
share: the step scopes, the roles of the named states, the cell kinds. Names, shapes and numbers
are PyTorch's.

Example:
    >>> import microtensor as mt, rnn
    >>> out, (h_n, c_n) = rnn.LSTM(3, 4)(mt.ones(5, 2, 3))
    >>> out.shape
    (5, 2, 4)
"""
from .cells import GRUCell, LayerNormLSTMCell, LSTMCell, RecurrentCell, RNNCell  # noqa: F401
from .layers import GRU, LSTM, RNN, Recurrent  # noqa: F401
from . import conventions, fused, steps  # noqa: F401
from . import data
from .models import CharRNN, ManyToMany, ManyToOne, OneToMany, SequenceClassifier
from .seq2seq import Decoder, Encoder, Seq2Seq
from .tbptt import TBPTTTrainer
from .diagnostics import hidden_grad_norms, step_states  # noqa: F401
