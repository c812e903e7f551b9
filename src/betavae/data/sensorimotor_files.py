"""Load and save sensorimotor files: the public ``.mat`` files of Zambelli et al. (2020) or ours.

Formats (spec §8): MATLAB v5 ``.mat`` (``scipy.io.loadmat``) or ``.npz`` (no pickle), keys
``final_database_train`` (N, 56) = input(28) ‖ clean target(28) and ``final_database_test``
(M, 28) clean; alternatively ``input``/``target`` (N, D each) or ``clean`` (N, D, with
``augment=True`` building the four groups). Every problem raises one :class:`BetavaeError`
that names the file, the key and what to do.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from betavae.data.sensorimotor_layout import MUTED, Layout, infer_groups, reference_layout
from betavae.data.sensorimotor_layout import augment as augment_rows
from betavae.data.sensorimotor_rows import Sensorimotor
from betavae.errors import BetavaeError
from betavae.io import atomic_write

log = logging.getLogger(__name__)
TRAIN_KEY, TEST_KEY = "final_database_train", "final_database_test"


def read_arrays(path: str | Path) -> dict[str, np.ndarray]:
    """Arrays of a ``.mat`` (v5) or ``.npz`` file by name (MATLAB header keys dropped)."""
    path = Path(path)
    if not path.is_file():
        raise BetavaeError(f"{path}: no such file")
    if path.suffix == ".npz":
        try:
            with np.load(path, allow_pickle=False) as z:
                return {k: z[k] for k in z.files}
        except ValueError as exc:
            raise BetavaeError(f"{path}: not a plain .npz file ({exc}); re-save it with numpy.savez") from None
    import scipy.io

    with open(path, "rb") as fh:
        head = fh.read(128)
    if b"MATLAB 7.3" in head or head.startswith(b"\x89HDF"):
        raise BetavaeError(f"{path}: MATLAB v7.3 (HDF5) files are not supported; in MATLAB run "
                           "save(name, '-v7') or convert with h5py + scipy.io.savemat")
    try:
        mat = scipy.io.loadmat(path)
    except Exception as exc:  # scipy raises several types for non-MATLAB content
        raise BetavaeError(f"{path}: not a readable MATLAB v5 .mat file ({exc})") from None
    return {k: v for k, v in mat.items() if not k.startswith("__")}


def _value(v: float) -> str:
    return "NaN" if np.isnan(v) else repr(float(v))


def _first_bad(bad: np.ndarray, a: np.ndarray) -> str:
    """``row r column c (from 0) is V (n in all, in m rows)`` for the first True of ``bad`` (2-D)."""
    r, c = np.argwhere(bad)[0]
    return (f"row {r} column {c} (from 0) is {_value(a[r, c])} "
            f"({int(bad.sum())} in all, in {int(bad.any(1).sum())} rows)")


def _array(arrays: dict[str, np.ndarray], key: str, path: Path, cols: int, hint: str = "") -> np.ndarray:
    """The (N, cols) array ``key`` as float64, every value finite; else a BetavaeError saying where
    (``hint`` is added to a wrong-shape message)."""
    if key not in arrays:
        raise BetavaeError(f"{path}: no array {key!r} (found: {', '.join(sorted(arrays)) or 'none'})")
    a = np.asarray(arrays[key])
    if a.ndim != 2 or a.shape[1] != cols or not np.issubdtype(a.dtype, np.number):
        raise BetavaeError(f"{path}: {key!r} has shape {a.shape} ({a.dtype}); expected (N, {cols}) numbers{hint}")
    a = a.astype(np.float64)
    bad = ~np.isfinite(a)
    if bad.any():
        raise BetavaeError(f"{path}: {key!r} {_first_bad(bad, a)}; every value must be a finite number")
    return a


def _check_clean(a: np.ndarray, what: str) -> None:
    bad = ~(np.abs(a) <= 1.0 + 1e-9)  # NaN counts as outside
    if bad.any():
        raise BetavaeError(f"{what}: clean values must lie in [-1, 1]; {_first_bad(bad, a)}")


def check_train(inp: np.ndarray, tgt: np.ndarray, layout: Layout, where: str, strict: bool) -> np.ndarray:
    """Validate training rows (§8) and return each row's group (1–4; 0 = unknown pattern)."""
    _check_clean(tgt, f"{where} target")
    bad = ~((inp == tgt) | (inp == MUTED))
    if bad.any():
        r, c = np.argwhere(bad)[0]
        raise BetavaeError(f"{where}: input row {r} column {c} is {_value(inp[r, c])}, neither its target "
                           f"{_value(tgt[r, c])} nor muted (-2); {int(bad.any(1).sum())} rows affected")
    groups = infer_groups(inp, layout)
    if (groups == 0).any():
        msg = (f"{where}: {int((groups == 0).sum())} rows match none of the four muting groups "
               f"(first: row {int(np.argmax(groups == 0))})")
        if strict:
            raise BetavaeError(msg + "; pass strict=False to keep them as group 0")
        log.warning(msg)
    return groups


