"""The config's runs and where their files live.

A net's ``runs`` is a union of products (variants x lrs x seeds), so a config can
train every variant at one learning rate and only two of them at others. Paths
carry the parameters (``results/vgg/batchnorm/lr~0.1/seed~0/``): results of old
settings stay beside new ones, and adding a learning rate only adds jobs. A run whose
recipe (optimizer, initialization, loss: bnopt.training.recipe) is not the default
carries its token after the variant (``results/vgg/batchnorm+sgd-m0.9/lr~0.1/seed~0/``,
``results/dln/standard+glorot_normal+half_sum/lr~1e-06/seed~0/``,
``results/resnet/standard+noskip/lr~0.1/seed~0/``).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from itertools import product

from .imports import reachable, source
from .nets.models import default_init
from .norms import VARIANT_SETTINGS
from .tasks import is_classifier
from .training.optim import PAPER_TOKEN, optimizer_token, resolved
from .training.problems import DEFAULT_LOSS
from .training.recipe import recipe_token

# The run-spec keys that a net's config section passes on to training.
SCHEDULE_KEYS = ("steps", "batch_size", "eval_every", "checkpoint_every", "model")


@dataclass(frozen=True, order=True)
class Run:
    net: str
    variant: str
    lr: float
    seed: int
    optimizer: str = PAPER_TOKEN  # the optimizer's token (bnopt.training.optim.optimizer_token)
    init: str = ""  # "" = the net's default (bnopt.nets.models.default_init)
    loss: str = ""  # "" = the net's default (bnopt.training.problems.DEFAULT_LOSS)
    skip: bool = True  # the ResNet's skip connections (False: the plain net of the same depth)

    def __post_init__(self):
        if not self.skip and self.net != "resnet":
            raise ValueError(f"only the ResNet has skip connections to remove, not the {self.net.upper()}")
        if not self.init:
            object.__setattr__(self, "init", default_init(self.net))
        if not self.loss:
            object.__setattr__(self, "loss", DEFAULT_LOSS[self.net])

    @property
    def lr_token(self) -> str:
        return lr_token(self.lr)

    @property
    def recipe(self) -> str:
        """The token of the run's recipe ("" for the default one; bnopt.training.recipe)."""
        return recipe_token(self.net, self.optimizer, self.init, self.loss, self.skip)

    @property
    def variant_folder(self) -> str:
        """The variant's folder (the path's {variant} wildcard): the variant, and its
        recipe's token after a ``+`` unless it is the default recipe."""
        return f"{self.variant}+{self.recipe}" if self.recipe else self.variant

    @property
    def path(self) -> str:
        """The run's folder below ``results/``, e.g. ``vgg/batchnorm/lr~0.1/seed~0``."""
        return f"{self.net}/{self.variant_folder}/lr~{self.lr_token}/seed~{self.seed}"

    def wildcards(self) -> dict:
        return dict(net=self.net, variant=self.variant_folder, lr=self.lr_token, seed=str(self.seed))


def lr_token(lr: float) -> str:
    """A learning rate as it appears in paths: Python's shortest round-tripping repr
    (0.1 -> ``0.1``, 1e-6 -> ``1e-06``), so parsing the token gives the same float."""
    return repr(float(lr))


def lr_grid(lrs) -> list[float]:
    """A run group's learning rates: a list as written, or a geometric grid
    ``{geometric: [low, high], points: N}``: N values from low to high with a constant
    ratio, each rounded to 3 significant digits, so that the same grid always gives
    the same values (and path tokens), and a refined grid (2N - 1 points) keeps the
    old values and only adds runs."""
    if isinstance(lrs, dict):
        (low, high), points = lrs["geometric"], int(lrs["points"])
        return [float(f"{low * (high / low) ** (i / (points - 1)):.3g}") for i in range(points)]
    return [float(lr) for lr in lrs]


def run_groups(section: dict) -> list[tuple[str, dict]]:
    """A net's run groups, each with the key it is written under: ``runs`` is a list
    of groups (``runs[0]``, ...) or a mapping from a name to a group (``runs.sweep``).
    Named groups let a second config file add runs: Snakemake merges mappings across
    ``--configfile`` files key by key but replaces lists whole."""
    groups = section.get("runs") if isinstance(section, dict) else None
    if isinstance(groups, dict):
        return [(f"runs.{name}", group) for name, group in groups.items()]
    return [(f"runs[{i}]", group) for i, group in enumerate(groups if isinstance(groups, list) else [])]


