"""Config checks: what a config must satisfy before any job starts, each failure one
short message naming the key, the bad value and the fix.

Snakefile order: ``check_numbers_as_text`` (YAML's 1e-6 read as text), then the schema
(``check_schema``: the JSON schema is the source of truth; its most specific error is
rewritten as one line), then ``check_config`` (what a schema cannot express).
"""

from __future__ import annotations

from .runs import group_skip, lr_grid, optimizer_settings, run_groups, surface_runs
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
                if isinstance(lr, str) and _is_number(lr):
                    raise ConfigError(f"{where}[{j}] = {lr!r} is text, not a number: "
                                      "YAML reads 1e-6 as text, write 1.0e-6")


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _complete_resnet(section: dict) -> None:
    """Check the ResNet's depth, then fill the default that depends on it: its activation
    layers (bnopt.nets.resnet.default_activation_layers)."""
    from .nets.resnet import blocks_per_stage, default_activation_layers

    depth = section["model"]["depth"]
    try:
        blocks_per_stage(depth)
    except ValueError as error:
        raise ConfigError(f"nets.resnet.model.depth = {depth}: {error}; choose one of those") from None
    section["probes"]["activations"].setdefault("layers", default_activation_layers(depth))


def check_config(config: dict) -> None:
    """Run after the schema: fills the defaults that depend on another key (the ResNet's
    activation layers, from its depth), then the checks the schema cannot express, each
    naming the key and the fix."""
    if "resnet" in config["nets"]:
        _complete_resnet(config["nets"]["resnet"])
    for net, section in config["nets"].items():
        if net != "resnet" and "fixup" in (section.get("surface") or {}).get("variants", []):
            raise ConfigError(f"nets.{net}.surface.variants: fixup is a ResNet variant; remove it here")
        for key, group in run_groups(section):
            if "fixup" in group["variants"] and net != "resnet":
                raise ConfigError(f"nets.{net}.{key}.variants: fixup is a ResNet variant (its residual branches "
                                  "start at zero); remove it here, or run it under nets.resnet")
            if "skip" in group and net != "resnet":
                raise ConfigError(f"nets.{net}.{key}.skip: only the ResNet has skip connections to remove; "
                                  "remove the key")
            if "fixup" in group["variants"] and not group_skip(net, section, group):
                where = f"nets.resnet.{key}.skip" if "skip" in group else "nets.resnet.model.skip"
                raise ConfigError(f"nets.resnet.{key}.variants: fixup needs the skip connections, and {where} "
                                  "is false; compare no-skip nets with another variant")
            if "loss" in group and group["loss"] not in LOSSES[net]:
                raise ConfigError(f"nets.{net}.{key}.loss = {group['loss']!r}: the {net.upper()} trains with "
                                  f"{', '.join(LOSSES[net])} only; remove the key")
            where = f"nets.{net}.{key}.optimizer" if "optimizer" in group else f"nets.{net}.optimizer"
            try:
                settings = optimizer_settings(section, group)
            except ValueError as error:  # a setting of another optimizer (sgd's momentum under adam, ...)
                raise ConfigError(f"{where}: {error}; remove it or choose the optimizer that has it") from None
            if settings.get("nesterov") and not settings["momentum"] > 0:
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
    if net == "resnet":  # every conv (depth - 1 of them; the classifier is the last layer)
        return section["model"]["depth"] - 1
    return section["model"]["normalized_layers"] if section["model"]["normalized_layers"] else section["model"]["depth"]


# -- the schema, one line per mistake ------------------------------------------------

def load_schema(path) -> dict:
    import yaml

    with open(path) as f:
        return yaml.safe_load(f)


def check_schema(config: dict, schema: dict) -> None:
    """Validate the config against the JSON schema and raise the most specific error as
    one line: the key's path (``nets.vgg.runs.sweep.variants[1]``), the bad value, the
    allowed values and, where one is close, a "did you mean". Run groups are checked one
    by one first: the list-or-mapping choice of ``runs`` would otherwise hide a group's
    typo behind "is not valid under any of the given schemas". The schema stays the
    source of truth: a new key or variant gets its message from it, with no new code."""
    from jsonschema import Draft202012Validator

    defs = schema.get("$defs", {})
    group_validator = Draft202012Validator({"$defs": defs, "$ref": "#/$defs/run_group"})
    nets = config.get("nets")
    for net, section in (nets.items() if isinstance(nets, dict) else []):
        for key, group in run_groups(section):
            error = _first(group_validator.iter_errors(group))
            if error is not None:
                raise ConfigError(_explain(error, f"nets.{net}.{key}"))
    error = _first(Draft202012Validator(schema).iter_errors(config))
    if error is not None:
        raise ConfigError(_explain(error, ""))


