"""Several deep linear networks trained as one: their weights stacked along a run axis.

A DLN step is 25 products of 10 x 10 matrices with 1,000 x 10 activations: so little
arithmetic that one run leaves the CPU idle between tensor operations. Runs that share
everything but their seed and learning rate (variant, recipe, schedule: one run group's
seeds and lrs) are stacked instead: every layer is one batched matmul over the runs,
every batch-statistics normalization one call over runs x features, and one optimizer
steps all of them. Runs of one lr share a parameter tensor per layer (one optimizer
parameter group per lr); the
layer's weights of all runs are those tensors concatenated, which copies and adds no
arithmetic: a run's update is the very one it gets in a stack of its lr alone. Activations are
laid out (runs, features, samples), so that a feature's statistics over the batch are
a reduction over contiguous memory; for layernorm and groupnorm, whose statistics are per
sample, (runs, samples, features) instead, so that each run's activations are the
(samples, features) rows the unstacked layer normalizes, with no transposes (a run alone
~1.6x the speed of one group_norm call over transposed activations for layernorm).

Each run keeps its own data (its seed's A and x), initialization, noise and divergence;
no operation mixes runs, so a run's numbers do not depend on which runs share its
stack: a run trained alone (a stack of one) and the same run inside a stack of 30 give
the same values, bit for bit on the CPU (tests/test_stacked.py checks every variant).
Against the unstacked network (bnopt.nets.models.DeepLinearNet, which the probes and
surfaces evaluate) they agree to float32 rounding: the same formulas, reduced in
another order. Checkpoints are written per run in that network's state_dict format.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from ..nets.models import build_model
from ..norms import LpNorm, NoisyNorm, draw_noise
from ..norms.lp import LpNormFunction
from ..norms.weight import is_weight_normalized
from .optim import make_optimizer
from .problems import Problem
from .recipe import spec_loss

# The spec keys every run of a stack must share (only the seed and the lr differ).
SHARED_KEYS = ("net", "variant", "optimizer", "init", "loss", "model", "data", "steps", "batch_size",
               "eval_every", "checkpoint_every", "code")


def stackable(specs: list[dict]) -> None:
    """Raise unless `specs` are DLN runs that differ in their seed and lr only, the
    runs of each lr next to each other."""
    if not specs or any(spec["net"] != "dln" for spec in specs):
        raise ValueError("only deep linear network runs train stacked")
    for key in SHARED_KEYS:
        values = {repr(spec.get(key)) for spec in specs}
        if len(values) > 1:
            raise ValueError(f"runs of one stack must share {key!r}; these have {sorted(values)}")
    lrs = [float(spec["lr"]) for spec in specs]
    if len(set(lrs)) != len(lr_groups(specs)):
        raise ValueError(f"the runs of one lr must be next to each other in a stack; the lrs are {lrs}")


def lr_groups(specs: list[dict]) -> list[tuple[float, slice]]:
    """The stack's learning rates, each with the slice of its runs (next to each other)."""
    groups: list[tuple[float, slice]] = []
    for r, spec in enumerate(specs):
        lr = float(spec["lr"])
        if groups and groups[-1][0] == lr:
            groups[-1] = (lr, slice(groups[-1][1].start, r + 1))
        else:
            groups.append((lr, slice(r, r + 1)))
    return groups


def _laid_out(t: torch.Tensor, samples_major: bool) -> torch.Tensor:
    """(samples, features) data in the stack's layout: as it is, or (features, samples), contiguous."""
    return t.contiguous() if samples_major else t.T.contiguous()


class _Layer:
    """Layer i of every run: how its weight is made and which normalization follows it."""

    def __init__(self, index: int, block: nn.Module):
        self.prefix = f"blocks.{index}"
        self.layer = index + 1  # the paper's numbering, the noise's key
        self.weight_normalized = is_weight_normalized(block.linear)
        norm = block.norm
        self.noisy = isinstance(norm, NoisyNorm)
        inner = norm.inner if self.noisy else norm
        self.norm_prefix = f"{self.prefix}.norm.inner" if self.noisy else f"{self.prefix}.norm"
        self.kind, self.norm = "none", inner
        if isinstance(inner, nn.BatchNorm1d):
            self.kind = "batch"
        elif isinstance(inner, LpNorm):
            self.kind = "lp"
        elif isinstance(inner, nn.LayerNorm):
            self.kind, self.groups = "group", 1
        elif isinstance(inner, nn.GroupNorm):
            self.kind, self.groups = "group", inner.num_groups
        elif not isinstance(inner, nn.Identity):
            raise ValueError(f"no stacked form of {type(inner).__name__}")


