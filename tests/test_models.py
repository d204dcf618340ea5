"""Network shapes, layouts, bias rules and Glorot initialization."""

import math

import pytest
import torch
from torch import nn

from scipy import stats

from bnopt.nets.models import INITS, TRUNCATION, VGG, VGG_LAYOUTS, DeepLinearNet, build_model, init_glorot
from bnopt.norms import LpNorm, NoisyNorm, VARIANTS, set_noise_step
from bnopt.norms.weight import is_weight_normalized


@pytest.mark.parametrize("arch, convs", [("vgg11", 8), ("vgg13", 10), ("vgg16", 13), ("vgg19", 16)])
@pytest.mark.parametrize("width", [0.0625, 0.25])
def test_vgg_shapes_and_depth(arch, convs, width):
    model = build_model("vgg", "batchnorm", 0, {"arch": arch, "width": width})
    out = model(torch.randn(3, 3, 32, 32))
    assert out.shape == (3, 10)
    layers = model.weight_layers()
    assert len(layers) == convs + 1 and isinstance(layers[-1], nn.Linear)
    widest = max(c for c in VGG_LAYOUTS[arch] if c != "M")
    assert layers[-1].in_features == round(widest * width)


def test_vgg16_full_width_matches_the_paper_layout():
    model = build_model("vgg", "standard", 0, {"arch": "vgg16", "width": 1.0})
    channels = [layer.out_channels for layer in model.weight_layers()[:-1]]
    assert channels == [64, 64, 128, 128, 256, 256, 256, 512, 512, 512, 512, 512, 512]
    assert sum(model.pool_after) == 5
    assert model.classifier.in_features == 512 and model.classifier.out_features == 10


@pytest.mark.parametrize("variant", VARIANTS)
def test_conv_bias_only_where_no_shift_follows(variant):
    model = build_model("vgg", variant, 0, {"arch": "vgg11", "width": 0.125})
    has_bias = {layer.bias is not None for layer in model.weight_layers()[:-1]}
    assert has_bias == {variant in ("standard", "noisy_standard", "weightnorm")}
    kinds = {type(block.norm) for block in model.blocks}
    expected = {"standard": nn.Identity, "batchnorm": nn.BatchNorm2d, "noisy_batchnorm": NoisyNorm,
                "noisy_standard": NoisyNorm, "l1": LpNorm, "l2": LpNorm, "linf": LpNorm, "layernorm": nn.GroupNorm,
                "groupnorm": nn.GroupNorm, "weightnorm": nn.Identity}[variant]
    assert kinds == {expected}
    # weightnorm reparametrizes every conv weight (not the classifier's, which no variant normalizes)
    assert [is_weight_normalized(layer) for layer in model.weight_layers()] == \
        [variant == "weightnorm"] * len(model.blocks) + [False]


@pytest.mark.parametrize("variant", VARIANTS)
def test_dln_has_25_bias_free_layers_normalized_after_the_first_24(variant):
    model = build_model("dln", variant, 0, {})
    assert isinstance(model, DeepLinearNet) and len(model.blocks) == 25
    assert all(isinstance(l, nn.Linear) and l.bias is None and l.weight.shape == (10, 10)
               for l in model.weight_layers())
    normalized = [not isinstance(b.norm, nn.Identity) or is_weight_normalized(b.linear) for b in model.blocks]
    assert normalized == [variant != "standard"] * 24 + [False]
    set_noise_step(model, 0)
    assert model(torch.randn(7, 10)).shape == (7, 10)


def test_glorot_uniform_init_and_zero_biases():
    model = build_model("vgg", "standard", 0, {"arch": "vgg11", "width": 0.5})
    for layer in model.weight_layers():
        fan_in = layer.weight[0].numel()
        fan_out = layer.weight.shape[0] * (layer.weight[0, 0].numel() if layer.weight.dim() == 4 else 1)
        bound = math.sqrt(6.0 / (fan_in + fan_out))
        w = layer.weight.detach()
        assert w.abs().max() <= bound
        if w.numel() > 2000:  # U(-b, b) has variance b^2 / 3
            assert abs(w.var().item() / (bound**2 / 3) - 1) < 0.1
        assert layer.bias is None or torch.count_nonzero(layer.bias) == 0