def _first(errors):
    from jsonschema.exceptions import best_match

    return best_match(errors)


def _path(prefix: str, parts) -> str:
    out = prefix
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "the config"


_TYPE_NAMES = {"array": "a list", "object": "a mapping of keys", "number": "a number", "integer": "a whole number",
               "string": "text", "boolean": "true or false", "null": "empty"}


_JSON_TYPES = {type(None): "null", bool: "boolean", int: "integer", float: "number", str: "string", list: "array",
               dict: "object"}


def _type_name(value) -> str:
    json_type = _JSON_TYPES.get(type(value))
    return _TYPE_NAMES[json_type] if json_type else type(value).__name__


def _did_you_mean(value, choices) -> str:
    import difflib

    if not isinstance(value, str):
        return ""
    close = difflib.get_close_matches(value, [str(c) for c in choices], n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else ""


def _explain(error, prefix: str) -> str:
    """One line for a jsonschema error: where, what is wrong, what is allowed."""
    where, value = _path(prefix, error.absolute_path), error.instance
    kind = error.validator
    if kind in ("oneOf", "anyOf") and error.context:
        branch = _matching_branch(error)
        if branch is not None:
            return _explain(branch, prefix)
    if kind in ("type", "oneOf", "anyOf") and value is None:
        return f"{where} is empty: give its settings, or remove the key"
    if kind in ("oneOf", "anyOf") and error.context:
        expected = " or ".join(_TYPE_NAMES.get(b.validator_value, str(b.validator_value))
                               if b.validator == "type" else f"{b.validator} {b.validator_value!r}"
                               for b in error.context if not b.relative_path)
        return f"{where} = {value!r} is {_type_name(value)}: expected {expected}"
    if kind == "enum":
        allowed = ", ".join(map(str, error.validator_value))
        return f"{where} = {value!r} is not allowed{_did_you_mean(value, error.validator_value)} (allowed: {allowed})"
    if kind == "const":
        return f"{where} = {value!r}: the only text allowed here is {error.validator_value!r}"
    if kind == "additionalProperties":
        known = list(error.schema.get("properties", {}))
        extra = [k for k in value if k not in known]
        name = extra[0] if extra else "?"
        return (f"{where}: unknown key {name!r}{_did_you_mean(name, known)} (keys here: {', '.join(known)})"
                if known else f"{where}: unknown key {name!r}")
    if kind == "required":
        missing = error.message.split("'")[1] if "'" in error.message else error.message
        return f"{where}: the key {missing!r} is missing (required here: {', '.join(error.validator_value)})"
    if kind == "type":
        expected = error.validator_value if isinstance(error.validator_value, list) else [error.validator_value]
        return (f"{where} = {value!r} is {_type_name(value)}: expected "
                f"{' or '.join(_TYPE_NAMES.get(t, t) for t in expected)}")
    if kind in ("minItems", "minProperties"):
        least = "one value" if error.validator_value == 1 else f"{error.validator_value} values"
        return f"{where} is empty: give at least {least}" if not value else f"{where} = {value!r}: give at least {least}"
    if kind == "maxItems":
        return f"{where} = {value!r}: give at most {error.validator_value} values"
    if kind == "uniqueItems":
        return f"{where} = {value!r} repeats a value"
    if kind in ("minimum", "exclusiveMinimum", "maximum", "exclusiveMaximum"):
        words = {"minimum": "at least", "exclusiveMinimum": "above", "maximum": "at most",
                 "exclusiveMaximum": "below"}[kind]
        return f"{where} = {value!r}: must be {words} {error.validator_value}"
    if kind == "pattern":
        return f"{where} = {value!r} does not have the form {error.validator_value!r}"
    if kind == "propertyNames":
        return f"{where}: a name here must match {error.validator_value.get('pattern', error.validator_value)!r}"
    return f"{where}: {error.message}"


def _matching_branch(error):
    """Of a oneOf/anyOf's branches, the error of the one meant: the branches whose type
    the value has, and of their errors the deepest (a list of groups when runs is a
    list). None when the value has none of the branches' types."""
    by_branch: dict[int, list] = {}
    for sub in error.context:
        by_branch.setdefault(sub.relative_schema_path[0], []).append(sub)
    meant = [subs for subs in by_branch.values()
             if not any(s.validator == "type" and not s.relative_path for s in subs)]
    if not meant:
        return None
    return max((s for subs in meant for s in subs), key=lambda s: len(s.absolute_path))
