"""The memory-mapped cache: reuse, rebuild on change, and no valid entry after an interrupted or
killed build."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import numpy as np
import pytest

from betavae.data.filecache import entry_paths, file_stamp, open_cache
from betavae.data.grid import GridImages, grid_order_mismatch


def writer(rows: np.ndarray, calls: list):
    def build(fh):
        calls.append(1)
        fh.write(rows.tobytes())
        return len(rows), {"note": "x"}

    return build


def test_built_once_then_reused(tmp_path):
    src = tmp_path / "src.bin"
    src.write_bytes(b"abc")
    rows = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    calls: list = []
    a, meta = open_cache("t", src, file_stamp(src), (3, 4), writer(rows, calls))
    b, _ = open_cache("t", src, file_stamp(src), (3, 4), writer(rows, calls))
    assert calls == [1] and meta["note"] == "x" and meta["rows"] == 2
    np.testing.assert_array_equal(a, rows)
    np.testing.assert_array_equal(b, rows)
    assert isinstance(b, np.memmap) and not b.flags.writeable


def test_changed_source_rebuilds_and_removes_stale_entry(tmp_path):
    src = tmp_path / "src.bin"
    src.write_bytes(b"abc")
    old_stamp = file_stamp(src)
    open_cache("t", src, old_stamp, (2,), writer(np.zeros((1, 2), np.uint8), []))
    src.write_bytes(b"abcd")
    os.utime(src, ns=(old_stamp["mtime_ns"] + 10**9,) * 2)
    new, _ = open_cache("t", src, file_stamp(src), (2,), writer(np.full((3, 2), 7, np.uint8), []))
    assert new.shape == (3, 2) and (new == 7).all()
    old_data, old_manifest = entry_paths("t", src, old_stamp)
    assert not old_data.exists() and not old_manifest.exists()


def test_failed_build_leaves_nothing_that_loads(tmp_path):
    src = tmp_path / "src.bin"
    src.write_bytes(b"abc")
    stamp = file_stamp(src)

    def broken(fh):
        fh.write(b"\1" * 8)
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        open_cache("t", src, stamp, (8,), broken)
    data, manifest = entry_paths("t", src, stamp)
    assert not data.exists() and not manifest.exists()
    ident = data.name.split("-")[0]
    assert [p for p in data.parent.iterdir() if ident in p.name] == []  # no temporary file either
    calls: list = []
    rows, _ = open_cache("t", src, stamp, (8,), writer(np.full((1, 8), 5, np.uint8), calls))
    assert calls == [1] and (rows == 5).all()


def test_uncommitted_or_truncated_entries_are_rebuilt(tmp_path):
    src = tmp_path / "src.bin"
    src.write_bytes(b"abc")
    stamp = file_stamp(src)
    good = np.full((4, 2), 9, np.uint8)
    open_cache("t", src, stamp, (2,), writer(good, []))
    data, manifest = entry_paths("t", src, stamp)
    manifest.unlink()  # killed after the data rename, before the manifest: not committed
    calls: list = []
    open_cache("t", src, stamp, (2,), writer(good, calls))
    with open(data, "r+b") as fh:
        fh.truncate(3)  # a data file that lost bytes
    open_cache("t", src, stamp, (2,), writer(good, calls))
    assert calls == [1, 1]
    np.testing.assert_array_equal(open_cache("t", src, stamp, (2,), writer(good, calls))[0], good)


KILLED_BUILD = """
import sys, time
from pathlib import Path
from betavae.data.filecache import file_stamp, open_cache
src = Path(sys.argv[1])
def build(fh):
    fh.write(b"\\1" * 100)
    fh.flush()
    print("writing", flush=True)
    time.sleep(60)
    return 1, {}
open_cache("t", src, file_stamp(src), (100,), build)
"""


def test_build_killed_by_sigkill_is_never_loaded(tmp_path):
    src = tmp_path / "src.bin"
    src.write_bytes(b"abc")
    proc = subprocess.Popen([sys.executable, "-c", KILLED_BUILD, str(src)], stdout=subprocess.PIPE,
                            env=os.environ.copy())
    assert proc.stdout.readline().strip() == b"writing"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    data, manifest = entry_paths("t", src, file_stamp(src))
    assert not data.exists() and not manifest.exists()
    ident = data.name.split("-")[0]
    assert [p.suffix for p in data.parent.iterdir() if ident in p.name] == [".tmp"]  # torn, ignored
    torn = next(p for p in data.parent.iterdir() if ident in p.name)
    os.utime(torn, (0, 0))  # long abandoned: removed by the next build
    calls: list = []
    rows, _ = open_cache("t", src, file_stamp(src), (100,), writer(np.full((1, 100), 2, np.uint8), calls))
    assert calls == [1] and (rows == 2).all() and not torn.exists()


def test_grid_images_index_formula_and_pickle(tmp_path):
    import pickle

    src = tmp_path / "src.bin"
    src.write_bytes(b"abc")
    sizes = (2, 3, 4)
    pixels = np.arange(24, dtype=np.uint8)[:, None, None, None] * np.ones((1, 1, 2, 2), np.uint8)
    cached, _ = open_cache("t", src, file_stamp(src), (1, 2, 2), writer(pixels, []))
    grid = GridImages("toy", ("a", "b", "c"), sizes, cached)
    factors = np.array([[0, 0, 0], [0, 0, 3], [0, 2, 1], [1, 0, 0], [1, 2, 3]])
    np.testing.assert_array_equal(grid.index(factors), [0, 3, 9, 12, 23])  # 12·a + 4·b + c
    np.testing.assert_array_equal(grid.factors(grid.index(factors)), factors)
    np.testing.assert_array_equal(grid.observations(factors)[:, 0, 0, 0], [0, 3, 9, 12, 23])
    clone = pickle.loads(pickle.dumps(grid))
    assert isinstance(clone.pixels, np.memmap)
    np.testing.assert_array_equal(clone.observations(factors), grid.observations(factors))
    assert grid_order_mismatch(grid.factors(np.arange(24)), sizes) is None
    assert grid_order_mismatch(grid.factors(np.arange(24))[::-1], sizes) == 0
