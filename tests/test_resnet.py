"""The CIFAR ResNets (issue 22): the published sizes, every variant, Fixup's
initialization, the no-skip switch, and the chain of layers the probes run."""

import pytest
import torch

from bnopt.measure.probes import ActivationRecorder, layer_param_indices, weight_indices
from bnopt.nets.models import build_model
from bnopt.nets.resnet import RESNET_VARIANTS, blocks_per_stage, fixup_scale
from bnopt.norms import set_noise_step, weight_parameter


def _count(model):
    return sum(p.numel() for p in model.parameters())


def resnet(variant="batchnorm", seed=0, **model):
    return build_model("resnet", variant, seed, model)


@pytest.mark.parametrize("depth, millions", [(20, 0.27), (32, 0.46), (44, 0.66), (56, 0.85)])
def test_parameter_counts_are_the_published_ones(depth, millions):
    """He et al. 2016, Table 6 (option A shortcuts: no parameters)."""
    assert round(_count(resnet(depth=depth)) / 1e6, 2) == millions


def test_resnet20_has_its_exact_layers_and_parameters():
    model = resnet()
    assert _count(model) == 269_722  # convs 267,696 (no biases before BN), BN 1,376, classifier 650
    assert len(model.blocks) == 19 and len(model.weight_layers()) == 20
    assert [b.linear.out_channels for b in model.blocks] == [16] * 7 + [32] * 6 + [64] * 6
    assert [b.linear.stride[0] for b in model.blocks] == [1] * 7 + [2] + [1] * 5 + [2] + [1] * 5
    assert model(torch.randn(2, 3, 32, 32)).shape == (2, 10)
    assert resnet(width=0.25).blocks[-1].linear.out_channels == 16


def test_a_depth_that_is_not_6n_plus_2_is_named():
    with pytest.raises(ValueError, match=r"depth 6n \+ 2 \(8, 14, 20"):
        resnet(depth=18)
    assert blocks_per_stage(110) == 18


def test_an_unknown_variant_names_the_ones_there_are():
    with pytest.raises(ValueError, match="unknown ResNet variant 'batchnrom'; choose one of standard, batchnorm"):
        resnet("batchnrom")


@pytest.mark.parametrize("variant", RESNET_VARIANTS)
@pytest.mark.parametrize("skip", [True, False])
def test_every_variant_trains_with_and_without_skips(variant, skip):
    if variant == "fixup" and not skip:
        with pytest.raises(ValueError, match="fixup needs the skip connections"):
            resnet(variant, skip=skip)
        return
    torch.manual_seed(0)
    model = resnet(variant, depth=8, width=0.5, skip=skip)
    set_noise_step(model, 0)
    x, y = torch.randn(8, 3, 16, 16), torch.randint(0, 10, (8,))
    loss = torch.nn.functional.cross_entropy(model(x), y)
    loss.backward()
    assert torch.isfinite(loss)
    grads = [p.grad for p in model.parameters()]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)
    # a signal reaches the stem: every layer passes gradient back (Fixup: through the shortcuts)
    assert weight_parameter(model.blocks[0].linear).grad.abs().sum() > 0 or variant == "fixup"
    # a bias directly before a learnable shift would be dead: none is there
    if variant in ("batchnorm", "layernorm", "groupnorm", "l2"):
        assert all(b.linear.bias is None for b in model.blocks)


def test_without_skips_the_same_parameters_compute_another_function():
    with_skips, without = resnet("batchnorm", depth=8), resnet("batchnorm", depth=8, skip=False)
    assert [n for n, _ in with_skips.named_parameters()] == [n for n, _ in without.named_parameters()]
    for a, b in zip(with_skips.parameters(), without.parameters()):
        assert torch.equal(a, b)  # the same seed draws the same weights
    x = torch.randn(4, 3, 32, 32)
    assert not torch.allclose(with_skips(x), without(x))


