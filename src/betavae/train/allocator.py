"""Memory allocator settings for CPU training: glibc malloc tuning and tcmalloc/jemalloc preloading.

Eager PyTorch on CPU allocates and frees every activation each step. glibc serves blocks above
a dynamic threshold (up to 32 MiB) with fresh ``mmap`` calls and unmaps them on free, so each
step page-faults its activations in again: measured, about 40 % of an eager fp32 step of the
Burgess model at batch 64 on the 2-core reference machine. Two remedies, either is enough:

- :func:`tune_glibc_malloc` (used by the ``fast`` and ``fastest`` speed levels): raise glibc's
  mmap and trim thresholds with ``mallopt`` so freed blocks stay in the process and are reused;
- preload tcmalloc (``apt-get install libtcmalloc-minimal4``) or jemalloc (``libjemalloc2``)
  with ``LD_PRELOAD``; ``bvae`` does that itself when ``BETAVAE_ALLOCATOR=tcmalloc`` (or
  ``jemalloc``) is set (see :func:`reexec_with_allocator`).
"""

from __future__ import annotations

import ctypes
import os
import platform
import sys
from pathlib import Path

from betavae.errors import BetavaeError

#: allocator name -> (shared library, Debian package)
ALLOCATORS: dict[str, tuple[str, str]] = {
    "tcmalloc": ("libtcmalloc_minimal.so.4", "libtcmalloc-minimal4"),
    "jemalloc": ("libjemalloc.so.2", "libjemalloc2"),
}
ENV_VAR = "BETAVAE_ALLOCATOR"
_LIB_DIRS = ("/usr/lib/x86_64-linux-gnu", "/usr/lib/aarch64-linux-gnu", "/usr/lib64", "/usr/lib",
             "/usr/local/lib")
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3
_REEXEC_MARK = "_BETAVAE_ALLOCATOR_REEXEC"


def glibc_malloc() -> ctypes.CDLL | None:
    """The process's C library if it is glibc (with ``mallopt``), else None."""
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return None
    try:
        libc = ctypes.CDLL(None)
    except OSError:
        return None
    return libc if hasattr(libc, "mallopt") else None


def preloaded_allocator() -> str | None:
    """``"tcmalloc"`` or ``"jemalloc"`` if that allocator is loaded in this process, else None."""
    try:
        maps = Path("/proc/self/maps").read_text()
    except OSError:
        return None
    for name in ALLOCATORS:
        if f"lib{name}" in maps:
            return name
    return None


def tune_glibc_malloc() -> bool:
    """Keep freed memory in the process instead of unmapping it (process-wide). Returns success."""
    libc = glibc_malloc()
    if libc is None:
        return False
    ok_mmap = libc.mallopt(_M_MMAP_THRESHOLD, 1 << 30) or libc.mallopt(_M_MMAP_THRESHOLD, 32 << 20)
    ok_trim = libc.mallopt(_M_TRIM_THRESHOLD, (1 << 31) - 1)
    return bool(ok_mmap and ok_trim)


def allocator_library(name: str) -> str:
    """Path of the shared library of allocator ``name``; a clear error if unknown or missing."""
    if name not in ALLOCATORS:
        raise BetavaeError(f"{ENV_VAR}={name!r} is not known; use {', '.join(ALLOCATORS)} or none")
    soname, package = ALLOCATORS[name]
    for d in _LIB_DIRS:
        if (Path(d) / soname).is_file():
            return str(Path(d) / soname)
    raise BetavaeError(f"{ENV_VAR}={name} but {soname} is not installed; on Debian/Ubuntu: "
                       f"apt-get install {package} (or unset {ENV_VAR})")


def reexec_with_allocator(argv: list[str]) -> None:
    """If ``$BETAVAE_ALLOCATOR`` names tcmalloc/jemalloc not yet loaded, re-run this command with
    it in ``LD_PRELOAD`` (replaces the process; returns otherwise). Linux only."""
    name = os.environ.get(ENV_VAR, "").strip().lower()
    if name in ("", "none", "default", "glibc") or platform.system() != "Linux":
        return
    if preloaded_allocator() == name or os.environ.get(_REEXEC_MARK):
        return  # loaded, or tried once already (never loop)
    lib = allocator_library(name)
    preload = " ".join(p for p in (lib, os.environ.get("LD_PRELOAD", "")) if p)
    env = {**os.environ, "LD_PRELOAD": preload, _REEXEC_MARK: "1"}
    os.execve(sys.executable, [sys.executable, "-m", "betavae.cli", *argv], env)