def optimizer_settings(section: dict, group: dict) -> dict:
    """A run group's optimizer: its own ``optimizer`` keys over the net's over the
    optimizer's defaults; a group that names another optimizer than the net's starts
    from that optimizer's defaults (the net's settings are another optimizer's)."""
    net, own = section.get("optimizer", {}), group.get("optimizer", {})
    if own.get("name", net.get("name", "sgd")) != net.get("name", "sgd"):
        return resolved(own)
    return resolved({**net, **own})


def group_init(net: str, section: dict, group: dict) -> str:
    """A run group's initialization: its own ``init``, else the net's, else the net's
    default (Glorot uniform; He's for the ResNet)."""
    return group.get("init", section.get("init", default_init(net)))


def group_loss(net: str, section: dict, group: dict) -> str:
    """A run group's loss: its own ``loss``, else the net's, else the net's default."""
    return group.get("loss", section.get("loss", DEFAULT_LOSS[net]))


def group_skip(net: str, section: dict, group: dict) -> bool:
    """Whether a group's runs keep the ResNet's skip connections: its own ``skip``, else
    the net's ``model.skip``, else yes (the other nets have none to remove)."""
    if net != "resnet":
        return True
    return bool(group.get("skip", section.get("model", {}).get("skip", True)))


def group_recipe(net: str, section: dict, group: dict) -> dict:
    """The recipe fields of a group's runs (:class:`Run`'s optimizer, init, loss, skip)."""
    return dict(optimizer=optimizer_token(optimizer_settings(section, group)), init=group_init(net, section, group),
                loss=group_loss(net, section, group), skip=group_skip(net, section, group))


def own_recipe(config: dict, net: str) -> str:
    """The recipe token of the net's own settings (its optimizer, init and loss, no
    group's): the runs a figure shows unless it compares recipes."""
    return Run(net, "standard", 1.0, 0, **group_recipe(net, config["nets"][net], {})).recipe


def _group_runs(config: dict):
    for net, section in config["nets"].items():
        for _, group in run_groups(section):
            recipe = group_recipe(net, section, group)
            for variant, lr, seed in product(group["variants"], lr_grid(group["lrs"]), group.get("seeds", [0])):
                yield group, Run(net, variant, lr, int(seed), **recipe)


def expand_runs(config: dict) -> list[Run]:
    """Every run of the config, each once, in config order."""
    return list(dict.fromkeys(run for _, run in _group_runs(config)))


def probed_runs(config: dict) -> list[Run]:
    """The runs that get probe jobs: those of any group without ``probe: false``."""
    return list(dict.fromkeys(run for group, run in _group_runs(config) if group.get("probe", True)))


def surface_step(section: dict, step) -> int:
    """A surface's step as a number: "last" is the run's final step."""
    return int(section["steps"]) if step == "last" else int(step)


def _selected(chosen: dict) -> set[tuple[str, float, int]]:
    """(variant, lr, seed) of every run a surface selection names."""
    return {(v, float(lr), int(s)) for v in chosen["variants"] for lr in chosen["lrs"] for s in chosen["seeds"]}


def surface_runs(config: dict) -> list[tuple[Run, int]]:
    """(run, step) for every surface the config asks for: the configured runs of the
    nets' ``surface`` selection (variants x lrs x seeds, with the net's own recipe),
    at each of its steps."""
    out = []
    for net, section in config["nets"].items():
        chosen = section.get("surface")
        if not chosen:
            continue
        wanted = _selected(chosen)
        own = own_recipe(config, net)
        for run in expand_runs({"nets": {net: section}}):
            if (run.variant, run.lr, run.seed) in wanted and run.recipe == own:
                out.extend((run, surface_step(section, step)) for step in chosen["steps"])
    return list(dict.fromkeys(out))


