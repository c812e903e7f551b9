"""One protocol split's models and measurements: the β-VAE + translator unit and the raw baseline.

A *unit* trains M members on one split (members differ in β strategy and/or seed), extracts the
latents in row order, trains one translator per member, and measures (spec §8, §11):
Table 2's reconstruction accuracies (faithful: sampled z, epoch means; clean: z = μ, final), the
latent translation metrics, the decoded-audio metrics, the listener's word-level accuracy on the
test rows, and the controls. The baseline unit translates raw video features (30, Cv) to raw
audio features (30, Ca) with the same Seq2Seq (hidden 64) and is measured with the same listener.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import torch
from pydantic import PositiveFloat, PositiveInt

from betavae.config import Strict
from betavae.crossmodal.evaluate import Listener, controls, cosine, latent_metrics, retrieval
from betavae.crossmodal.features import Prepared
from betavae.crossmodal.splits import Split
from betavae.crossmodal.train import (
    Progress,
    TranslatorSettings,
    VAESettings,
    train_translator,
    train_vae,
)
from betavae.models.crossmodal import CrossModalVAE, decode_audio, latents, reconstruction_accuracy
from betavae.models.seq2seq import Seq2Seq, translate


class UnitSettings(Strict):
    vae: VAESettings = VAESettings()
    translator: TranslatorSettings = TranslatorSettings()
    baseline_hidden: PositiveInt = 64
    baseline_lr: PositiveFloat = 1e-3
    baseline_epochs: PositiveInt = 25
    rerun_scope: Literal["both", "seq2seq"] = "both"


@dataclass
class Trained:
    """A unit's trained models: the β-VAE ensemble (M_vae members) and M translators."""

    vae: CrossModalVAE
    translator: Seq2Seq
    history: dict[str, np.ndarray]
    strategies: list[int]
    seeds: list[int]


def fit_unit(prep: Prepared, split: Split, variant: str, strategies: list[int], seeds: list[int],
             cfg: UnitSettings, progress: Progress | None = None) -> Trained:
    """Train the β-VAE members (one per (strategy, seed); with ``rerun_scope=seq2seq`` and one
    strategy, a single β-VAE shared by all seeds) and one translator per seed/member."""
    shared = cfg.rerun_scope == "seq2seq" and len(set(strategies)) == 1  # members differ only in seed
    vae_seeds, vae_strats = (seeds[:1], strategies[:1]) if shared else (seeds, strategies)
    vae, hist = train_vae(prep.video, prep.audio, split.train, split.val, variant, vae_strats, vae_seeds,
                          cfg.vae, progress)
    mv, ma = member_latents(vae, prep, len(seeds))
    translator = train_translator(mv[:, :, None], ma[:, :, None], split.train, seeds, cfg.translator, progress)
    return Trained(vae, translator, hist, strategies, seeds)


def load_models(vae_file: str | Path, translator_file: str | Path, variant: str, prep: Prepared,
                translator: TranslatorSettings) -> tuple[CrossModalVAE, Seq2Seq]:
    """A unit's β-VAE ensemble and latent translators rebuilt from their safetensors files (the
    member counts are read from the weights), in evaluation mode."""
    from safetensors.torch import load_file

    vae_state, tr_state = load_file(vae_file), load_file(translator_file)
    vae = CrossModalVAE(vae_state["dec_v.fc1.weight"].shape[0], variant, prep.video.shape[2], prep.audio.shape[2])
    vae.load_state_dict(vae_state)
    model = Seq2Seq(tr_state["out.weight"].shape[0], 8, 8, translator.hidden, 1, translator.decoder_input)
    model.load_state_dict(tr_state)
    return vae.eval(), model.eval()


def member_latents(vae: CrossModalVAE, prep: Prepared, m: int) -> tuple[np.ndarray, np.ndarray]:
    """μ_v, μ_a of every row for m translator members (M, N, z) each; a single β-VAE shared by m
    seeds (``rerun_scope=seq2seq``) is repeated."""
    mv, ma = latents(vae, prep.video, prep.audio)
    if mv.shape[0] != m:  # one β-VAE shared by m translator seeds
        mv, ma = np.repeat(mv, m, 0), np.repeat(ma, m, 0)
    return mv, ma