def load_sensorimotor(train_path: str | Path | None = None, test_path: str | Path | None = None, *,
                      train_key: str = TRAIN_KEY, test_key: str = TEST_KEY, augment: bool = False,
                      strict: bool = True, layout: Layout | None = None) -> Sensorimotor:
    """Read the training file (augmented (N, 2D) or clean (N, D) with ``augment``) and/or
    the clean test file (M, D) into a :class:`Sensorimotor`. A path may hold both keys."""
    layout = layout or reference_layout()
    d = layout.dims
    if train_path is None and test_path is None:
        raise BetavaeError("give a training file, a test file, or both")
    inp = tgt = np.zeros((0, d))
    groups = np.zeros(0, dtype=np.int64)
    if train_path is not None:
        path = Path(train_path)
        arrays = read_arrays(path)
        where = str(path)
        if "input" in arrays and "target" in arrays:
            inp, tgt = _array(arrays, "input", path, d), _array(arrays, "target", path, d)
            if len(inp) != len(tgt):
                raise BetavaeError(f"{path}: 'input' has {len(inp)} rows but 'target' {len(tgt)}")
        elif "clean" in arrays or augment:
            key = "clean" if "clean" in arrays else train_key
            clean = _array(arrays, key, path, d)
            _check_clean(clean, f"{path} {key!r}")
            inp, tgt, groups = augment_rows(clean, layout)
        else:
            clean_shaped = np.ndim(arrays.get(train_key)) == 2 and np.shape(arrays[train_key])[1] == d
            hint = (f"; (N, {d}) looks like clean rows: save them under the key 'clean', or turn "
                    "augmentation on (data.augment=true; load_sensorimotor(..., augment=True)) to build the "
                    "four muting groups") if clean_shaped else ""
            both = _array(arrays, train_key, path, 2 * d, hint)
            inp, tgt = both[:, :d], both[:, d:]
            where = f"{path} {train_key!r} (input = columns 0–{d - 1}, target = {d}–{2 * d - 1})"
        if len(groups) == 0:
            groups = check_train(inp, tgt, layout, where, strict)
    test = np.zeros((0, d))
    if test_path is not None:
        path = Path(test_path)
        test = _array(read_arrays(path), test_key, path, d)
        _check_clean(test, f"{path} {test_key!r}")
    return Sensorimotor(inp, tgt, groups, test, layout, None, source=f"files({train_path}, {test_path})")


def save_sensorimotor(path: str | Path, train56: np.ndarray, test28: np.ndarray) -> Path:
    """Write the reference keys to ``.mat`` (v5) or ``.npz`` atomically (the simulator's writer)."""
    path = Path(path)
    arrays = {TRAIN_KEY: np.asarray(train56, np.float64), TEST_KEY: np.asarray(test28, np.float64)}
    if path.suffix == ".npz":
        def write(tmp: str) -> None:
            with open(tmp, "wb") as fh:
                np.savez(fh, **arrays)
    elif path.suffix == ".mat":
        import scipy.io

        def write(tmp: str) -> None:
            scipy.io.savemat(tmp, arrays)
    else:
        raise BetavaeError(f"{path}: use a .mat or .npz file name")
    atomic_write(path, write)
    return path


def as_train56(data: Sensorimotor) -> np.ndarray:
    """The training rows as one (N, 2D) array: input ‖ target."""
    return np.concatenate([data.train_input, data.train_target], axis=1)
