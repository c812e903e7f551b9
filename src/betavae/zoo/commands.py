"""``bvae zoo``: list, show, traverse, evaluate, export and add zoo models (parse, call, print)."""

from __future__ import annotations

from pathlib import Path

import click

from betavae.errors import BetavaeError

_root = click.option("--zoo-dir", "root", type=click.Path(path_type=Path), default=None,
                     help="Zoo folder (default: $BETAVAE_ZOO_DIR or the zoo inside the package).")


@click.group()
def zoo() -> None:
    """Trained models shipped with betavae, each with a card of verified scores (docs/zoo.md)."""


def _interval(card: dict, key: str) -> str:
    ev = card["evaluation"]
    value = ev.get("values", {}).get(key)
    if value is None:
        return "—"
    interval = ev.get("intervals", {}).get(key)
    return f"{value:.3f}" + (f" [{interval[0]:.3f}, {interval[1]:.3f}]" if interval else "")


def _settings(card: dict) -> str:
    s = dict(card["settings"])
    s.pop("data", None)
    return " ".join(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}" for k, v in s.items())


@zoo.command("list")
@_root
def list_models(root: Path | None) -> None:
    """A table of the zoo's models: name, objective, key settings, steps, the headline scores of
    their system (image VAEs: MIG / DCI / FactorVAE, with 95 % intervals where the card has them)
    and size; one table per system, image VAEs first.

    Prints: the tables. Writes: nothing.
    """
    from betavae.zoo.store import model_names, zoo_root
    from betavae.zoo.tasks import TASKS, card_task
    from betavae.zoo.use import model_size, read_card

    names = model_names(root)
    if not names:
        click.echo(f"no models in the zoo at {zoo_root(root)}")
        return
    cards = {name: read_card(name, root) for name in names}
    printed = False
    for task in TASKS.values():
        mine = [name for name in names if card_task(cards[name]) == task.task]
        if not mine:
            continue
        if task.task != "image":  # the image table stays as it always was; the others are titled
            click.echo(("\n" if printed else "") + f"{task.title} ({task.task}):")
        header = ["name", "objective", "settings", "steps", *(label for _, label in task.headline), "size"]
        rows = [[name, cards[name]["objective"], _settings(cards[name]), str(cards[name]["steps"]),
                 *(_interval(cards[name], key) for key, _ in task.headline), f"{model_size(name, root) / 1e6:.2f} MB"]
                for name in mine]
        widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
        for row in [header, *rows]:
            click.echo("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())
        printed = True


@zoo.command()
@click.argument("name")
@click.option("--html", is_flag=True, help="Print the path of the HTML card instead of the Markdown card.")
@_root
def show(name: str, html: bool, root: Path | None) -> None:
    """Print a model's card (Markdown), or with --html the path of card.html to open.

    Prints: the card or the path. Writes: nothing.
    """
    from betavae.zoo.use import card_path

    path = card_path(name, "html" if html else "md", root)
    click.echo(str(path) if html else path.read_text(encoding="utf-8"))


@zoo.command()
@click.argument("name")
@click.option("--out", type=click.Path(path_type=Path), help="Output folder (default: ./zoo-NAME-traverse).")
@click.option("--seeds", "n_seeds", type=click.IntRange(1, 32), default=3, show_default=True,
              help="Seed images to traverse from.")
@click.option("--images", "n_images", type=click.IntRange(min=1), default=512, show_default=True,
              help="Images drawn uniformly from the factor grid and encoded (KL order).")
@click.option("--rng-seed", type=click.IntRange(min=0), default=0, show_default=True)
@click.option("--relative", is_flag=True, help="Traverse μ_j + linspace(−3, 3, 10) instead of z_j = −3 … 3.")
@_root
def traverse(name: str, out: Path | None, n_seeds: int, n_images: int, rng_seed: int, relative: bool,
             root: Path | None) -> None:
    """Latent traversals of a zoo model (as `bvae traverse`): a PNG grid per seed image and a GIF.

    Writes: traverse_seed<i>.png and traverse.gif into --out; prints their paths.
    """
    from betavae.viz.traverse import write_traversals
    from betavae.zoo.use import load

    _image_only(name, root, "traversal is for image VAEs")
    run = load(name, root=root)
    out = out if out is not None else Path(f"zoo-{name}-traverse")
    paths = write_traversals(run.run_dir, out, n_seeds=n_seeds, rng_seed=rng_seed, n_images=n_images,
                             relative=relative, run=run)
    for path in paths.values():
        click.echo(f"wrote {path}")


def _image_only(name: str, root: Path | None, what: str) -> None:
    """Refuse, in one line, a model that is not an image VAE (before anything loads)."""
    from betavae.zoo.tasks import TASKS, card_task
    from betavae.zoo.use import read_card

    task = card_task(read_card(name, root))
    if task != "image":
        raise BetavaeError(f"zoo model {name} is a {TASKS[task].title} ({task}): {what}; its card shows its "
                           f"figures (bvae zoo show {name} --html)")


_settings_option = click.option(
    "-s", "--set", "settings", multiple=True,
    help="key=value: a setting of the evaluator of a model that is not an image VAE (as bvae eval RUN -s), e.g. "
         "for a vsa model -s n_items=256 -s classifier.steps=2000 (docs/vsa.md).")


def _no_image_options(name: str, task: str, given: dict[str, bool]) -> None:
    """Refuse the image metrics' options given for a model of another system."""
    named = [option for option, value in given.items() if value]
    if named:
        raise BetavaeError(f"{', '.join(named)}: options of the image metrics; {name} is a {task} model: give its "
                           "evaluator's settings as -s key=value")


@zoo.command("eval")
@click.argument("name")
@click.option("--metrics", help="Comma-separated metric names (default: all).")
@click.option("--preset", type=click.Choice(["default", "fast"]), default="default", show_default=True,
              help="Settings and sizes: default (disentanglement_lib) or fast.")
@click.option("--bootstrap", type=click.IntRange(min=0), default=0, show_default=True,
              help="Replicates for 95% intervals of the array metrics (0: none): the evaluation sets drawn "
                   "and encoded afresh each time (as bvae eval RUN).")
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True)
@click.option("--device", default="cpu", show_default=True, help="cpu, cuda or auto (encoding only).")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), help="Also write the result as JSON here.")
@_settings_option
@_root
def eval_model(name: str, metrics: str | None, preset: str, bootstrap: int, seed: int, device: str, fmt: str,
               out: Path | None, settings: tuple[str, ...], root: Path | None) -> None:
    """Score a zoo model now with the metrics of `bvae eval`; prints each score (and its interval).

    An image VAE takes the options above; a model of another system is scored by its system's
    evaluator (as `bvae eval RUN`), with -s key=value and --metrics where it takes them.

    Prints: each score, each stage on stderr. Writes: nothing (the zoo is read-only), or the JSON
    result to --out.
    """
    from betavae.experiments.evaluate import evaluate_encoder
    from betavae.io import atomic_write_json
    from betavae.report.scores_text import scores_text
    from betavae.zoo.tasks import card_task
    from betavae.zoo.use import evaluate_system, load, read_card

    names = [m.strip() for m in metrics.split(",") if m.strip()] if metrics else None
    task = card_task(read_card(name, root))
    if task == "image":
        if settings:
            raise BetavaeError(f"-s key=value sets the evaluator of models that are not image VAEs; {name} takes "
                               "--metrics, --preset, --bootstrap and --seed")
        run = load(name, device=device, root=root)
        result = evaluate_encoder(run.encode_mean, run.source, names, preset, seed, bootstrap=bootstrap,
                                  progress=lambda line: click.echo(f"eval: {line}", err=True))
    else:
        _no_image_options(name, task, {"--preset": preset != "default", "--bootstrap": bootstrap != 0,
                                       "--seed": seed != 0, "--device": device != "cpu"})
        result = evaluate_system(name, settings, names, root)
    result["zoo_model"] = name
    text = scores_text(result, fmt)
    if text:
        click.echo(text)
    if out is not None:
        atomic_write_json(out, result)
        if fmt != "json":
            click.echo(f"wrote {out}")


