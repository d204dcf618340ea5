"""The normalization layers do what their definitions (paper.md) promise."""

import math

import pytest
import torch
from torch import nn
from torch.nn import functional as F

from bnopt.nets.models import build_model
from bnopt.norms import (LpNorm, NoisyNorm, draw_noise, group_count, has_learnable_shift, make_linear, make_norm,
                         set_noise_step, weight_parameter, VARIANTS)
from bnopt.norms.weight import is_weight_normalized


def _conv_input(seed=0, shape=(16, 4, 5, 5)):
    g = torch.Generator().manual_seed(seed)
    # Non-zero means and unequal scales per channel, so the statistics are non-trivial.
    return torch.randn(shape, generator=g) * torch.tensor([1.0, 2.0, 0.5, 3.0]).view(1, 4, 1, 1) + \
        torch.tensor([0.5, -1.0, 2.0, 0.0]).view(1, 4, 1, 1)


def test_batchnorm_output_has_zero_mean_unit_variance_per_channel():
    x = _conv_input()
    bn = make_norm("batchnorm", 4, spatial=True, layer=1, seed=0).train()
    y = bn(x)
    dims = (0, 2, 3)
    torch.testing.assert_close(y.mean(dims), torch.zeros(4), atol=1e-5, rtol=0)
    torch.testing.assert_close(y.var(dims, unbiased=False), torch.ones(4), atol=1e-3, rtol=0)


@pytest.mark.parametrize("variant, stat", [
    ("l1", lambda x, d: x.abs().mean(d)),
    ("l2", lambda x, d: x.pow(2).mean(d).sqrt()),
    ("linf", lambda x, d: x.abs().amax(d)),
])
@pytest.mark.parametrize("spatial", [True, False])
def test_lp_norm_matches_its_definition(variant, stat, spatial):
    x = _conv_input() if spatial else _conv_input()[:, :, 0, 0]
    dims = (0, 2, 3) if spatial else (0,)
    layer = make_norm(variant, 4, spatial=spatial, layer=1, seed=0)
    assert isinstance(layer, LpNorm)
    with torch.no_grad():
        layer.weight.copy_(torch.tensor([1.0, 2.0, 0.5, -1.0]))
        layer.bias.copy_(torch.tensor([0.0, 1.0, -1.0, 3.0]))
    y = layer.train()(x)
    shape = (1, 4) + (1, 1) * spatial
    mean, norm = x.mean(dims).view(shape), stat(x, dims).view(shape)
    expected = (x - mean) / (norm + layer.eps) * layer.weight.view(shape) + layer.bias.view(shape)
    torch.testing.assert_close(y, expected)
    # Per channel: the output is centred at beta, and (y - beta) / gamma scaled by N_p is x - mean.
    torch.testing.assert_close(y.mean(dims), layer.bias.detach(), atol=1e-5, rtol=0)
    # Running estimates move by `momentum` towards the batch statistics ...
    torch.testing.assert_close(layer.running_mean, 0.1 * x.mean(dims))
    torch.testing.assert_close(layer.running_norm, 0.9 + 0.1 * stat(x, dims))
    # ... and eval mode uses them, not the batch.
    layer.eval()
    y_eval = layer(x)
    rm, rn = layer.running_mean.view(shape), layer.running_norm.view(shape)
    torch.testing.assert_close(y_eval, (x - rm) / (rn + layer.eps) * layer.weight.view(shape) + layer.bias.view(shape))


def test_linf_uses_the_uncentred_maximum():
    x = torch.tensor([[1.0], [3.0], [5.0]])  # mean 3; max|x| = 5 (centred max would be 2)
    layer = LpNorm(1, float("inf"), eps=0.0).train()
    torch.testing.assert_close(layer(x).flatten(), torch.tensor([-2.0, 0.0, 2.0]) / 5.0)


def test_learnable_shift_and_identity():
    assert [v for v in VARIANTS if has_learnable_shift(v)] == ["batchnorm", "noisy_batchnorm", "l1", "l2", "linf",
                                                                "layernorm", "groupnorm"]
    assert isinstance(make_norm("standard", 3, True, 1, 0), nn.Identity)
    with pytest.raises(ValueError, match="unknown normalization variant 'instancenorm'"):
        make_norm("instancenorm", 3, True, 1, 0)


