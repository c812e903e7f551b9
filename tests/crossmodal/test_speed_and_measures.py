"""The β-VAE speed levels and kernels, the translator's decoder-input modes, §11b retrieval, and
the study sweep on one and two workers."""

import json

import numpy as np
import pytest
import torch
from torch import nn

from betavae.crossmodal.train import VAESettings, train_vae
from betavae.errors import BetavaeError
from betavae.metrics.translation import retrieval
from betavae.models.crossmodal import EnsBatchNorm, _BatchNormTrain, upsample_matrix
from betavae.models.seq2seq import Seq2Seq
from betavae.train.speed import cpu_has_native_bf16
from betavae.train.task import clip_per_member
from betavae.train.tasks.audiovisual import AudiovisualTask

from .conftest import TINY


def test_batch_norm_backward_matches_autograd():
    torch.manual_seed(0)
    x = (torch.randn(2, 5, 6, 3, dtype=torch.float64) * 3 + 1).requires_grad_()
    w = torch.rand(2, 1, 1, 3, dtype=torch.float64, requires_grad=True)
    b = torch.randn(2, 1, 1, 3, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda *a: _BatchNormTrain.apply(*a, 1e-5)[0], (x, w, b))
    bn, ref = EnsBatchNorm(2, 3).double(), nn.BatchNorm1d(3).double()  # training mode
    y = bn(x)
    assert torch.allclose(y[1], ref(x[1].transpose(1, 2)).transpose(1, 2), atol=1e-12)
    bn.eval()
    ref.load_state_dict({"weight": bn.weight[0].flatten(), "bias": bn.bias[0].flatten(),
                         "running_mean": bn.running_mean[0].flatten(), "running_var": bn.running_var[0].flatten(),
                         "num_batches_tracked": torch.tensor(1)})
    ref.eval()
    assert torch.allclose(bn(x)[0], ref(x[0].transpose(1, 2)).transpose(1, 2), atol=1e-12)


def test_upsample_matrix_rows_are_convex_and_match_torch():
    u = upsample_matrix(15)
    assert torch.allclose(u.sum(1), torch.ones(30))
    x = torch.randn(4, 128, 15)
    assert torch.allclose(nn.Upsample(scale_factor=2, mode="linear")(x), x @ u.T, atol=1e-6)


def test_clip_per_member_caps_each_members_norm():
    p = [nn.Parameter(torch.zeros(2, 3, 4)), nn.Parameter(torch.zeros(2, 1, 4))]
    p[0].grad = torch.stack([torch.full((3, 4), 3.0), torch.full((3, 4), 0.01)])
    p[1].grad = torch.stack([torch.full((1, 4), 4.0), torch.full((1, 4), 0.01)])
    clip_per_member(p, 2, 5.0)
    norms = torch.sqrt(sum(g.grad.reshape(2, -1).pow(2).sum(1) for g in p))
    assert torch.allclose(norms, torch.tensor([5.0, 0.01 * 4]), atol=1e-5)  # first clipped, second untouched


def test_speed_plans():
    cpu = torch.device("cpu")
    fastest = AudiovisualTask.speed_plan("fastest", cpu, 100_000, 9)
    assert not fastest.compile and not fastest.channels_last and fastest.fused_adam
    assert fastest.autocast == ("bfloat16" if cpu_has_native_bf16() else None)
    assert AudiovisualTask.speed_plan("plain", cpu, 10, 9).enabled() == []


def test_fast_level_has_plain_numerics():
    """fast (fused Adam) follows the plain run's history within float tolerance."""
    rng = np.random.default_rng(0)
    v, a = rng.random((96, 30, 17), dtype=np.float32), rng.random((96, 30, 5), dtype=np.float32)
    runs = {}
    for level in ("plain", "fast"):
        _, runs[level] = train_vae(v, a, np.arange(80), np.arange(80, 96), "separate", [6, 2], [0, 0],
                                   VAESettings(epochs=3, speed=level))
    for key in ("loss", "train_acc", "val_acc", "kl_v"):
        assert np.allclose(runs["plain"][key], runs["fast"][key], rtol=1e-3, atol=1e-4), key


def test_train_vae_takes_a_device_and_returns_the_model_on_the_cpu():
    """``VAESettings.device``: auto on a CPU-only machine is the same run as cpu; a CUDA device on a
    machine without one is a clear error, not a silent CPU run."""
    rng = np.random.default_rng(1)
    v, a = rng.random((40, 30, 7), dtype=np.float32), rng.random((40, 30, 3), dtype=np.float32)
    found = {}
    for device in ("cpu", "auto"):
        model, found[device] = train_vae(v, a, np.arange(32), np.arange(32, 40), "joint", [6], [0],
                                         VAESettings(epochs=2, batch_size=8, speed="plain", device=device))
        assert {p.device.type for p in model.parameters()} == {"cpu"}
    if not torch.cuda.is_available():
        for key in ("loss", "val_acc", "kl_a"):
            assert np.array_equal(found["cpu"][key], found["auto"][key]), key
        with pytest.raises(BetavaeError, match="train.device=cuda but CUDA is not available"):
            train_vae(v, a, np.arange(32), np.arange(32, 40), "joint", [6], [0], VAESettings(epochs=1, device="cuda"))
    with pytest.raises(ValueError, match="device must be auto, cpu, cuda"):
        train_vae(v, a, np.arange(32), np.arange(32, 40), "joint", [6], [0], VAESettings(epochs=1, device="gpu"))


