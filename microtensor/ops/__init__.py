"""Built-in ops, one small ``Function`` class per primitive, grouped by family:

- ``elementwise``: + - * / ** neg exp log sqrt abs tanh sigmoid relu leaky_relu softplus clip
  maximum minimum where cast, and the comparisons (no gradient)
- ``reduce``: sum mean max min var logsumexp softmax log_softmax
- ``shape``: reshape transpose expand getitem cat stack (and the composites built from them)
- ``linalg``: matmul
- ``nn``: fused neural-network ops (cross-entropy, embedding, layer norm, dropout)
"""
