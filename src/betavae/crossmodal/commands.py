"""``bvae crossmodal``: generate the audiovisual set, train and evaluate one split, run a study."""

from __future__ import annotations

import time
from pathlib import Path

import click

from betavae.errors import BetavaeError


def data_options(f):
    """Options that choose the data: the built-in set's size knobs or real feature files."""
    opts = [
        click.option("--sets", "n_sets", type=click.IntRange(1, 36), default=36, show_default=True,
                     help="Pairing sets (6 video × 6 audio augmentations = 36)."),
        click.option("--voices", "n_voices", type=click.IntRange(1, 60), default=20, show_default=True),
        click.option("--img-size", type=click.IntRange(32, 512), default=180, show_default=True),
        click.option("--data-seed", type=click.IntRange(min=0), default=0, show_default=True),
        click.option("--speech", type=click.Choice(["espeak", "tones"]), default="espeak", show_default=True,
                     help="espeak-ng (the 'speech' extra) or formant-like pseudo-speech."),
        click.option("--video-file", type=click.Path(path_type=Path),
                     help="Original video features (N, 512) .npy (with --audio-file)."),
        click.option("--audio-file", type=click.Path(path_type=Path), help="Original audio tokens .npy."),
        click.option("--npz", "npz_file", type=click.Path(path_type=Path), help="Generic features .npz."),
        click.option("--trust-pickle", is_flag=True, help="Allow the original pickled audio object array."),
        click.option("--cache-dir", type=click.Path(file_okay=False, path_type=Path), help="Cache directory."),
        click.option("--phonemes", is_flag=True,
                     help="Also record espeak-ng phoneme tokens per 20 ms (for --tokens phonemes)."),
    ]
    for opt in reversed(opts):
        f = opt(f)
    return f


def _validated(model, tree: dict):
    """``model.model_validate(tree)``, with pydantic's errors as one BetavaeError line."""
    from pydantic import ValidationError

    try:
        return model.model_validate(tree)
    except ValidationError as exc:
        raise BetavaeError("; ".join(f"{'.'.join(map(str, e['loc'])) or 'data'}: {e['msg']}"
                                     for e in exc.errors())) from None


def _data_config(kw: dict):
    from betavae.crossmodal.dataset import DataConfig

    return _validated(DataConfig, {"n_sets": kw["n_sets"], "n_voices": kw["n_voices"], "img_size": kw["img_size"],
                                   "seed": kw["data_seed"], "speech": kw["speech"], "phonemes": kw["phonemes"]})