def test_teacher_forcing_and_free_running():
    torch.manual_seed(0)
    model = Seq2Seq(1, 3, 2, 4, steps_out=5, decoder_input="teacher")
    x, y = torch.randn(1, 6, 4, 3), torch.randn(1, 6, 5, 2)
    y2 = y.clone()
    y2[:, :, 2] += 1.0  # change step 2 of the target only
    out1, out2 = model(x, y), model(x, y2)
    assert torch.equal(out1[:, :, :3], out2[:, :, :3])  # steps 0-2 never see target step 2
    assert not torch.allclose(out1[:, :, 3], out2[:, :, 3])  # step 3 is fed it (teacher forcing)
    model.eval()
    assert torch.equal(model(x, y), model(x, y2)) and torch.equal(model(x, y), model(x))  # free running
    with pytest.raises(ValueError, match="needs the target"):
        Seq2Seq(1, 3, 2, 4, decoder_input="target")(x)


def test_target_decoder_input_is_handed_the_answer():
    """F6: fed the true latent, the decoder reproduces targets it never trained on from any input."""
    torch.manual_seed(0)
    model = Seq2Seq(1, 8, 8, 8, decoder_input="target")
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    y_train = torch.randn(1, 256, 1, 8)
    for _ in range(400):
        loss = (model(torch.randn(1, 256, 1, 8), y_train) - y_train).pow(2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    y_new = torch.randn(1, 64, 1, 8)
    with torch.no_grad():
        err = (model(torch.zeros(1, 64, 1, 8), y_new) - y_new).pow(2).mean()
    assert err < 0.2 * y_new.pow(2).mean()  # an honest translator from zeros could only give a constant


def test_retrieval_known_answers():
    obj, act = np.array([0, 0, 1, 1]), np.array([0, 1, 0, 1])
    train = np.array([[0.0, 0], [0, 10], [10, 0], [10, 10]])
    pred = np.array([[1.0, 1], [9, 9], [0, 9]])  # → (0, 0), (1, 1), (0, 1)
    r = retrieval(pred, train, obj, act, np.array([0, 1, 1]), np.array([0, 1, 0]))
    for rule in ("nearest", "centroid"):
        assert r[rule]["pair"] == pytest.approx(200 / 3)
        assert r[rule]["object"] == pytest.approx(200 / 3) and r[rule]["action"] == pytest.approx(200 / 3)
        assert r[rule]["per_object"] == {"pen": 100.0, "phone": 50.0}  # object accuracy per true object
        assert r[rule]["per_action"] == {"still": 50.0, "left": 100.0}  # action accuracy per true action
    # a pair absent from training is never retrieved
    held = retrieval(np.array([[10.0, 10]]), train[:3], obj[:3], act[:3], np.array([1]), np.array([1]))
    assert held["nearest"]["pair"] == 0 and held["centroid"]["pair"] == 0


def _tiny_sweep():
    from betavae.experiments.sweep import sweep_from_dict

    return sweep_from_dict({
        "name": "t", "base": "crossmodal_separate",
        "set": {f"data.{k}": v for k, v in TINY.model_dump().items() if k in ("n_sets", "n_voices", "img_size", "speech")}
        | {"train.epochs": 2, "name": "t"},
        "grid": [{"data.protocol": "symbol", "model.variant": ["separate", "joint"], "objective.strategy": [1, 6]},
                 {"data.protocol": "compositional", "data.held_out": 0, "model.variant": ["separate", "joint"]}],
        "seeds": [0], "ensemble": 2, "report": False,
        "evaluate": {"metrics": ["reconstruction", "translation", "baseline"], "translator": {"epochs": 2},
                     "baseline": {"epochs": 2}}})


def _measures(folder) -> dict:
    """Every run's eval.json without what depends on the clock."""
    out = {}
    for path in sorted(folder.glob("*/eval.json")):
        ev = json.loads(path.read_text())
        out[path.parent.name] = {k: v for k, v in ev.items() if k not in ("seconds", "time", "wall_seconds")}
    return out


@pytest.mark.slow
def test_two_workers_give_the_serial_results(tiny_corpus, tmp_path):
    """The study sweep on two worker processes measures exactly what one worker does (the runs of
    one split share the baseline's cache; each worker writes it atomically)."""
    from betavae.experiments.executors import make_executor
    from betavae.experiments.study import run_sweep

    sweep = _tiny_sweep()
    with make_executor("local", 1, 1) as ex:
        serial = run_sweep(sweep, ex, tmp_path / "serial")
    with make_executor("local", 2, 1) as ex:
        parallel = run_sweep(sweep, ex, tmp_path / "par")
    assert serial.statuses == parallel.statuses == {"finished": 6}
    assert len({r["pid"] for r in parallel.records}) == 2  # both workers trained
    assert _measures(tmp_path / "serial") == _measures(tmp_path / "par") and len(_measures(tmp_path / "par")) == 6
    comp = [m for m in _measures(tmp_path / "par").values() if m["test_groups"][0].startswith("object0-action")]
    assert len(comp) == 2
    assert all(m["records"][0]["retrieval"][rule]["pair"] == 0 for m in comp for rule in ("nearest", "centroid"))
