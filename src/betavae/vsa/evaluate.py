"""Evaluation of a vsa run (spec/dsprites-vsa.md §7): writes ``eval.json`` and ``swap.png``.

Everything is computed on the test split with μ (no sampling). PD: direct and swapped
reconstruction (BCE, IoU), feature-swap accuracy through the factor classifier (both crosswise
reconstructions pooled: the one that should equal x² is read against c², the other against c¹),
latent cosines. SD: scene reconstruction, object count, per-object reconstruction. PSD: scene
reconstruction, count, swap accuracy on matched components, unbinding cross-talk. The stage
functions take ``clf=None`` for the reconstructions alone (what a report's pictures need).

``eval.json`` has the layout of every evaluator's (``bvae eval``, a sweep's ``evaluate``):
``values`` (flat: name -> number or bool, what the sweep's aggregate and index read), ``tables``
(the count confusion matrix and the slot-probe matrix), ``settings``, ``run``, ``step``, ``time``
and ``wall_seconds``.
"""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from betavae.config import RunConfig
from betavae.data.dsprites import FACTOR_NAMES
from betavae.experiments.rundir import read_meta
from betavae.io import atomic_write_json
from betavae.metrics.vsa_images import (
    bce_per_image,
    binarise,
    count_objects,
    count_report,
    iou,
    match,
)
from betavae.models.factor_classifier import FactorClassifier
from betavae.models.feature_vae import FeatureVAE
from betavae.objectives.vsa import psd_decode, swap_rows
from betavae.train.tasks.vsa import to_tensors
from betavae.vsa.classifier import correct, get_classifier, trusted
from betavae.vsa.load import load_run
from betavae.vsa.settings import EvalSettings
from betavae.vsa.study import verdicts

#: values of a stage's measures that are matrices (written under ``tables`` in eval.json)
TABLES = ("vsa.scene.count_confusion", "vsa.probe.matrix")


def _np(t: torch.Tensor) -> np.ndarray:
    return t.detach().cpu().numpy()


def _device(model: torch.nn.Module) -> torch.device:
    return next(model.parameters()).device


def kl_per_image(mu: torch.Tensor, logvar: torch.Tensor) -> np.ndarray:
    """KL(N(μ, σ²) ‖ N(0, I)) of each image's encoding, summed over its 5·d dimensions (nats):
    μ, log σ² (N, 5, d) -> (N,). The objective's ``kl`` term is its batch mean (times the number
    of images per item)."""
    return _np((0.5 * (mu.pow(2) + logvar.exp() - 1.0 - logvar)).flatten(1).sum(1))


def empty(binary: np.ndarray) -> np.ndarray:
    """Whether each binarised output (N, …) has no pixel on: (N,) bool."""
    return ~np.asarray(binary, bool).reshape(len(binary), -1).any(1)


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
def eval_pd(model: FeatureVAE, clf: FactorClassifier | None, cfg: RunConfig, ev: EvalSettings
            ) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    acc: dict[str, list[np.ndarray]] = {k: [] for k in ("dbce", "diou", "sbce", "siou", "empty", "kl", "ok", "k",
                                                         "cs", "cc")}
    pics: dict[str, np.ndarray] = {}
    for batch in _batches(cfg, ev):
        b = to_tensors(batch, _device(model))
        mu1, lv1 = model.encode(b["x1"])
        mu2, lv2 = model.encode(b["x2"])
        acc["kl"].append(kl_per_image(torch.cat([mu1, mu2]), torch.cat([lv1, lv2])))
        direct = _np(model.decode(model.object(torch.cat([mu1, mu2]))))
        t1, t2 = swap_rows(mu1, mu2, b["k"])
        swapped = _np(model.decode(model.object(torch.cat([t1, t2]))))  # → x², → x¹
        targets = np.concatenate([batch.x2, batch.x1])
        acc["dbce"].append(bce_per_image(direct, np.concatenate([batch.x1, batch.x2])))
        acc["diou"].append(iou(binarise(direct), np.concatenate([batch.x1, batch.x2])))
        acc["sbce"].append(bce_per_image(swapped, targets))
        acc["siou"].append(iou(binarise(swapped), targets))
        acc["empty"].append(empty(binarise(swapped)))
        if clf is not None:
            acc["ok"].append(correct(clf.predict(binarise(swapped)), np.concatenate([batch.c2, batch.c1])))
        acc["k"].append(np.concatenate([batch.k, batch.k]))
        cs, cc = _cosines(mu1, mu2, b["k"])
        acc["cs"].append(cs)
        acc["cc"].append(cc)
        if not pics:
            pics = {"source": batch.x1, "target": batch.x2, "result": swapped[: len(batch.x1)], "k": batch.k}
    cat = {k: np.concatenate(v) for k, v in acc.items() if v}
    out = {"vsa.direct.bce": cat["dbce"].mean(), "vsa.direct.iou": cat["diou"].mean(),
           "vsa.swap.bce": cat["sbce"].mean(), "vsa.swap.iou": cat["siou"].mean(),
           "vsa.swap.empty": cat["empty"].mean(), "vsa.latent.kl": cat["kl"].mean(),
           "vsa.latent.cos_shared": cat["cs"].mean(), "vsa.latent.cos_changed": cat["cc"].mean()}
    if clf is not None:
        out.update(swap_accuracy(cat["ok"], cat["k"], "vsa.swap_acc"))
    return out, pics