def _corpus(kw: dict, progress: bool | None = None):
    """The corpus the data options name (files, generic npz, or the generated set with a bar)."""
    from tqdm import tqdm

    from betavae.cache import set_cache_dir
    from betavae.crossmodal.dataset import generate
    from betavae.crossmodal.files import load_npz, load_symbolgrounding

    if kw.get("cache_dir"):
        set_cache_dir(kw["cache_dir"])
    if kw.get("npz_file"):
        return load_npz(kw["npz_file"])
    if kw.get("video_file") or kw.get("audio_file"):
        if not (kw.get("video_file") and kw.get("audio_file")):
            raise BetavaeError("give both --video-file and --audio-file")
        return load_symbolgrounding(kw["video_file"], kw["audio_file"], trust_pickle=kw["trust_pickle"])
    cfg = _data_config(kw)
    with tqdm(total=cfg.n_voices * 50 * (len({s % 6 for s in range(cfg.n_sets)}) +
                                        len({(s % 6 + s // 6) % 6 for s in range(cfg.n_sets)})),
              unit="clip", desc="generating", disable=None if progress is None else not progress) as bar:
        return generate(cfg, bar.update)


@click.group()
def crossmodal() -> None:
    """Cross-modal (video → audio) translation with a two-modality β-VAE (Bangarwaa 2025)."""


@crossmodal.command()
@data_options
@click.option("--export", type=click.Path(dir_okay=False, path_type=Path),
              help="Also write the temporal-mode features as a generic .npz here.")
@click.option("--progress/--no-progress", default=None, help="Progress bar (default: only on a terminal).")
def data(export: Path | None, progress: bool | None, **kw) -> None:
    """Generate (or load from the cache) the audiovisual object–action set and describe it.

    Writes: the generated set into the cache folder; with --export, that .npz. Prints its sizes.
    """
    from betavae.crossmodal.dataset import cache_path
    from betavae.crossmodal.files import save_npz

    start = time.perf_counter()
    corpus = _corpus(kw, progress)
    sec = time.perf_counter() - start
    click.echo(f"{corpus.n_rows} rows; video {corpus.video_kind} {tuple(corpus.video.shape)}, "
               f"audio {corpus.audio_kind} {tuple(corpus.audio.shape)} in {sec:.1f} s")
    if not (kw.get("npz_file") or kw.get("video_file")):
        click.echo(f"cache: {cache_path(_data_config(kw))}")
        click.echo(f"speech: {corpus.meta.get('speech')}; digest {corpus.meta.get('digest', '')[:16]}")
    if "phoneme_vocab" in corpus.meta:
        vocab = corpus.meta["phoneme_vocab"]
        click.echo(f"phoneme tokens: {len(vocab)} ids (0 = silence/pause): {' '.join(vocab[1:])}")
    if export:
        save_npz(corpus.with_mode("temporal"), export)
        click.echo(f"wrote {export}")


def _study_config(kw: dict, **extra):
    from betavae.crossmodal.study import StudyConfig

    tree = {"data": _data_config(kw).model_dump(), "mode": kw["mode"], "tokens": kw["tokens"],
            "scaler_fit": kw["scaler_fit"],
            "threads": kw["threads"], "workers": kw.get("workers", 1),
            "units": {"vae": {"epochs": kw["epochs"], "speed": kw["speed"]},
                      "translator": {"epochs": kw["translator_epochs"], "lr": kw["translator_lr"],
                                     "decoder_input": kw["decoder_input"]},
                      "baseline_epochs": kw["baseline_epochs"], "rerun_scope": kw["rerun_scope"]}, **extra}
    return _validated(StudyConfig, tree)


def training_options(f):
    opts = [
        click.option("--mode", type=click.Choice(["faithful", "temporal"]), default="faithful", show_default=True),
        click.option("--tokens", type=click.Choice(["kmeans", "phonemes"]), default="kmeans", show_default=True,
                     help="Faithful-mode audio tokens: k-means of 20-ms MFCC frames, or espeak-ng phonemes "
                     "(data generated with --phonemes)."),
        click.option("--epochs", type=click.IntRange(min=1), default=70, show_default=True, help="β-VAE epochs."),
        click.option("--translator-epochs", type=click.IntRange(min=1), default=25, show_default=True),
        click.option("--translator-lr", type=float, default=1e-4, show_default=True, help="1e-4 (code) or 3e-4 (thesis text)."),
        click.option("--decoder-input", type=click.Choice(["zeros", "teacher", "target"]), default="zeros",
                     show_default=True, help="Translator decoder input: zeros (reference), teacher (teacher forcing, "
                     "free-running evaluation), target (flaw F6: hands it the answer; forensic only)."),
        click.option("--baseline-epochs", type=click.IntRange(min=1), default=25, show_default=True),
        click.option("--rerun-scope", type=click.Choice(["both", "seq2seq"]), default="both", show_default=True,
                     help="Per seed, retrain both stages, or one β-VAE shared by the seeds' translators."),
        click.option("--scaler-fit", type=click.Choice(["train", "all"]), default="train", show_default=True),
        click.option("--threads", type=click.IntRange(min=1), default=1, show_default=True,
                     help="torch threads per process."),
        click.option("--speed", type=click.Choice(["plain", "fast", "fastest"]), default="fast", show_default=True,
                     help="β-VAE training speed level: fastest adds bf16 autocast (docs/crossmodal.md)."),
        click.option("--progress/--no-progress", default=None),
    ]
    for opt in reversed(opts):
        f = opt(f)
    return f


def _ints(text: str) -> list[int]:
    try:
        return [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise BetavaeError(f"expected comma-separated integers, got {text!r}") from None


@crossmodal.command()
@data_options
@training_options
@click.option("--protocol", type=click.Choice(["symbol", "compositional"]), default="symbol", show_default=True)
@click.option("--object", "held_out", default="pen", show_default=True, help="Held-out object (compositional).")
@click.option("--variant", type=click.Choice(["separate", "joint"]), default="separate", show_default=True)
@click.option("--strategies", default="6", show_default=True, help="β strategies 1-9, one member each.")
@click.option("--seeds", default="0", show_default=True, help="Seeds; one member each (with one strategy).")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), required=True)
def train(protocol: str, held_out: str, variant: str, strategies: str, seeds: str, out: Path, **kw) -> None:
    """Train β-VAE member(s) and translator(s) on one split; save weights and measurements.

    Writes: into --out: vae.safetensors, translator.safetensors, history.npz, run.json and
    metrics.json.
    """
    from tqdm import tqdm

    from betavae.crossmodal.runs import train_run

    strat, seed_list = _ints(strategies), _ints(seeds)
    if len(strat) == 1:
        strat = strat * len(seed_list)
    if len(seed_list) == 1:
        seed_list = seed_list * len(strat)
    if len(strat) != len(seed_list):
        raise BetavaeError("give one strategy per seed, or one of either")
    cfg = _study_config(kw)
    corpus = _corpus(kw, kw["progress"])
    total = cfg.units.vae.epochs + cfg.units.translator.epochs
    with tqdm(total=total, unit="epoch", disable=None if kw["progress"] is None else not kw["progress"]) as bar:
        records = train_run(cfg, corpus, protocol, held_out, variant, strat, seed_list, out,
                            lambda stage, n: (bar.set_description(stage), bar.update(n)))
    _echo_records(records)
    click.echo(f"wrote {out}")


def _echo_records(records: list[dict]) -> None:
    for r in records:
        click.echo(f"strategy {r['strategy']} seed {r['seed']}: test acc {r['test_acc_sampled']:.2f} "
                   f"(z=μ {r['test_acc_mean']:.2f}); latent cos. dist. {r['translation']['cos_dist']:.2f} "
                   f"(mean control {r['controls']['mean']['cos_dist']:.2f}); words object/action/pair "
                   f"{r['words']['object']:.1f}/{r['words']['action']:.1f}/{r['words']['pair']:.1f} %")


@crossmodal.command("eval")
@click.argument("folder", type=click.Path(file_okay=False, path_type=Path))
@click.option("--cache-dir", type=click.Path(file_okay=False, path_type=Path))
def eval_command(folder: Path, cache_dir: Path | None) -> None:
    """Re-measure a trained folder (``bvae crossmodal train --out``) from its saved weights.

    Writes: FOLDER/eval.json; prints the measurements.
    """
    from betavae.cache import set_cache_dir
    from betavae.crossmodal.runs import eval_run

    if cache_dir:
        set_cache_dir(cache_dir)
    records = eval_run(folder)
    _echo_records(records)
    click.echo(f"wrote {folder / 'eval.json'}")


@crossmodal.command()
@data_options
@training_options
@click.option("--strategies", default="1,2,3,4,5,6,7,8,9", show_default=True)
@click.option("--chosen", type=click.IntRange(1, 9), default=6, show_default=True)
@click.option("--seeds", default="0,1,2", show_default=True)
@click.option("--objects", default="0,1,2,3,4", show_default=True, help="Held-out objects (names or 0-4).")
@click.option("--variants", default="separate,joint", show_default=True)
@click.option("--workers", type=click.IntRange(min=1), default=1, show_default=True,
              help="Processes running units in parallel (one per core).")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), required=True)
def study(strategies: str, chosen: int, seeds: str, objects: str, variants: str, out: Path, **kw) -> None:
    """Tables 2, 3 and 4 for both variants (resumable: finished units are kept).

    Writes: into --out: study.json, units/ (each unit's weights and measures) and report.md.
    """
    from tqdm import tqdm

    from betavae.crossmodal.report import write_report
    from betavae.crossmodal.study import run_study, unit_epochs, unit_plan
    from betavae.crossmodal.vocab import object_index

    cfg = _study_config(kw, strategies=_ints(strategies), chosen=chosen, seeds=_ints(seeds),
                        objects=[object_index(o) for o in objects.split(",") if o.strip()],
                        variants=[v.strip() for v in variants.split(",") if v.strip()])
    start = time.perf_counter()
    corpus = _corpus(kw, kw["progress"])
    data_seconds = time.perf_counter() - start
    total = sum(unit_epochs(cfg, u) for u in unit_plan(cfg))
    with tqdm(total=total, unit="epoch", disable=None if kw["progress"] is None else not kw["progress"]) as bar:
        meta = run_study(cfg, out, corpus, lambda stage, n: (bar.set_description(stage), bar.update(n)),
                         data_seconds=data_seconds)
    click.echo(f"{len(meta['seconds'])} units in {time.perf_counter() - start:.0f} s")
    click.echo(f"wrote {write_report(out)}")


@crossmodal.command("report")
@click.argument("folder", type=click.Path(file_okay=False, path_type=Path))
def report_command(folder: Path) -> None:
    """(Re)write report.md of a (possibly partial) study folder.

    Writes: FOLDER/report.md.
    """
    from betavae.crossmodal.report import write_report

    click.echo(f"wrote {write_report(folder)}")