@zoo.command()
@click.argument("name")
@click.option("--out", type=click.Path(path_type=Path), required=True, help="A new or empty folder.")
@_root
def export(name: str, out: Path, root: Path | None) -> None:
    """Write a zoo model as a normal run folder (float32 weights) for `bvae eval`, `bvae traverse`,
    `bvae report` and `betavae.load_run`.

    Writes: OUT/config.yaml, meta.json, weights.safetensors, metrics.jsonl, eval.json.
    """
    from betavae.zoo.use import export as export_model

    click.echo(f"wrote {export_model(name, out, root)}")


@zoo.command()
@click.argument("run_dir", type=click.Path(path_type=Path))
@click.option("--name", required=True, help="The model's zoo name (lower-case letters, digits, '_', '.', '-').")
@click.option("--note", help="One line for the card (what the model is for, what to know).")
@click.option("--preset", type=click.Choice(["default", "fast"]), default="fast", show_default=True,
              help="Evaluation preset of an image VAE's card (the shipped cards use fast: docs/zoo.md says why).")
@click.option("--bootstrap", type=click.IntRange(min=0), default=50, show_default=True,
              help="Replicates for an image VAE card's intervals: independent draws of the evaluation sets.")
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True, help="Evaluation seed (image VAEs).")
@_settings_option
@click.option("--replace", is_flag=True, help="Rebuild a model the zoo already has.")
@_root
def add(run_dir: Path, name: str, note: str | None, preset: str, bootstrap: int, seed: int,
        settings: tuple[str, ...], replace: bool, root: Path | None) -> None:
    """Add a finished run to the zoo (maintainers): float16 weights, card, manifest. The zoo takes
    image VAEs, multimodal (sensorimotor) and dSprites-VSA runs (docs/zoo.md).

    Writes: ZOO/NAME/ (weights.safetensors, config.yaml, meta.json, metrics.jsonl, eval.json,
    card.json, card.md, card.html, curves.png; an image VAE's traverse.gif, a multimodal model's
    measures.png, a vsa model's swap.png) and ZOO/manifest.json.
    """
    from betavae.experiments.evaluators import options_of
    from betavae.zoo.add import add_model

    if not run_dir.is_dir():
        raise BetavaeError(f"{run_dir} is not a folder; give a finished run folder")
    options = options_of(settings)
    folder = add_model(run_dir, name, note, root, preset, bootstrap, seed, replace=replace,
                       progress=lambda line: click.echo(f"zoo add: {line}", err=True), options=options or None)
    click.echo(f"wrote {folder}")


@zoo.command()
@click.argument("name")
@_root
def recheck(name: str, root: Path | None) -> None:
    """Recompute a model's check values from its stored weights with this version (maintainers):
    for cards made before a check value existed. Prints each value that was added or changed;
    the weights and scores stay.

    Writes: ZOO/NAME/card.json, card.md, card.html and ZOO/manifest.json (only when something changed).
    """
    from betavae.zoo.add import recheck_model

    changes = recheck_model(name, root)
    for line in changes:
        click.echo(f"{name}: {line}")
    click.echo(f"{name}: {'card rewritten' if changes else 'check values unchanged; nothing written'}")
