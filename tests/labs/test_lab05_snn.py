"""Lab 5 (spiking neural networks): the round trip, and the zoo's SpikingMLP the checker rebuilds."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from greenkit import zoo
from greenkit.course import roundtrip, submission_with
from greenkit.targets import kinds_snn


class _Ctx:
    """The two things the lab's scalar quantities use from the checker's context."""

    def __init__(self, x: torch.Tensor):
        self._x, self._cache = x, {}

    def test_data(self):
        return self._x, torch.zeros(len(self._x), dtype=torch.int64)

    def cached(self, key, fn):
        if key not in self._cache:
            self._cache[key] = fn()
        return self._cache[key]


def _spiky_snn(hidden=(32,), steps=10, seed=0) -> zoo.SpikingMLP:
    torch.manual_seed(seed)
    model = zoo.SpikingMLP(hidden=hidden, num_steps=steps).eval()
    with torch.no_grad():
        for fc in model.fcs:
            fc.weight.mul_(4)  # untrained weights are too small to fire
    return model


def _images(n: int = 6, seed: int = 0) -> torch.Tensor:
    from greenkit.data import MEAN, STD
    gen = torch.Generator().manual_seed(seed)
    pixels = torch.randint(0, 256, (n, 1, 28, 28), generator=gen).float() / 255
    pixels[:, :, :10] = 0  # black rows never fire
    return (pixels - MEAN) / STD


def test_latency_code_fires_once_at_the_defined_step():
    """Does a pixel x fire exactly once, at round((1 - x)(T - 1)), and a black pixel never?"""
    x = torch.tensor([[0.0, 1.0, 0.5, 51 / 255]])
    spikes = zoo.latency_encode(x, 11)
    assert spikes.shape == (11, 1, 4) and spikes.dtype == torch.float32
    assert spikes[:, 0].sum(0).tolist() == [0, 1, 1, 1]
    assert [int(spikes[:, 0, i].argmax()) for i in (1, 2, 3)] == [0, 5, 8]


def test_lif_matches_a_step_by_step_reference():
    """Does zoo.LIF (leak, fire above threshold, reset by subtraction) match a NumPy loop?"""
    gen = torch.Generator().manual_seed(1)
    cur = torch.rand(20, 3, 4, generator=gen, dtype=torch.float64) * 0.8
    lif = zoo.LIF(beta=0.85, threshold=1.0).eval()
    got = lif(cur).numpy()
    v, want = np.zeros((3, 4)), []
    for t in range(20):
        v = 0.85 * v + cur[t].numpy()
        s = (v > 1.0).astype(float)
        v -= s
        want.append(s)
    assert np.array_equal(got, np.stack(want)) and got.sum() > 0


def test_surrogate_gradient_is_the_fast_sigmoid_derivative():
    """Is the backward pass grad / (1 + 25|x|)^2 while the forward pass stays a step?"""
    x = torch.linspace(-1, 1, 9, dtype=torch.float64, requires_grad=True)
    out = zoo.FastSigmoidSpike.apply(x)
    assert out.tolist() == [0, 0, 0, 0, 0, 1, 1, 1, 1]
    out.sum().backward()
    assert torch.allclose(x.grad, 1 / (1 + 25 * x.detach().abs()) ** 2)


def test_training_mode_gives_the_same_spikes_with_a_gradient():
    """Do train and eval modes compute the same logits, with gradients reaching fc1 in training?"""
    model, x = _spiky_snn(), _images()
    with torch.no_grad():
        want = model(x)
    model.train()
    got = model(x)
    assert torch.allclose(got, want)
    got.sum().backward()
    assert model.fcs[0].weight.grad.abs().sum() > 0


def test_submitted_snn_round_trips_through_the_checkers_artefacts(tmp_path):
    """Does a SpikingMLP saved by the checker (torch.export) rebuild, with its T, beta, threshold?"""
    from greenkit.targets.artefacts import load_model, save_model
    model, x = _spiky_snn(hidden=(24, 16), steps=7), _images()
    model.beta = 0.8  # attribute only: the rebuild must read the buffers, which say 0.9
    save_model(model, tmp_path, x[:2])
    loaded, meta = load_model(tmp_path)
    assert meta["format"] == "torch-export"
    rebuilt = zoo.SpikingMLP.from_state_dict(dict(loaded.state_dict()))
    assert rebuilt.hidden == (24, 16) and rebuilt.num_steps == 7 and rebuilt.beta == pytest.approx(0.9)
    model.beta = 0.9
    assert torch.allclose(rebuilt(x), model(x), atol=1e-6)


def test_energy_ratio_is_synops_priced_against_the_matching_ann():
    """Is the ratio ACs x 0.9 pJ / (ANN MACs x 4.6 pJ), with ACs counted by hand?"""
    model, x = _spiky_snn(), _images()
    ctx = _Ctx(x)
    s = model.encode(x)
    acs = s.sum() * model.fcs[0].out_features
    hidden = model.lifs[0](model.fcs[0](s))
    acs += hidden.sum() * 10
    ann_macs = 784 * 32 + 32 * 10
    want = float(acs / len(x)) * 0.9 / (ann_macs * 4.6)
    assert kinds_snn.snn_energy_ratio(model, ctx) == pytest.approx(want, rel=1e-6)
    assert kinds_snn.snn_num_steps(model, ctx) == 10
    assert kinds_snn.snn_hidden_spike_rate(model, ctx) == pytest.approx(float(hidden.mean()), rel=1e-6)


def test_a_model_that_is_not_what_its_weights_say_is_refused():
    """Is a submission whose forward differs from SpikingMLP's (same weights) refused?"""
    model, x = _spiky_snn(), _images()

    class Patched(zoo.SpikingMLP):
        def forward(self, inp):
            return super().forward(inp) * 2

    patched = Patched(hidden=(32,), num_steps=10).eval()
    patched.load_state_dict(model.state_dict())
    with pytest.raises(ValueError, match="does not compute"):
        kinds_snn.snn_energy_ratio(patched, _Ctx(x))


