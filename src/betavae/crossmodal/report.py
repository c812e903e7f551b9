"""The study's Markdown report: Tables 2, 3 and 4 of Bangarwaa (2025) recomputed beside the thesis.

``write_report(folder)`` reads ``study.json`` and ``units/*.json`` and writes ``report.md``; it
works on a partial study (missing units are left out and listed) and can be rerun at any time.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from betavae.crossmodal.study import load_units
from betavae.crossmodal.vocab import ACTIONS, OBJECTS
from betavae.errors import BetavaeError
from betavae.io import atomic_write_text
from betavae.schedules import THESIS_STRATEGIES

#: Table 2 of the thesis: strategy -> (train, val, test acc, test cos. dist.)
THESIS_T2 = {1: (71.59, 71.56, 72.76, 27.24), 2: (68.07, 68.06, 68.34, 31.66), 3: (72.89, 72.84, 74.15, 25.85),
             4: (71.60, 71.57, 72.70, 27.30), 5: (73.22, 73.16, 74.44, 25.56), 6: (73.38, 73.31, 74.55, 25.45),
             7: (73.43, 73.37, 74.45, 25.55), 8: (71.80, 71.76, 72.57, 27.43), 9: (72.22, 72.17, 73.09, 26.91)}
#: Table 3: test cosine distance (baseline copied from another study, F3)
THESIS_T3 = {"baseline": 50.12, "beta_vae_s2s": 0.17}
#: Table 4: held-out object -> (baseline loss, baseline dist., β-VAE+S2S loss, β-VAE+S2S dist.)
THESIS_T4 = {0: (0.73, 59.81, 0.0016, 1.90), 1: (0.80, 66.28, 0.0040, 3.23), 2: (0.73, 59.59, 0.0029, 2.64),
             3: (0.86, 64.59, 0.026, 8.88), 4: (0.97, 61.47, 0.021, 6.01)}


def _ms(values: list[float], digits: int = 2) -> str:
    if not values:
        return "—"
    v = np.asarray(values, dtype=float)
    return f"{v.mean():.{digits}f}" if len(v) == 1 else f"{v.mean():.{digits}f} ± {v.std(ddof=1):.{digits}f}"


def _get(rec: dict, path: str) -> float:
    for key in path.split("."):
        rec = rec[key]
    return float(rec)


def _col(members: list[dict], path: str, digits: int = 2) -> str:
    return _ms([_get(m, path) for m in members], digits)


def table2(units: dict, variant: str) -> list[str]:
    unit = units.get(f"symbol_{variant}")
    if unit is None:
        return [f"*(unit symbol_{variant} not run)*"]
    rows = ["| β strategy | Train | Val | Test acc | Test cos. dist. | Test acc (z = μ) | thesis Train | thesis Val | thesis Test acc | thesis dist. |",
            "|---|---|---|---|---|---|---|---|---|---|"]
    for m in unit["members"]:
        s = m["strategy"]
        t = THESIS_T2[s]
        rows.append(f"| {s}. {THESIS_STRATEGIES[s][0]} | {m['train_acc_epochmean']:.2f} | {m['val_acc_epochmean']:.2f} | "
                    f"{m['test_acc_sampled']:.2f} | {m['test_cos_dist_sampled']:.2f} | {m['test_acc_mean']:.2f} | "
                    f"{t[0]:.2f} | {t[1]:.2f} | {t[2]:.2f} | {t[3]:.2f} |")
    return rows


def _translation_row(label: str, members: list[dict]) -> str:
    return (f"| {label} | {_col(members, 'translation.mse', 4)} | {_col(members, 'translation.cos_dist')} | "
            f"{_col(members, 'controls.mean.cos_dist')} | {_col(members, 'controls.linear.cos_dist')} | "
            f"{_col(members, 'controls.nearest.cos_dist')} | {_col(members, 'words.object', 1)} | "
            f"{_col(members, 'words.action', 1)} | {_col(members, 'words.pair', 1)} | "
            f"{_col(members, 'controls.mean.words.pair', 1)} | {_col(members, 'words_real_audio.pair', 1)} |")


HEADER_T34 = ["| model | latent MSE | latent cos. dist. | mean-latent control dist. | linear control dist. | 1-NN control dist. | "
              "words: object % | action % | pair % | pair % of mean control | pair % of real audio |",
              "|---|---|---|---|---|---|---|---|---|---|---|"]


def _baseline_row(label: str, members: list[dict]) -> str:
    return (f"| {label} (raw features, not latents) | {_col(members, 'translation.mse', 4)} | {_col(members, 'translation.cos_dist')} | "
            f"{_col(members, 'mean_control.cos_dist')} | — | — | {_col(members, 'words.object', 1)} | "
            f"{_col(members, 'words.action', 1)} | {_col(members, 'words.pair', 1)} | "
            f"{_col(members, 'mean_control.words.pair', 1)} | — |")


def table3(units: dict, variants: list[str], chosen: int) -> list[str]:
    rows = list(HEADER_T34)
    rows.append(f"| thesis: β-VAE + S2S | — | {THESIS_T3['beta_vae_s2s']} | — | — | — | — | — | — | — | — |")
    rows.append(f"| thesis: baseline (copied from another study; not comparable, F3) | — | {THESIS_T3['baseline']} | — | — | — | — | — | — | — | — |")
    for v in variants:
        unit = units.get(f"symbol_{v}")
        if unit:
            rows.append(_translation_row(f"β-VAE ({v}) + S2S", [m for m in unit["members"] if m["strategy"] == chosen]))
    if "symbol_baseline" in units:
        rows.append(_baseline_row("Seq2Seq baseline", units["symbol_baseline"]["members"]))
    return rows


def table4(units: dict, variants: list[str], objects: list[int]) -> list[str]:
    rows = [f"### Held-out object {k} ({OBJECTS[k]})\n\nthesis: baseline loss {THESIS_T4[k][0]}, dist. {THESIS_T4[k][1]} "
            f"(De Ponte's Table 12 in his object order, not comparable, F3); β-VAE + S2S loss {THESIS_T4[k][2]}, "
            f"dist. {THESIS_T4[k][3]}.\n" + "\n".join(HEADER_T34) for k in objects]
    out = []
    for k, head in zip(objects, rows, strict=True):
        out.append(head)
        for v in variants:
            unit = units.get(f"compositional{k}_{v}")
            if unit:
                out.append(_translation_row(f"β-VAE ({v}) + S2S", unit["members"]))
        if f"compositional{k}_baseline" in units:
            out.append(_baseline_row("Seq2Seq baseline", units[f"compositional{k}_baseline"]["members"]))
        out.append("")
    return out


def summary4(units: dict, variants: list[str], objects: list[int]) -> list[str]:
    """Table 4 averaged over held-out objects: one row per model."""
    rows = ["| model | latent cos. dist. (mean over objects) | word pair % on held-out pairs | object % | action % |",
            "|---|---|---|---|---|"]
    for v in [*variants, "baseline"]:
        ms = [m for k in objects for m in units.get(f"compositional{k}_{v}", {}).get("members", [])]
        if ms:
            rows.append(f"| {v} | {_col(ms, 'translation.cos_dist')} | {_col(ms, 'words.pair', 1)} | "
                        f"{_col(ms, 'words.object', 1)} | {_col(ms, 'words.action', 1)} |")
    t = np.mean([THESIS_T4[k][3] for k in objects])
    rows.append(f"| thesis β-VAE + S2S | {t:.2f} | — | — | — |")
    return rows


def retrieval_table(units: dict, variants: list[str], objects: list[int], chosen: int) -> list[str]:
    """§11b: retrieval accuracy of the translations (nearest training audio latent; nearest class
    centroid), symbol split (chosen strategy) and compositional split (all held-out objects)."""
    rows = ["| split | model | rule | pair (utterance) % | object % | action % | object % per true object | action % per true action |",
            "|---|---|---|---|---|---|---|---|"]
    for v in variants:
        for split, members in (
            ("symbol", [m for m in units.get(f"symbol_{v}", {}).get("members", []) if m["strategy"] == chosen]),
            ("compositional", [m for k in objects for m in units.get(f"compositional{k}_{v}", {}).get("members", [])]),
        ):
            members = [m for m in members if "retrieval" in m]
            for rule in ("nearest", "centroid"):
                if not members:
                    continue
                per = [m["retrieval"][rule] for m in members]
                by_obj = " / ".join(f"{n} {np.mean([p['per_object'][n] for p in per if n in p['per_object']]):.1f}"
                                    for n in OBJECTS if any(n in p["per_object"] for p in per))
                by_act = " / ".join(f"{n} {np.mean([p['per_action'][n] for p in per if n in p['per_action']]):.1f}"
                                    for n in ACTIONS if any(n in p["per_action"] for p in per))
                rows.append(f"| {split} | {v} | {rule} | {_col(members, f'retrieval.{rule}.pair', 1)} | "
                            f"{_col(members, f'retrieval.{rule}.object', 1)} | {_col(members, f'retrieval.{rule}.action', 1)} | "
                            f"{by_obj} | {by_act} |")
    return rows


def write_report(folder: str | Path) -> Path:
    folder = Path(folder)
    if not (folder / "study.json").is_file():
        raise BetavaeError(f"{folder} is not a cross-modal study folder (no study.json)")
    meta = json.loads((folder / "study.json").read_text())
    cfg, units = meta["config"], load_units(folder)
    variants, objects = cfg["variants"], cfg["objects"]
    data = cfg["data"]
    secs = {name: u["seconds"] for name, u in units.items()}
    lines = [
        "# Cross-modal translation study", "",
        f"Data: {meta['n_rows']} rows ({data['n_sets']} sets × {data['n_voices']} voices × 50), speech "
        f"`{meta['data_meta'].get('speech')}`, feature mode `{cfg['mode']}`, scaler fitted on `{cfg['scaler_fit']}`, "
        f"validation split `{cfg['val_split']}`. β-VAE {cfg['units']['vae']['epochs']} epochs, translator "
        f"{cfg['units']['translator']['epochs']} epochs (lr {cfg['units']['translator']['lr']}). Seeds {cfg['seeds']}. "
        f"Units finished: {len(units)}; training time {sum(secs.values()):.0f} s "
        f"(data {meta.get('data_seconds', 0):.0f} s); "
        + "; ".join(f"wall time {w['seconds']:.0f} s with {w['workers']} worker(s)" for w in meta.get("wall_seconds", []))
        + f". β-VAE speed level `{cfg['units']['vae'].get('speed', 'plain')}`.", "",
        "Accuracies are 100·mean cosine between flattened input and reconstruction (Table 2: sampled z, "
        "Train/Val averaged over all epochs as in the thesis; `z = μ`: the clean final-model value). "
        "Latent distances are 100·(1 − mean cos) between translated and true audio latents; word-level "
        "accuracies say how often a listener trained on real audio features names the right object, action "
        "and both (pair) from the *decoded* translation, on test rows only.", "",
    ]
    if cfg["units"]["translator"].get("decoder_input") == "target":
        lines += ["**Forensic run: `decoder_input=target` hands the true audio latent to the translator's "
                  "decoder (flaw F6). Its translation numbers are not evidence of translation.**", ""]
    for v in variants:
        lines += [f"## Table 2: β schedules, `{v}` variant (symbol-grounding split)", "", *table2(units, v), ""]
    lines += [f"## Table 3: symbol grounding (held-out groups), strategy {cfg['chosen']}", "",
              *table3(units, variants, cfg["chosen"]), "",
              "## Table 4: compositional generalisation (all action clips of one object held out)", "",
              *summary4(units, variants, objects), "", *table4(units, variants, objects),
              "## Retrieval accuracy (spec §11b)", "",
              "Is the training audio latent nearest to the translation (or the nearest (object, action) centroid "
              "of training audio latents) of the right utterance, object and action? Both protocols hold out whole "
              "(object, action) pairs, which have no training latent, so pair accuracy is 0 by construction and "
              "object/action are the informative columns.", "", *retrieval_table(units, variants, objects, cfg["chosen"]), "",
              "## Seconds per unit", "", "| unit | s |", "|---|---|",
              *[f"| {k} | {v:.0f} |" for k, v in secs.items()], ""]
    path = folder / "report.md"
    atomic_write_text(path, "\n".join(lines) + "\n")
    return path
