"""What the study measures on one trained β-VAE member (spec §8, §11): the ``audiovisual`` evaluator's work.

Given a run's member (a one-member :class:`~betavae.models.crossmodal.CrossModalVAE`), its split
(:class:`~betavae.data.audiovisual.AudiovisualArrays`) and its per-epoch rows of ``metrics.jsonl``:

- ``reconstruction`` (Table 2): the epoch means of the logged train/val accuracy (sampled z, as
  the thesis averages them), the final model's test accuracy with sampled z (generator seed 1234)
  and with z = μ, the final KLs and loss; accuracies in percent;
- ``translation`` (Tables 3, 4): one latent translator per translator seed, trained by the one
  loop on the member's μ_v → μ_a of the training rows (:func:`~betavae.crossmodal.train.train_translator`),
  measured on the test rows: latent MSE/MAE/cosine distance, the controls (training-mean,
  1-NN and linear), the word accuracy of a listener fitted on the training rows' real audio
  (:func:`fit_listener`) on the decoded translation (and on the real test audio, its ceiling, and
  on the β-VAE's own reconstruction of the true audio latent), §11b retrieval, and
  the same on the seen rows against the mean;
- ``baseline``: the raw-feature Seq2Seq video (30, Cv) → audio (30, Ca) on the same split (it does
  not depend on the β-VAE: one result per split, seed and settings, cached).

:func:`flat_values` turns the records into the flat ``name -> number`` mapping of ``eval.json``
(means over translator seeds).
"""

from __future__ import annotations

import hashlib
import json
import logging
from typing import Any, Literal

import numpy as np
import torch
from pydantic import Field, PositiveFloat, PositiveInt

from betavae.bounds import Seed
from betavae.config import Strict
from betavae.crossmodal.train import TranslatorSettings, train_translator
from betavae.data.audiovisual import AudiovisualArrays
from betavae.io import atomic_write_json
from betavae.metrics.translation import Listener, controls, cosine, latent_metrics, retrieval
from betavae.models.crossmodal import CrossModalVAE, decode_audio, latents, reconstruction_accuracy
from betavae.models.seq2seq import translate

log = logging.getLogger(__name__)

GROUPS = ("reconstruction", "translation", "baseline")


class BaselineSettings(Strict):
    """The raw-feature Seq2Seq baseline (hidden 64, lr 1e-3, 25 epochs; the translator's batch and loss)."""

    hidden: PositiveInt = 64
    lr: PositiveFloat = 1e-3
    epochs: PositiveInt = 25


class MeasureSettings(Strict):
    """The ``audiovisual`` evaluator's options (a sweep file's ``evaluate`` mapping).

    ``metrics``: which groups to measure (module docstring); ``translator``: the latent
    translator's settings; ``translator_seeds``: one translator per seed on the same β-VAE (the
    old ``rerun_scope=seq2seq``; default: the run's seed); ``baseline``: the raw Seq2Seq's settings.
    ``preset`` and ``seed`` are the image metrics' options a sweep always passes; they are not used."""

    metrics: list[Literal["reconstruction", "translation", "baseline"]] = Field(default_factory=lambda: list(GROUPS))
    translator: TranslatorSettings = TranslatorSettings()
    translator_seeds: list[Seed] | None = Field(None, min_length=1)
    baseline: BaselineSettings = BaselineSettings()
    preset: str = "fast"
    seed: Seed = 0
    sizes: None = None


def reconstruction(model: CrossModalVAE, data: AudiovisualArrays, rows: list[dict[str, Any]]) -> dict[str, float]:
    """Table 2's numbers for member 0 of ``model`` (percent; KLs and loss as logged)."""
    hist = {k: np.array([r[k] for r in rows], dtype=np.float64) for k in ("train_acc", "val_acc", "kl_v", "kl_a", "loss")}
    gen = torch.Generator().manual_seed(1234)
    rec = {"train_acc_epochmean": float(100 * hist["train_acc"].mean()),
           "val_acc_epochmean": float(100 * hist["val_acc"].mean()),
           "train_acc_final": float(100 * hist["train_acc"][-1]),
           "test_acc_sampled": float(100 * reconstruction_accuracy(model, data.video, data.audio, data.test, True, gen)[0]),
           "test_acc_mean": float(100 * reconstruction_accuracy(model, data.video, data.audio, data.test, False)[0]),
           "val_acc_mean": float(100 * reconstruction_accuracy(model, data.video, data.audio, data.val, False)[0]),
           "final_kl_v": float(hist["kl_v"][-1]), "final_kl_a": float(hist["kl_a"][-1]),
           "final_loss": float(hist["loss"][-1])}
    rec["test_cos_dist_sampled"] = 100 - rec["test_acc_sampled"]
    return rec


