"""Issue #23's questions of the cross-modal study, with intervals, from its sweep directories.

Usage: python docs/studies/crossmodal_findings.py STUDY_DIR [--phonemes PHONEMES_DIR] [--before BEFORE_DIR]
       [--out docs/studies/crossmodal]

STUDY_DIR is a finished ``bvae sweep sweep_crossmodal_study`` folder; PHONEMES_DIR a finished
``bvae sweep sweep_crossmodal_phonemes`` folder. Writes OUT/findings.md:

- Table 2 as paired comparisons: every β strategy's ensemble of seeds 0–2 starts from the same
  weights and sees the same batches (docs/crossmodal.md, "The study as a sweep"), so strategies are
  compared by seed: the mean per-seed difference of the final test accuracy (sampled z) and its
  95 % Student-t interval (n = 3, 2 degrees of freedom), against Fixed Increment (#2, the
  thesis's worst) and Gradual Ramp-Up (#6, the thesis's choice);
- the listener's ceiling: its word accuracies on the *real* test audio (the listener is fitted on
  training rows only), per split, mean ± s.d. over runs, with the chance levels;
- the `separate` variant's words with k-means tokens (strategy 6 of STUDY_DIR) against phoneme
  tokens (PHONEMES_DIR), per split, on the (held-out object, seed) pairs both have run:
  translation, the β-VAE's own reconstruction of the true audio latent and the real audio, mean
  [95 % t interval] over runs, their differences paired by (held-out object, seed), and the
  translation's latent distance against its mean-latent and linear controls;
- translation by variant on the symbol split (every strategy's runs): `joint` (the thesis's
  leak, spec F1) against `separate`, each against its mean-latent control;
- Table 4 by held-out object (compositional split): each variant's translation distance, its
  per-run difference to the mean-latent control and the word pair %, mean [95 % t interval] over
  seeds, beside the raw Seq2Seq baseline against its own mean control and the thesis's distance;
- with ``--before``: the same runs (same run ids) trained by an earlier code version, against
  STUDY_DIR's, by run: what the change between the versions did to the measures (the full-size
  study's strategies 1 and 2 before and after flushing denormal floats to zero).

and OUT/table2.png: each strategy minus #6, paired by seed with its interval, per variant, beside
the thesis's Table 2 differences (one run each, on the thesis's own features); OUT/table4.png:
Table 4 by held-out object, each variant's distance beside the thesis's and each model's
distance minus its own mean-latent control.

A partial sweep (a full-size study spread over sessions) gives partial tables: a strategy whose
reference (#2 or #6) has not run shows "not run"; differences pair only the seeds both have.
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict
from pathlib import Path

import numpy as np
import yaml
from scipy import stats

from betavae.crossmodal.tables import CHOSEN, THESIS_T2, THESIS_T4
from betavae.data.audiovisual_vocab import object_index
from betavae.report.lessons import t_interval
from betavae.schedules import THESIS_STRATEGIES
from betavae.viz.figures import pyplot, save_small

WORDS = ("object", "action", "pair")


def read_rows(sweep_dir: Path) -> list[dict]:
    """One dict per finished run: its config (flattened keys used here) and eval.json values."""
    rows = []
    for run in sorted(p for p in sweep_dir.iterdir() if (p / "eval.json").is_file()):
        config = yaml.safe_load((run / "config.yaml").read_text())
        values = json.loads((run / "eval.json").read_text())["values"]
        rows.append({"run": run.name, "seed": config["seed"], "protocol": config["data"]["protocol"],
                     "held_out": config["data"].get("held_out"), "variant": config["model"]["variant"],
                     "strategy": config["objective"]["strategy"], "epochs": config["train"]["epochs"],
                     "values": values})
    return rows


def interval_text(values: list[float], digits: int = 2) -> str:
    mean, low, high = t_interval(values)
    if low is None:
        return f"{mean:.{digits}f}"
    return f"{mean:.{digits}f} [{low:.{digits}f}, {high:.{digits}f}]"


def accuracies(rows: list[dict]) -> dict[str, dict[int, dict[int, float]]]:
    """Final test accuracy (sampled z) of the symbol split's runs: variant -> strategy -> seed -> %."""
    acc: dict[str, dict[int, dict[int, float]]] = defaultdict(lambda: defaultdict(dict))
    for r in rows:
        if r["protocol"] == "symbol":
            acc[r["variant"]][r["strategy"]][r["seed"]] = r["values"]["test_acc_sampled"]
    return acc


