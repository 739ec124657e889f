"""greenkit.metrics.profile against published figures and hand counts (never against itself)."""

from __future__ import annotations

import os

import pytest
import torch
import torchvision
from torch import nn

from greenkit import zoo
from greenkit.metrics import ENCODINGS, profile
from greenkit.metrics.profile import encoded_size_bytes

# Published: torchvision model docs (num_params, GFLOPS column = GMACs at 224x224),
# He et al. 2016 (ResNet-18 1.8 GFLOPs), Sandler et al. 2018 (MobileNetV2 300M MAdds, 3.4M params*).
# (*the paper's 3.4M excludes nothing torchvision keeps; torchvision's 3,504,872 is the checkpoint.)
PUBLISHED = {
    "resnet18": (11_689_512, 1.814e9),
    "mobilenet_v2": (3_504_872, 0.301e9),
    "squeezenet1_1": (1_235_496, 0.349e9),
}


@pytest.mark.parametrize("name", sorted(PUBLISHED))
def test_torchvision_models_match_published_params_and_macs(name):
    """Do parameters and MACs of standard torchvision models agree with published figures within 1%?"""
    params, macs = PUBLISHED[name]
    p = profile(getattr(torchvision.models, name)(weights=None), torch.zeros(1, 3, 224, 224))
    assert p.params == pytest.approx(params, rel=0.01)
    assert p.macs == pytest.approx(macs, rel=0.01)
    assert p.flops == 2 * p.macs


def test_published_figures_are_torchvisions_own_metadata():
    """Are the figures the test uses the ones torchvision ships with its weights (no download needed)?"""
    meta = torchvision.models.ResNet18_Weights.IMAGENET1K_V1.meta
    assert meta["num_params"] == PUBLISHED["resnet18"][0]
    assert meta["_ops"] * 1e9 == pytest.approx(PUBLISHED["resnet18"][1], rel=1e-3)
    meta = torchvision.models.MobileNet_V2_Weights.IMAGENET1K_V1.meta
    assert meta["num_params"] == PUBLISHED["mobilenet_v2"][0]
    assert meta["_ops"] * 1e9 == pytest.approx(PUBLISHED["mobilenet_v2"][1], rel=1e-2)


def test_fashion_cnn_per_layer_macs_and_params_match_hand_counts():
    """Does each FashionCNN layer's MAC and parameter count equal the textbook formula?"""
    p = profile(zoo.build("cnn"), torch.zeros(5, 1, 28, 28))
    # conv: H_out * W_out * C_out * C_in * k * k ; linear: in * out
    want_macs = {"features.0": 28 * 28 * 32 * 1 * 9, "features.3": 28 * 28 * 64 * 32 * 9,
                 "features.7": 14 * 14 * 128 * 64 * 9, "classifier.1": 128 * 7 * 7 * 128,
                 "classifier.4": 128 * 10}
    for name, macs in want_macs.items():
        assert p.layer(name).macs == macs, name
    assert p.macs == sum(want_macs.values())
    want_params = (32 * 9 + 64 * 32 * 9 + 128 * 64 * 9 + 2 * (32 + 64 + 128) + 6272 * 128 + 128 + 1280 + 10)
    assert p.params == want_params
    assert p.batch_size == 5


def test_effective_macs_of_a_pruned_conv_equal_an_independent_count():
    """Do effective MACs equal the count of (output position, nonzero weight) pairs, computed by a convolution of ones?"""
    torch.manual_seed(0)
    conv = nn.Conv2d(3, 8, 3, padding=1, bias=False)
    with torch.no_grad():
        conv.weight[torch.rand_like(conv.weight) < 0.6] = 0
    x = torch.randn(2, 3, 10, 10)
    p = profile(conv, x)
    # independent: a padded all-ones input convolved with the 0/1 mask counts every
    # (output element, nonzero weight) pair once
    ones = torch.ones(1, 3, 12, 12)
    pairs = nn.functional.conv2d(ones, (conv.weight != 0).float()).sum().item()
    assert p.effective_macs == pytest.approx(pairs, abs=1)
    assert p.macs == 10 * 10 * 8 * 3 * 9