def translation(model: CrossModalVAE, data: AudiovisualArrays, listener: Listener, seeds: list[int],
                cfg: TranslatorSettings) -> list[dict[str, Any]]:
    """One record per translator seed: latent translation, controls, words, retrieval (test rows)."""
    labels, train, test = data.labels, data.train, data.test
    mv, ma = latents(model, data.video, data.audio)  # (1, N, z)
    m = len(seeds)
    mv, ma = np.repeat(mv, m, 0), np.repeat(ma, m, 0)
    translator = train_translator(mv[:, :, None], ma[:, :, None], train, seeds, cfg)
    pred_test = translate(translator, mv[:, test, None], ma[:, test, None])[:, :, 0]
    pred_train = translate(translator, mv[:, train, None], ma[:, train, None])[:, :, 0]
    yo, ya = labels["object"][test], labels["action"][test]
    real = listener.accuracy(data.audio[test], yo, ya)
    autoencoded = listener.accuracy(decode_audio(model, ma[:1, test])[0], yo, ya)
    ctrl = {}
    for name, p in controls(mv[0, train], ma[0, train], mv[0, test]).items():
        ctrl[name] = {**latent_metrics(p, ma[0, test]), "words": listener.accuracy(decode_audio(model, p[None])[0], yo, ya)}
    out = []
    for i, seed in enumerate(seeds):
        dec = decode_audio(model, pred_test[i][None])[0]
        out.append({
            "translator_seed": seed, "decoder_input": cfg.decoder_input,
            "translation": latent_metrics(pred_test[i], ma[i, test]),
            "retrieval": retrieval(pred_test[i], ma[i, train], labels["object"][train], labels["action"][train], yo, ya),
            "translation_seen": latent_metrics(pred_train[i], ma[i, train]),
            "mean_seen": latent_metrics(np.broadcast_to(ma[i, train].mean(0), pred_train[i].shape), ma[i, train]),
            "decoded": {"mse": float(((dec - data.audio[test]) ** 2).mean()),
                        "cos_dist": float(100 * (1 - cosine(dec, data.audio[test]).mean()))},
            "words": listener.accuracy(dec, yo, ya), "words_audio_autoencoded": autoencoded,
            "words_real_audio": real, "controls": ctrl})
    return out


def baseline(data: AudiovisualArrays, listener: Listener, seed: int, cfg: BaselineSettings,
             translator: TranslatorSettings, cache_key: str | None = None) -> dict[str, Any]:
    """The raw-feature Seq2Seq (video (30, Cv) → audio (30, Ca)) of seed ``seed`` on the split,
    measured like a translation; with ``cache_key`` (what the data and settings are), the result
    is kept in the cache folder and reused by every run of the same split and seed."""
    path = None
    if cache_key is not None:
        from betavae.cache import cache_dir

        blob = json.dumps([cache_key, seed, cfg.model_dump(), translator.batch_size, translator.loss,
                           torch.__version__, LISTENER_ROWS], sort_keys=True)
        path = cache_dir() / "crossmodal_baseline" / f"{hashlib.sha256(blob.encode()).hexdigest()[:20]}.json"
        if path.is_file():
            return json.loads(path.read_text())
    x, y = data.video[None], data.audio[None]
    tcfg = translator.model_copy(update={"hidden": cfg.hidden, "epochs": cfg.epochs, "decoder_input": "zeros"})
    model = train_translator(x, y, data.train, [seed], tcfg, lr=cfg.lr)
    pred = translate(model, x[:, data.test], y[:, data.test])[0]
    yo, ya = data.labels["object"][data.test], data.labels["action"][data.test]
    truth = data.audio[data.test]
    mean_pred = np.broadcast_to(data.audio[data.train].mean(0), pred.shape)
    out = {"translation": latent_metrics(pred, truth), "words": listener.accuracy(pred, yo, ya),
           "mean_control": {**latent_metrics(mean_pred, truth), "words": listener.accuracy(mean_pred, yo, ya)}}
    if path is not None:
        atomic_write_json(path, out)
    return out


#: which rows the listener is fitted on; part of the baseline's cache key (a cached baseline's word
#: accuracies were made by the listener of its time)
LISTENER_ROWS = "train"


def fit_listener(data: AudiovisualArrays) -> Listener:
    """The word-level evaluator, fitted on the real audio of the split's *training* rows only, so
    that its accuracy on the test rows (``words_real_audio``, the ceiling beside every word score)
    is measured on utterances it has never heard. Every object and every action occurs in the
    training rows of both protocols (the compositional split keeps the held-out object's *still*
    clips in training), so the listener can name every test word."""
    rows = data.train
    return Listener(data.audio[rows], data.labels["object"][rows], data.labels["action"][rows])


def measure(model: CrossModalVAE, data: AudiovisualArrays, rows: list[dict[str, Any]], seed: int,
            cfg: MeasureSettings, cache_key: str | None = None) -> list[dict[str, Any]]:
    """Every group ``cfg.metrics`` asks for; one record per translator seed (``seed``: the run's)."""
    seeds = list(cfg.translator_seeds or [seed])
    listener = None
    if {"translation", "baseline"} & set(cfg.metrics):
        listener = fit_listener(data)
    recon = reconstruction(model, data, rows) if "reconstruction" in cfg.metrics else {}
    records = (translation(model, data, listener, seeds, cfg.translator) if "translation" in cfg.metrics
               else [{"translator_seed": s} for s in seeds])
    base = baseline(data, listener, seed, cfg.baseline, cfg.translator, cache_key) if "baseline" in cfg.metrics else None
    for rec in records:
        rec.update(recon)
        if base is not None:
            rec["baseline"] = base
    return records


#: record parts left out of the flat values (breakdowns kept in ``records`` for the report)
NOT_FLAT = ("per_object", "per_action")


def flatten(record: dict[str, Any], prefix: str = "") -> dict[str, float]:
    """Numeric leaves of a nested record as ``a.b.c -> value`` (breakdowns and labels left out)."""
    out: dict[str, float] = {}
    for key, value in record.items():
        if key in NOT_FLAT or key == "translator_seed":
            continue
        if isinstance(value, dict):
            out.update(flatten(value, f"{prefix}{key}."))
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            out[f"{prefix}{key}"] = float(value)
    return out


def flat_values(records: list[dict[str, Any]]) -> dict[str, float]:
    """The mean over translator seeds of every flat value (one seed: its values)."""
    flats = [flatten(r) for r in records]
    return {k: float(np.mean([f[k] for f in flats])) for k in flats[0]}
