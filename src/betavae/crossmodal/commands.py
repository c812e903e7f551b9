"""``bvae crossmodal data``: generate (or load) the audiovisual set and describe it.

Training is ``bvae train crossmodal_separate|crossmodal_joint``, measuring a run ``bvae eval RUN``
and the study ``bvae sweep sweep_crossmodal_study`` (docs/crossmodal.md)."""

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


def _source(kw: dict):
    """The data options as an ``audiovisual`` data config: its source is the files, the ``.npz``
    or the generated set (:meth:`~betavae.data.audiovisual.AudiovisualConfig.corpus`)."""
    from betavae.data.audiovisual import AudiovisualConfig

    tree = {"n_sets": kw["n_sets"], "n_voices": kw["n_voices"], "img_size": kw["img_size"], "seed": kw["data_seed"],
            "speech": kw["speech"], "tokens": "phonemes" if kw["phonemes"] else "kmeans",
            "trust_pickle": kw["trust_pickle"]}
    for key, option in (("npz", "npz_file"), ("video_file", "video_file"), ("audio_file", "audio_file")):
        if kw.get(option):
            tree[key] = str(kw[option])
    return _validated(AudiovisualConfig, tree)


def _corpus(source, progress: bool | None = None):
    """The source's corpus; the generated set with a progress bar."""
    from tqdm import tqdm

    if source.npz is not None or source.video_file is not None:
        return source.corpus()
    cfg = source.generation()
    with tqdm(total=cfg.n_voices * 50 * (len({s % 6 for s in range(cfg.n_sets)}) +
                                        len({(s % 6 + s // 6) % 6 for s in range(cfg.n_sets)})),
              unit="clip", desc="generating", disable=None if progress is None else not progress) as bar:
        return source.corpus(bar.update)


@click.group()
def crossmodal() -> None:
    """Cross-modal (video → audio) translation with a two-modality β-VAE (Bangarwaa 2025).

    Train with `bvae train crossmodal_separate`, measure with `bvae eval RUN`, run the study with
    `bvae sweep sweep_crossmodal_study` (docs/crossmodal.md)."""


@crossmodal.command()
@data_options
@click.option("--export", type=click.Path(dir_okay=False, path_type=Path),
              help="Also write the temporal-mode features as a generic .npz here.")
@click.option("--progress/--no-progress", default=None, help="Progress bar (default: only on a terminal).")
def data(export: Path | None, progress: bool | None, **kw) -> None:
    """Generate (or load from the cache) the audiovisual object–action set and describe it.

    Writes: the generated set into the cache folder; with --export, that .npz. Prints its sizes.
    """
    from betavae.cache import set_cache_dir
    from betavae.data.audiovisual_files import save_npz
    from betavae.data.audiovisual_generate import cache_path

    if kw.get("cache_dir"):
        set_cache_dir(kw["cache_dir"])
    source = _source(kw)
    start = time.perf_counter()
    corpus = _corpus(source, progress)
    sec = time.perf_counter() - start
    click.echo(f"{corpus.n_rows} rows; video {corpus.video_kind} {tuple(corpus.video.shape)}, "
               f"audio {corpus.audio_kind} {tuple(corpus.audio.shape)} in {sec:.1f} s")
    if source.npz is None and source.video_file is None:
        click.echo(f"cache: {cache_path(source.generation())}")
        click.echo(f"speech: {corpus.meta.get('speech')}; digest {corpus.meta.get('digest', '')[:16]}")
    if "phoneme_vocab" in corpus.meta:
        vocab = corpus.meta["phoneme_vocab"]
        click.echo(f"phoneme tokens: {len(vocab)} ids (0 = silence/pause): {' '.join(vocab[1:])}")
    if export:
        save_npz(corpus.with_mode("temporal"), export)
        click.echo(f"wrote {export}")