def test_torch_prune_counts_each_weight_once():
    """Does a torch.nn.utils.prune-d model count its parameters once, with the mask's sparsity?"""
    import torch.nn.utils.prune as prune

    m = zoo.build("mlp")
    dense = profile(m, torch.zeros(1, 1, 28, 28))
    for layer in m.net:
        if isinstance(layer, nn.Linear):
            prune.l1_unstructured(layer, "weight", amount=0.5)
    p = profile(m, torch.zeros(1, 1, 28, 28))
    assert p.params == dense.params
    n_weights = 784 * 512 + 512 * 256 + 256 * 10
    # l1_unstructured zeroes round(0.5 * n) weights per layer
    zeros = sum(round(0.5 * n) for n in (784 * 512, 512 * 256, 256 * 10))
    assert p.params - p.nonzero_params == zeros
    assert p.effective_macs == pytest.approx(n_weights - zeros, abs=3)


def test_sizes_under_each_encoding_match_hand_counts():
    """Are the theoretical sizes of a Linear(100, 10) the byte counts worked out by hand?"""
    lin = nn.Linear(100, 10)
    with torch.no_grad():
        lin.weight.zero_()
        lin.weight[:, :10] = 1.0  # 100 nonzeros, 10 per row
    bias = 10 * 4
    assert encoded_size_bytes(lin, "fp32") == 1000 * 4 + bias
    assert encoded_size_bytes(lin, "fp16") == 1000 * 2 + bias
    assert encoded_size_bytes(lin, "int8") == 1000 + 10 * 4 + bias          # + per-row fp32 scales
    assert encoded_size_bytes(lin, "int4") == 500 + 10 * 4 + bias
    assert encoded_size_bytes(lin, "sparse_fp32") == 100 * (4 + 2) + 11 * 4 + bias  # CSR
    assert encoded_size_bytes(lin, "sparse_int8") == 100 * (1 + 2) + 11 * 4 + 10 * 4 + bias
    assert set(ENCODINGS) >= {"fp32", "int8", "int4", "sparse_fp32"}


def test_serialized_size_is_the_file_size(tmp_path):
    """Is size_bytes the size of the file torch.save writes for the state dict?"""
    m = zoo.build("cnn")
    torch.save(m.state_dict(), tmp_path / "model.pt")
    assert profile(m, torch.zeros(1, 1, 28, 28)).size_bytes == os.path.getsize(tmp_path / "model.pt")


def test_torchao_int8_layers_are_counted_with_their_bit_widths():
    """Does an int8 torchao model keep its MACs and count BitOps at 8x8 (dynamic) and 8x32 (weight-only)?"""
    from torchao.quantization import Int8DynamicActivationInt8WeightConfig, Int8WeightOnlyConfig, quantize_

    x = torch.zeros(2, 1, 28, 28)
    fp = profile(zoo.build("mlp"), x)
    for cfg, act_bits in ((Int8DynamicActivationInt8WeightConfig(), 8), (Int8WeightOnlyConfig(), 32)):
        m = zoo.build("mlp").eval()
        quantize_(m, cfg)
        p = profile(m, x)
        assert p.macs == fp.macs == 784 * 512 + 512 * 256 + 256 * 10
        assert p.bitops == p.macs * 8 * act_bits
        assert fp.bitops == fp.macs * 32 * 32
        assert p.size_bytes < fp.size_bytes / 3


def test_exported_quantized_model_counts_the_same_macs():
    """Does a torch.export-ed int8 model (as the checker loads it) count the eager model's MACs and 8x8 BitOps?"""
    from torchao.quantization import Int8DynamicActivationInt8WeightConfig, quantize_

    m = zoo.build("mlp").eval()
    quantize_(m, Int8DynamicActivationInt8WeightConfig())
    x = torch.zeros(3, 1, 28, 28)
    ep = torch.export.export(m, (x,), dynamic_shapes=({0: torch.export.Dim.AUTO},))
    p = profile(ep.module(), x)
    assert p.macs == 784 * 512 + 512 * 256 + 256 * 10
    assert p.bitops == p.macs * 64


def test_profile_renders_as_text_and_html():
    """Does a profile show its layers in a terminal and in a notebook?"""
    p = profile(zoo.build("cnn"), torch.zeros(1, 1, 28, 28))
    assert "classifier.1" in str(p) and "MACs" in str(p)
    assert "<table>" in p._repr_html_() and "features.3" in p._repr_html_()