class StackedDLN:
    """The training engine of R DLN runs that differ only in their seed and lr.

    The engine interface (shared with bnopt.training.engine.ModuleEngine): ``step(t)``
    trains every run one step and returns their losses and correct counts before the
    update; ``evaluate()`` their test loss and accuracy in eval mode; ``run_state(r)``
    and ``load_runs(states)`` a run's checkpoint content in the unstacked network's
    format; ``module(r)`` run r's network at the current parameters.
    """

    def __init__(self, specs: list[dict], problems: list[Problem], device: torch.device):
        stackable(specs)
        # specs and problems: every run's, indexed like every public method's runs;
        # _specs and _problems: the live runs', indexed like the stacked tensors.
        self.specs, self.problems, self.device = specs, problems, device
        self.runs = len(specs)
        # The runs computed (indices into specs): all, until some diverge and are retired.
        self.live = list(range(self.runs))
        self._build()

    def _build(self) -> None:
        """The stacked tensors, optimizer and data of the live runs, at their initial state."""
        specs = self._specs = [self.specs[r] for r in self.live]
        problems = self._problems = [self.problems[r] for r in self.live]
        device, spec = self.device, specs[0]
        self._live_index = torch.tensor(self.live, device=device)  # where step() puts the live runs' losses
        modules = [build_model("dln", s["variant"], s["seed"], s["model"], init=s.get("init"))
                   for s in specs]
        self._modules: dict[int, nn.Module] = {}
        states = [m.state_dict() for m in modules]
        # Buffers (BatchNorm's running statistics) stacked over all runs; parameters as one
        # tensor per lr group (self.groups), which the optimizer steps with that lr.
        self.param_names = [name for name, _ in modules[0].named_parameters()]
        self.groups = lr_groups(specs)
        self._group_of = [(g, r - part.start) for g, (_, part) in enumerate(self.groups)
                          for r in range(part.start, part.stop)]
        stacked = {name: torch.stack([s[name] for s in states]).to(device) for name in states[0]}
        self.leaves = {name: [stacked[name][part].clone().requires_grad_() for _, part in self.groups]
                       for name in self.param_names}
        self.state = {name: tensor for name, tensor in stacked.items() if name not in self.leaves}
        self._state_order = list(states[0])  # the unstacked network's state_dict order
        self.optimizer = make_optimizer([dict(params=[self.leaves[name][g] for name in self.param_names], lr=lr)
                                         for g, (lr, _) in enumerate(self.groups)], spec["lr"], spec.get("optimizer"))
        self.layers = [_Layer(i, block) for i, block in enumerate(modules[0].blocks)]
        # Per-sample normalizations (layernorm, groupnorm) lay activations out (runs, samples, features).
        self.samples_major = any(layer.kind == "group" for layer in self.layers)
        self.half = spec_loss(spec) == "half_sum"
        self.width = modules[0].blocks[0].linear.in_features
        self.full_batch = problems[0].sampler.full_batch
        self.train_size = len(problems[0].train_x)
        self.train_x, self.train_y, self.test_x, self.test_y = (
            torch.stack([_laid_out(getattr(p, name), self.samples_major) for p in problems])
            for name in ("train_x", "train_y", "test_x", "test_y"))

    # ------------------------------------------------------------------ the function

    def _tensor(self, name: str) -> torch.Tensor:
        """A parameter or buffer of every run, stacked: (runs, ...)."""
        if name not in self.leaves:
            return self.state[name]
        leaves = self.leaves[name]
        return leaves[0] if len(leaves) == 1 else torch.cat(leaves)

    def _weight(self, layer: _Layer) -> torch.Tensor:
        if not layer.weight_normalized:
            return self._tensor(f"{layer.prefix}.linear.weight")
        base = f"{layer.prefix}.linear.parametrizations.weight"
        v, g = self._tensor(f"{base}.original1"), self._tensor(f"{base}.original0")
        runs, rows, cols = v.shape
        # torch's own weight norm (W = g v / ||v||, per output row), on the runs' rows at once
        return torch._weight_norm(v.reshape(runs * rows, cols), g.reshape(runs * rows, 1), 0).view(runs, rows, cols)

    def _normalize(self, layer: _Layer, h: torch.Tensor, training: bool) -> torch.Tensor:
        if layer.kind == "none":
            return h
        if layer.kind == "group":
            return self._per_sample(layer, h)
        runs, features, samples = h.shape
        flat = runs * features
        weight = self._tensor(f"{layer.norm_prefix}.weight").view(flat)
        bias = self._tensor(f"{layer.norm_prefix}.bias").view(flat)
        if layer.kind == "batch":
            bn = layer.norm
            if training:
                self.state[f"{layer.norm_prefix}.num_batches_tracked"].add_(1)
            return F.batch_norm(h.reshape(1, flat, samples), self.state[f"{layer.norm_prefix}.running_mean"].view(flat),
                                self.state[f"{layer.norm_prefix}.running_var"].view(flat), weight, bias, training,
                                bn.momentum, bn.eps).view(runs, features, samples)
        if layer.kind == "lp":
            lp = layer.norm
            running_mean = self.state[f"{layer.norm_prefix}.running_mean"].view(1, flat, 1)
            running_norm = self.state[f"{layer.norm_prefix}.running_norm"].view(1, flat, 1)
            if not training:
                return (((h.reshape(1, flat, samples) - running_mean) / (running_norm + lp.eps)) * weight.view(1, flat, 1)
                        + bias.view(1, flat, 1)).view(runs, features, samples)
            y, mean, norm = LpNormFunction.apply(h.reshape(1, flat, samples), weight, bias, lp.p, lp.eps)
            with torch.no_grad():
                running_mean.view(flat).lerp_(mean, lp.momentum)
                running_norm.view(flat).lerp_(norm, lp.momentum)
            return y.view(runs, features, samples)
        raise ValueError(f"no stacked form of the normalization {layer.kind!r}")

    def _per_sample(self, layer: _Layer, h: torch.Tensor) -> torch.Tensor:
        """LayerNorm or GroupNorm of (runs, samples, features) activations: every (run,
        sample) row normalized over its own features (groups) by one kernel call, then
        each run's scale and shift. A row's numbers do not depend on the rows beside it,
        so a run's are the same in any stack."""
        runs, samples, features = h.shape
        if layer.groups == 1:
            normalized = F.layer_norm(h, (features,), None, None, layer.norm.eps)
        else:
            normalized = F.group_norm(h.reshape(runs * samples, features), layer.groups, None, None,
                                      layer.norm.eps).view(runs, samples, features)
        weight = self._tensor(f"{layer.norm_prefix}.weight").view(runs, 1, features)
        bias = self._tensor(f"{layer.norm_prefix}.bias").view(runs, 1, features)
        return torch.addcmul(bias, normalized, weight)

    def _noise(self, layer: _Layer, h: torch.Tensor, step: int) -> torch.Tensor:
        """Algorithm 1's noise, each run's own draw (bnopt.norms.draw_noise) for its
        (seed, step, layer), as the unstacked layer draws it for (samples, features)."""
        shape = h.shape[1:] if self.samples_major else h.shape[:0:-1]  # (samples, features)
        draws = [draw_noise(shape, s["seed"], step, layer.layer, h.device, h.dtype) for s in self._specs]
        scale, shift = (torch.stack([d[k] for d in draws]) for k in (0, 1))
        if not self.samples_major:
            scale, shift = scale.transpose(1, 2), shift.transpose(1, 2)
        return torch.addcmul(shift, h, scale)

    def forward(self, x: torch.Tensor, step: int | None, training: bool) -> torch.Tensor:
        """Every run's output, in the stack's layout, for inputs laid out the same."""
        h = x
        for layer in self.layers:
            weight = self._weight(layer)
            h = torch.bmm(h, weight.transpose(1, 2)) if self.samples_major else torch.bmm(weight, h)
            h = self._normalize(layer, h, training)
            if layer.noisy and training:
                h = self._noise(layer, h, step)
        return h

    def losses(self, out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Each run's loss: the (half) sum over samples of the squared error."""
        total = (out - y).square().sum((1, 2))
        return 0.5 * total if self.half else total

    def batch(self, step: int) -> tuple[torch.Tensor, torch.Tensor]:
        if self.full_batch:
            return self.train_x, self.train_y
        index = torch.stack([p.sampler.indices(step) for p in self._problems])  # (runs, batch)
        dim = 1 if self.samples_major else 2  # the samples' axis

        def batch_of(data: torch.Tensor) -> torch.Tensor:
            shape = list(data.shape)
            shape[dim] = index.shape[1]
            return data.gather(dim, index.unsqueeze(3 - dim).expand(shape))

        return batch_of(self.train_x), batch_of(self.train_y)

    # ------------------------------------------------------------------ the engine

    def retire(self, runs) -> None:
        """Stop computing `runs` (indices into the specs; runs that diverged): the stack
        shrinks to the others, their exact state carried over (run_state, then load),
        and a retired run's losses read NaN from here on. A run's numbers do not depend
        on its stack, so the others go on as they would have."""
        keep = [r for r in self.live if r not in set(runs)]
        if len(keep) == len(self.live) or not keep:  # nothing to retire, or every run: training stops anyway
            return
        states = [self.run_state(r) for r in keep]
        self.live = keep
        self._build()
        self._load(states)

    def _inner(self, r: int) -> int:
        if len(self.live) == self.runs:
            return r
        if r not in self.live:
            raise ValueError(f"run {r} ({self.specs[r]['variant']}, lr {self.specs[r]['lr']}, seed "
                             f"{self.specs[r]['seed']}) was retired from its stack (it diverged): it has no state")
        return self.live.index(r)

    def step(self, step: int) -> tuple[torch.Tensor, torch.Tensor]:
        losses, correct = self._step(step)
        if len(self.live) == self.runs:
            return losses, correct
        every = torch.full((self.runs,), float("nan"), dtype=losses.dtype, device=losses.device)
        return every.index_copy(0, self._live_index, losses), every.index_copy(0, self._live_index, correct)

    def _step(self, step: int) -> tuple[torch.Tensor, torch.Tensor]:
        x, y = self.batch(step)
        losses = self.losses(self.forward(x, step, training=True), y)
        self.optimizer.zero_grad(set_to_none=True)
        losses.sum().backward()  # runs are independent: each gets its own loss's gradient
        self.optimizer.step()
        return losses.detach(), torch.full_like(losses, float("nan")).detach()

    @torch.no_grad()
    def evaluate(self) -> list[tuple[float, float]]:
        losses = self.losses(self.forward(self.test_x, None, training=False), self.test_y).double().tolist()
        every = [(float("nan"), float("nan"))] * self.runs
        for r, loss in zip(self.live, losses):
            every[r] = (loss, float("nan"))
        return every

    def _run_tensor(self, name: str, r: int) -> torch.Tensor:
        """Live run r's (an index into the live runs) slice of a parameter or buffer (a view)."""
        if name not in self.leaves:
            return self.state[name][r]
        g, i = self._group_of[r]
        return self.leaves[name][g][i]

    def run_state(self, r: int) -> dict:
        """Run r's model and optimizer state, as the unstacked network's would be."""
        r = self._inner(r)
        model = {name: self._run_tensor(name, r).detach().clone() for name in self._state_order}
        stacked = self.optimizer.state_dict()
        g, i = self._group_of[r]
        count = len(self.param_names)
        state = {}
        for index, entry in stacked["state"].items():
            if index // count == g:
                state[index % count] = {key: (value[i].clone() if torch.is_tensor(value) and value.dim() > 0 else value)
                                        for key, value in entry.items()}
        group = dict(stacked["param_groups"][g], params=list(range(count)))
        return dict(model=model, optimizer=dict(state=state, param_groups=[group]))

    def load_runs(self, states: list[dict | None]) -> None:
        """Set every run to its checkpoint's state (None: leave that run as it is)."""
        self._load([states[r] for r in self.live])

    def _load(self, states: list[dict | None]) -> None:
        """load_runs for the live runs' states."""
        with torch.no_grad():
            for r, state in enumerate(states):
                if state is not None:
                    for name in self._state_order:
                        self._run_tensor(name, r).copy_(state["model"][name])
        loaded = [s["optimizer"] for s in states if s is not None]
        if not loaded or not loaded[0]["state"]:
            return
        count = len(self.param_names)
        stacked = {}
        for g, (_, part) in enumerate(self.groups):
            mine = states[part]
            for index, entry in loaded[0]["state"].items():
                stacked[g * count + index] = {}
                for key, value in entry.items():
                    if torch.is_tensor(value) and value.dim() > 0:
                        per_run = [s["optimizer"]["state"][index][key] if s is not None else torch.zeros_like(value)
                                   for s in mine]
                        value = torch.stack(per_run).to(self.device)
                    stacked[g * count + index][key] = value
        self.optimizer.load_state_dict(dict(state=stacked, param_groups=self.optimizer.state_dict()["param_groups"]))

    def module(self, r: int = 0) -> nn.Module:
        """Run r's network (bnopt.nets.models.DeepLinearNet) at the current parameters."""
        inner = self._inner(r)
        if inner not in self._modules:
            s = self._specs[inner]
            self._modules[inner] = build_model("dln", s["variant"], s["seed"], s["model"]).to(self.device)
        model = self._modules[inner]
        model.load_state_dict(self.run_state(r)["model"])
        return model
