"""Where the zoo lives and what its manifest says: each model's files with sha256 and size.

The zoo root (default: ``betavae/zoo/models`` inside the installed package; override with the
``root`` argument or ``$BETAVAE_ZOO_DIR``) holds one folder per model and one ``manifest.json``::

    {"format": 1, "models": {"NAME": {"files": {"weights.safetensors": {"sha256": "…", "size": 1234}, …}}}}

Every file of a model is checked against the manifest before anything of it is read
(:func:`verified_dir`), so a changed or truncated file is refused with one line. The manifest is
rewritten atomically (:func:`write_manifest`); a model folder is complete before its manifest
entry exists.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from pathlib import Path
from typing import Any

from betavae.errors import BetavaeError
from betavae.io import atomic_write_json

MANIFEST = "manifest.json"
CARD_FILE = "card.json"
PACKAGE_ROOT = Path(__file__).resolve().parent / "models"
ENV_ROOT = "BETAVAE_ZOO_DIR"
NAME_RE = r"[a-z0-9][a-z0-9_.-]{0,63}"


def zoo_root(root: str | Path | None = None) -> Path:
    """``root``, else ``$BETAVAE_ZOO_DIR``, else the package's own zoo."""
    if root is not None:
        return Path(root)
    env = os.environ.get(ENV_ROOT)
    return Path(env) if env else PACKAGE_ROOT


def check_name(name: str) -> str:
    if not re.fullmatch(NAME_RE, name):
        raise BetavaeError(f"zoo model name {name!r}: use 1-64 lower-case letters, digits, '_', '.', '-' "
                           "(starting with a letter or digit)")
    return name


def read_manifest(root: str | Path | None = None) -> dict[str, Any]:
    """The manifest of the zoo at ``root`` ({"format": 1, "models": {}} when there is none yet)."""
    path = zoo_root(root) / MANIFEST
    if not path.is_file():
        return {"format": 1, "models": {}}
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError, OSError) as exc:
        raise BetavaeError(f"{path} is not readable JSON ({exc}); reinstall betavae") from None
    if not isinstance(manifest, dict) or not isinstance(manifest.get("models"), dict):
        raise BetavaeError(f"{path} has no 'models' mapping; reinstall betavae")
    return manifest


def write_manifest(manifest: dict[str, Any], root: str | Path | None = None) -> Path:
    """Write the manifest atomically (models sorted by name)."""
    manifest = {**manifest, "models": dict(sorted(manifest["models"].items()))}
    path = zoo_root(root) / MANIFEST
    atomic_write_json(path, manifest)
    return path


def model_names(root: str | Path | None = None) -> list[str]:
    """The names the manifest lists, sorted."""
    return sorted(read_manifest(root)["models"])


def sha256(path: Path, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def file_records(folder: Path) -> dict[str, dict[str, Any]]:
    """{file name: {"sha256", "size"}} of every plain file in ``folder`` (not hidden ones), sorted."""
    return {p.name: {"sha256": sha256(p), "size": p.stat().st_size}
            for p in sorted(folder.iterdir()) if p.is_file() and not p.name.startswith(".")}


def entry(name: str, root: str | Path | None = None) -> dict[str, Any]:
    """The manifest entry of ``name``; an unknown name lists the known ones."""
    models = read_manifest(root)["models"]
    if name not in models:
        known = ", ".join(sorted(models)) or "none yet"
        raise BetavaeError(f"no zoo model {name!r}; known: {known} (`bvae zoo list`)")
    return models[name]


def verify_file(name: str, folder: Path, file: str, record: dict[str, Any]) -> None:
    """Refuse ``folder/file`` unless its size and sha256 are the manifest's (one line)."""
    path = folder / file
    if not path.is_file():
        raise BetavaeError(f"zoo model {name}: {path} is missing; reinstall betavae (or re-add the model)")
    size = path.stat().st_size
    if size != record["size"]:
        raise BetavaeError(f"zoo model {name}: {path} is {size} bytes, the manifest says {record['size']} "
                           "(truncated or changed); reinstall betavae (or re-add the model)")
    if sha256(path) != record["sha256"]:
        raise BetavaeError(f"zoo model {name}: {path} does not match its sha256 in the manifest (changed or "
                           "damaged); reinstall betavae (or re-add the model)")


def verified_dir(name: str, root: str | Path | None = None, files: list[str] | None = None) -> Path:
    """The folder of zoo model ``name`` after checking ``files`` (default: all of its files)
    against the manifest."""
    record = entry(name, root)["files"]
    folder = zoo_root(root) / name
    for file in record if files is None else files:
        if file not in record:
            raise BetavaeError(f"zoo model {name}: the manifest lists no {file}; reinstall betavae")
        verify_file(name, folder, file, record[file])
    return folder