def paired(by_strategy: dict[int, dict[int, float]], k: int, ref: int) -> list[float]:
    """Strategy ``k`` minus strategy ``ref``, seed by seed, over the seeds both have run."""
    return [by_strategy[k][s] - by_strategy[ref][s] for s in sorted(by_strategy[k]) if s in by_strategy.get(ref, {})]


def last_beta(rows: list[dict]) -> dict[int, float]:
    """β of each strategy's last training epoch (0-based epoch ``epochs − 1``), from its formula."""
    return {r["strategy"]: float(THESIS_STRATEGIES[r["strategy"]][1](r["epochs"] - 1)) for r in rows}


def table2(rows: list[dict]) -> list[str]:
    lines = ["## Table 2 by seed: final test accuracy (sampled z), paired differences", "",
             "Mean per-seed difference [95 % t interval, n = 3]; an interval that excludes 0 distinguishes "
             "the two strategies; *last β* is the strategy's β in the last epoch. Figure: [table2.png](table2.png).", ""]
    beta = last_beta(rows)
    for variant, by_strategy in sorted(accuracies(rows).items()):
        lines += [f"### `{variant}`", "", "| strategy | last β | accuracy, mean [95 %] | minus #2 (Fixed Increment) | minus #6 (Gradual Ramp-Up) |",
                  "|---|---|---|---|---|"]
        for k in sorted(by_strategy):
            cells = [f"{beta[k]:.3f}", interval_text([by_strategy[k][s] for s in sorted(by_strategy[k])])]
            for ref in (2, 6):
                if k == ref:
                    cells.append("—")
                elif ref not in by_strategy:
                    cells.append("not run")
                else:
                    cells.append(interval_text(paired(by_strategy, k, ref)))
            lines.append(f"| {k} | " + " | ".join(cells) + " |")
        lines.append("")
        if set(by_strategy) == set(THESIS_T2):
            lines += [rank_agreement_text(by_strategy), ""]
    return lines


def rank_agreement(by_strategy: dict[int, dict[int, float]], leave_out: tuple[int, ...] = ()) -> tuple[float, float]:
    """Spearman's ρ (and its two-sided p) between the strategies' mean accuracies here and the
    thesis's Table 2 test accuracies, over the strategies both have, less ``leave_out``."""
    ks = [k for k in sorted(by_strategy) if k in THESIS_T2 and k not in leave_out]
    result = stats.spearmanr([np.mean(list(by_strategy[k].values())) for k in ks], [THESIS_T2[k][2] for k in ks])
    return float(result.statistic), float(result.pvalue)


def rank_agreement_text(by_strategy: dict[int, dict[int, float]]) -> str:
    rho, p = rank_agreement(by_strategy)
    rho2, p2 = rank_agreement(by_strategy, leave_out=(2,))
    return (f"Order against the thesis's Table 2 (test accuracy, one run per strategy): Spearman ρ = {rho:.2f} "
            f"(p = {p:.3f}, 9 strategies); without Fixed Increment (#2, the worst in both) ρ = {rho2:.2f} (p = {p2:.3f}, 8).")


