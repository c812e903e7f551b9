import numpy as np
import pytest

from betavae.data.sensorimotor_layout import (
    MUTED,
    apply_mask,
    augment,
    group_masks,
    infer_groups,
    mask_from_spec,
    protocol_masks,
    reference_layout,
)
from betavae.errors import BetavaeError

LAY = reference_layout()


def kept(mask):
    return np.flatnonzero(mask).tolist()


def test_reference_slices_and_columns():
    assert LAY.sizes == [8, 8, 2, 2, 8] and LAY.dims == 28
    assert LAY.columns("joints", "newer").tolist() == [0, 1, 2, 3]
    assert LAY.columns("joints", "older").tolist() == [4, 5, 6, 7]
    assert LAY.columns("vision", "newer").tolist() == [8, 9, 10, 11]
    assert LAY.columns("touch", "newer").tolist() == [16] and LAY.columns("touch", "older").tolist() == [17]
    assert LAY.columns("sound", "both").tolist() == [18, 19]
    assert LAY.columns("motor", "older").tolist() == [24, 25, 26, 27]
    names = LAY.column_names()
    assert names[16] == "touch_t" and names[17] == "touch_t-1" and names[24] == "motor0_t-1"


def test_groups_match_spec_table():
    g = group_masks(LAY)
    assert kept(g[1]) == list(range(28))
    assert kept(g[2]) == list(range(8, 16))
    assert kept(g[3]) == [4, 5, 6, 7, 12, 13, 14, 15, 17, 19, 24, 25, 26, 27]
    assert kept(g[4]) == list(range(4, 16))
    p = protocol_masks(LAY)
    assert kept(p["control_loop"]) == list(range(4, 16)) and kept(p["prediction"]) == kept(g[3])


def test_reduced_layout():
    lay = reference_layout(n_joints=2, stereo=False)
    assert lay.sizes == [4, 4, 2, 2, 4] and lay.dims == 16
    assert kept(group_masks(lay)[4]) == [2, 3, 4, 5, 6, 7]


def test_augment_and_infer_groups_round_trip():
    rng = np.random.default_rng(0)
    clean = rng.uniform(-1, 1, (5, 28))
    inp, tgt, groups = augment(clean, LAY)
    assert inp.shape == (20, 28) and (tgt == np.tile(clean, (4, 1))).all()
    assert groups.tolist() == [1] * 5 + [2] * 5 + [3] * 5 + [4] * 5
    assert (infer_groups(inp, LAY) == groups).all()
    # inferred from the pattern, not the position
    perm = rng.permutation(20)
    assert (infer_groups(inp[perm], LAY) == groups[perm]).all()
    odd = inp[:1].copy()
    odd[0, 0] = MUTED
    assert infer_groups(odd, LAY).tolist() == [0]


def test_apply_mask_copies():
    x = np.zeros((2, 28))
    y = apply_mask(x, group_masks(LAY)[2])
    assert (x == 0).all() and (y[:, :8] == MUTED).all() and (y[:, 8:16] == 0).all()


def test_mask_from_spec():
    assert kept(mask_from_spec("vision:both,joints:older", LAY)) == list(range(4, 16))
    assert kept(mask_from_spec("vision_only", LAY)) == list(range(8, 16))
    assert kept(mask_from_spec("touch", LAY)) == [16, 17]
    assert mask_from_spec("full", LAY).all()
    with pytest.raises(BetavaeError, match="leaves nothing visible"):
        mask_from_spec("", LAY)
    with pytest.raises(BetavaeError, match="unknown modality 'smell'"):
        mask_from_spec("smell:both", LAY)