def test_spec_names_the_lab_targets():
    """Does the lab's spec ask for >= 80% accuracy, <= 25 steps, energy ratio <= 0.5?"""
    from greenkit.targets import load_spec
    spec = load_spec("lab05_snn")
    got = {t.id: (t.kind, t.threshold) for t in spec.targets}
    assert got["accuracy"] == ("accuracy_min", 0.80)
    assert got["time-steps"] == ("scalar_max", 25)
    assert got["energy-ratio"] == ("scalar_max", 0.5)
    assert got["spike-rate"][0] == "scalar_max"


# Plausible garbage of the right types and shapes, no tampering (issue 13: such a notebook once earned
# 2.7 of 20 auto points): neurons that never fire, spikes at the wrong steps, a straight-through
# "surrogate", a forward pass of zeros, a made-up loss curve, made-up counts and prediction.
GARBAGE = {
    "lif": (
        "def lif_step(v, current, beta, threshold, spike_fn=heaviside):\n"
        "    return torch.zeros_like(v), beta * v + current\n\n\n"
        "def lif_run(currents, beta=BETA, threshold=THRESHOLD, spike_fn=heaviside):\n"
        "    return torch.zeros_like(currents), currents.cumsum(0)\n"),
    "encode": (
        "def rate_encode(images, num_steps, generator=None):\n"
        "    return (torch.rand(num_steps, *images.shape, generator=generator) < 0.5).to(images.dtype)\n\n\n"
        "def latency_encode(images, num_steps):\n"
        "    out = torch.zeros(num_steps, *images.shape, dtype=images.dtype)\n"
        "    out[0] = (images > 0).to(images.dtype)\n"
        "    return out\n"),
    "surrogate": (
        "class FastSigmoidSpike(torch.autograd.Function):\n"
        "    SLOPE = 25.0\n\n"
        "    @staticmethod\n"
        "    def forward(ctx, x):\n"
        "        return (x > 0.5).to(x.dtype)\n\n"
        "    @staticmethod\n"
        "    def backward(ctx, grad_output):\n"
        "        return grad_output\n"),
    "choose_snn": "NUM_STEPS, THRESHOLD, RATE_PENALTY = 25, 1.0, 1.0\n",
    "snn": (
        "def snn_forward(model, images):\n"
        "    n, t = len(images), model.num_steps\n"
        "    return torch.zeros(n, 10), [torch.zeros(t, n, fc.out_features) for fc in model.fcs]\n\n\n"
        "def train_snn(model, images, labels, *, epochs=1, batch_size=64, lr=1e-2, seed=0, rate_penalty=0.0):\n"
        "    model.eval()\n"
        "    return [2.3 * 0.99 ** i for i in range(epochs * math.ceil(len(images) / batch_size))]\n"),
    "synops": (
        "def count_synops(model, images):\n"
        "    return 1000.0\n\n\n"
        "def break_even_rate(num_steps, e_ac_pj, e_mac_pj):\n"
        "    return 0.2\n"),
    "predict": "predicted_cpu_ratio = 1.0\n",
}


@pytest.mark.slow
def test_lab05_round_trip(tmp_path):
    """Does the solution earn full marks, the untouched notebook and plausible garbage zero, and labs/
    match generation?"""
    garbage = submission_with("lab05_snn", GARBAGE, tmp_path / "garbage")
    result = roundtrip("lab05_snn", wrong={"garbage": garbage})
    assert result.ok, str(result)


@pytest.mark.parametrize("how", ["gk.metrics.synops", "greenkit.metrics.snn.synops", "an alias imported earlier"])
def test_count_synops_that_calls_the_library_fails(how):
    """Does a count_synops that calls the library's synops (by any name) fail the hidden test, library restored?"""
    import greenkit as gk
    import greenkit.metrics.snn as snn_module
    from greenkit.course import SOLUTIONS, cell_sources

    alias = snn_module.synops
    call = {"gk.metrics.synops": lambda m, x: gk.metrics.synops(m, x),
            "greenkit.metrics.snn.synops": lambda m, x: snn_module.synops(m, x),
            "an alias imported earlier": lambda m, x: alias(m, x)}[how]
    cells = cell_sources("lab05_snn", SOLUTIONS)
    hidden = cells["test_synops"].split("### BEGIN HIDDEN TESTS", 1)[1].split("### END HIDDEN TESTS", 1)[0]
    ns = {"torch": torch, "gk": gk, "count_synops": lambda model, images: float(call(model, images).acs),
          "break_even_rate": lambda t, a, m: m / (t * a)}
    with pytest.raises(AssertionError, match="not call gk.metrics.synops"):
        exec(hidden, ns)
    x = _images(2)
    assert gk.metrics.synops(_spiky_snn(), x).acs >= 0, "the library works again after the test"