def find_run(config: dict, net: str, variant: str, lr: str, seed: str) -> Run:
    """The configured run behind a set of path wildcards (`variant` is the variant's
    folder, see :attr:`Run.variant_folder`), or a clear error."""
    wanted = dict(net=net, variant=variant, lr=lr_token(float(lr)), seed=str(int(seed)))
    for run in expand_runs(config):
        if run.wildcards() == wanted:
            return run
    path = f"{net}/{variant}/lr~{lr}/seed~{seed}"
    raise ValueError(f"run {path} is not in the config's nets.{net}.runs; add it there to build it")


def run_optimizer(config: dict, run: Run) -> dict:
    """The optimizer settings of a configured run (the group that names its token)."""
    section = config["nets"][run.net]
    for _, group in run_groups(section):
        settings = optimizer_settings(section, group)
        if optimizer_token(settings) == run.optimizer:
            return settings
    raise ValueError(f"no run group of nets.{run.net} has the optimizer {run.optimizer!r}")


def canonical(value):
    """`value` with every dict's keys sorted, recursively. Snakemake compares params as
    written, key order included: without this, reordering keys in a YAML file (or
    writing it with another tool) would look like a new setting and retrain."""
    if isinstance(value, dict):
        return {key: canonical(value[key]) for key in sorted(value)}
    if isinstance(value, (list, tuple)):
        return [canonical(item) for item in value]
    return value


def train_spec(config: dict, run: Run, code: str | None = None) -> dict:
    """Everything that determines a training run's result, as one JSON-able dict."""
    section = config["nets"][run.net]
    spec = dict(net=run.net, variant=run.variant, lr=run.lr, seed=run.seed, optimizer=run_optimizer(config, run),
                **{key: section[key] for key in SCHEDULE_KEYS})
    # The initialization only where it is not the default (the default recipe's specs stay
    # as they were before it was a setting); the DLN's loss always, as its default changed
    # (from half_sum to sum): a run's spec names what it minimizes.
    if run.init != default_init(run.net):
        spec["init"] = run.init
    if run.net == "dln" or run.loss != DEFAULT_LOSS[run.net]:
        spec["loss"] = run.loss
    # A variant's own model settings (groupnorm's groups) only in its runs' specs.
    spec["model"] = {key: value for key, value in spec["model"].items()
                     if run.variant in VARIANT_SETTINGS.get(key, (run.variant,))}
    if run.net == "resnet":  # the group's skip switch over the net's (a recipe part)
        spec["model"]["skip"] = run.skip
    if is_classifier(run.net):
        spec["dataset"] = section["dataset"]
    else:
        spec["data"] = section["data"]
    if code is not None:
        spec["code"] = code
    return canonical(spec)


def _probing_group(config: dict, run: Run) -> dict:
    """The first run group that probes `run` (config order); {} if none does."""
    for group, candidate in _group_runs({"nets": {run.net: config["nets"][run.net]}}):
        if candidate == run and group.get("probe", True):
            return group
    return {}


def probe_settings(config: dict, run: Run) -> dict:
    """The probe settings of a run's probe jobs: the net's ``probes``, each section
    overridden key by key by the ``probes`` of the first group that probes the run
    (so a group of many seeds can measure fewer things, or more densely). Under the
    paper's plain SGD the update is -lr grad, so the landscape along it is the
    gradient's: its flag is left out there, and switching it on reruns only the
    probes of the other optimizers' runs."""
    probes = canonical(config["nets"][run.net]["probes"])
    for key, value in canonical(_probing_group(config, run).get("probes", {})).items():
        probes[key] = {**probes[key], **value} if isinstance(value, dict) and key in probes else value
    if run.optimizer == PAPER_TOKEN:
        probes["landscape"] = {k: v for k, v in probes["landscape"].items() if k != "along_update"}
    return probes


def code_fingerprint(*modules: str, follow: str | None = None) -> str:
    """A hash of the source of the named bnopt modules (dotted within bnopt; a
    subpackage is its ``__init__.py``): put it in a rule's params so that editing the
    code a result depends on reruns the jobs that made it. With `follow` (a
    subpackage, "" for all of bnopt), also every module of it that they import,
    directly or not (bnopt.imports), so that moving code between modules cannot
    leave a dependency out."""
    names = reachable(*modules, within=follow) if follow is not None else sorted(set(modules))
    digest = hashlib.sha256()
    for name in names:
        digest.update(name.encode())
        digest.update(source(name).read_bytes())
    return digest.hexdigest()[:16]
