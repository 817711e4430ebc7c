"""The benchmark's yardstick is right: the NumPy LSTM reference against finite differences, and
every microtensor (and PyTorch) implementation against the reference, on the same weights/data."""
import numpy as np
import pytest

from benchmarks import charlm
from benchmarks.numpy_lstm import PARAM_NAMES, NumpyCharLSTM, init_params

V, E, H, B, T = 7, 3, 4, 2, 5


def _small_model_and_batch(seed=0):
    rng = np.random.default_rng(seed)
    model = NumpyCharLSTM(V, E, H, seed=seed, dtype=np.float64)
    inputs = rng.integers(0, V, size=(B, T))
    inputs[0, :3] = 2          # a repeated id: embedding gradients must accumulate
    targets = rng.integers(0, V, size=(B, T))
    state = (rng.standard_normal((B, H)), rng.standard_normal((B, H)))   # a carried, nonzero state
    return model, inputs, targets, state


def test_reference_gradients_match_central_differences_for_every_element():
    model, inputs, targets, state = _small_model_and_batch()
    _, grads, _ = model.loss_and_grads(inputs, targets, state)
    assert set(grads) == set(PARAM_NAMES)
    eps = 1e-6
    for name in PARAM_NAMES:
        param = model.params[name]
        numeric = np.zeros_like(param)
        for idx in np.ndindex(param.shape):
            saved = param[idx]
            param[idx] = saved + eps
            plus = model.loss_and_grads(inputs, targets, state)[0]
            param[idx] = saved - eps
            minus = model.loss_and_grads(inputs, targets, state)[0]
            param[idx] = saved
            numeric[idx] = (plus - minus) / (2 * eps)
        np.testing.assert_allclose(grads[name], numeric, rtol=1e-5, atol=1e-8, err_msg=name)


def test_reference_loss_and_final_state_match_a_direct_loop():
    model, inputs, targets, (h, c) = _small_model_and_batch(1)
    loss, _, (h_n, c_n) = model.loss_and_grads(inputs, targets, (h, c))
    p = model.params

    def sigmoid(z):
        return 1 / (1 + np.exp(-z))

    total = 0.0
    for t in range(T):
        x = p["embedding.weight"][inputs[:, t]]
        z = x @ p["lstm.weight_ih_l0"].T + p["lstm.bias_ih_l0"] + h @ p["lstm.weight_hh_l0"].T \
            + p["lstm.bias_hh_l0"]
        i, f, g, o = sigmoid(z[:, :H]), sigmoid(z[:, H:2 * H]), np.tanh(z[:, 2 * H:3 * H]), \
            sigmoid(z[:, 3 * H:])
        c = f * c + i * g
        h = o * np.tanh(c)
        logits = h @ p["head.weight"].T + p["head.bias"]
        log_probs = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
        total -= log_probs[np.arange(B), targets[:, t]].sum()
    assert loss == pytest.approx(total / (B * T), rel=1e-12)
    np.testing.assert_allclose(h_n, h, rtol=1e-12)
    np.testing.assert_allclose(c_n, c, rtol=1e-12)


def test_reference_training_lowers_the_loss_on_the_synthetic_corpus():
    config = charlm.Config(batch=4, hidden=16, steps=10)
    model = NumpyCharLSTM(charlm.VOCAB_SIZE, charlm.EMBED_SIZE, config.hidden)
    batches = charlm.Batches(charlm.make_corpus(4000), config.batch, config.steps)
    losses = [model.train_step(*batches.next(), lr=2.0) for _ in range(100)]
    assert np.mean(losses[-10:]) < np.mean(losses[:10]) - 0.8   # 4.1 -> 2.9 in practice


def _one_step_gradients(name):
    config = charlm.Config(batch=3, hidden=8, steps=6)
    skipped = {}
    impls = charlm.build_all(config, names=("numpy", name), skipped=skipped)
    if name not in impls:
        pytest.skip(f"{name} unavailable: {skipped.get(name)}")
    inputs, targets = impls["numpy"].batches.next()
    return impls["numpy"].gradients(inputs, targets), impls[name].gradients(inputs, targets)


@pytest.mark.parametrize("name", ["mt-ops", "mt-explicit", "mt-fused"])
def test_microtensor_gradients_equal_the_reference(name):
    reference, ours = _one_step_gradients(name)
    for key in PARAM_NAMES:
        assert ours[key].dtype == np.float32, key
        np.testing.assert_allclose(ours[key], reference[key], rtol=1e-4, atol=1e-6, err_msg=key)


@pytest.mark.parametrize("name", ["mt-ops", "mt-explicit", "mt-fused", "torch-lstm", "torch-cell"])
def test_every_implementation_trains_like_the_reference_with_state_carried(name):
    if name.startswith("torch"):
        pytest.importorskip("torch", reason="PyTorch parity needs torch")
    config = charlm.Config(batch=2, hidden=8, steps=5)
    skipped = {}
    impls = charlm.build_all(config, names=("numpy", name), skipped=skipped)
    if name not in impls:
        pytest.skip(f"{name} unavailable: {skipped.get(name)}")
    losses = charlm.check_agreement(impls, steps=4, rtol=1e-4)   # raises on any disagreement
    assert len(set(np.round(losses["numpy"], 6))) == 4          # the steps saw different data


def test_check_agreement_catches_a_wrong_implementation():
    config = charlm.Config(batch=2, hidden=8, steps=5)
    impls = charlm.build_all(config, names=("numpy", "mt-ops"))
    impls["mt-ops"].params["head.bias"].data += 1.0          # a deliberate bug
    impls["mt-ops"].params["head.bias"].data[0] += 3.0
    with pytest.raises(AssertionError, match="mt-ops"):
        charlm.check_agreement(impls, steps=1)


def test_init_params_is_seeded_and_pytorch_shaped():
    a, b = init_params(65, 64, 32, seed=3), init_params(65, 64, 32, seed=3)
    assert all(np.array_equal(a[k], b[k]) for k in PARAM_NAMES)
    assert a["lstm.weight_hh_l0"].shape == (128, 32) and a["head.weight"].shape == (65, 32)
    assert np.abs(a["lstm.weight_ih_l0"]).max() <= 1 / np.sqrt(32)