def table2_figure(rows: list[dict], out: Path, ref: int = CHOSEN) -> Path | None:
    """One panel per variant: each strategy's accuracy minus strategy ``ref``'s, paired by seed (mean
    and 95 % t interval), beside the thesis's Table 2 difference (one run, the thesis's features).
    None when no variant has run ``ref``."""
    acc = {v: b for v, b in sorted(accuracies(rows).items()) if ref in b}
    if not acc:
        return None
    plt = pyplot()
    fig, axes = plt.subplots(1, len(acc), figsize=(5.2 * len(acc), 3.6), squeeze=False, sharey=True)
    for ax, (variant, by_strategy) in zip(axes[0], acc.items(), strict=True):
        thesis = [THESIS_T2[k][2] - THESIS_T2[ref][2] for k in THESIS_T2]
        ax.plot(list(THESIS_T2), thesis, "D", mfc="none", color="0.5", label="thesis (one run)")
        for k in sorted(by_strategy):
            mean, low, high = t_interval(paired(by_strategy, k, ref)) if k != ref else (0.0, None, None)
            yerr = None if low is None else [[mean - low], [high - mean]]
            ax.errorbar([k], [mean], yerr=yerr, fmt="o", color="C0", capsize=3,
                        label="here: mean, 95 % t (3 seeds)" if k == min(by_strategy) else None)
        ax.axhline(0.0, color="0.8", lw=0.8, zorder=0)
        ax.set_xticks(list(THESIS_T2))
        ax.set_xlabel("β strategy")
        ax.set_title(f"{variant}: test accuracy minus #{ref} (points)", fontsize=10)
    axes[0][0].set_ylabel("accuracy difference (points)")
    axes[0][-1].legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    return save_small(fig, out)


def listener(rows: list[dict]) -> list[str]:
    lines = ["## The listener's ceiling: words named from the real test audio", "",
             "The listener is fitted on training rows only; uniform guessing names 20 % of objects and actions and 4 % "
             "of pairs (5 objects × 5 actions).", "",
             "| split | runs | object % | action % | pair % |", "|---|---|---|---|---|"]
    for protocol in ("symbol", "compositional"):
        got = [r["values"] for r in rows if r["protocol"] == protocol and r["variant"] == "separate"]
        if got:
            cells = [f"{np.mean([v[f'words_real_audio.{w}'] for v in got]):.1f} ± "
                     f"{np.std([v[f'words_real_audio.{w}'] for v in got], ddof=1):.1f}" for w in WORDS]
            lines.append(f"| {protocol} | {len(got)} | " + " | ".join(cells) + " |")
    return lines + [""]


def token_runs(rows: list[dict], protocol: str, splits: set | None = None) -> list[dict]:
    """The runs that compare tokenisations: `separate`, strategy 6, on ``protocol``; with ``splits``,
    only those whose (held-out object, seed) is in it."""
    return [r for r in rows if r["protocol"] == protocol and r["variant"] == "separate" and r["strategy"] == 6
            and (splits is None or (r["held_out"], r["seed"]) in splits)]


def shared_splits(study: list[dict], phonemes: list[dict], protocol: str) -> set | None:
    """The (held-out object, seed) pairs both tokenisations have run on ``protocol`` (None without
    phoneme runs): a partial sweep compares the two on the same splits only."""
    if not phonemes:
        return None
    return ({(r["held_out"], r["seed"]) for r in token_runs(study, protocol)}
            & {(r["held_out"], r["seed"]) for r in token_runs(phonemes, protocol)})


def tokens(study: list[dict], phonemes: list[dict]) -> list[str]:
    lines = ["## k-means tokens against phoneme tokens (`separate`, strategy 6)", "",
             "Word accuracies (%), mean [95 % t interval] over the runs on the splits (held-out object, seed) both "
             "tokenisations have run (symbol split: 3 seeds; compositional: up to 5 held-out objects × 3 seeds).", "",
             "| split | tokens | runs | translation object / action / pair | β-VAE reconstruction of the true audio latent, pair | real audio object / action / pair |",
             "|---|---|---|---|---|---|"]
    for protocol in ("symbol", "compositional"):
        splits = shared_splits(study, phonemes, protocol)
        for name, rows in (("k-means", study), ("phonemes", phonemes)):
            got = [r["values"] for r in token_runs(rows, protocol, splits)]
            if not got:
                continue

            def cell(prefix: str, ws: tuple[str, ...] = WORDS, got=got) -> str:
                return " / ".join(interval_text([v[f"{prefix}.{w}"] for v in got], 1) for w in ws)

            lines.append(f"| {protocol} | {name} | {len(got)} | {cell('words')} | "
                         f"{cell('words_audio_autoencoded', ('pair',))} | {cell('words_real_audio')} |")
    return lines + [""] + token_differences(study, phonemes) + distances(study, phonemes)


