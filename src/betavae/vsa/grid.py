"""The source's experiment table, rerun (spec/dsprites-vsa.md §6).

Each of the 17 rows is trained for every seed through the one loop into an ordinary run folder
``<out>/row<NN>-<config hash>-s<seed>/`` (``bvae train``'s layout), evaluated (``eval.json``), and
labelled Good/Bad by the operational rule (PD: swap IoU ≥ 0.8 and changed-feature swap accuracy
≥ 0.8; PSD: scene IoU ≥ 0.8, count accuracy ≥ 0.9, changed-feature accuracy ≥ 0.7). An evaluated
run is not trained again and an interrupted one is resumed from its checkpoint, so an
interrupted grid continues where it stopped. ``grid.json`` and ``grid.md`` are rewritten after
every run.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Sequence
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import ValidationError

from betavae.bounds import NonNegative, Seed
from betavae.config import (
    RunConfig,
    Strict,
    build_config,
    describe_errors,
    parse_override,
    read_yaml,
    set_dotted,
)
from betavae.errors import BetavaeError
from betavae.experiments.rundir import read_meta, read_metrics
from betavae.io import atomic_write_json, atomic_write_text
from betavae.train.callbacks import Callback
from betavae.vsa.settings import eval_settings

Stage = Literal["pd", "sd", "psd"]
#: the data kind of each training stage
STAGE_DATA = {"pd": "paired_dsprites", "sd": "scene_dsprites", "psd": "paired_scene_dsprites"}


class GridRow(Strict):
    id: int
    stage: Stage
    image: Literal["bce", "mse"]
    reduction: Literal["sum", "mean"]
    kld: NonNegative
    cosine: NonNegative
    reported: Literal["Good", "Bad"]


class GridSpec(Strict):
    """``base``: a run config tree shared by every row; ``eval``: the evaluation settings
    (:class:`~betavae.vsa.settings.EvalSettings`); ``rows``: the table."""

    seeds: list[Seed]
    base: dict[str, Any] = {}
    eval: dict[str, Any] = {}
    rows: list[GridRow]


def load_grid(path: str | Path | None = None) -> GridSpec:
    """The grid file (default: the shipped ``configs/vsa_grid.yaml``)."""
    if path is None:
        path = Path(str(resources.files("betavae") / "configs" / "vsa_grid.yaml"))
    tree = read_yaml(path)
    try:
        return GridSpec.model_validate(tree)
    except ValidationError as exc:
        raise BetavaeError(f"grid file {path}: {describe_errors(exc, tree, GridSpec)}") from None


def parse_ids(text: str | None, known: list[int]) -> list[int]:
    """'1-5,14' -> [1, 2, 3, 4, 5, 14] (None: all); unknown ids are an error."""
    if not text:
        return list(known)
    ids: list[int] = []
    try:
        for part in text.split(","):
            lo, _, hi = part.partition("-")
            ids += list(range(int(lo), int(hi or lo) + 1))
    except ValueError:
        raise BetavaeError(f"cannot read {text!r}: give numbers and ranges such as 1-5,14") from None
    bad = sorted(set(ids) - set(known))
    if bad:
        raise BetavaeError(f"unknown grid row(s) {bad}; the grid has rows {min(known)}..{max(known)}")
    return ids


def split_overrides(overrides: Sequence[str]) -> tuple[list[str], list[str]]:
    """(run config overrides, evaluation overrides: those of keys below ``eval.``)."""
    run = [o for o in overrides if not o.startswith("eval.")]
    return run, [o for o in overrides if o.startswith("eval.")]


def row_config(spec: GridSpec, row: GridRow, seed: int, overrides: Sequence[str] = ()) -> RunConfig:
    """The run config of one row and seed: ``base``, the row's settings, then ``overrides``."""
    tree = copy.deepcopy(spec.base)
    for key, value in (("name", f"row{row.id:02d}"), ("seed", seed), ("data.kind", STAGE_DATA[row.stage]),
                       ("data.seed", seed), ("model.kind", "feature_vae"), ("objective.kind", "vsa"),
                       ("objective.image", row.image), ("objective.reduction", row.reduction),
                       ("objective.kld", row.kld), ("objective.cosine", row.cosine)):
        set_dotted(tree, key, value)
    for text in overrides:
        set_dotted(tree, *parse_override(text))
    return build_config(tree, source=f"grid row {row.id}, seed {seed}")


