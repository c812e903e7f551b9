"""The YAML files shipped inside the package (``src/betavae/configs``) and the command each is for.

One place answers "where are the shipped files", "which command takes this one" and "what does
this name or path mean for ``bvae COMMAND``", for the CLI, sweeps and reports alike.
"""

from __future__ import annotations

from pathlib import Path

from betavae.errors import BetavaeError

SHIPPED_DIR = Path(__file__).resolve().parent / "configs"

#: shipped files that neither ``bvae train`` nor ``bvae sweep`` takes -> the command that does
#: (none since the vsa grid became a sweep file)
OTHER_SHIPPED: dict[str, str] = {}


def shipped_names() -> list[str]:
    """Every shipped file's stem, sorted."""
    return sorted(p.stem for p in SHIPPED_DIR.glob("*.yaml"))


def shipped_path(name: str) -> Path:
    """The path of shipped file ``name`` (with or without ``.yaml``), which may not exist."""
    return SHIPPED_DIR / f"{name.removesuffix('.yaml')}.yaml"


def shipped_command(name: str) -> str:
    """The command that takes the shipped file ``name`` (a stem of configs/*.yaml)."""
    if name in OTHER_SHIPPED:
        return OTHER_SHIPPED[name]
    return f"bvae {'sweep' if name.startswith('sweep_') else 'train'} {name}"


def shipped_configs() -> list[str]:
    """Shipped run configs (what ``bvae train NAME`` takes)."""
    return [n for n in shipped_names() if not n.startswith("sweep_") and n not in OTHER_SHIPPED]


def resolve_config_path(name: str, command: str = "train") -> Path:
    """A YAML path, or the name of a shipped file that ``bvae COMMAND`` takes (``dsprites_quick``)."""
    path = Path(name)
    if path.is_file():
        return path
    stem = name.removesuffix(".yaml")
    shipped = shipped_path(stem)
    wanted = "sweep" if command == "sweep" else "train"
    takes = [n for n in shipped_names() if shipped_command(n).startswith(f"bvae {wanted} ")]
    if shipped.is_file():
        if stem in takes:
            return shipped
        raise BetavaeError(f"{stem} is a shipped file for `{shipped_command(stem)}`, not for `bvae {command}`; "
                           f"`bvae {command}` takes: {', '.join(takes)}")
    raise BetavaeError(f"config {name!r} is neither a file nor a shipped name `bvae {command}` takes "
                       f"({', '.join(takes)}); `bvae configs` lists them all")


def split_args(args: tuple[str, ...]) -> tuple[str | None, list[str]]:
    """``[CONFIG] [key=value ...]`` -> (config or None, overrides)."""
    config, overrides = None, []
    for a in args:
        if "=" in a:
            overrides.append(a)
        elif config is None:
            config = a
        else:
            raise BetavaeError(f"unexpected argument {a!r}: give one config and dotted.key=value overrides")
    return config, overrides
