"""The bvae command line: commands work end to end and errors are one clear line."""

from __future__ import annotations

import json

import pytest
import yaml
from PIL import Image

from betavae.cli import main
from betavae.config import build_config

from ..conftest import tiny_tree


def write_config(tmp_path, **train):
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(tiny_tree(**train)))
    return path


def test_train_then_ls(tmp_path, capsys):
    cfg = write_config(tmp_path)
    rc = main(["train", str(cfg), "train.steps=6", "--runs-dir", str(tmp_path / "runs"), "--no-progress"])
    out = capsys.readouterr().out
    assert rc == 0 and "run folder:" in out
    run = tmp_path / "runs" / out.split("run folder:")[1].strip().split("/")[-1]
    assert json.loads((run / "meta.json").read_text())["status"] == "finished"
    assert main(["ls", str(tmp_path / "runs")]) == 0
    table = capsys.readouterr().out
    assert run.name in table and "finished" in table and "6" in table.splitlines()[1]


def test_resume_via_cli_refuses_overrides(tmp_path, capsys):
    assert main(["train", "--resume", str(tmp_path), "train.steps=3"]) == 2
    assert "never changes" in capsys.readouterr().err


def test_errors_are_one_line_without_traceback(tmp_path, capsys):
    cfg = write_config(tmp_path)
    assert main(["train", str(cfg), "train.stepz=3", "--runs-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("bvae: error:") and "train.stepz" in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1


def test_debug_shows_the_traceback(tmp_path):
    from betavae.errors import BetavaeError

    with pytest.raises(BetavaeError):
        main(["train", "nonexistent_config", "--debug"])


def test_non_empty_run_folder_is_refused(tmp_path, capsys):
    cfg = write_config(tmp_path, steps=4)
    args = ["train", str(cfg), "--runs-dir", str(tmp_path / "r"), "--no-progress"]
    assert main(args) == 0
    capsys.readouterr()
    assert main(args) == 2
    assert "already exists" in capsys.readouterr().err


def test_schedule_plot(tmp_path, capsys):
    out = tmp_path / "cyc.png"
    assert main(["schedule", "cyclical", "total=1000", "cycles=4", "--steps", "1000", "--out", str(out)]) == 0
    img = Image.open(out)
    assert img.size[0] > 300 and img.size[1] > 150
    assert main(["schedule", "cyclical", "cycles=0", "--out", str(out)]) == 2
    assert "cycles" in capsys.readouterr().err
    assert main(["schedule", "nope", "--out", str(out)]) == 2
    assert "unknown schedule 'nope'" in capsys.readouterr().err


def test_configs_lists_shipped(capsys):
    assert main(["configs"]) == 0
    out = capsys.readouterr().out
    for name in ("dsprites_quick", "dsprites_vae", "dsprites_beta_h", "dsprites_capacity", "dsprites_capacity_g100"):
        assert name in out


def test_data_calibrate_prints_per_shape_iou(tmp_path, capsys, monkeypatch):
    """Wiring of `bvae data calibrate`: the loader is replaced by the renderer itself (IoU 1);
    the loader's own validation is tested in tests/data."""
    from betavae.data import dsprites_file
    from betavae.data.dsprites import DSprites

    seen = {}

    def fake_loader(path, **kwargs):
        seen["path"] = path
        return DSprites()

    monkeypatch.setattr(dsprites_file, "load_dsprites_file", fake_loader)
    assert main(["data", "calibrate", "--dsprites", str(tmp_path / "f.npz"), "--n", "300"]) == 0
    values = dict(line.split() for line in capsys.readouterr().out.strip().splitlines())
    assert seen["path"] == tmp_path / "f.npz"
    for key in ("iou.mean", "iou.square", "iou.ellipse", "iou.heart"):
        assert float(values[key]) == 1.0
    assert float(values["n"]) == 300


def test_data_calibrate_missing_file_is_one_line(tmp_path, capsys):
    assert main(["data", "calibrate", "--dsprites", str(tmp_path / "missing.npz")]) == 2
    err = capsys.readouterr().err
    assert "missing.npz" in err and len(err.strip().splitlines()) == 1


def test_data_calibrate_refit_writes_the_fitted_renderer(tmp_path, capsys, monkeypatch):
    """`--refit --out`: a reference with a larger square is fitted; the YAML fragment holds the
    fitted fields and loads as renderer settings."""
    import yaml

    from betavae.data import dsprites_file
    from betavae.data.dsprites import DSprites, RendererConfig

    truth = RendererConfig(square_side=22.0)
    monkeypatch.setattr(dsprites_file, "load_dsprites_file", lambda path, **kw: DSprites(truth))
    out = tmp_path / "fitted.yaml"
    argv = ["data", "calibrate", "--dsprites", str(tmp_path / "f.npz"), "--n", "60", "--refit",
            "--refit-n", "8", "--out", str(out)]
    assert main(argv) == 0
    text = capsys.readouterr().out
    assert "overrides: data.renderer.square_side=" in text
    renderer = yaml.safe_load(out.read_text())["data"]["renderer"]
    assert abs(renderer["square_side"] - 22.0) < 0.3
    fitted = RendererConfig(**renderer)
    assert fitted.ellipse_width == truth.ellipse_width  # shapes that already matched keep their values
    assert main(["data", "calibrate", "--dsprites", str(tmp_path / "f.npz"), "--out", str(out)]) == 2


def test_every_subsystem_is_a_bvae_command(capsys):
    assert main(["--help"]) == 0
    listed = {line.split()[0] for line in capsys.readouterr().out.split("Commands:")[1].splitlines() if line.strip()}
    assert {"train", "eval", "sweep", "report", "multimodal", "crossmodal", "vsa"} <= listed


def test_negative_beta_is_refused_by_train_and_by_a_sweep_dry_run(tmp_path, capsys):
    """β = −1 trained to 'finished' with KL ≈ 2.7e22 (never NaN): it is refused at load now."""
    runs = tmp_path / "runs"
    assert main(["train", "dsprites_quick", "objective.beta=-1", "--runs-dir", str(runs)]) == 2
    err = capsys.readouterr().err
    assert "override objective.beta=-1: objective.beta: must be >= 0" in err and "reaches -1" in err
    assert not runs.exists()
    sweep = tmp_path / "s.yaml"
    sweep.write_text(yaml.safe_dump({"name": "neg", "base": tiny_tree(), "grid": {"objective.beta": [4, -1]}}))
    assert main(["sweep", str(sweep), "--dry-run", "--runs-dir", str(runs)]) == 2
    err = capsys.readouterr().err
    assert "the run with objective.beta=-1, seed=3" in err and "objective.beta: must be >= 0" in err
    assert not runs.exists()


@pytest.mark.parametrize(("override", "expected"), [
    ("objective.beta=abc", "override objective.beta=abc: objective.beta: expected a mapping"),
    ("objective.betaa=3", "override objective.betaa=3: unknown key 'objective.betaa'; allowed keys: beta, kind"),
    ("train.log_every=7", "override train.log_every=7: train: checkpoint_every (500) must be a multiple"),
])
def test_an_error_caused_by_an_override_names_the_override_not_the_shipped_file(override, expected, capsys):
    assert main(["train", "dsprites_quick", override]) == 2
    err = capsys.readouterr().err
    assert expected in err and "dsprites_quick.yaml" not in err


def test_an_error_in_the_file_still_names_the_file(tmp_path, capsys):
    cfg = tmp_path / "bad.yaml"
    cfg.write_text(yaml.safe_dump({**tiny_tree(), "seed": -1}))
    assert main(["train", str(cfg), "train.steps=3"]) == 2
    err = capsys.readouterr().err
    assert f"{cfg}: seed: Input should be greater than or equal to 0" in err and "override" not in err


def test_configs_lists_every_shipped_file_with_the_command_that_takes_it(capsys):
    from betavae.config import load_config
    from betavae.experiments.sweep import load_sweep
    from betavae.shipped import SHIPPED_DIR as SHIPPED
    from betavae.shipped import resolve_config_path

    assert main(["configs"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == len(list(SHIPPED.glob("*.yaml")))
    commands = {line.split()[0]: " ".join(line.split()[1:4]) for line in lines}
    assert commands["sweep_vsa_grid"] == "bvae sweep sweep_vsa_grid" and commands["dsprites_quick"] == "bvae train dsprites_quick"
    for name, command in commands.items():  # each command really takes its file
        if command.startswith("bvae train "):
            load_config(resolve_config_path(name))
        else:
            assert command.startswith("bvae sweep ")
            load_sweep(resolve_config_path(name, "sweep"))


def test_train_refuses_a_shipped_file_of_another_command_and_names_that_command(capsys):
    assert main(["train", "sweep_vsa_grid"]) == 2
    err = capsys.readouterr().err
    assert "sweep_vsa_grid is a shipped file for `bvae sweep sweep_vsa_grid`, not for `bvae train`" in err
    assert "dsprites_quick" in err and "sweep_dsprites_study" not in err
    assert main(["sweep", "dsprites_quick", "--dry-run"]) == 2
    assert "for `bvae train dsprites_quick`, not for `bvae sweep`" in capsys.readouterr().err


def test_resume_of_a_finished_run_says_it_is_finished(tmp_path, capsys):
    cfg = write_config(tmp_path, steps=4)
    assert main(["train", str(cfg), "--runs-dir", str(tmp_path / "r"), "--no-progress"]) == 0
    run = tmp_path / "r" / capsys.readouterr().out.split("run folder:")[1].split()[0].split("/")[-1]
    before = (run / "weights.safetensors").read_bytes()
    assert main(["train", "--resume", str(run), "--no-progress"]) == 0
    assert f"{run} (already finished at step 4; nothing to do)" in capsys.readouterr().out
    assert (run / "weights.safetensors").read_bytes() == before


def test_ls_and_the_index_include_the_runs_of_a_sweep(tmp_path, capsys):
    """A sweep keeps its runs in runs/<sweep>/: `bvae ls runs` and `bvae report runs` list them."""
    runs = tmp_path / "runs"
    cfg = write_config(tmp_path, steps=4)
    assert main(["train", str(cfg), "--runs-dir", str(runs), "--no-progress"]) == 0
    assert main(["train", str(cfg), "seed=5", "--runs-dir", str(runs / "study"), "--no-progress"]) == 0
    capsys.readouterr()
    (runs / "study" / "index").mkdir()  # a sweep's index figures: not a run, searched harmlessly
    assert main(["ls", str(runs)]) == 0
    table = capsys.readouterr().out.splitlines()
    names = [line.split()[0] for line in table[1:]]
    top = build_config(tiny_tree(steps=4)).run_id()
    assert names == [f"study/{top.removesuffix('-s3')}-s5", top]  # sorted by path
    assert all(line.split()[1] == "finished" for line in table[1:])
    assert main(["report", str(runs)]) == 0
    index = (runs / "index.md").read_text()
    assert top in index and f"{top.removesuffix('-s3')}-s5" in index


def test_a_run_killed_with_kill_9_shows_as_interrupted_with_the_resume_command(tmp_path, capsys):
    import subprocess
    import sys
    import time

    from betavae.experiments.rundir import read_metrics

    tree = tiny_tree(steps=100_000, log_every=2, checkpoint_every=4)
    cfg_path = tmp_path / "c.yaml"
    cfg_path.write_text(yaml.safe_dump(tree))
    runs = tmp_path / "runs"
    proc = subprocess.Popen([sys.executable, "-m", "betavae.cli", "train", str(cfg_path), "--runs-dir", str(runs)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    run = runs / build_config(tree).run_id()
    try:
        while not (run.is_dir() and read_metrics(run)):
            assert proc.poll() is None, "training exited early"
            time.sleep(0.05)
        assert main(["ls", str(runs)]) == 0
        live = capsys.readouterr().out
        assert live.splitlines()[1].split()[1] == "running" and "--resume" not in live
    finally:
        proc.kill()
        proc.wait()
    assert json.loads((run / "meta.json").read_text())["status"] == "running"  # it had no chance to say
    assert main(["ls", str(runs)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[1].split()[1] == "interrupted"
    assert out[2] == f"continue {run.name}: bvae train --resume {run}"
    assert main(["report", str(run)]) == 0  # the run's own report says so too, with the command
    page = (run / "report.md").read_text()
    assert "Status **interrupted**" in page and f"`bvae train --resume {run}`" in page
    assert "still training" not in page


def test_a_run_being_trained_is_not_trained_by_a_second_process(tmp_path):
    from betavae.errors import BetavaeError
    from betavae.experiments.lock import TrainingLock, is_training
    from betavae.experiments.run import Trainer, train

    cfg = build_config(tiny_tree(steps=4))
    run = train(cfg, tmp_path)
    assert not is_training(run)
    before = (run / "meta.json").read_text()
    with TrainingLock(run):
        assert is_training(run)
        with pytest.raises(BetavaeError, match=r"being trained by another process \(host .*, pid \d+"):
            Trainer(cfg, run).run(resume=True)
    assert not is_training(run)
    assert (run / "meta.json").read_text() == before


@pytest.mark.parametrize("command", [
    ["train", "images_celeba", "data.path=/nonexistent/photos", "--runs-dir", "{out}"],
    ["train", "multimodal_zambelli", "data.train_path=/nonexistent/a.mat", "data.test_path=/nonexistent/b.mat",
     "--no-progress", "--runs-dir", "{out}"],
    ["train", "vsa_scenes", "data.n_min=5", "data.n_max=5", "data.gap=24", "model.latent_dim=16",
     "--runs-dir", "{out}"],
], ids=["train", "multimodal-train", "vsa-train"])
def test_a_command_that_fails_leaves_no_output_folder(tmp_path, capsys, command):
    """These failed after making their output folder (an empty one, or config.yaml + meta.json)."""
    out = tmp_path / "out"
    assert main([a.format(out=out) for a in command]) == 2
    assert capsys.readouterr().err.startswith("bvae: error:")
    assert not out.exists()


def test_train_to_a_pipe_prints_the_run_folder_first_then_progress_lines(tmp_path):
    """With output going to a file or pipe (nohup, CI) a run is not silent until its end."""
    import subprocess
    import sys

    cfg = write_config(tmp_path, steps=6)
    base = [sys.executable, "-m", "betavae.cli", "train", str(cfg), "--runs-dir", str(tmp_path / "r")]
    out = subprocess.run([*base, "--progress-every", "0"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                         text=True, check=True).stdout.splitlines()
    run = tmp_path / "r" / build_config(tiny_tree(steps=6)).run_id()
    assert out[0] == f"run folder: {run}" and out[-1] == f"run folder: {run}"
    steps = [line for line in out if line.startswith("step ")]
    assert [line.split()[1] for line in steps] == ["2/6", "4/6", "6/6"]  # one per logged row at every 0 s
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    for line, row in zip(steps, rows, strict=True):
        assert f"loss {row['loss']:.4g}" in line and f"kl {row['kl']:.4g}" in line and line.endswith(" left")
    quiet = subprocess.run([*base, "seed=4", "--no-progress"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           text=True, check=True).stdout.splitlines()
    assert [line.split(":")[0] for line in quiet] == ["run folder", "run folder"]


def test_progress_lines_are_spaced_by_the_interval_and_estimate_the_time_left():
    from betavae.train.callbacks import ProgressLines

    now = [100.0]
    lines: list[str] = []
    cb = ProgressLines(lines.append, every_s=30, clock=lambda: now[0])
    cb.on_start("run", 0, 1000)
    for step in range(10, 301, 10):  # 10 steps per 5 s: 2 steps/s
        now[0] += 5
        cb.on_log({"step": step, "loss": 3.0, "recon": 2.0, "kl": 0.25, "beta": 4.0})
    assert [line.split()[1] for line in lines] == ["60/1000", "120/1000", "180/1000", "240/1000", "300/1000"]
    assert lines[-1] == "step 300/1000 (30%)  2 steps/s  loss 3  recon 2  kl 0.25  beta 4  2 min 30 s in, 5 min 50 s left"


def test_eval_says_what_it_is_doing_on_stderr(tmp_path, capsys, monkeypatch):
    from betavae.experiments import evaluate

    monkeypatch.setitem(evaluate.SIZES, "fast", {**evaluate.SIZES["fast"], "num_train": 300, "num_test": 150,
                                                 "sampled_train": 40, "sampled_eval": 20, "sampled_batch": 8})
    cfg = write_config(tmp_path, steps=4)
    assert main(["train", str(cfg), "--runs-dir", str(tmp_path / "r"), "--no-progress"]) == 0
    run = tmp_path / "r" / build_config(tiny_tree(steps=4)).run_id()
    capsys.readouterr()
    assert main(["eval", str(run), "--fast", "--metrics", "mig,beta_vae"]) == 0
    captured = capsys.readouterr()
    lines = captured.err.splitlines()
    assert lines[0] == "eval: encoding 300 + 150 images"
    assert lines[1].startswith("eval: encoded in ") and lines[1].endswith(" s; scoring mig")
    assert lines[2].startswith("eval: scored mig (") and lines[3] == "eval: scoring beta_vae"
    assert lines[4].startswith("eval: scored beta_vae in ") and len(lines) == 5
    assert captured.out.splitlines()[-1] == f"wrote {run / 'eval.json'}"


def _leaf_commands():
    import click

    from betavae.cli import cli

    def walk(cmd, path):
        if isinstance(cmd, click.Group):
            for name, sub in cmd.commands.items():
                yield from walk(sub, [*path, name])
        else:
            yield " ".join(path)

    return list(walk(cli, []))


def test_every_command_says_what_it_writes_and_where_in_help_and_docs(capsys):
    from pathlib import Path

    commands = _leaf_commands()
    # 22 until `bvae vsa train` became `bvae train vsa_paired`; `bvae vsa eval` / `bvae vsa grid` became
    # `bvae eval RUN` / `bvae sweep sweep_vsa_grid`; `bvae crossmodal train/eval/study/report` became
    # `bvae train crossmodal_*`, `bvae eval RUN` and `bvae sweep sweep_crossmodal_study`; `bvae multimodal
    # study`/`report` became `bvae sweep sweep_multimodal_langer`
    assert len(commands) >= 13 and "vsa data" in commands and "data prepare" in commands
    assert not any(c.startswith("crossmodal ") and c != "crossmodal data" for c in commands)
    table = (Path(__file__).parents[2] / "docs" / "commands.md").read_text()
    for command in commands:
        assert main([*command.split(), "--help"]) == 0
        text = " ".join(capsys.readouterr().out.split())
        assert "Writes:" in text or "Prints:" in text, command
        assert f"| `bvae {command}" in table, command
