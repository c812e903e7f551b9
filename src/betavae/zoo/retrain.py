"""The command that retrains a run: ``bvae train <shipped config> key=value ...``.

Two ways to find it, each kept only when it reproduces the run's resolved config exactly (every
key, seed included, so the run id hash too):

1. the run's own command line (``meta.json`` ``argv``) when it trained a shipped config by name
   or path, without ``--seeds`` or ``--resume``;
2. otherwise the difference of the resolved config from its shipped base (the report's rule,
   :func:`betavae.report.configs.config_diff`), one ``key=value`` per differing leaf (a section
   the base lacks as one JSON value);
3. failing that, the same with a section whose ``kind`` differs set whole (``objective={...}``):
   overriding only ``objective.kind`` keeps the base kind's fields, which the new kind may lack.

:func:`parse_retrain` turns such a command back into a :class:`~betavae.config.RunConfig`.
"""

from __future__ import annotations

import json
import shlex
from pathlib import Path
from typing import Any

import yaml

from betavae.config import RunConfig, load_config
from betavae.errors import BetavaeError
from betavae.report.configs import MISSING, config_diff
from betavae.shipped import resolve_config_path, shipped_configs, split_args

#: ``bvae train`` options that take a value / take none (they do not change the config)
_VALUE_OPTIONS = {"--runs-dir", "--cache-dir", "--progress-every"}
_FLAGS = {"--progress", "--no-progress", "--debug"}


def format_value(value: Any) -> str:
    """A value as the text of an override that parses (YAML) back to the same value."""
    if isinstance(value, str):
        return value if yaml.safe_load(value) == value else json.dumps(value)
    if isinstance(value, float):
        text = repr(value)
        mantissa, e, exponent = text.partition("e")
        if e and "." not in mantissa:  # YAML 1.1 reads 1e-05 as a string, 1.0e-05 as a float
            text = f"{mantissa}.0e{exponent}"
        return text
    return json.dumps(value, separators=(", ", ": "))


def command(config_name: str | None, overrides: list[str]) -> str:
    return shlex.join(["bvae", "train", *([config_name] if config_name else []), *overrides])


def parse_retrain(text: str, extra: list[str] | tuple[str, ...] = ()) -> RunConfig:
    """The config a ``bvae train [CONFIG] key=value ...`` command trains (plus ``extra`` overrides)."""
    words = shlex.split(text)
    if words[:2] != ["bvae", "train"]:
        raise BetavaeError(f"not a `bvae train` command: {text!r}")
    name, overrides = split_args(tuple(words[2:]))
    return load_config(resolve_config_path(name) if name else None, [*overrides, *extra])


def from_argv(argv: list[str]) -> str | None:
    """The ``bvae train`` command of a run's ``argv`` with a shipped config, else None."""
    if "train" not in argv:
        return None
    words, args = argv[argv.index("train") + 1:], []
    skip = False
    for word in words:
        if skip:
            skip = False
        elif word in _VALUE_OPTIONS:
            skip = True
        elif word.split("=")[0] in _VALUE_OPTIONS or word in _FLAGS:
            continue
        elif word.startswith("--"):
            return None  # --seeds, --resume or an unknown option: not a plain retraining
        else:
            args.append(word)
    configs = [a for a in args if "=" not in a]
    if len(configs) > 1:
        return None
    stem = Path(configs[0]).name.removesuffix(".yaml") if configs else None
    if stem is not None and stem not in shipped_configs():
        return None
    return command(stem, [a for a in args if "=" in a])


def from_diff(config: RunConfig, whole_on_kind: bool = False) -> str | None:
    """``bvae train BASE key=value ...`` from the difference to the shipped base, else None: one
    override per differing leaf, or (``whole_on_kind``) per section whose kind differs."""
    diff = config_diff(config, collapse=False, whole_on_kind=whole_on_kind)
    if any(value == MISSING for _, _, value in diff.rows):
        return None  # a key of the base the run does not have cannot be removed by an override
    rows = sorted(diff.rows, key=lambda r: not r[0].endswith(".kind"))  # a kind before its fields
    return command(diff.base, [f"{key}={format_value(value)}" for key, _, value in rows])


def retrain_command(config: RunConfig, meta: dict[str, Any]) -> tuple[str, str]:
    """(command, how it was found) reproducing ``config`` exactly; raises when neither way does."""
    wanted = config.to_dict()
    tried = []
    for how, text in (("the run's command line (meta.json argv)", from_argv(list(meta.get("argv") or []))),
                      ("the difference from the shipped config", from_diff(config)),
                      ("the difference from the shipped config", from_diff(config, whole_on_kind=True))):
        if text is None:
            continue
        tried.append(text)
        try:
            if parse_retrain(text).to_dict() == wanted:
                return text, how
        except BetavaeError:
            continue
    raise BetavaeError("no `bvae train <shipped config> key=value ...` command reproduces this run's config"
                       + (f" (tried: {' | '.join(tried)})" if tried else "")
                       + "; train it from a shipped config (or ship its config) first")