@torch.no_grad()
def eval_sd(model: FeatureVAE, clf: FactorClassifier | None, cfg: RunConfig, ev: EvalSettings
            ) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    bces, ious, counts, ns, obj_iou = [], [], [], [], []
    pics: dict[str, np.ndarray] = {}
    for batch in _batches(cfg, ev):
        b = to_tensors(batch, _device(model))
        present = b["present"]
        mu, _ = model.encode(b["objects"][present])
        o = model.object(mu)
        objects = torch.zeros(*present.shape, model.dim, device=o.device)
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
def eval_psd(model: FeatureVAE, clf: FactorClassifier | None, cfg: RunConfig, ev: EvalSettings
             ) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    acc: dict[str, list[np.ndarray]] = {k: [] for k in ("dbce", "diou", "sbce", "siou", "empty", "kl", "count", "okc",
                                                         "oko", "k", "unbind")}
    pics: dict[str, np.ndarray] = {}
    a_min = ev.a_min
    for batch in _batches(cfg, ev):
        b = to_tensors(batch, _device(model))
        mu, logvar = model.encode(torch.cat([b["a"], b["a2"], b["b"]]))
        acc["kl"].append(kl_per_image(mu, logvar))
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
        acc["empty"].append(empty(binarise(swapped)))
        acc["count"].append(count_objects(binarise(swapped), a_min))
        changed = (np.concatenate([batch.a2, batch.a]), np.concatenate([batch.fa2, batch.fa]))
        other = (np.concatenate([batch.b, batch.b]), np.concatenate([batch.fb, batch.fb]))
        if clf is not None:
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
        "vsa.scene.empty": cat["empty"].mean(), "vsa.latent.kl": cat["kl"].mean(),
        **count_report(cat["count"], np.full(len(cat["count"]), 2), "vsa.scene")}
    if clf is not None:
        out["vsa.swap_acc.other_full"] = cat["oko"].mean()
        out.update(swap_accuracy(cat["okc"], np.maximum(cat["k"], 0), "vsa.swap_acc"))
    if "unbind" in cat:
        out["vsa.unbind.iou"] = cat["unbind"].mean()
    return out, pics


EVALUATORS = {"pd": eval_pd, "sd": eval_sd, "psd": eval_psd}


def _plain(v: Any) -> Any:
    return float(v) if isinstance(v, np.floating) else v


def evaluate_run(run_dir: str | Path, settings: EvalSettings | None = None, figures: bool = True,
                 progress=None) -> dict[str, Any]:
    """Evaluate a run folder (its latest weights) with ``settings`` (default: the spec's);
    writes ``eval.json`` (layout in the module docstring) and, with ``figures``, ``swap.png``.

    The slot probe and recombination run when ``settings.probe_images`` / ``.recombination`` > 0.
    ``vsa.good`` is the study's rule (:func:`betavae.vsa.study.is_good`; absent for SD runs and when
    the classifier is not trusted: its swap accuracies are still written, beside
    ``vsa.classifier.trusted``),
    ``vsa.collapsed`` the collapse rule (:func:`betavae.vsa.study.is_collapsed`).
    """
    from betavae.vsa.diagnostics import recombination, slot_probe

    run_dir = Path(run_dir)
    t0 = time.perf_counter()
    ev = settings or EvalSettings()
    cfg, model = load_run(run_dir)
    clf, ceiling = get_classifier(ev.classifier, cfg.data, progress)
    out, pics = EVALUATORS[cfg.data.stage](model, clf, cfg, ev)
    out.update(ceiling)
    out["vsa.classifier.trusted"] = trusted(ceiling)
    out.update(slot_probe(model, cfg, ev))
    out.update(recombination(model, clf, cfg, ev))
    out.update(verdicts(cfg.data.stage, out, ev, out["vsa.classifier.trusted"]))
    result = {"values": {k: _plain(v) for k, v in out.items() if k not in TABLES},
              "tables": {k: out[k] for k in TABLES if k in out},
              "settings": ev.model_dump(mode="json"), "run": run_dir.name, "step": read_meta(run_dir).get("step"),
              "time": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
              "wall_seconds": time.perf_counter() - t0}
    atomic_write_json(run_dir / "eval.json", result)
    if figures:
        from betavae.vsa.figures import exchange_figure

        exchange_figure(pics, run_dir / "swap.png", cfg.data.stage)
    return result


def pictures(cfg: RunConfig, model: FeatureVAE, n: int = 6) -> dict[str, np.ndarray]:
    """The first ``n`` test items and what the model makes of them (no classifier), for
    :func:`betavae.vsa.figures.exchange_figure`."""
    return EVALUATORS[cfg.data.stage](model, None, cfg, EvalSettings(n_items=n, batch_size=n))[1]
