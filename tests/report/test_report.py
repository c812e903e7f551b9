"""The per-run report: numbers from the run's files, images on disk, escaping, damaged folders."""

from __future__ import annotations

import json
import re
import shutil
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest

from betavae.config import build_config
from betavae.experiments.rundir import read_metrics
from betavae.report import write_report
from betavae.report.configs import config_diff, hyper_params, schedule_fields
from betavae.viz.figures import plot_curves

from .conftest import HOSTILE


class Tags(HTMLParser):
    """Collects <img src>, <a href> and the text of the page."""

    def __init__(self) -> None:
        super().__init__()
        self.imgs: list[str] = []
        self.links: list[str] = []
        self.scripts = 0
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "img":
            self.imgs.append(a["src"])
        if tag == "a":
            self.links.append(a["href"])
        if tag == "script":
            self.scripts += 1

    def handle_data(self, data):
        self.text.append(data)


def parse(path: Path) -> Tags:
    tags = Tags()
    tags.feed(path.read_text(encoding="utf-8"))
    return tags


def copy_run(src: Path, dst: Path, *names: str) -> Path:
    dst.mkdir(parents=True, exist_ok=True)
    for name in names:
        shutil.copy(src / name, dst / name)
    return dst


def test_report_holds_the_final_numbers_of_metrics_jsonl(reported_run):
    last = read_metrics(reported_run)[-1]
    html = (reported_run / "report.html").read_text()
    md = (reported_run / "report.md").read_text()
    for key in ("loss", "recon", "kl", "beta_norm"):
        assert f">{last[key]:.5g}<" in html, key
        assert f"| {last[key]:.5g} |" in md, key
    assert f'title="{last["loss"]}"' in html  # full precision kept for sorting and hover
    assert ">12</td><td>optimiser steps of 12<" in html
    for j, v in enumerate(last["kl_per_dim"]):
        assert f"<td>z{j}</td><td class=\"num\" data-sort=\"{float(v)!r}\"" in html
    active = sum(v > 0.01 for v in last["kl_per_dim"])
    assert re.search(rf"active latents \(KL_j &gt; 0.01 nats\)</td><td class=\"num\" [^>]*>{active}<", html)
    assert ">0.125<" in html and "| mig | 0.125 |" in md  # eval.json values


def test_latent_table_shows_the_information_bound_of_the_batch(reported_run):
    from betavae.experiments.load import load_run
    from betavae.metrics.posterior import kl_parts
    from betavae.viz.traverse import posterior_batch

    batch = posterior_batch(load_run(reported_run), 32, 0)  # the report's batch: n_images=32, rng_seed 0
    info = kl_parts(batch.mu, batch.logvar)["information"]
    html = (reported_run / "report.html").read_text()
    for v in info:
        assert f'data-sort="{float(v)!r}"' in html
    n = int((info > 0.01).sum())
    assert re.search(rf"informative latents \(I\(x; z_j\) bound &gt; 0.01 nats over 32 images\)</td>"
                     rf"<td class=\"num\" [^>]*>{n}<", html)


@pytest.mark.parametrize("spread", [0.0, 1.0])
def test_a_kl_paid_without_information_is_said_at_the_top(reported_run, tmp_path, monkeypatch, spread):
    import betavae.viz.traverse as traverse
    from betavae.viz.traverse import PosteriorBatch

    real = traverse.posterior_batch

    def offset_batch(run, n, seed):  # every image encoded to N(0.9 + spread·noise, 0.5)
        b = real(run, n, seed)
        noise = np.random.default_rng(1).normal(size=b.mu.shape).astype(np.float32)
        return PosteriorBatch(b.images, 0.9 + spread * noise, np.full_like(b.logvar, np.log(0.5)))

    monkeypatch.setattr(traverse, "posterior_batch", offset_batch)
    run = copy_run(reported_run, tmp_path / "run", "config.yaml", "metrics.jsonl", "meta.json", "weights.safetensors")
    html = " ".join(parse(write_report(run, n_images=32, n_seeds=2)).text)
    md = (run / "report.md").read_text()
    said = "The KL is not information" in html
    assert said == (spread == 0.0) and ("The KL is not information" in md) == said
    if said:  # D latents × ½ 0.81 offset and ½ (0.5 − 1 − log 0.5) width, no information
        d = len(read_metrics(run)[-1]["kl_per_dim"])
        assert f"offset of the posterior means ({d * 0.405:.3g} nats)" in html
        assert f"posterior width ({d * 0.5 * (0.5 - 1 - np.log(0.5)):.3g} nats)" in html


