"""The source's experiment table, rerun (spec/dsprites-vsa.md §6).

Each of the 17 rows is trained for every seed into ``<out>/row<NN>_s<seed>``, evaluated, and
labelled Good/Bad by the operational rule (PD: swap IoU ≥ 0.8 and changed-feature swap accuracy
≥ 0.8; PSD: scene IoU ≥ 0.8, count accuracy ≥ 0.9, changed-feature accuracy ≥ 0.7). A finished
run (``eval.json`` present) is not trained again, so an interrupted grid resumes.
``grid.json`` and ``grid.md`` are rewritten after every run.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import ValidationError

from betavae.bounds import NonNegative, Seed
from betavae.config import parse_override, read_yaml, set_dotted
from betavae.errors import BetavaeError
from betavae.io import atomic_write_json, atomic_write_text
from betavae.vsa.settings import Stage, Strict, VSAConfig, build_vsa_config


class GridRow(Strict):
    id: int
    stage: Stage
    image: Literal["bce", "mse"]
    reduction: Literal["sum", "mean"]
    kld: NonNegative
    cosine: NonNegative
    reported: Literal["Good", "Bad"]


class GridSpec(Strict):
    seeds: list[Seed]
    base: dict[str, Any] = {}
    rows: list[GridRow]


def load_grid(path: str | Path | None = None) -> GridSpec:
    """The grid file (default: the shipped ``configs/vsa_grid.yaml``)."""
    if path is None:
        path = Path(str(resources.files("betavae") / "configs" / "vsa_grid.yaml"))
    try:
        return GridSpec.model_validate(read_yaml(path))
    except ValidationError as exc:
        raise BetavaeError(f"grid file {path}: " + "; ".join(
            f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())) from None


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


def row_config(spec: GridSpec, row: GridRow, seed: int, overrides: list[str] | tuple[str, ...] = ()) -> VSAConfig:
    tree = copy.deepcopy(spec.base)
    for key, value in (("name", f"grid-row{row.id:02d}-s{seed}"), ("stage", row.stage), ("seed", seed),
                       ("data.seed", seed), ("loss.image", row.image), ("loss.reduction", row.reduction),
                       ("loss.kld", row.kld), ("loss.cosine", row.cosine)):
        set_dotted(tree, key, value)
    for text in overrides:
        set_dotted(tree, *parse_override(text))
    return build_vsa_config(tree)


def run_grid(spec: GridSpec, out: str | Path, overrides: list[str] | tuple[str, ...] = (),
             rows: list[int] | None = None, seeds: list[int] | None = None,
             on_run: Callable[[str], None] | None = None,
             on_step: Callable[[int, dict[str, float]], None] | None = None) -> list[dict[str, Any]]:
    """Train and evaluate the selected rows × seeds; returns one record per run."""
    from betavae.vsa.evaluate import evaluate_run
    from betavae.vsa.train import train_vsa

    out = Path(out)
    by_id = {r.id: r for r in spec.rows}
    chosen = spec.rows if rows is None else [by_id[i] for i in dict.fromkeys(rows)]  # in the order asked
    seeds = spec.seeds if seeds is None else seeds
    configs = [(r, s, row_config(spec, r, s, overrides)) for r in chosen for s in seeds]  # validate all first
    for row, seed, cfg in configs:
        run_dir = out / f"row{row.id:02d}_s{seed}"
        if on_run is not None:
            on_run(run_dir.name)
        if not (run_dir / "eval.json").is_file():
            train_vsa(cfg, run_dir, on_step)
            evaluate_run(run_dir, figures=True, diagnostics=cfg.eval.recombination > 0 or cfg.eval.probe_images > 0)
        write_outputs(spec, collect(spec, out), out)
    return collect(spec, out)


def collect(spec: GridSpec, out: Path) -> list[dict[str, Any]]:
    """Records of every finished run in the grid folder (also those of other invocations, so
    several processes can share one folder, e.g. one per seed)."""
    records = []
    for row in spec.rows:
        for run_dir in sorted(out.glob(f"row{row.id:02d}_s*")):
            if (run_dir / "eval.json").is_file() and (run_dir / "train.json").is_file():
                records.append(run_record(row, int(run_dir.name.split("_s")[-1]), run_dir))
    return records


def run_record(row: GridRow, seed: int, run_dir: Path) -> dict[str, Any]:
    metrics = json.loads((run_dir / "eval.json").read_text())
    train = json.loads((run_dir / "train.json").read_text())
    return {"row": row.id, "seed": seed, "run": run_dir.name, "steps": train["steps"],
            "steps_per_s": train["steps_per_s"], "log_sigma": train["final"].get("log_sigma"), **metrics}


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
