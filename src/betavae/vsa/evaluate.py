"""Evaluation of a vsa run (spec/dsprites-vsa.md §7): writes ``eval.json`` and ``swap.png``.

Everything is computed on the test split with μ (no sampling). PD: direct and swapped
reconstruction (BCE, IoU), feature-swap accuracy through the factor classifier (both crosswise
reconstructions pooled: the one that should equal x² is read against c², the other against c¹),
latent cosines. SD: scene reconstruction, object count, per-object reconstruction. PSD: scene
reconstruction, count, swap accuracy on matched components, unbinding cross-talk.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from betavae.config import RunConfig
from betavae.data.dsprites import FACTOR_NAMES
from betavae.io import atomic_write_json
from betavae.models.factor_classifier import FactorClassifier
from betavae.models.feature_vae import FeatureVAE
from betavae.objectives.vsa import psd_decode, swap_rows
from betavae.train.tasks.vsa import to_tensors
from betavae.vsa.classifier import correct, get_classifier
from betavae.vsa.load import load_run
from betavae.vsa.measures import bce_per_image, binarise, count_objects, count_report, iou, match
from betavae.vsa.settings import EvalSettings


def _np(t: torch.Tensor) -> np.ndarray:
    return t.detach().cpu().numpy()


def _batches(cfg: RunConfig, ev: EvalSettings):
    data = cfg.data.build("test")
    n, b = ev.n_items, ev.batch_size
    for start in range(0, n, b):
        yield data.batch(range(start, min(n, start + b)))


def swap_accuracy(ok: np.ndarray, k: np.ndarray, prefix: str) -> dict[str, float]:
    """ok (N, 5) per-factor correctness, k (N,) changed feature -> changed / preserved / full."""
    rows = np.arange(len(k))
    keep = np.ones_like(ok)
    keep[rows, k] = False
    out = {f"{prefix}.changed": float(ok[rows, k].mean()),
           f"{prefix}.preserved": float(np.where(keep, ok, True).all(1).mean()),
           f"{prefix}.full": float(ok.all(1).mean())}
    for f, name in enumerate(FACTOR_NAMES):
        if (k == f).any():
            out[f"{prefix}.changed.{name}"] = float(ok[k == f, f].mean())
    return out


def _cosines(mu1: torch.Tensor, mu2: torch.Tensor, k: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    cos = _np(torch.nn.functional.cosine_similarity(mu1, mu2, dim=-1))
    kk = _np(k)
    changed = np.zeros(cos.shape, bool)
    changed[np.arange(len(kk)), kk] = True
    return cos[~changed], cos[changed]


@torch.no_grad()
def eval_pd(model: FeatureVAE, clf: FactorClassifier, cfg: RunConfig, ev: EvalSettings) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    acc: dict[str, list[np.ndarray]] = {k: [] for k in ("dbce", "diou", "sbce", "siou", "ok", "k", "cs", "cc")}
    pics: dict[str, np.ndarray] = {}
    for batch in _batches(cfg, ev):
        b = to_tensors(batch)
        mu1, _ = model.encode(b["x1"])
        mu2, _ = model.encode(b["x2"])
        direct = _np(model.decode(model.object(torch.cat([mu1, mu2]))))
        t1, t2 = swap_rows(mu1, mu2, b["k"])
        swapped = _np(model.decode(model.object(torch.cat([t1, t2]))))  # → x², → x¹
        targets = np.concatenate([batch.x2, batch.x1])
        acc["dbce"].append(bce_per_image(direct, np.concatenate([batch.x1, batch.x2])))
        acc["diou"].append(iou(binarise(direct), np.concatenate([batch.x1, batch.x2])))
        acc["sbce"].append(bce_per_image(swapped, targets))
        acc["siou"].append(iou(binarise(swapped), targets))
        acc["ok"].append(correct(clf.predict(binarise(swapped)), np.concatenate([batch.c2, batch.c1])))
        acc["k"].append(np.concatenate([batch.k, batch.k]))
        cs, cc = _cosines(mu1, mu2, b["k"])
        acc["cs"].append(cs)
        acc["cc"].append(cc)
        if not pics:
            pics = {"source": batch.x1, "target": batch.x2, "result": swapped[: len(batch.x1)], "k": batch.k}
    cat = {k: np.concatenate(v) for k, v in acc.items()}
    out = {"vsa.direct.bce": cat["dbce"].mean(), "vsa.direct.iou": cat["diou"].mean(),
           "vsa.swap.bce": cat["sbce"].mean(), "vsa.swap.iou": cat["siou"].mean(),
           "vsa.latent.cos_shared": cat["cs"].mean(), "vsa.latent.cos_changed": cat["cc"].mean(),
           **swap_accuracy(cat["ok"], cat["k"], "vsa.swap_acc")}
    out["vsa.good"] = bool(out["vsa.swap.iou"] >= ev.pd_iou and out["vsa.swap_acc.changed"] >= ev.pd_swap)
    return out, pics


@torch.no_grad()
def eval_sd(model: FeatureVAE, clf: FactorClassifier, cfg: RunConfig, ev: EvalSettings) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    bces, ious, counts, ns, obj_iou = [], [], [], [], []
    pics: dict[str, np.ndarray] = {}
    for batch in _batches(cfg, ev):
        b = to_tensors(batch)
        present = b["present"]
        mu, _ = model.encode(b["objects"][present])
        o = model.object(mu)
        objects = torch.zeros(*present.shape, model.dim)
        objects[present] = o
        scene = _np(model.decode(objects.sum(1)))
        bces.append(bce_per_image(scene, batch.x))
        ious.append(iou(binarise(scene), batch.x))
        counts.append(count_objects(binarise(scene), ev.a_min))
        ns.append(batch.n)
        obj_iou.append(iou(binarise(_np(model.decode(o))), batch.objects[batch.present]))
        if not pics:
            pics = {"scene": batch.x, "result": scene}
    out: dict[str, Any] = {"vsa.scene.bce": np.concatenate(bces).mean(), "vsa.scene.iou": np.concatenate(ious).mean(),
                           "vsa.object.iou": np.concatenate(obj_iou).mean(),
                           **count_report(np.concatenate(counts), np.concatenate(ns), "vsa.scene")}
    return out, pics


def _psd_swap_ok(clf: FactorClassifier, scenes: np.ndarray, changed: tuple[np.ndarray, np.ndarray],
                 other: tuple[np.ndarray, np.ndarray], a_min: int) -> tuple[np.ndarray, np.ndarray]:
    """Per scene: (5,) correctness of the changed object and full correctness of the other one;
    an unmatched object counts as wrong."""
    crops, which = [], []
    for n, s in enumerate(binarise(scenes)):
        comp = match(s, [changed[0][n], other[0][n]], a_min)
        for slot, c in enumerate(comp):
            if c is not None:
                crops.append(c[None].astype(np.float32))
                which.append((n, slot))
    ok_c = np.zeros((len(scenes), 5), bool)
    ok_o = np.zeros(len(scenes), bool)
    if crops:
        pred = clf.predict(np.stack(crops))
        for (n, slot), p in zip(which, pred, strict=True):
            if slot == 0:
                ok_c[n] = correct(p[None], changed[1][n][None])[0]
            else:
                ok_o[n] = correct(p[None], other[1][n][None])[0].all()
    return ok_c, ok_o


@torch.no_grad()
def eval_psd(model: FeatureVAE, clf: FactorClassifier, cfg: RunConfig, ev: EvalSettings) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    acc: dict[str, list[np.ndarray]] = {k: [] for k in ("dbce", "diou", "sbce", "siou", "count", "okc", "oko", "k", "unbind")}
    pics: dict[str, np.ndarray] = {}
    a_min = ev.a_min
    for batch in _batches(cfg, ev):
        b = to_tensors(batch)
        mu, _ = model.encode(torch.cat([b["a"], b["a2"], b["b"]]))
        ma, ma2, mb = mu.chunk(3)
        ta, ta2 = swap_rows(ma, ma2, b["k"])
        n = len(ma)
        pa, pb = (None, None) if model.memory is None else (model.memory.slots[0].expand(n, -1),
                                                            model.memory.slots[1].expand(n, -1))
        ob = model.object(mb)
        direct = _np(psd_decode(model, model.object(ma), ob, pa, pb))
        swapped = _np(torch.cat([psd_decode(model, model.object(ta), ob, pa, pb),  # → S₂
                                 psd_decode(model, model.object(ta2), ob, pa, pb)]))  # → S₁
        targets = np.concatenate([batch.s2, batch.s1])
        acc["dbce"].append(bce_per_image(direct, batch.s1))
        acc["diou"].append(iou(binarise(direct), batch.s1))
        acc["sbce"].append(bce_per_image(swapped, targets))
        acc["siou"].append(iou(binarise(swapped), targets))
        acc["count"].append(count_objects(binarise(swapped), a_min))
        changed = (np.concatenate([batch.a2, batch.a]), np.concatenate([batch.fa2, batch.fa]))
        other = (np.concatenate([batch.b, batch.b]), np.concatenate([batch.fb, batch.fb]))
        okc, oko = _psd_swap_ok(clf, swapped, changed, other, a_min)
        acc["okc"].append(okc)
        acc["oko"].append(oko)
        acc["k"].append(np.concatenate([batch.k, batch.k]))
        if model.memory is not None:
            s = model.scene(torch.stack([model.object(ma), ob], 1), torch.stack([pa, pb], 1))
            lone = _np(model.decode(model.memory.unbind(pa, s)))  # dec(p_1 ⊙ s) vs A alone
            acc["unbind"].append(iou(binarise(lone), batch.a))
        if not pics:
            pics = {"source": batch.s1, "target": batch.s2, "result": swapped[:n], "k": batch.k}
    cat = {k: np.concatenate(v) for k, v in acc.items() if v}
    out: dict[str, Any] = {
        "vsa.direct_scene.bce": cat["dbce"].mean(), "vsa.direct_scene.iou": cat["diou"].mean(),
        "vsa.scene.bce": cat["sbce"].mean(), "vsa.scene.iou": cat["siou"].mean(),
        "vsa.swap_acc.other_full": cat["oko"].mean(),
        **count_report(cat["count"], np.full(len(cat["count"]), 2), "vsa.scene"),
        **swap_accuracy(cat["okc"], np.maximum(cat["k"], 0), "vsa.swap_acc")}
    if "unbind" in cat:
        out["vsa.unbind.iou"] = cat["unbind"].mean()
    e = ev
    out["vsa.good"] = bool(out["vsa.scene.iou"] >= e.psd_iou and out["vsa.scene.count_acc"] >= e.psd_count
                           and out["vsa.swap_acc.changed"] >= e.psd_swap)
    return out, pics


EVALUATORS = {"pd": eval_pd, "sd": eval_sd, "psd": eval_psd}


def evaluate_run(run_dir: str | Path, settings: EvalSettings | None = None, figures: bool = True,
                 diagnostics: bool = True, progress=None) -> dict[str, Any]:
    """Evaluate a run folder (its latest weights) with ``settings`` (default: the spec's);
    writes ``eval.json`` (and ``swap.png``) there."""
    run_dir = Path(run_dir)
    ev = settings or EvalSettings()
    cfg, model = load_run(run_dir)
    clf, ceiling = get_classifier(ev.classifier, cfg.data, progress)
    out, pics = EVALUATORS[cfg.data.stage](model, clf, cfg, ev)
    out.update(ceiling)
    out["vsa.classifier.trusted"] = bool(min(ceiling[f"vsa.classifier.{n}"] for n in FACTOR_NAMES) >= 0.98)
    if diagnostics:
        from betavae.vsa.diagnostics import recombination, slot_probe

        out.update(slot_probe(model, cfg, ev))
        out.update(recombination(model, clf, cfg, ev))
    out = {k: (float(v) if isinstance(v, np.floating) else v) for k, v in out.items()}
    atomic_write_json(run_dir / "eval.json", out)
    if figures:
        from betavae.vsa.figures import exchange_figure

        exchange_figure(pics, run_dir / "swap.png", cfg.data.stage)
    return out