@pytest.mark.parametrize("init", list(INITS))
def test_each_initialization_draws_from_its_definition(init):
    """60,000 weights of one 200 -> 300 layer against the distribution each name means
    (sigma^2 = 2 / (fan_in + fan_out)): U(-sqrt(3) sigma, sqrt(3) sigma); N(0, sigma^2);
    TF1's glorot_normal_initializer, N(0, sigma^2) truncated at +-2 sigma and not
    rescaled (variance 0.774 sigma^2); and He's N(0, 2 / fan_in). A Kolmogorov-Smirnov
    test against each, and its tails (the truncation is exact; the plain normal has
    4.6% beyond 2 sigma)."""
    layer = init_glorot(nn.Linear(200, 300, bias=True), seed=0, init=init)
    w = layer.weight.detach().double().flatten().numpy()
    sigma = math.sqrt(2.0 / (200 + 300)) if init != "he_normal" else math.sqrt(2.0 / 200)
    reference = {"glorot_uniform": stats.uniform(-math.sqrt(3) * sigma, 2 * math.sqrt(3) * sigma),
                 "glorot_normal": stats.norm(0, sigma), "he_normal": stats.norm(0, sigma),
                 "glorot_truncated_normal": stats.truncnorm(-TRUNCATION, TRUNCATION, scale=sigma)}[init]
    assert stats.kstest(w, reference.cdf).pvalue > 1e-3
    assert abs(w.var() / reference.var() - 1) < 0.03
    beyond = (abs(w) > 2 * sigma).mean()
    if init == "glorot_truncated_normal":
        assert beyond == 0 and abs(w.var() / sigma**2 - 0.7737) < 0.03
    elif init in ("glorot_normal", "he_normal"):
        assert 0.035 < beyond < 0.057
    assert torch.count_nonzero(layer.bias) == 0
    others = [i for i in INITS if i != init]
    assert not any(torch.equal(layer.weight, init_glorot(nn.Linear(200, 300), 0, other).weight) for other in others)


def test_an_unknown_initialization_fails_naming_the_choices():
    with pytest.raises(ValueError, match="unknown initialization 'he'; choose one of glorot_uniform"):
        init_glorot(nn.Linear(3, 3), 0, "he")


def test_same_seed_same_weights_other_seed_other_weights():
    a, b, c = (build_model("vgg", "batchnorm", s, {"arch": "vgg11", "width": 0.125}) for s in (0, 0, 1))
    for (_, pa), (_, pb), (_, pc) in zip(a.named_parameters(), b.named_parameters(), c.named_parameters()):
        assert torch.equal(pa, pb)
        if pa.dim() > 1:
            assert not torch.equal(pa, pc)


@pytest.mark.parametrize("variant", ["noisy_batchnorm", "noisy_standard", "batchnorm"])
def test_eval_mode_is_deterministic(variant):
    model = build_model("vgg", variant, 0, {"arch": "vgg11", "width": 0.125}).eval()
    x = torch.randn(4, 3, 32, 32)
    assert torch.equal(model(x), model(x))


def test_unknown_names_fail_clearly():
    with pytest.raises(ValueError, match="unknown VGG arch 'vgg12'"):
        VGG("vgg12", "standard", 0)
    with pytest.raises(ValueError, match="unknown network 'mlp'; choose one of vgg, dln, resnet"):
        build_model("mlp", "standard", 0, {})


@pytest.mark.parametrize("net, variant", [("dln", "noisy_batchnorm"), ("dln", "l2"), ("vgg", "batchnorm")])
def test_the_network_is_its_layers_in_order(net, variant):
    """forward == forward_layer 0, 1, ... (the probes run parts of the network by them)."""
    cfg = {"arch": "vgg11", "width": 0.0625} if net == "vgg" else {"depth": 6, "width": 4, "normalized_layers": 5}
    model = build_model(net, variant, 0, cfg)
    set_noise_step(model, 3)
    x = torch.randn(8, 3, 32, 32) if net == "vgg" else torch.randn(8, 4)
    h = x
    for i in range(len(model.weight_layers())):
        h = model.forward_layer(i, h)
    assert torch.equal(model(x), h)


def test_each_net_is_a_classifier_or_a_regression():
    from bnopt.nets.models import NETS
    from bnopt.tasks import is_classifier, metric_of

    assert {net: metric_of(net) for net in NETS} == {"vgg": "accuracy", "dln": "loss", "resnet": "accuracy"}
    with pytest.raises(ValueError, match="unknown network 'mlp'"):
        is_classifier("mlp")