# ---------------------------------------------------------------- Algorithm 1


def _channel_stats(t, dims):
    return t.mean(dims), t.std(dims)


def test_noise_follows_algorithm_1_within_one_draw():
    """Per channel j: m ~ U(mu_j +- 0.1) and s ~ N(sigma_j, 0.1), with mu_j in
    [-0.5, 0.5] and sigma_j in [1, 1.25]."""
    shape = torch.Size((500, 6, 8, 8))  # 32,000 draws per channel
    scale, shift = draw_noise(shape, seed=3, step=7, layer=2, device=torch.device("cpu"), dtype=torch.float32)
    dims = (0, 2, 3)
    mu_hat = shift.mean(dims)  # estimates mu_j (the U(+-0.1) part has mean 0)
    assert ((mu_hat > -0.5 - 0.01) & (mu_hat < 0.5 + 0.01)).all()
    width = shift.amax(dims) - shift.amin(dims)
    torch.testing.assert_close(width, torch.full((6,), 0.2), atol=2e-3, rtol=0)  # support of U(mu_j +- 0.1)
    torch.testing.assert_close(shift.std(dims), torch.full((6,), 0.2 / math.sqrt(12)), atol=2e-3, rtol=0)
    sigma_hat, s_std = _channel_stats(scale, dims)
    assert ((sigma_hat > 1.0 - 0.01) & (sigma_hat < 1.25 + 0.01)).all()
    torch.testing.assert_close(s_std, torch.full((6,), 0.1), atol=3e-3, rtol=0)


def test_noise_channel_parameters_are_uniform_over_steps():
    """Over many steps mu_j ~ U(-0.5, 0.5) and sigma_j ~ U(1, 1.25): check mean and variance."""
    mus, sigmas = [], []
    for step in range(400):
        scale, shift = draw_noise(torch.Size((200, 8)), 0, step, 1, torch.device("cpu"), torch.float32)
        mus.append(shift.mean(0))
        sigmas.append(scale.mean(0))
    mu, sigma = torch.cat(mus), torch.cat(sigmas)  # 3,200 channel draws each
    assert abs(mu.mean().item()) < 0.02 and abs(mu.var().item() - 1 / 12) < 0.006
    assert mu.min() > -0.52 and mu.max() < 0.52
    assert abs(sigma.mean().item() - 1.125) < 0.005 and abs(sigma.var().item() - 0.0625 / 12) < 0.0006
    assert sigma.min() > 0.98 and sigma.max() < 1.27


def test_noise_is_a_pure_function_of_seed_step_layer():
    shape, cpu = torch.Size((4, 3, 2, 2)), torch.device("cpu")
    a = draw_noise(shape, 1, 5, 2, cpu, torch.float32)
    b = draw_noise(shape, 1, 5, 2, cpu, torch.float32)
    assert all(torch.equal(u, v) for u, v in zip(a, b))
    for other in [(2, 5, 2), (1, 6, 2), (1, 5, 3)]:
        c = draw_noise(shape, *other, cpu, torch.float32)
        assert not torch.equal(a[0], c[0]) and not torch.equal(a[1], c[1])


def test_noisy_layer_applies_noise_after_batchnorm_in_train_mode_only():
    x = _conv_input()
    layer = make_norm("noisy_batchnorm", 4, spatial=True, layer=3, seed=9)
    assert isinstance(layer, NoisyNorm) and isinstance(layer.inner, nn.BatchNorm2d)
    set_noise_step(layer, 11)
    y = layer.train()(x)
    a = nn.functional.batch_norm(x, None, None, layer.inner.weight, layer.inner.bias, training=True)
    scale, shift = draw_noise(a.shape, 9, 11, 3, x.device, x.dtype)
    torch.testing.assert_close(y, scale * a + shift)
    # The same step replays the same noise; eval mode is deterministic and noise-free.
    torch.testing.assert_close(layer(x), y, rtol=0, atol=0)
    layer.eval()
    y1, y2 = layer(x), layer(x)
    assert torch.equal(y1, y2)
    torch.testing.assert_close(y1, layer.inner(x))


