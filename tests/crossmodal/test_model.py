import numpy as np
import torch
from torch import nn

from betavae.crossmodal.train import TranslatorSettings, train_translator
from betavae.models.crossmodal import CrossModalVAE, EnsBatchNorm, EnsConv, upsample2
from betavae.models.seq2seq import Seq2Seq, translate
from betavae.objectives.crossmodal import kl_per_member


def test_parameter_counts_match_the_reference():
    assert sum(p.numel() for p in CrossModalVAE(1, "joint").parameters()) == 1_319_862
    assert sum(p.numel() for p in Seq2Seq(1).parameters()) == 1_160  # Keras parity


def test_shapes():
    m = CrossModalVAE(3, "separate")
    out = m(torch.rand(3, 5, 30, 17), torch.rand(3, 5, 30, 5))
    assert out["v_hat"].shape == (3, 5, 30, 17) and out["a_hat"].shape == (3, 5, 30, 5)
    assert out["mu_v"].shape == (3, 5, 8)
    assert ((out["a_hat"] > 0) & (out["a_hat"] < 1)).all()


def test_separate_video_latent_ignores_audio_and_joint_leaks():
    torch.manual_seed(0)
    v, a1, a2 = torch.rand(2, 16, 30, 17), torch.rand(2, 16, 30, 5), torch.rand(2, 16, 30, 5)
    sep = CrossModalVAE(2, "separate").eval()
    assert torch.equal(sep.encode(v, a1)[0], sep.encode(v, a2)[0])
    assert torch.equal(sep.encode_video(v), sep.encode(v, a1)[0])
    joint = CrossModalVAE(2, "joint").eval()
    assert not torch.allclose(joint.encode(v, a1)[0], joint.encode(v, a2)[0])


def test_ensemble_layers_equal_torch_layers():
    torch.manual_seed(1)
    conv = EnsConv(2, 4, 6)
    ref = nn.Conv1d(4, 6, 3, padding=1)
    w = conv.lin.weight[1].detach()  # (3·4, 6): [x_{t-1} | x_t | x_{t+1}] blocks
    ref.weight.data = w.reshape(3, 4, 6).permute(2, 1, 0).contiguous()
    ref.bias.data = conv.lin.bias[1, 0].detach()
    x = torch.rand(2, 5, 10, 4)
    want = ref(x[1].transpose(1, 2)).transpose(1, 2)
    assert torch.allclose(conv(x)[1], want, atol=1e-5)
    up = nn.Upsample(scale_factor=2, mode="linear")(x[0].transpose(1, 2)).transpose(1, 2)
    assert torch.allclose(upsample2(x)[0], up, atol=1e-6)
    bn, tbn = EnsBatchNorm(2, 4), nn.BatchNorm1d(4)
    assert torch.allclose(bn(x)[0], tbn(x[0].transpose(1, 2)).transpose(1, 2), atol=1e-5)
    assert torch.allclose(bn.running_var[0].flatten(), tbn.running_var, atol=1e-6)


def test_kl_known_answer():
    mu, lv = torch.zeros(1, 4, 8), torch.zeros(1, 4, 8)
    assert kl_per_member(mu, lv).item() == 0.0
    mu = torch.ones(1, 4, 8)  # KL per dim = ½μ² = 0.5
    assert abs(kl_per_member(mu, lv).item() - 0.5) < 1e-7
    assert abs(kl_per_member(mu, lv, "sum").item() - 4.0) < 1e-6


def test_translator_beats_the_mean_on_seen_rows():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((512, 8)).astype(np.float32)
    y = np.tanh(x @ rng.standard_normal((8, 8)).astype(np.float32) * 0.5)
    rows = np.arange(512)
    model = train_translator(x[None, :, None], y[None, :, None], rows, [0],
                             TranslatorSettings(epochs=40, lr=1e-2))
    pred = translate(model, x[None, :, None])[0, :, 0]
    assert ((pred - y) ** 2).mean() < 0.5 * ((y.mean(0) - y) ** 2).mean()
