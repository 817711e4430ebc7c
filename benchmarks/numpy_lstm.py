"""The hand-written NumPy reference: a char-level LSTM language model, forward and BPTT by hand.

This is the yardstick of the benchmark suite: what a careful person writes with NumPy alone.
Everything a fast implementation does is done here, so a ratio to it measures engine overhead:

* the input projection of all T steps is one matmul before the time loop, ``(T*B, E) @ (E, 4H)``;
* the four gates come from one fused matmul per step, ``(B, H) @ (H, 4H)``;
* the output projection of all T steps is one matmul after the loop, ``(T*B, H) @ (H, V)``;
* the weight gradients are each one matmul over all steps (``dgates.T @ inputs``);
* activations live in preallocated ``(T, B, ...)`` buffers and are updated in place.

Gate order, parameter names and shapes follow PyTorch (``weight_ih_l0`` is ``(4H, E)``, gates
i, f, g, o), so parameters can be copied one to one into a microtensor or PyTorch model.

Example:
    >>> import numpy as np
    >>> model = NumpyCharLSTM(vocab_size=11, embed_size=4, hidden_size=5, seed=0)
    >>> inputs = np.array([[1, 2, 3], [4, 5, 6]])        # (B, T) token ids
    >>> loss, grads, state = model.loss_and_grads(inputs, (inputs + 1) % 11, model.zero_state(2))
    >>> round(float(loss), 1), grads["lstm.weight_hh_l0"].shape, state[0].shape
    (2.5, (20, 5), (2, 5))
"""
import numpy as np

#: Parameter names, in a fixed order, as a microtensor/PyTorch model would name them.
PARAM_NAMES = ("embedding.weight", "lstm.weight_ih_l0", "lstm.weight_hh_l0", "lstm.bias_ih_l0",
               "lstm.bias_hh_l0", "head.weight", "head.bias")


def init_params(vocab_size, embed_size, hidden_size, seed=0, dtype=np.float32):
    """PyTorch's default initialisation, drawn from one seeded NumPy generator.

    Embedding ~ N(0, 1); LSTM and Linear ~ U(-1/sqrt(fan), 1/sqrt(fan)) with fan = hidden_size
    for the LSTM (PyTorch's rule) and fan = in_features for the Linear head.

    Example:
        >>> p = init_params(65, 64, 128)
        >>> p["lstm.weight_ih_l0"].shape, p["lstm.weight_ih_l0"].dtype
        ((512, 64), dtype('float32'))
    """
    rng = np.random.default_rng(seed)
    bound = 1.0 / np.sqrt(hidden_size)

    def uniform(*shape):
        return rng.uniform(-bound, bound, size=shape).astype(dtype)

    return {
        "embedding.weight": rng.standard_normal((vocab_size, embed_size)).astype(dtype),
        "lstm.weight_ih_l0": uniform(4 * hidden_size, embed_size),
        "lstm.weight_hh_l0": uniform(4 * hidden_size, hidden_size),
        "lstm.bias_ih_l0": uniform(4 * hidden_size),
        "lstm.bias_hh_l0": uniform(4 * hidden_size),
        "head.weight": uniform(vocab_size, hidden_size),
        "head.bias": uniform(vocab_size),
    }


def _sigmoid_(x):
    """In place: x <- 1 / (1 + exp(-x)), as (1 + tanh(x/2)) / 2 so it never overflows."""
    x *= 0.5
    np.tanh(x, out=x)
    x += 1
    x *= 0.5