def test_a_dead_encoder_layer_is_named(reported_run, tmp_path):
    from safetensors import safe_open
    from safetensors.torch import load_file, save_file

    run = copy_run(reported_run, tmp_path / "run", "config.yaml", "metrics.jsonl", "meta.json", "weights.safetensors")
    path = run / "weights.safetensors"
    with safe_open(path, "pt") as fh:
        metadata = fh.metadata()
    weights = load_file(path)
    weights["encoder.6.bias"] = weights["encoder.6.bias"] * 0 - 1e3  # the last conv's ReLU: zero for every image
    d = weights["encoder.13.bias"].shape[0] // 2
    weights["encoder.13.bias"][:d] = 1.0                               # μ = 1 for every image: KL without information
    save_file(weights, path, metadata=metadata)
    md = write_report(run, n_images=32, n_seeds=2).with_suffix(".md").read_text()
    assert "The KL is not information" in md and "less than 1e-6 nats tell the images apart" in md
    assert "dead ReLU layers: encoder.7 (512 units), zero for all 32 images" in md
    assert "through a sigmoid" not in md  # a Bernoulli decoder
    config = run / "config.yaml"  # the same weights read as a squared-error decoder through a sigmoid
    config.write_text(config.read_text().replace("kind: bernoulli", "kind: gaussian\n    sigma: 0.7071067811865476", 1))
    md = write_report(run, n_images=32, n_seeds=2).with_suffix(".md").read_text()
    assert "squared error is taken through a sigmoid (model.likelihood.link: sigmoid)" in md
    config.write_text(config.read_text().replace("sigma: 0.7071067811865476", "sigma: 0.7071067811865476\n    link: identity", 1))
    md = write_report(run, n_images=32, n_seeds=2).with_suffix(".md").read_text()
    assert "The KL is not information" in md and "through a sigmoid" not in md


def test_every_image_is_relative_exists_and_is_small(reported_run):
    tags = parse(reported_run / "report.html")
    expected = {"report/curves.png", "report/kl_heatmap.png", "report/kl_bars.png", "report/posterior.png",
                "report/reconstructions.png", "report/traverse.gif", "report/traverse_seed0.png",
                "report/traverse_seed1.png", "report/schedule_beta.png"}
    assert set(tags.imgs) == expected
    for src in tags.imgs:
        path = reported_run / src
        assert not Path(src).is_absolute() and ":" not in src and path.is_file(), src
        if src.endswith(".png"):
            assert path.stat().st_size <= 300_000, src
    md_imgs = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", (reported_run / "report.md").read_text())
    assert set(md_imgs) == expected


def test_page_makes_no_external_references(reported_run):
    html = (reported_run / "report.html").read_text()
    assert not re.search(r"""(src|href)\s*=\s*["']?\s*(https?:|//)""", html)
    assert "@import" not in html and "url(" not in html
    assert parse(reported_run / "report.html").scripts == 1  # the inline table sorter, nothing loaded


def test_hostile_strings_are_escaped(reported_run, tmp_path):
    run = copy_run(reported_run, tmp_path / "run", "config.yaml", "metrics.jsonl", "eval.json")
    (run / "meta.json").write_text(json.dumps({"status": "finished", "host": '<img src=x onerror="alert(1)">'}))
    write_report(run)
    html = (run / "report.html").read_text()
    assert "<script>window.pwned" not in html and "<img src=x" not in html
    assert "&lt;script&gt;window.pwned=1&lt;/script&gt;" in html
    assert "&lt;img src=x onerror=&#34;alert(1)&#34;&gt;" in html
    md = (run / "report.md").read_text()
    assert HOSTILE not in md and "&lt;script&gt;" in md


def test_missing_weights_and_truncated_metrics_are_reported(reported_run, tmp_path):
    run = copy_run(reported_run, tmp_path / "run", "config.yaml", "metrics.jsonl")
    with open(run / "metrics.jsonl", "a") as fh:
        fh.write('{"step": 14, "loss": 12')  # a torn last line
    page = write_report(run)
    text = " ".join(parse(page).text)
    assert "weights.safetensors is missing" in text and "curves only" in text
    assert "metrics.jsonl: 1 line(s) are truncated or malformed" in text
    assert "meta.json is missing" in text
    imgs = parse(page).imgs
    assert "report/curves.png" in imgs and not any("traverse" in s or "posterior" in s for s in imgs)
    assert all((run / s).is_file() for s in imgs)


