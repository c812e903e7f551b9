"""The study's standalone HTML report (Jinja2, autoescaped): settings, figures and tables.

``write_report(folder)`` reads ``study.json``, ``measures.json``, ``protocols.json`` and the
``history_*.npz`` files a study wrote, draws the figures of :mod:`betavae.multimodal.figures`
and writes ``report.html`` next to them; it can be rerun on a finished study folder.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from betavae.errors import BetavaeError
from betavae.io import atomic_write_text
from betavae.multimodal.figures import baseline_figure, measures_figure, training_figure
from betavae.multimodal.summary import WINDOWS, modalities_in, schedules_in, window_means
from betavae.report.render import fmt

TEMPLATE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Multimodal study: {{ title }}</title>
<style>body{font-family:sans-serif;margin:2em;max-width:1400px}table{border-collapse:collapse;margin:1em 0}
td,th{border:1px solid #ccc;padding:2px 6px;font-size:13px;text-align:right}th{background:#eee}
td:first-child,th:first-child{text-align:left}img{max-width:100%}</style></head><body>
<h1>Multimodal study: {{ title }}</h1>
<p>Data: {{ meta.data_source }}; {{ meta.n_eval_points }} evaluation points; {{ seeds|length }} seeds
({{ seeds|join(", ") }}); {{ epochs }} epochs; precision {{ precision }}. Measures in nats
(Langer et al. 2024); the model is the multimodal VAE of Zambelli et al. (2020).</p>
<h2>Reconstructed choices</h2>
<table><tr><th>parameter</th><th>value</th></tr>
{% for k, v in choices.items() %}<tr><td>{{ k }}</td><td>{{ v }}</td></tr>{% endfor %}</table>
<h2>Training: prediction error and loss terms</h2><img src="figures/training.png" alt="training curves">
<h2>Baseline (everything muted)</h2><img src="figures/baseline.png" alt="baseline">
<h2>Measures per modality and schedule ({{ window }} window)</h2><img src="figures/measures.png" alt="measures">
{% for wname, table in overall.items() %}<h2>{{ wname }} window (epochs {{ bounds[wname] }}), mean ± std over seeds</h2>
<table><tr><th>schedule</th>{% for c in overall_cols %}<th>{{ c }}</th>{% endfor %}</tr>
{% for s in schedules %}<tr><td>{{ s }}</td>{% for c in overall_cols %}<td>{{ table[s][c] }}</td>{% endfor %}</tr>{% endfor %}</table>
{% endfor %}<h2>Measures per modality ({{ window }} window)</h2>
{% for measure in measure_names %}<h3>{{ measure }}</h3>
<table><tr><th>schedule</th>{% for m in modalities %}<th>{{ m }}</th>{% endfor %}</tr>
{% for s in schedules %}<tr><td>{{ s }}</td>{% for m in modalities %}<td>{{ per_mod[measure][s][m] }}</td>{% endfor %}</tr>{% endfor %}</table>
{% endfor %}
<h2>Test protocols after training (mean over seeds)</h2>
<table><tr><th>metric</th>{% for s in schedules %}<th>{{ s }}</th>{% endfor %}</tr>
{% for k in protocol_keys %}<tr><td>{{ k }}</td>{% for s in schedules %}<td>{{ protocols[s][k] }}</td>{% endfor %}</tr>{% endfor %}</table>
</body></html>
"""

OVERALL = ("prediction_error", "train_recon", "train_kl", "train_loss", "baseline_all")
MEASURES = ("sme_mod", "sme_all", "lop_mod", "lop_all", "baseline_mod")


def _cell(stats: dict | None) -> str:
    return "—" if stats is None else f"{fmt(stats['mean'], 4)} ± {fmt(stats['std'], 2)}"


def load_histories(folder: Path, schedules: list[str]) -> dict[str, dict[str, np.ndarray]]:
    out = {}
    for s in schedules:
        with np.load(folder / f"history_{s}.npz", allow_pickle=False) as z:
            out[s] = {k: z[k] for k in z.files}
    return out


def write_report(folder: Path, window: str = "final") -> Path:
    """Draw the figures and write ``folder/report.html``; returns its path."""
    import jinja2

    folder = Path(folder)
    try:
        meta = json.loads((folder / "study.json").read_text())
        records = json.loads((folder / "measures.json").read_text())
        protocols = json.loads((folder / "protocols.json").read_text())
    except FileNotFoundError as exc:
        raise BetavaeError(f"{folder} is not a finished study folder: {exc.filename} is missing") from None
    cfg = meta["config"]
    epochs = cfg["train"]["epochs"]
    scheds, mods = schedules_in(records), modalities_in(records)
    training_figure(records, load_histories(folder, scheds), folder / "figures" / "training.png")
    baseline_figure(records, folder / "figures" / "baseline.png")
    measures_figure(records, epochs, folder / "figures" / "measures.png", window)
    overall = {}
    for wname in WINDOWS:
        t = window_means(records, epochs, wname)
        overall[wname] = {s: {c: _cell(t.get((s, c, "all"))) for c in OVERALL} for s in scheds}
    bounds = {w: f"{lo * epochs:g}–{min(hi, 1.0) * epochs:g}" for w, (lo, hi) in WINDOWS.items()}
    table = window_means(records, epochs, window)
    per_mod = {m: {s: {mod: _cell(table.get((s, m, mod))) for mod in mods} for s in scheds} for m in MEASURES}
    pkeys = [k for k in (protocols[0] if protocols else {}) if k not in ("schedule", "seed")
             and np.isfinite([p[k] for p in protocols]).any()]
    prot = {s: {k: fmt(float(np.nanmean([p[k] for p in protocols if p["schedule"] == s])), 4) for k in pkeys}
            for s in scheds}
    env = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined)
    html = env.from_string(TEMPLATE).render(
        title=", ".join(scheds), meta=meta, seeds=cfg["seeds"], epochs=epochs,
        precision=cfg["train"]["precision"], choices=cfg["measures"] | {"nll_constant": cfg["train"]["nll_constant"],
                                                                         "time_scale": cfg["time_scale"] or "epochs/80000"},
        window=window, bounds=bounds, schedules=scheds, modalities=mods, overall_cols=OVERALL, overall=overall,
        measure_names=MEASURES, per_mod=per_mod, protocol_keys=pkeys, protocols=prot)
    path = folder / "report.html"
    atomic_write_text(path, html)
    return path