#: (column, eval.json key) of the paired phoneme − k-means differences
TOKEN_DIFFERENCES = (("real audio pair %", "words_real_audio.pair"),
                     ("β-VAE reconstruction pair %", "words_audio_autoencoded.pair"),
                     ("translation pair %", "words.pair"))


def token_differences(study: list[dict], phonemes: list[dict]) -> list[str]:
    """Phonemes minus k-means, paired by split (held-out object, seed): the same held-out rows and
    seed, heard through the two tokenisations. Mean [95 % t interval] of the per-split differences,
    and of the two translations' differences to their own mean-latent controls."""
    lines = ["## Phonemes minus k-means, paired by split", "",
             "Per split (held-out object, seed) both tokenisations have run: the phoneme run's value minus the "
             "k-means run's, mean [95 % t interval] over splits.", "",
             "| split | pairs | " + " | ".join(name for name, _ in TOKEN_DIFFERENCES) + " | translation minus mean |",
             "|---|---|" + "---|" * (len(TOKEN_DIFFERENCES) + 1)]
    for protocol in ("symbol", "compositional"):
        splits = shared_splits(study, phonemes, protocol)
        if not splits:
            continue
        kmeans, phon = ({(r["held_out"], r["seed"]): r["values"] for r in token_runs(rows, protocol, splits)}
                        for rows in (study, phonemes))
        keys = sorted(splits, key=lambda k: (str(k[0]), k[1]))
        cells = [interval_text([phon[k][key] - kmeans[k][key] for k in keys], 1) for _, key in TOKEN_DIFFERENCES]

        def above_mean(v: dict) -> float:
            return v["translation.cos_dist"] - v["controls.mean.cos_dist"]

        cells.append(interval_text([above_mean(phon[k]) - above_mean(kmeans[k]) for k in keys]))
        lines.append(f"| {protocol} | {len(keys)} | " + " | ".join(cells) + " |")
    return lines + [""]


def distances(study: list[dict], phonemes: list[dict]) -> list[str]:
    """The translation's latent distance against its controls on the same latents, per run (paired)."""
    lines = ["## Translation against its controls (`separate`, strategy 6)", "",
             "Latent distance 100·(1 − cos) between the translated and the true audio latent of the test rows, "
             "mean [95 % t interval] over runs; *minus mean* is the per-run difference to the mean-latent "
             "control (the training rows' mean audio latent): below 0 means better than predicting the mean.", "",
             "| split | tokens | runs | translation | mean-latent control | linear control | translation minus mean |",
             "|---|---|---|---|---|---|---|"]
    for protocol in ("symbol", "compositional"):
        splits = shared_splits(study, phonemes, protocol)
        for name, rows in (("k-means", study), ("phonemes", phonemes)):
            got = [r["values"] for r in token_runs(rows, protocol, splits)]
            if got:
                cells = [interval_text([v[key] for v in got]) for key in
                         ("translation.cos_dist", "controls.mean.cos_dist", "controls.linear.cos_dist")]
                cells.append(interval_text([v["translation.cos_dist"] - v["controls.mean.cos_dist"] for v in got]))
                lines.append(f"| {protocol} | {name} | {len(got)} | " + " | ".join(cells) + " |")
    return lines + [""]