def test_empty_folder_and_damaged_files_never_raise(reported_run, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    text = " ".join(parse(write_report(empty)).text)
    assert "config.yaml is missing" in text and "metrics.jsonl is missing" in text
    run = copy_run(reported_run, tmp_path / "bad", "config.yaml", "metrics.jsonl", "meta.json")
    (run / "weights.safetensors").write_bytes(b"not a safetensors file")
    (run / "eval.json").write_text("{not json")
    text = " ".join(parse(write_report(run)).text)
    assert "is not a readable safetensors file" in text and "eval.json is not readable JSON" in text


def test_running_run_says_it_shows_what_exists(reported_run, tmp_path):
    run = copy_run(reported_run, tmp_path / "run", "config.yaml", "metrics.jsonl")
    (run / "meta.json").write_text(json.dumps({"status": "running"}))
    from betavae.experiments.lock import TrainingLock

    with TrainingLock(run):  # a live run: its training process holds the lock
        html = write_report(run).read_text()
    assert "still training" in html and 'class="status running"' in html
    html = write_report(run).read_text()  # nobody holds the lock: the process died (kill -9)
    assert "still training" not in html and 'class="status interrupted"' in html
    assert f"bvae train --resume {run}" in html


def test_config_difference_from_the_shipped_base():
    cfg = build_config({"name": "dsprites-quick", "seed": 0, "model": {"latent_dim": 10, "init": "kaiming_uniform"},
                        "objective": {"kind": "beta", "beta": 4}, "train": {"steps": 800, "batch_size": 64,
                        "lr": 0.0005, "log_every": 50, "checkpoint_every": 500}})
    diff = config_diff(cfg)
    assert diff.base == "dsprites_quick" and diff.rows == [("train.steps", 3000, 800)]
    other = build_config({"name": "mine", "objective": {"kind": "capacity", "gamma": 100}})
    diff = config_diff(other)  # by kinds: the capacity base with the fewest differences
    assert diff.base == "dsprites_capacity_g100" and "same data/model/objective kinds" in diff.rule
    assert ("name", "dsprites-capacity", "mine") not in diff.rows and ("name", "dsprites-capacity-g100", "mine") in diff.rows


def test_schedules_and_hyper_parameters_of_objectives():
    cap = build_config({"objective": {"kind": "capacity", "gamma": 100,
                                      "capacity": {"kind": "capacity", "c_max": 30, "length": 50}}})
    assert sorted(schedule_fields(cap)) == ["capacity", "gamma"]
    assert hyper_params(cap) == {"gamma": 100.0, "capacity": 30.0}
    assert hyper_params(build_config({"objective": {"kind": "vae"}})) == {"beta": 1.0}
    warm = build_config({"objective": {"kind": "beta", "beta": {"kind": "linear", "start": 0, "end": 8}}})
    assert hyper_params(warm) == {"beta": 8.0}


def test_capacity_curves_draw_c_and_gamma(tmp_path):
    rows = [{"step": s, "loss": 100.0 - s, "recon": 90.0 - s, "kl": 0.1 * s, "beta": 100.0,
             "capacity": 0.12 * s, "kl_per_dim": list(np.full(3, 0.03 * s))} for s in range(1, 40)]
    path = plot_curves(rows, tmp_path / "c.png", objective="capacity")
    assert 0 < path.stat().st_size <= 300_000


@pytest.mark.parametrize("args", [["--images", "16", "--seeds", "1"]])
def test_cli_report_and_traverse(reported_run, tmp_path, capsys, args):
    from betavae.cli import main

    run = copy_run(reported_run, tmp_path / "run", "config.yaml", "metrics.jsonl", "meta.json",
                   "weights.safetensors")
    assert main(["report", str(run), *args]) == 0
    assert f"wrote {run / 'report.html'}" in capsys.readouterr().out
    assert main(["traverse", str(run), "--out", str(tmp_path / "t"), *args]) == 0
    assert (tmp_path / "t" / "traverse.gif").is_file() and (tmp_path / "t" / "traverse_seed0.png").is_file()
    assert main(["report", str(tmp_path / "nowhere")]) == 2
    assert "is not a folder" in capsys.readouterr().err
    (tmp_path / "plain").mkdir()
    assert main(["report", str(tmp_path / "plain")]) == 2
    assert "neither a run folder nor a folder of runs" in capsys.readouterr().err