def run_grid(spec: GridSpec, out: str | Path, overrides: Sequence[str] = (), rows: list[int] | None = None,
             seeds: list[int] | None = None, callbacks: Sequence[Callback] = ()) -> list[dict[str, Any]]:
    """Train (or resume) and evaluate the selected rows × seeds; returns one record per run.

    ``overrides`` of keys below ``eval.`` change the evaluation settings, the others every run's config.
    """
    from betavae.experiments.run import resume, train
    from betavae.vsa.evaluate import evaluate_run

    out = Path(out)
    run_overrides, eval_overrides = split_overrides(overrides)
    ev = eval_settings(spec.eval, eval_overrides)
    by_id = {r.id: r for r in spec.rows}
    chosen = spec.rows if rows is None else [by_id[i] for i in dict.fromkeys(rows)]  # in the order asked
    seeds = spec.seeds if seeds is None else seeds
    configs = [row_config(spec, r, s, run_overrides) for r in chosen for s in seeds]  # validate all first
    for cfg in configs:
        run_dir = out / cfg.run_id()
        if not (run_dir / "eval.json").is_file():
            status = read_meta(run_dir).get("status")
            if status is None:
                train(cfg, out, callbacks)
            elif status != "finished":
                resume(run_dir, callbacks)
            evaluate_run(run_dir, ev, figures=True, diagnostics=ev.recombination > 0 or ev.probe_images > 0)
        write_outputs(spec, collect(spec, out), out)
    return collect(spec, out)


def collect(spec: GridSpec, out: Path) -> list[dict[str, Any]]:
    """Records of every evaluated run in the grid folder (also those of other invocations, so
    several processes can share one folder, e.g. one per seed)."""
    records = []
    for row in spec.rows:
        for run_dir in sorted(out.glob(f"row{row.id:02d}-*-s*")):
            if (run_dir / "eval.json").is_file() and read_meta(run_dir).get("status") == "finished":
                records.append(run_record(row, int(run_dir.name.rsplit("-s", 1)[1]), run_dir))
    return records


def training_rate(rows: list[dict[str, Any]]) -> float:
    """Steps per second over a run's logged rows (each row's rate covers the steps since the last)."""
    seconds, last = 0.0, 0
    for r in rows:
        seconds += (r["step"] - last) / r["steps_per_s"]
        last = r["step"]
    return last / seconds if seconds > 0 else float("nan")


def run_record(row: GridRow, seed: int, run_dir: Path) -> dict[str, Any]:
    metrics = json.loads((run_dir / "eval.json").read_text())
    logged = read_metrics(run_dir)
    return {"row": row.id, "seed": seed, "run": run_dir.name, "steps": logged[-1]["step"],
            "steps_per_s": training_rate(logged), "log_sigma": logged[-1].get("log_sigma"), **metrics}


COLUMNS = (("swap/scene IoU", "iou"), ("changed acc", "vsa.swap_acc.changed"),
           ("preserved acc", "vsa.swap_acc.preserved"), ("direct IoU", "direct"),
           ("count acc", "vsa.scene.count_acc"), ("cos shared", "vsa.latent.cos_shared"),
           ("recomb. full", "vsa.recombination.full"), ("log σ", "log_sigma"))


def _value(rec: dict[str, Any], key: str) -> float | None:
    if key == "iou":
        key = "vsa.swap.iou" if "vsa.swap.iou" in rec else "vsa.scene.iou"
    elif key == "direct":
        key = "vsa.direct.iou" if "vsa.direct.iou" in rec else "vsa.direct_scene.iou"
    v = rec.get(key)
    return None if v is None else float(v)


def summarise(spec: GridSpec, records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One line per row: settings, reported label, measured label (majority over seeds), means."""
    lines = []
    for row in spec.rows:
        recs = [r for r in records if r["row"] == row.id]
        if not recs:
            continue
        good = sum(bool(r["vsa.good"]) for r in recs)
        line: dict[str, Any] = {**row.model_dump(), "seeds": len(recs), "good_runs": good,
                                "measured": "Good" if good * 2 > len(recs) else "Bad", "steps": recs[0]["steps"]}
        for title, key in COLUMNS:
            vals = [v for v in (_value(r, key) for r in recs) if v is not None]
            line[title] = float(np.mean(vals)) if vals else None
            line[title + " sd"] = float(np.std(vals)) if len(vals) > 1 else None
        lines.append(line)
    return lines


def _fmt(v: Any, sd: Any) -> str:
    if v is None:
        return "–"
    return f"{v:.3f}" if sd is None else f"{v:.3f}±{sd:.3f}"


def table_markdown(lines: list[dict[str, Any]]) -> str:
    head = ["#", "model", "loss", "red.", "κ", "λ_cos", "reported", "measured", "good/seeds", "steps",
            *(t for t, _ in COLUMNS)]
    out = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for ln in lines:
        cells = [str(ln["id"]), ln["stage"].upper(), ln["image"].upper(), ln["reduction"], f"{ln['kld']:g}",
                 f"{ln['cosine']:g}", ln["reported"], ln["measured"], f"{ln['good_runs']}/{ln['seeds']}",
                 str(ln["steps"]), *(_fmt(ln[t], ln[t + " sd"]) for t, _ in COLUMNS)]
        out.append("| " + " | ".join(cells) + " |")
    return "\n".join(out) + "\n"


def write_outputs(spec: GridSpec, records: list[dict[str, Any]], out: Path) -> str:
    lines = summarise(spec, records)
    text = table_markdown(lines)
    atomic_write_json(out / "grid.json", {"records": records, "rows": lines})
    atomic_write_text(out / "grid.md", text)
    return text