def variants(rows: list[dict]) -> list[str]:
    """Translation by variant on the symbol split, over all its runs (every strategy and seed): the
    `joint` video latent reads the audio encoder too (spec flaw F1), so its translation should
    beat the mean-latent control where `separate`'s cannot."""
    lines = ["## Translation by variant (symbol split, every strategy)", "",
             "Latent distance 100·(1 − cos) of the translated to the true audio latent, mean [95 % t interval] over "
             "runs; *minus mean* is each run's difference to its mean-latent control; *pair %* the test rows whose "
             "decoded translation the listener names right.", "",
             "| variant | runs | translation | mean-latent control | translation minus mean | pair % |",
             "|---|---|---|---|---|---|"]
    for variant in ("joint", "separate"):
        got = [r["values"] for r in rows if r["protocol"] == "symbol" and r["variant"] == variant]
        if got:
            cells = [interval_text([v[k] for v in got]) for k in ("translation.cos_dist", "controls.mean.cos_dist")]
            cells.append(interval_text([v["translation.cos_dist"] - v["controls.mean.cos_dist"] for v in got]))
            cells.append(interval_text([v["words.pair"] for v in got], 1))
            lines.append(f"| {variant} | {len(got)} | " + " | ".join(cells) + " |")
    return lines + [""]


def table4(rows: list[dict]) -> list[str]:
    """Compositional generalisation by held-out object and over all of them: does a variant's
    translation of a never-seen (object, action) pair beat predicting the mean audio latent?"""
    comp = [r for r in rows if r["protocol"] == "compositional"]
    if not comp:
        return []
    lines = ["## Table 4 by held-out object (compositional split, strategy 6)", "",
             "All action clips of one object held out of training. Latent distance 100·(1 − cos) of the translated to "
             "the true audio latent of the held-out rows, mean [95 % t interval] over seeds; *minus mean* is each "
             "run's difference to its mean-latent control (below 0: better than predicting the mean); *pair %* the "
             "held-out rows whose decoded translation the listener names right. The raw Seq2Seq baseline translates "
             "the audio features (feature space, against its own mean control; one per held-out object and seed). "
             "*Thesis*: its β-VAE + S2S distance, one run.", "",
             "| held-out object | model | runs | translation | minus mean | pair % | thesis |",
             "|---|---|---|---|---|---|---|"]
    held_out = sorted({r["held_out"] for r in comp}, key=object_index)

    def row(label: str, model: str, got: list[dict], keys: tuple[str, str, str], thesis: str = "") -> str:
        translation, control, pair = keys
        cells = [interval_text([v[translation] for v in got]),
                 interval_text([v[translation] - v[control] for v in got]), interval_text([v[pair] for v in got], 1)]
        return f"| {label} | {model} | {len(got)} | " + " | ".join(cells) + f" | {thesis} |"

    groups = [(name, (name,)) for name in held_out] + ([("all", tuple(held_out))] if len(held_out) > 1 else [])
    for label, names in groups:
        thesis = f"{np.mean([THESIS_T4[object_index(n)][3] for n in names]):.2f}"
        for model, got, keys in table4_models([r for r in comp if r["held_out"] in names]):
            lines.append(row(label, model, got, keys, "" if model == "raw Seq2Seq" else thesis))
    return lines + [""]


#: eval.json keys of a translation's distance, its mean-latent control's and its word pair %:
#: the β-VAE + S2S translation's, and the raw Seq2Seq baseline's (feature space)
TRANSLATION_KEYS = ("translation.cos_dist", "controls.mean.cos_dist", "words.pair")
BASELINE_KEYS = ("baseline.translation.cos_dist", "baseline.mean_control.cos_dist", "baseline.words.pair")


def table4_models(at: list[dict]) -> list[tuple[str, list[dict], tuple[str, str, str]]]:
    """Table 4's models over the compositional runs ``at``: (label, the values of its runs, its
    keys) for each variant + S2S, and the raw Seq2Seq baseline read once per (held-out object,
    seed) although every run of that split carries it."""
    models = []
    for variant in ("joint", "separate"):
        got = [r["values"] for r in at if r["variant"] == variant]
        if got:
            models.append((f"`{variant}` + S2S", got, TRANSLATION_KEYS))
    once = {(r["held_out"], r["seed"]): r["values"] for r in at if BASELINE_KEYS[0] in r["values"]}
    if once:
        models.append(("raw Seq2Seq", list(once.values()), BASELINE_KEYS))
    return models