def test_noisy_layer_without_a_step_refuses_to_guess():
    layer = make_norm("noisy_standard", 4, spatial=True, layer=1, seed=0).train()
    with pytest.raises(RuntimeError, match="set_noise_step"):
        layer(_conv_input())


# ---------------------------------------------------------------- the fast l_p layer against the eager formula

from bnopt.norms.lp import LpNormFunction, lp_norm_reference  # noqa: E402


def _lp_inputs(spatial, dtype, seed=0):
    g = torch.Generator().manual_seed(seed)
    shape = (16, 4, 3, 3) if spatial else (40, 4)
    scale = torch.tensor([1.0, 2.0, 0.5, 3.0], dtype=dtype).view(1, 4, *([1] * (len(shape) - 2)))
    shift = torch.tensor([0.5, -1.0, 2.0, 0.0], dtype=dtype).view(1, 4, *([1] * (len(shape) - 2)))
    x = (torch.randn(shape, generator=g, dtype=dtype) * scale + shift).requires_grad_()
    weight = (torch.rand(4, generator=g, dtype=dtype) + 0.5).requires_grad_()
    bias = torch.randn(4, generator=g, dtype=dtype).requires_grad_()
    return x, weight, bias


@pytest.mark.parametrize("p", [1.0, 2.0, float("inf")])
@pytest.mark.parametrize("spatial", [False, True], ids=["dense", "conv"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_fast_lp_layer_equals_the_eager_formula_in_value_and_gradient(p, spatial, dtype):
    x, weight, bias = _lp_inputs(spatial, dtype)
    y, mean, norm = LpNormFunction.apply(x, weight, bias, p, 1e-5)
    expected = lp_norm_reference(x, weight, bias, p, 1e-5)
    tol = dict(rtol=1e-5, atol=1e-5) if dtype == torch.float32 else dict(rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(y, expected, **tol)
    dims = (0, 2, 3) if spatial else (0,)
    torch.testing.assert_close(mean, x.detach().mean(dims), **tol)
    upstream = torch.randn_like(y)
    fast = torch.autograd.grad(y, (x, weight, bias), upstream)
    eager = torch.autograd.grad(expected, (x, weight, bias), upstream)
    for a, b in zip(fast, eager):
        torch.testing.assert_close(a, b, **tol)


@pytest.mark.parametrize("p", [1.0, 2.0, float("inf")])
def test_fast_lp_layer_passes_gradcheck_and_gradgradcheck(p):
    """First derivatives from the closed form, second ones (create_graph, as the probes'
    Hessian-vector products take them) through the eager formula: both checked
    against finite differences in float64."""
    x, weight, bias = _lp_inputs(spatial=False, dtype=torch.float64)
    x = x.detach()[:12].requires_grad_()  # small enough for finite differences

    def layer(x, weight, bias):
        return LpNormFunction.apply(x, weight, bias, p, 1e-5)[0]

    assert torch.autograd.gradcheck(layer, (x, weight, bias))
    assert torch.autograd.gradgradcheck(layer, (x, weight, bias))


def test_linf_gradient_is_shared_between_tied_maxima_as_amax_shares_it():
    x = torch.tensor([[3.0, 1.0], [-3.0, 2.0], [1.0, -2.0], [0.0, 0.5]], dtype=torch.float64, requires_grad=True)
    weight, bias = torch.ones(2, dtype=torch.float64, requires_grad=True), torch.zeros(2, dtype=torch.float64)
    y, _, norm = LpNormFunction.apply(x, weight, bias, float("inf"), 0.0)
    assert norm.tolist() == [3.0, 2.0]  # channel 0: |3| and |-3| tie; channel 1: |2| and |-2| tie
    upstream = torch.arange(8, dtype=torch.float64).view(4, 2)
    fast, = torch.autograd.grad(y, x, upstream)
    eager, = torch.autograd.grad(lp_norm_reference(x, weight, bias, float("inf"), 0.0), x, upstream)
    torch.testing.assert_close(fast, eager, rtol=1e-12, atol=1e-12)


def test_lp_layer_needs_no_input_gradient_when_none_is_asked():
    x, weight, bias = _lp_inputs(spatial=False, dtype=torch.float32)
    x = x.detach()  # a first layer's input
    y, _, _ = LpNormFunction.apply(x, weight, bias, 2.0, 1e-5)
    gw, gb = torch.autograd.grad(y.square().sum(), (weight, bias))
    ew, eb = torch.autograd.grad(lp_norm_reference(x, weight, bias, 2.0, 1e-5).square().sum(), (weight, bias))
    torch.testing.assert_close(gw, ew)
    torch.testing.assert_close(gb, eb)


def test_set_noise_step_reaches_every_noisy_layer_of_a_model_and_of_its_copy():
    import copy


    model = build_model("dln", "noisy_batchnorm", 0, {"depth": 4, "width": 3, "normalized_layers": 3})
    set_noise_step(model, 5)
    twin = copy.deepcopy(model)
    set_noise_step(twin, 9)
    noisy = [m for m in model.modules() if isinstance(m, NoisyNorm)]
    assert len(noisy) == 3 and {m.step for m in noisy} == {5}
    assert {m.step for m in twin.modules() if isinstance(m, NoisyNorm)} == {9}


@pytest.mark.parametrize("p", [1.0, 2.0, float("inf")])
def test_fast_lp_layer_hessian_vector_products_equal_the_eager_layers(p):
    """What the probes compute: a gradient with create_graph=True, then its derivative
    along a vector. Both must equal the eager formula's."""
    x, weight, bias = _lp_inputs(spatial=True, dtype=torch.float64)
    inputs = (x, weight, bias)
    vector = [torch.randn_like(t) for t in inputs]

    def gradient_and_hvp(layer):
        loss = (layer(*inputs) ** 3).sum()  # not quadratic: second derivatives are non-trivial
        grads = torch.autograd.grad(loss, inputs, create_graph=True)
        hvp = torch.autograd.grad(sum((g * v).sum() for g, v in zip(grads, vector)), inputs)
        return grads, hvp

    fast = gradient_and_hvp(lambda *t: LpNormFunction.apply(*t, p, 1e-5)[0])
    eager = gradient_and_hvp(lambda *t: lp_norm_reference(*t, p, 1e-5))
    for a, b in zip([*fast[0], *fast[1]], [*eager[0], *eager[1]]):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-10)


# ---------------------------------------------------------------- layernorm, groupnorm, weightnorm


def _values_and_grads(fn, x, *params):
    """fn's output on x and the gradients of a fixed random projection of it w.r.t. x and params."""
    x = x.clone().requires_grad_(True)
    out = fn(x)
    projection = torch.randn(out.shape, generator=torch.Generator().manual_seed(1), dtype=out.dtype)
    grads = torch.autograd.grad((out * projection).sum(), [x, *params])
    return out.detach(), grads


def _with_random_affine(layer: nn.Module) -> nn.Module:
    with torch.no_grad():
        layer.weight.copy_(torch.rand(layer.weight.shape, dtype=layer.weight.dtype) + 0.5)
        layer.bias.copy_(torch.randn(layer.bias.shape, dtype=layer.bias.dtype))
    return layer


@pytest.mark.parametrize("mode", ["train", "eval"])
@pytest.mark.parametrize("spatial", [True, False])
def test_layernorm_matches_torch_functional(spatial, mode):
    torch.manual_seed(0)
    x = torch.randn((6, 8, 5, 5) if spatial else (6, 8), dtype=torch.float64) * 3 + 1
    layer = _with_random_affine(make_norm("layernorm", 8, spatial, 1, 0).double())
    getattr(layer, mode)()
    mine = _values_and_grads(layer, x, layer.weight, layer.bias)
    if spatial:  # per sample over (C, H, W), a scale and shift per channel
        ref = _values_and_grads(lambda v: F.group_norm(v, 1, layer.weight, layer.bias, 1e-5), x, layer.weight,
                                layer.bias)
    else:
        ref = _values_and_grads(lambda v: F.layer_norm(v, (8,), layer.weight, layer.bias, 1e-5), x, layer.weight,
                                layer.bias)
    torch.testing.assert_close(mine[0], ref[0])
    for a, b in zip(mine[1], ref[1]):
        torch.testing.assert_close(a, b)
    # and each sample on its own has mean 0 and variance 1 before the affine map
    plain = F.group_norm(x, 1, None, None, 1e-5)
    torch.testing.assert_close(plain.flatten(1).mean(1), torch.zeros(6, dtype=torch.float64), atol=1e-12, rtol=0)


@pytest.mark.parametrize("mode", ["train", "eval"])
@pytest.mark.parametrize("channels, groups, expected", [(64, 32, 32), (8, 32, 8), (10, 2, 2), (12, 5, 4), (9, 2, 1),
                                                         (7, 32, 7), (15, 4, 3)])
def test_groupnorm_matches_torch_functional_with_capped_groups(channels, groups, expected, mode):
    assert group_count(channels, groups) == expected
    torch.manual_seed(0)
    x = torch.randn(4, channels, 3, 3, dtype=torch.float64) * 2 - 1
    layer = _with_random_affine(make_norm("groupnorm", channels, True, 1, 0, groups=groups).double())
    getattr(layer, mode)()
    assert layer.num_groups == expected
    mine = _values_and_grads(layer, x, layer.weight, layer.bias)
    ref = _values_and_grads(lambda v: F.group_norm(v, expected, layer.weight, layer.bias, 1e-5), x, layer.weight,
                            layer.bias)
    for a, b in zip([mine[0], *mine[1]], [ref[0], *ref[1]]):
        torch.testing.assert_close(a, b)
    # hand check: each group of channels of each sample is standardized on its own
    grouped = x.view(4, expected, -1)
    by_hand = ((grouped - grouped.mean(2, keepdim=True)) / torch.sqrt(grouped.var(2, unbiased=False, keepdim=True)
                                                                       + 1e-5)).view_as(x)
    torch.testing.assert_close(F.group_norm(x, expected, None, None, 1e-5), by_hand)


def test_group_count_needs_a_group():
    with pytest.raises(ValueError, match="groups must be at least 1"):
        group_count(8, 0)
    with pytest.raises(ValueError, match="groupnorm needs a number of groups"):
        make_norm("groupnorm", 8, True, 1, 0)


@pytest.mark.parametrize("mode", ["train", "eval"])
@pytest.mark.parametrize("spatial", [True, False])
def test_weightnorm_matches_the_closed_form(spatial, mode):
    """W = g v / ||v|| per output unit: values and gradients (w.r.t. x, g, v) against
    the functional form written out, in train and eval mode (they are the same)."""
    torch.manual_seed(0)
    linear = nn.Conv2d(3, 4, 3, padding=1) if spatial else nn.Linear(5, 4)
    layer = make_linear("weightnorm", linear.double())
    assert is_weight_normalized(layer) and weight_parameter(layer) is layer.parametrizations.weight.original1
    g, v = layer.parametrizations.weight.original0, layer.parametrizations.weight.original1
    with torch.no_grad():
        g.mul_(torch.rand(g.shape, dtype=g.dtype) + 0.5)  # g no longer ||v||
    getattr(layer, mode)()
    x = torch.randn(2, 3, 6, 6, dtype=torch.float64) if spatial else torch.randn(7, 5, dtype=torch.float64)

    def closed_form(inp):
        w = g * v / v.flatten(1).norm(dim=1).view(-1, *[1] * (v.dim() - 1))
        return F.conv2d(inp, w, layer.bias, padding=1) if spatial else F.linear(inp, w, layer.bias)

    mine = _values_and_grads(layer, x, g, v, layer.bias)
    ref = _values_and_grads(closed_form, x, g, v, layer.bias)
    for a, b in zip([mine[0], *mine[1]], [ref[0], *ref[1]]):
        torch.testing.assert_close(a, b)
    # the gradient w.r.t. v is orthogonal to v (the loss does not depend on ||v||)
    gv = mine[1][2]
    torch.testing.assert_close((gv * v).flatten(1).sum(1), torch.zeros(4, dtype=torch.float64), atol=1e-10, rtol=0)


def test_weightnorm_starts_from_the_standard_networks_weights():
    for net, cfg in (("vgg", {"arch": "vgg11", "width": 0.125}), ("dln", {})):
        plain, normalized = (build_model(net, v, 3, cfg) for v in ("standard", "weightnorm"))
        for a, b in zip(plain.weight_layers(), normalized.weight_layers()):
            torch.testing.assert_close(a.weight, b.weight)