def test_fixup_initialization():
    """Zhang et al. 2019: each branch's last conv and the classifier zero, the branches'
    other convs the run's init x L^(-1/(2m-2)) (L = 9 blocks of m = 2 layers in ResNet-20),
    scalar biases at 0, multipliers at 1."""
    fixup, plain = resnet("fixup"), resnet("standard")
    assert fixup_scale(9) == 9 ** -0.5 == pytest.approx(1 / 3)
    assert torch.equal(fixup.blocks[0].linear.weight, plain.blocks[0].linear.weight)  # the stem: the init's own
    for i in range(1, 19, 2):
        torch.testing.assert_close(fixup.blocks[i].linear.weight, plain.blocks[i].linear.weight / 3, rtol=1e-6, atol=0)
        assert not fixup.blocks[i + 1].linear.weight.any()
    assert not fixup.classifier.weight.any() and not fixup.classifier.bias.any()
    scalars = {n: p for n, p in fixup.named_parameters() if p.numel() == 1}
    assert len(scalars) == 1 + 9 * 5 + 1  # stem bias; per block 2 input biases, 2 biases, a multiplier; classifier's
    assert all(p.item() == (1.0 if n.endswith("scale") else 0.0) for n, p in scalars.items())
    assert not any(isinstance(m, torch.nn.modules.batchnorm._BatchNorm) for m in fixup.modules())
    # at the start every residual branch adds nothing and the net outputs zeros
    x = torch.randn(2, 3, 32, 32)
    assert not fixup(x).any()
    h = fixup.forward_layer(0, x)
    pair = fixup.forward_layer(1, h)
    torch.testing.assert_close(fixup.forward_layer(2, pair), torch.relu(h), rtol=0, atol=0)


@pytest.mark.parametrize("variant, skip", [("batchnorm", True), ("batchnorm", False), ("fixup", True),
                                           ("weightnorm", True), ("weightnorm", False)])
def test_the_chain_of_layers_is_the_network(variant, skip):
    """The probes run the net layer by layer (ICS feeds layer i the input layers
    1..i-1 made): the chain computes the forward pass, and every parameter belongs to
    exactly one layer, its weight first among the weight layers."""
    model = resnet(variant, depth=14, width=0.5, skip=skip).eval()
    x = torch.randn(3, 3, 32, 32)
    out = x
    for i in range(len(model.weight_layers())):
        out = model.forward_layer(i, out)
    torch.testing.assert_close(out, model(x), rtol=0, atol=0)
    groups = layer_param_indices(model)
    assert len(groups) == 14
    assert sorted(i for g in groups for i in g) == list(range(len(list(model.parameters()))))
    assert all(w in g for w, g in zip(weight_indices(model), groups))


def test_the_activation_probes_record_each_layers_normalized_output():
    model = resnet("batchnorm", depth=8, width=0.5).train()
    recorder = ActivationRecorder(model, [1, 2, 3, 7])
    model(torch.randn(16, 3, 32, 32))
    recorder.remove()
    assert sorted(recorder.outputs) == [1, 2, 3, 7]
    # BatchNorm's train-mode output has zero mean and unit variance per channel (gamma 1, beta 0)
    out = recorder.outputs[3]
    torch.testing.assert_close(out.mean((0, 2, 3)), torch.zeros(out.shape[1]), atol=1e-5, rtol=0)
    assert recorder.outputs[7].shape[1] == 32


def test_the_resnet_draws_he_normal_weights_by_default_and_names_another_init_in_its_recipe():
    from bnopt.runs import Run

    conv = resnet("standard", depth=8).blocks[3].linear  # a 3x3 conv of 16 -> 32 channels: fan_in 144, fan_out 288
    assert conv.weight.std().item() == pytest.approx((2 / 144) ** 0.5, rel=0.05)
    glorot = build_model("resnet", "standard", 0, {"depth": 8}, init="glorot_uniform").blocks[3].linear
    assert glorot.weight.std().item() == pytest.approx((2 / (144 + 288)) ** 0.5, rel=0.05)
    assert Run("resnet", "standard", 0.1, 0).recipe == "" and Run("resnet", "standard", 0.1, 0).init == "he_normal"
    assert Run("resnet", "standard", 0.1, 0, init="glorot_uniform").recipe == "glorot_uniform"
    assert Run("vgg", "standard", 0.1, 0).init == "glorot_uniform"  # the paper's nets keep the paper's
    assert Run("resnet", "standard", 0.1, 0, skip=False, optimizer="adam").recipe == "noskip+adam"
