"""rnn: recurrent networks built only from microtensor's public API.

Cells (:mod:`rnn.cells`) write every gate out as primitive ops so the unrolled graph shows it;
layers (:mod:`rnn.layers`) stack any cell over time, layers and directions; :mod:`rnn.fused` has
the same math as single fused ops for speed. Names, shapes and numbers are PyTorch's.

Example:
    >>> import microtensor as mt, rnn
    >>> out, (h_n, c_n) = rnn.LSTM(3, 4)(mt.ones(5, 2, 3))
    >>> out.shape
    (5, 2, 4)
"""
from .cells import GRUCell, LayerNormLSTMCell, LSTMCell, RecurrentCell, RNNCell  # noqa: F401
from .layers import GRU, LSTM, RNN, Recurrent  # noqa: F401
from . import fused  # noqa: F401
from . import data
from .models import CharRNN, ManyToMany, ManyToOne, OneToMany, SequenceClassifier
from .seq2seq import Decoder, Encoder, Seq2Seq
from .tbptt import TBPTTTrainer
from .diagnostics import hidden_grad_norms, step_states  # noqa: F401