def table4_figure(rows: list[dict], out: Path) -> Path | None:
    """Table 4 by held-out object, two panels: (a) each variant's translation distance (mean and
    95 % t over seeds) beside the thesis's (one run); (b) each model's per-run distance minus its
    own mean-latent control (below 0: better than predicting the mean). None without
    compositional runs."""
    comp = [r for r in rows if r["protocol"] == "compositional"]
    if not comp:
        return None
    held_out = sorted({r["held_out"] for r in comp}, key=object_index)
    plt = pyplot()
    fig, (left, right) = plt.subplots(1, 2, figsize=(10.4, 4.0))
    left.plot(range(len(held_out)), [THESIS_T4[object_index(n)][3] for n in held_out], "D", mfc="none",
              color="0.5", label="thesis (one run)")
    for i, name in enumerate(held_out):
        for j, (model, got, (translation, control, _)) in enumerate(table4_models([r for r in comp if r["held_out"] == name])):
            x, style = i + 0.15 * (j - 1), {"fmt": "o", "color": f"C{j}", "capsize": 3,
                                            "label": model.replace("`", "") if i == 0 else None}
            for ax, values in ((left, [v[translation] for v in got]),
                               (right, [v[translation] - v[control] for v in got])):
                if ax is left and model == "raw Seq2Seq":
                    continue  # feature space: its distance is not on the latents' scale
                mean, low, high = t_interval(values) if len(values) > 1 else (values[0], values[0], values[0])
                ax.errorbar([x], [mean], yerr=[[mean - low], [high - mean]], **style)
    for ax, title in ((left, "translation distance, 100·(1 − cos)"), (right, "translation minus its mean control")):
        ax.set_xticks(range(len(held_out)), held_out)
        ax.set_xlabel("held-out object")
        ax.set_title(title, fontsize=10)
    right.axhline(0.0, color="0.8", lw=0.8, zorder=0)
    for ax in (left, right):
        ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=3, frameon=False)
    fig.tight_layout()
    return save_small(fig, out)


#: the measures compared between two code versions of the same runs (``--before``)
VERSION_KEYS = ("test_acc_sampled", "words_real_audio.pair", "words_audio_autoencoded.pair",
                "translation.cos_dist", "controls.mean.cos_dist")


def versions(before: list[dict], after: list[dict]) -> list[str]:
    """The runs both folders hold (same run id): each measure before, after, and after − before by
    run, mean [95 % t interval]."""
    earlier = {r["run"]: r["values"] for r in before}
    pairs = [(earlier[r["run"]], r["values"]) for r in after if r["run"] in earlier]
    lines = ["## The same runs trained by two code versions", "",
             f"{len(pairs)} runs in both folders (same run id: same configuration and seed); mean [95 % t "
             "interval] over runs, and the per-run difference.", "",
             "| measure | before | after | after minus before |", "|---|---|---|---|"]
    if not pairs:
        return lines[:2] + ["No run is in both folders.", ""]
    for key in VERSION_KEYS:
        old, new = [b[key] for b, _ in pairs], [a[key] for _, a in pairs]
        lines.append(f"| {key} | {interval_text(old)} | {interval_text(new)} | "
                     f"{interval_text([n - o for o, n in zip(old, new, strict=True)])} |")
    return lines + [""]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("study_dir", type=Path)
    ap.add_argument("--phonemes", type=Path)
    ap.add_argument("--before", type=Path, help="the same runs trained by an earlier code version")
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "crossmodal")
    args = ap.parse_args()
    study = read_rows(args.study_dir)
    phonemes = read_rows(args.phonemes) if args.phonemes else []
    lines = [f"# Cross-modal study: {len(study)} runs" + (f", {len(phonemes)} phoneme-token runs" if phonemes else ""), ""]
    lines += table2(study) + listener(study) + variants(study) + table4(study) + (tokens(study, phonemes) if phonemes else [])
    lines += versions(read_rows(args.before), study) if args.before else []
    args.out.mkdir(parents=True, exist_ok=True)
    table2_figure(study, args.out / "table2.png")
    table4_figure(study, args.out / "table4.png")
    (args.out / "findings.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
