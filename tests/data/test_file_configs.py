"""Shipped configs of the file data sets, and `bvae data prepare`."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from betavae.cache import set_cache_dir
from betavae.cli import main
from betavae.config import load_config

SHIPPED = Path(__file__).parents[2] / "src" / "betavae" / "configs"
FILE_CONFIGS = {"shapes3d_beta": "shapes3d", "mpi3d_beta": "mpi3d", "smallnorb_beta": "smallnorb",
                "cars3d_beta": "cars3d", "images_celeba": "images"}


@pytest.mark.parametrize("name, kind", FILE_CONFIGS.items())
def test_shipped_file_configs_validate_and_name_a_missing_path(name, kind, tmp_path, capsys):
    cfg = load_config(SHIPPED / f"{name}.yaml", [f"data.path={tmp_path / 'absent'}"])
    assert cfg.data.kind == kind
    assert main(["data", "prepare", name, f"data.path={tmp_path / 'absent'}"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("bvae: error: ") and str(tmp_path / "absent") in err and "no such" in err


def test_celeba_config_uses_summed_squared_error():
    cfg = load_config(SHIPPED / "images_celeba.yaml")
    assert cfg.model.likelihood.kind == "gaussian" and abs(cfg.model.likelihood.sigma ** 2 - 0.5) < 1e-12


def test_prepare_caches_a_folder_and_reports_skips(tmp_path, capsys):
    folder = tmp_path / "photos"
    folder.mkdir()
    for i in range(3):
        Image.fromarray(np.full((80, 60, 3), 40 * i, np.uint8)).save(folder / f"{i}.jpg")
    (folder / "bad.jpg").write_bytes(b"no")
    try:
        assert main(["data", "prepare", "images_celeba", f"data.path={folder}",
                     f"--cache-dir={tmp_path / 'cache'}"]) == 0
    finally:
        set_cache_dir(None)  # the override is process-wide
    out = capsys.readouterr().out
    assert "images: 3 images of shape (3, 64, 64), factors {'image': 3}" in out
    assert "skipped: 1 file(s)" in out and f"cache: {tmp_path / 'cache'}" in out