class NumpyCharLSTM:
    """Embedding -> one-layer LSTM -> Linear -> mean cross-entropy, forward and backward by hand.

    Args:
        vocab_size, embed_size, hidden_size: the model's sizes (V, E, H).
        seed: seed of :func:`init_params` (ignored when ``params`` is given).
        dtype: float32 (the benchmark) or float64 (finite-difference tests).
        params: optional dict name -> array (see :data:`PARAM_NAMES`), used as is (not copied).

    Example:
        >>> import numpy as np
        >>> model = NumpyCharLSTM(7, 3, 4)
        >>> x = np.zeros((2, 5), dtype=np.int64)
        >>> first = model.train_step(x, x, lr=0.5)
        >>> second = model.train_step(x, x, lr=0.5)       # the state from step 1 is carried
        >>> bool(second < first)
        True
    """

    def __init__(self, vocab_size, embed_size, hidden_size, seed=0, dtype=np.float32, params=None):
        self.vocab_size, self.embed_size, self.hidden_size = vocab_size, embed_size, hidden_size
        self.dtype = np.dtype(dtype)
        self.params = params if params is not None else init_params(
            vocab_size, embed_size, hidden_size, seed, self.dtype)
        self.state = None

    def zero_state(self, batch_size):
        """``(h0, c0)``, each ``(B, H)`` zeros."""
        zeros = np.zeros((batch_size, self.hidden_size), dtype=self.dtype)
        return zeros, zeros.copy()

    def loss_and_grads(self, inputs, targets, state):
        """Mean cross-entropy over all B*T positions, its gradients, and the final state.

        Args:
            inputs, targets: ``(B, T)`` integer token ids.
            state: ``(h0, c0)``, each ``(B, H)``; treated as a constant (the graph is cut there).

        Returns: ``(loss, grads, (h_T, c_T))`` with ``grads`` a dict name -> array.
        """
        p = self.params
        w_ih, w_hh = p["lstm.weight_ih_l0"], p["lstm.weight_hh_l0"]
        w_out, b_out = p["head.weight"], p["head.bias"]
        batch, steps = inputs.shape
        hidden = self.hidden_size
        n = batch * steps
        tokens = np.ascontiguousarray(inputs.T)                       # (T, B), time-major

        # ----- forward ------------------------------------------------------------------------
        x = p["embedding.weight"][tokens.reshape(-1)]                  # (T*B, E)
        acts = x @ w_ih.T                                              # (T*B, 4H) hoisted
        acts += p["lstm.bias_ih_l0"] + p["lstm.bias_hh_l0"]
        acts = acts.reshape(steps, batch, 4 * hidden)                  # becomes the gate activations
        hs = np.empty((steps + 1, batch, hidden), dtype=self.dtype)    # h_0 .. h_T
        cs = np.empty((steps + 1, batch, hidden), dtype=self.dtype)    # c_0 .. c_T
        tanh_cs = np.empty((steps, batch, hidden), dtype=self.dtype)   # tanh(c_1) .. tanh(c_T)
        hs[0], cs[0] = state
        # h @ W_hh.T as (W_hh @ h.T).T: with few rows OpenBLAS is 1.2-2x faster when the big
        # operand is read in its stored order (measured on the benchmark machine).
        few_rows = batch <= 128
        w_hh_t = w_hh.T
        scratch = np.empty((batch, hidden), dtype=self.dtype)
        for t in range(steps):
            a = acts[t]                                                # (B, 4H)
            a += (w_hh @ hs[t].T).T if few_rows else hs[t] @ w_hh_t     # one fused gate matmul
            _sigmoid_(a[:, :2 * hidden])                               # i, f
            np.tanh(a[:, 2 * hidden:3 * hidden], out=a[:, 2 * hidden:3 * hidden])  # g
            _sigmoid_(a[:, 3 * hidden:])                               # o
            i, f = a[:, :hidden], a[:, hidden:2 * hidden]
            g, o = a[:, 2 * hidden:3 * hidden], a[:, 3 * hidden:]
            np.multiply(f, cs[t], out=cs[t + 1])
            np.multiply(i, g, out=scratch)
            cs[t + 1] += scratch                                       # c_t = f c_{t-1} + i g
            np.tanh(cs[t + 1], out=tanh_cs[t])
            np.multiply(o, tanh_cs[t], out=hs[t + 1])                  # h_t = o tanh(c_t)

        h_flat = hs[1:].reshape(n, hidden)
        logits = h_flat @ w_out.T                                      # (T*B, V) hoisted
        logits += b_out
        logits -= logits.max(axis=1, keepdims=True)
        np.exp(logits, out=logits)                                     # now unnormalised probs
        totals = logits.sum(axis=1)
        rows = np.arange(n)
        flat_targets = targets.T.reshape(-1)                           # time-major like `tokens`
        picked = logits[rows, flat_targets] / totals
        loss = -np.log(picked).mean(dtype=np.float64)

        # ----- backward -----------------------------------------------------------------------
        dlogits = logits
        dlogits /= totals[:, None]                                     # softmax
        dlogits[rows, flat_targets] -= 1
        dlogits *= 1.0 / n                                             # mean over B*T
        grads = {"head.weight": dlogits.T @ h_flat, "head.bias": dlogits.sum(axis=0)}
        dhs = (dlogits @ w_out).reshape(steps, batch, hidden)          # dL/dh_t from the head

        dgates = np.empty_like(acts)                                   # (T, B, 4H)
        dh = np.zeros((batch, hidden), dtype=self.dtype)
        dc = np.zeros((batch, hidden), dtype=self.dtype)
        tmp = np.empty((batch, hidden), dtype=self.dtype)
        for t in range(steps - 1, -1, -1):
            a, d = acts[t], dgates[t]
            i, f = a[:, :hidden], a[:, hidden:2 * hidden]
            g, o = a[:, 2 * hidden:3 * hidden], a[:, 3 * hidden:]
            di, df = d[:, :hidden], d[:, hidden:2 * hidden]
            dg, do = d[:, 2 * hidden:3 * hidden], d[:, 3 * hidden:]
            tc = tanh_cs[t]
            dh += dhs[t]
            # do = dh * tanh(c) * o (1 - o)
            np.multiply(dh, tc, out=do)
            np.subtract(1, o, out=tmp)
            tmp *= o
            do *= tmp
            # dc += dh * o * (1 - tanh(c)^2)
            np.multiply(tc, tc, out=tmp)
            np.subtract(1, tmp, out=tmp)
            tmp *= o
            tmp *= dh
            dc += tmp
            # di = dc * g * i (1 - i);  dg = dc * i * (1 - g^2);  df = dc * c_{t-1} * f (1 - f)
            np.subtract(1, i, out=tmp)
            tmp *= i
            np.multiply(dc, g, out=di)
            di *= tmp
            np.multiply(g, g, out=tmp)
            np.subtract(1, tmp, out=tmp)
            tmp *= i
            np.multiply(dc, tmp, out=dg)
            np.subtract(1, f, out=tmp)
            tmp *= f
            np.multiply(dc, cs[t], out=df)
            df *= tmp
            dc *= f                                                    # dL/dc_{t-1}
            if t:                                                      # h_0 is a constant
                dh = d @ w_hh                                          # dL/dh_{t-1}

        dgates_flat = dgates.reshape(n, 4 * hidden)
        grads["lstm.weight_ih_l0"] = dgates_flat.T @ x                # all steps in one matmul
        grads["lstm.weight_hh_l0"] = dgates_flat.T @ hs[:-1].reshape(n, hidden)
        grads["lstm.bias_ih_l0"] = dgates_flat.sum(axis=0)
        grads["lstm.bias_hh_l0"] = grads["lstm.bias_ih_l0"].copy()
        dx = dgates_flat @ w_ih                                        # (T*B, E)
        d_embedding = np.zeros_like(p["embedding.weight"])
        np.add.at(d_embedding, tokens.reshape(-1), dx)                 # repeated ids accumulate
        grads["embedding.weight"] = d_embedding
        return loss, grads, (hs[steps].copy(), cs[steps].copy())

    def train_step(self, inputs, targets, lr=0.1):
        """One SGD step on ``(inputs, targets)``, carrying the hidden state; returns the loss."""
        if self.state is None or self.state[0].shape[0] != inputs.shape[0]:
            self.state = self.zero_state(inputs.shape[0])
        loss, grads, self.state = self.loss_and_grads(inputs, targets, self.state)
        for name, grad in grads.items():
            param = self.params[name]
            grad *= lr
            param -= grad
        return loss
