"""Zoo models of the other systems (issue #21): a multimodal (sensorimotor) and a dSprites-VSA
model added by ``zoo add``, their cards, honest checks, retraining commands, and the ``bvae zoo``
commands on a zoo that mixes them with an image VAE."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch
import yaml
from safetensors import safe_open

import betavae
from betavae.cli import main
from betavae.errors import BetavaeError
from betavae.experiments.load import ImageRun, LoadedRun
from betavae.experiments.rundir import read_meta, read_metrics
from betavae.shipped import resolve_config_path
from betavae.zoo.add import add_model
from betavae.zoo.store import read_manifest, sha256
from betavae.zoo.tasks import TASKS, zoo_task

from .test_zoo import check_card, check_retrain

SYSTEMS = ["sensorimotor", "vsa"]


def _card(systems_zoo, task):
    root, models = systems_zoo
    name, run_dir = models[task]
    return root, name, run_dir, betavae.zoo.read_card(name, root)


def _common_fields(root, name, run_dir, card):
    """What every card holds, whatever its system."""
    meta = read_meta(run_dir)
    assert card["name"] == name and card["git"] == meta["git"] and card["wall_seconds"] > 0
    assert card["machine"]["threads"] == 1 and card["retrain"]["command"].startswith("bvae train ")
    assert card["weights"]["dtype"] == "float16" and 0 <= card["weights"]["max_abs_change"] < 1e-2
    with safe_open(root / name / "weights.safetensors", "pt") as fh:
        assert {fh.get_tensor(k).dtype for k in fh.keys()} == {torch.float16}
    assert json.loads((root / name / "eval.json").read_text())["values"] == card["evaluation"]["values"]
    files = read_manifest(root)["models"][name]["files"]
    assert set(files) == {p.name for p in (root / name).iterdir()}
    assert all(files[f]["sha256"] == sha256(root / name / f) for f in files)
    md, html = (root / name / "card.md").read_text(), (root / name / "card.html").read_text()
    for text in (card["retrain"]["command"], card["config_hash"], "## Scores", "## Check values",
                 "## Training curves", meta["git"]["sha"], TASKS[card["task"]].title, "this evaluator gives no intervals"):
        assert text in md, text
    assert "## Latents" not in md and "## Traversal" not in md and 'href="#latents"' not in html
    for figure in card["figures"]:
        assert (root / name / figure["file"]).is_file() and f'src="{figure["file"]}"' in html
    assert (root / name / card["files"]["curves"]).stat().st_size <= 300_000
    return md, html


def test_add_writes_a_multimodal_card(systems_zoo):
    root, name, run_dir, card = _card(systems_zoo, "sensorimotor")
    md, _ = _common_fields(root, name, run_dir, card)
    assert card["task"] == "sensorimotor" and card["objective"] == "multimodal_elbo"
    assert card["steps"] == read_metrics(run_dir)[-1]["step"] == 36  # 6 epochs of 6 batches
    assert card["settings"] == {"schedule": "const0", "n_z": 28, "epochs": 6, "model": "zambelli", "data": "sensorimotor"}
    check = card["check"]
    assert check["rows"] == [0, 200] and check["points"] == 64 and check["point_seed"] == 0
    mods = ["joints", "vision", "touch", "sound", "motor"]
    assert {f"complete.rmse_all.{m}" for m in mods} | {f"prediction.nrmse_muted.{m}" for m in mods} \
        | {"prediction_error"} <= set(check["values"])
    assert "vision_only.nrmse_muted.vision" not in check["values"]  # vision is kept, nothing to predict
    assert check["values"]["prediction_error"] == card["evaluation"]["values"]["prediction_error"]
    assert check["values"]["prediction.nrmse_muted.joints"] == \
        card["evaluation"]["values"]["protocol.prediction.nrmse_muted.joints"]
    assert [f["file"] for f in card["figures"]] == ["measures.png"]
    # the plateau reads recon only: the integration measures logged as eval.* are KLs, not rising scores
    assert card["plateau"]["scores"] == {} and card["plateau"]["recon"] is not None
    rows = read_metrics(run_dir)
    assert card["final_row"] == {k: rows[-1][k] for k in ("step", "epoch", "recon", "kl", "loss", "alpha")}
    assert "| forward model: t blocks from the t−1 blocks (normalised RMSE): joints |" in md
    assert "| schedule | const0 |" in md


def test_add_writes_a_vsa_card(systems_zoo):
    root, name, run_dir, card = _card(systems_zoo, "vsa")
    md, _ = _common_fields(root, name, run_dir, card)
    assert card["task"] == "vsa" and card["objective"] == "vsa" and card["steps"] == 6
    assert card["settings"] == {"stage": "pd", "kld": 0.01, "cosine": 1.0, "latent_dim": 16, "hidden": 32,
                                "model": "feature_vae", "data": "paired_dsprites"}
    assert card["check"]["items"] == 128 and set(card["check"]["values"]) == {
        "vsa.direct.bce", "vsa.direct.iou", "vsa.swap.bce", "vsa.swap.iou", "vsa.swap.empty", "vsa.latent.cos_shared",
        "vsa.latent.cos_changed", "vsa.latent.kl"}
    assert card["evaluation"]["settings"]["n_items"] == 8  # zoo add -s n_items=8
    assert [f["file"] for f in card["figures"]] == ["swap.png"]
    assert card["plateau"]["recon"] is not None  # the vsa run's reconstruction term is "image"
    assert card["final_row"]["image"] == read_metrics(run_dir)[-1]["image"]
    assert "| swap: IoU (binarised at 0.5) |" in md


@pytest.mark.parametrize("task", SYSTEMS)
def test_tiny_system_card_is_honest(systems_zoo, task):
    root, name, _, card = _card(systems_zoo, task)
    assert check_card(name, root) == card["check"]


@pytest.mark.parametrize("task", SYSTEMS)
def test_tiny_system_retrain_command_is_true(systems_zoo, task, tmp_path):
    root, name, _, _ = _card(systems_zoo, task)
    check_retrain(name, root, tmp_path)


def test_load_gives_load_runs_run_for_every_system(systems_zoo):
    root, models = systems_zoo
    mm, vsa = betavae.zoo.load("tiny-mm", root=root), betavae.zoo.load("tiny-vsa", root=root)
    assert type(mm) is LoadedRun and type(vsa) is LoadedRun and type(betavae.zoo.load("tiny-beta", root=root)) is ImageRun
    mu, logvar = vsa.encode(np.zeros((3, 1, 64, 64), np.float32))
    assert mu.shape == logvar.shape == (3, 5, 16) and vsa.decode(mu[:, 0]).shape == (3, 1, 64, 64)
    run = betavae.load_run(models["vsa"][1])
    for key, value in run.model.state_dict().items():
        assert torch.equal(vsa.model.state_dict()[key], value.half().float()), key
    assert mm.encode(mm.source.test[:4])[0].shape == (4, 28)


def test_add_refuses_an_unfinished_run_and_a_system_the_zoo_does_not_take(systems_zoo, tmp_path, capsys):
    root, models = systems_zoo
    for task in SYSTEMS:
        copy = tmp_path / task
        shutil.copytree(models[task][1], copy)
        meta = json.loads((copy / "meta.json").read_text())
        (copy / "meta.json").write_text(json.dumps({**meta, "status": "running"}))
        with pytest.raises(BetavaeError, match=f"{copy} is interrupted, not finished: finish it"):
            add_model(copy, "x", root=root)
    other = tmp_path / "crossmodal"
    other.mkdir()
    shutil.copyfile(resolve_config_path("crossmodal_joint"), other / "config.yaml")
    assert main(["zoo", "add", str(other), "--name", "x", "--zoo-dir", str(root)]) == 2
    assert capsys.readouterr().err == (f"bvae: error: {other} is a audiovisual run: the zoo takes runs of the image, "
                                       "sensorimotor, vsa tasks; audiovisual runs are not in it yet\n")
    # an image run's card takes the image options, the others their evaluator's settings
    assert main(["zoo", "add", str(models["vsa"][1]), "--name", "x", "--preset", "default",
                 "--zoo-dir", str(root)]) == 2
    assert "--preset: options of the image metrics; a vsa run is scored by its own evaluator" in capsys.readouterr().err
    assert "x" not in read_manifest(root)["models"] and not any(p.name.startswith(".adding") for p in root.iterdir())


def test_list_shows_one_table_per_system(systems_zoo, tiny_zoo, capsys):
    root, _ = systems_zoo
    assert main(["zoo", "list", "--zoo-dir", str(tiny_zoo[0])]) == 0
    alone = capsys.readouterr().out.splitlines()
    assert main(["zoo", "list", "--zoo-dir", str(root)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[:2] == alone  # the image table as it always was
    assert lines[2:4] == ["", "multimodal VAE (sensorimotor simulator) (sensorimotor):"]
    assert lines[4].split() == ["name", "objective", "settings", "steps", "prediction", "error", "forward", "model",
                                "nRMSE", "(joints)", "joints", "from", "vision", "nRMSE", "size"]
    mm = betavae.zoo.read_card("tiny-mm", root)
    assert lines[5].split()[:7] == ["tiny-mm", "multimodal_elbo", "epochs=6", "model=zambelli", "n_z=28",
                                    "schedule=const0", "36"]  # the card's settings, sorted by card.json
    assert f"{mm['evaluation']['values']['prediction_error']:.3f}" in lines[5]
    assert lines[6:8] == ["", "dSprites-VSA feature VAE (vsa):"]
    assert lines[8].split()[4:] == ["IoU", "swap", "IoU", "swap", "accuracy", "(changed", "feature)", "size"]
    assert lines[9].split()[:9] == ["tiny-vsa", "vsa", "cosine=1", "hidden=32", "kld=0.01", "latent_dim=16",
                                    "model=feature_vae", "stage=pd", "6"] and lines[9].endswith("MB")


def test_traverse_is_for_image_models(systems_zoo, tmp_path, capsys):
    root, _ = systems_zoo
    for name, task in (("tiny-mm", "sensorimotor"), ("tiny-vsa", "vsa")):
        assert main(["zoo", "traverse", name, "--out", str(tmp_path / name), "--zoo-dir", str(root)]) == 2
        err = capsys.readouterr().err
        assert err == (f"bvae: error: zoo model {name} is a {TASKS[task].title} ({task}): traversal is for image "
                       f"VAEs; its card shows its figures (bvae zoo show {name} --html)\n")
        assert not (tmp_path / name).exists()


def test_zoo_eval_and_export_of_system_models(systems_zoo, tmp_path, capsys):
    root, _ = systems_zoo
    before = {p: p.read_bytes() for p in root.rglob("*") if p.is_file()}
    mm = betavae.zoo.read_card("tiny-mm", root)
    assert main(["zoo", "eval", "tiny-mm", "--metrics", "prediction_error", "--zoo-dir", str(root)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].split() == ["prediction_error", f"{mm['evaluation']['values']['prediction_error']:.4f}"]
    vsa = betavae.zoo.read_card("tiny-vsa", root)
    result = tmp_path / "vsa.json"
    settings = [w for s in ("n_items=8", "batch_size=8", "probe_images=0", "recombination=4", "classifier.steps=3",
                            "classifier.batch_size=8", "classifier.n_test=20") for w in ("-s", s)]
    assert main(["zoo", "eval", "tiny-vsa", *settings, "--out", str(result), "--zoo-dir", str(root)]) == 0
    assert json.loads(result.read_text())["values"] == vsa["evaluation"]["values"]
    assert {p: p.read_bytes() for p in root.rglob("*") if p.is_file()} == before  # the zoo is read-only
    capsys.readouterr()
    assert main(["zoo", "eval", "tiny-vsa", "--preset", "fast", "--zoo-dir", str(root)]) == 2
    assert "--preset: options of the image metrics; tiny-vsa is a vsa model" in capsys.readouterr().err
    assert main(["zoo", "eval", "tiny-beta", "-s", "n_items=8", "--zoo-dir", str(root)]) == 2
    assert "-s key=value sets the evaluator of models that are not image VAEs" in capsys.readouterr().err
    # export: a run folder every run command takes
    assert main(["zoo", "export", "tiny-mm", "--out", str(tmp_path / "mm"), "--zoo-dir", str(root)]) == 0
    assert yaml.safe_load((tmp_path / "mm" / "config.yaml").read_text())["model"]["kind"] == "zambelli"
    assert main(["eval", str(tmp_path / "mm"), "--metrics", "prediction_error"]) == 0
    assert json.loads((tmp_path / "mm" / "eval.json").read_text())["values"]["prediction_error"] == \
        mm["evaluation"]["values"]["prediction_error"]


def test_every_task_has_a_complete_entry():
    """The table names each system's headline scores, check labels and reconstruction term."""
    assert list(TASKS) == ["image", "sensorimotor", "vsa"]
    for task in TASKS.values():
        assert task.headline and task.recon_key and task.final_terms[0] == "step"
    with pytest.raises(BetavaeError, match="the zoo takes runs of the image, sensorimotor, vsa tasks"):
        zoo_task("audiovisual")
