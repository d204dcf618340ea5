"""Config checks: what a config must satisfy before any job starts, each failure one
short message naming the key, the bad value and the fix.

Snakefile order: ``check_numbers_as_text`` (YAML's 1e-6 read as text), then the schema
(``check_schema``: the JSON schema is the source of truth; its most specific error is
rewritten as one line), then ``check_config`` (what a schema cannot express).
"""

from __future__ import annotations

from .runs import lr_grid, optimizer_settings, run_groups, surface_runs
from .training.recipe import LOSSES


class ConfigError(ValueError):
    """A config value that the schema cannot catch."""


def check_numbers_as_text(config: dict) -> None:
    """Run before the schema: YAML 1.1 reads ``1e-6`` (no dot) as a string, which the
    schema would only call "not a number"; say how to write it instead."""
    nets = config.get("nets")
    for net, section in (nets.items() if isinstance(nets, dict) else []):
        for key, group in run_groups(section):
            lrs = group.get("lrs") if isinstance(group, dict) else None
            where = f"nets.{net}.{key}.lrs"
            if isinstance(lrs, dict):
                lrs, where = lrs.get("geometric"), where + ".geometric"
            for j, lr in enumerate(lrs if isinstance(lrs, list) else []):
                if isinstance(lr, str):
                    raise ConfigError(f"{where}[{j}] = {lr!r} is text, not a number: "
                                      "YAML reads 1e-6 as text, write 1.0e-6")


def check_config(config: dict) -> None:
    """Run after the schema: checks it cannot express, each naming the key and the fix."""
    for net, section in config["nets"].items():
        for key, group in run_groups(section):
            if "loss" in group and group["loss"] not in LOSSES[net]:
                raise ConfigError(f"nets.{net}.{key}.loss = {group['loss']!r}: the {net.upper()} trains with "
                                  f"{', '.join(LOSSES[net])} only; remove the key")
            settings = optimizer_settings(section, group)
            if settings["nesterov"] and not settings["momentum"] > 0:
                where = f"nets.{net}.{key}.optimizer" if "optimizer" in group else f"nets.{net}.optimizer"
                raise ConfigError(f"{where}: nesterov: true needs a momentum above 0 (it is {settings['momentum']}); "
                                  "set momentum (e.g. 0.9) or nesterov: false")
            grid = group["lrs"]
            if isinstance(grid, dict) and not grid["geometric"][0] < grid["geometric"][1]:
                raise ConfigError(f"nets.{net}.{key}.lrs.geometric = {grid['geometric']}: the first value "
                                  "(the lowest learning rate) must be below the second (the highest)")
            if len(set(lr_grid(grid))) < len(lr_grid(grid)):
                raise ConfigError(f"nets.{net}.{key}.lrs: {grid} repeats a value after rounding to 3 "
                                  "significant digits; use fewer points or a wider range")
        for key in ("eval_every", "checkpoint_every"):
            if section[key] > section["steps"]:
                raise ConfigError(
                    f"nets.{net}.{key} = {section[key]} exceeds nets.{net}.steps = {section['steps']}; "
                    "lower it (the last step is always covered anyway)"
                )
        depth = _depth(net, section)
        too_deep = [layer for layer in section["probes"]["activations"]["layers"] if layer > depth]
        if too_deep:
            raise ConfigError(
                f"nets.{net}.probes.activations.layers: {too_deep} exceed the network's {depth} normalized "
                "layers; pick layer numbers within it"
            )
        if section["probes"]["landscape"]["low"] > section["probes"]["landscape"]["high"]:
            raise ConfigError(f"nets.{net}.probes.landscape: low exceeds high")
        _check_surface(net, section)
    dln = config["nets"].get("dln")
    if dln is not None and dln["batch_size"] > dln["data"]["n_train"]:
        raise ConfigError(
            f"nets.dln.batch_size = {dln['batch_size']} exceeds nets.dln.data.n_train = {dln['data']['n_train']}; "
            "set them equal for the paper's full-batch gradient descent"
        )


def _check_surface(net: str, section: dict) -> None:
    chosen = section.get("surface")
    if not chosen:
        return
    where = f"nets.{net}.surface"
    if chosen["grid"] % 2 == 0:
        raise ConfigError(f"{where}.grid = {chosen['grid']}: use an odd number, so that the run's own weights "
                          f"are the grid's centre (e.g. {chosen['grid'] + 1})")
    steps, every = section["steps"], section["checkpoint_every"]
    for step in chosen["steps"]:
        if step != "last" and (step > steps or (step % every and step != steps)):
            raise ConfigError(f"{where}.steps: {step} is not a checkpointed step of this net (0, multiples of "
                              f"checkpoint_every = {every}, or the last, {steps}); name one of those or 'last'")
    if not surface_runs({"nets": {net: section}}):
        raise ConfigError(f"{where} selects no configured run (variants {chosen['variants']}, lrs {chosen['lrs']}, "
                          f"seeds {chosen['seeds']}); add those runs to nets.{net}.runs or change the selection")


def _depth(net: str, section: dict) -> int:
    """How many layers carry a normalization (the layers activations can be read at)."""
    if net == "vgg":
        from .nets.models import VGG_LAYOUTS

        return sum(1 for item in VGG_LAYOUTS[section["model"]["arch"]] if item != "M")
    return section["model"]["normalized_layers"] if section["model"]["normalized_layers"] else section["model"]["depth"]