def measure_unit(t: Trained, prep: Prepared, split: Split, labels: dict[str, np.ndarray],
                 listener: Listener) -> list[dict]:
    """One record per member: Table 2, translation (latent, decoded, word-level), controls."""
    gen = torch.Generator().manual_seed(1234)
    test, train = split.test, split.train
    acc = {
        "test_acc_sampled": 100 * reconstruction_accuracy(t.vae, prep.video, prep.audio, test, True, gen),
        "test_acc_mean": 100 * reconstruction_accuracy(t.vae, prep.video, prep.audio, test, False),
        "val_acc_mean": 100 * reconstruction_accuracy(t.vae, prep.video, prep.audio, split.val, False),
    }
    mv, ma = member_latents(t.vae, prep, len(t.seeds))
    pred_test = translate(t.translator, mv[:, test, None], ma[:, test, None])[:, :, 0]
    pred_train = translate(t.translator, mv[:, train, None], ma[:, train, None])[:, :, 0]
    yo, ya = labels["object"][test], labels["action"][test]
    shared = t.vae.m != len(t.seeds)
    out = []
    for i, seed in enumerate(t.seeds):
        j = 0 if shared else i
        h = {k: v[:, j] for k, v in t.history.items()}
        vae1 = _slice_decoder(t.vae, j)
        rec: dict = {"seed": seed, "strategy": t.strategies[i if not shared else 0],
                     "train_acc_epochmean": float(100 * h["train_acc"].mean()),
                     "val_acc_epochmean": float(100 * h["val_acc"].mean()),
                     "train_acc_final": float(100 * h["train_acc"][-1]),
                     **{k: float(v[j]) for k, v in acc.items()},
                     "final_kl_v": float(h["kl_v"][-1]), "final_kl_a": float(h["kl_a"][-1]),
                     "final_loss": float(h["loss"][-1])}
        rec["test_cos_dist_sampled"] = 100 - rec["test_acc_sampled"]
        rec["decoder_input"] = t.translator.decoder_input
        rec["translation"] = latent_metrics(pred_test[i], ma[i, test])
        rec["retrieval"] = retrieval(pred_test[i], ma[i, train], labels["object"][train], labels["action"][train],
                                     yo, ya)
        rec["translation_seen"] = latent_metrics(pred_train[i], ma[i, train])
        rec["mean_seen"] = latent_metrics(np.broadcast_to(ma[i, train].mean(0), pred_train[i].shape), ma[i, train])
        dec = decode_audio(vae1, pred_test[i][None])[0]
        rec["decoded"] = {"mse": float(((dec - prep.audio[test]) ** 2).mean()),
                          "cos_dist": float(100 * (1 - cosine(dec, prep.audio[test]).mean()))}
        rec["words"] = listener.accuracy(dec, yo, ya)
        rec["words_audio_autoencoded"] = listener.accuracy(decode_audio(vae1, ma[i, test][None])[0], yo, ya)
        rec["words_real_audio"] = listener.accuracy(prep.audio[test], yo, ya)
        rec["controls"] = {}
        for name, p in controls(mv[i, train], ma[i, train], mv[i, test]).items():
            rec["controls"][name] = {**latent_metrics(p, ma[i, test]),
                                     "words": listener.accuracy(decode_audio(vae1, p[None])[0], yo, ya)}
        out.append(rec)
    return out


def _slice_decoder(vae: CrossModalVAE, j: int) -> CrossModalVAE:
    """A one-member copy of member ``j``'s audio decoder inside a 1-member model."""
    one = CrossModalVAE(1, vae.variant, vae.enc_v.conv1.lin.weight.shape[1] // 3,
                        vae.enc_a.conv1.lin.weight.shape[1] // 3, vae.zv, vae.za)
    one.load_state_dict({k: v[j:j + 1] for k, v in vae.state_dict().items()})
    return one.eval()


def baseline_unit(prep: Prepared, split: Split, labels: dict[str, np.ndarray], listener: Listener,
                  seeds: list[int], cfg: UnitSettings, progress: Progress | None = None) -> list[dict]:
    """Raw-feature Seq2Seq video (30, Cv) → audio (30, Ca), one member per seed, measured."""
    m = len(seeds)
    x = np.broadcast_to(prep.video[None], (m, *prep.video.shape))
    y = np.broadcast_to(prep.audio[None], (m, *prep.audio.shape))
    tcfg = cfg.translator.model_copy(update={"hidden": cfg.baseline_hidden, "epochs": cfg.baseline_epochs})
    model = train_translator(x, y, split.train, seeds, tcfg, progress, lr=cfg.baseline_lr)
    pred = translate(model, x[:, split.test], y[:, split.test])
    yo, ya = labels["object"][split.test], labels["action"][split.test]
    mean_pred = np.broadcast_to(prep.audio[split.train].mean(0), pred.shape[1:])
    return [{"seed": s, "translation": latent_metrics(pred[i], prep.audio[split.test]),
             "words": listener.accuracy(pred[i], yo, ya),
             "mean_control": {**latent_metrics(mean_pred, prep.audio[split.test]),
                              "words": listener.accuracy(mean_pred, yo, ya)}}
            for i, s in enumerate(seeds)]
