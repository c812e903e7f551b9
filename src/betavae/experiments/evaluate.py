"""Evaluate a run (or arrays a user brings) with the disentanglement metrics; write ``eval.json``.

This is the glue between runs and the pure metric cores of :mod:`betavae.metrics`: load the
weights, draw factor vectors uniformly over the ground-truth grid, render and encode them
(posterior means), call the metric functions, and record values, settings, seed, versions and
time per metric. Train and test sets are independent draws, as in disentanglement_lib.

Any representation can be scored: :func:`evaluate_encoder` takes any callable from a batch
of observations to codes (a torch module, a NumPy function, another library's model, see
:func:`as_encoder`) and any built-in ground-truth source (see :func:`resolve_data`);
:func:`evaluate_codes_file` scores codes a user saved as ``.npz`` or ``.csv``.
"""

from __future__ import annotations

import csv
import datetime as dt
import time
import zipfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from betavae.errors import BetavaeError
from betavae.io import atomic_write_json
from betavae.metrics import ARRAY_METRICS, beta_vae_score, evaluate, factor_vae_score, sample_codes
from betavae.metrics.posterior import ACTIVE_THRESHOLD, active_units, information_bound, kl_parts
from betavae.metrics.sampling import DEFAULT_ENCODE_BATCH
from betavae.metrics.suite import POSTERIOR_METRICS, SAMPLED_METRICS, check_metric_names

EVAL_FILE = "eval.json"

#: Points drawn per preset. ``default`` is disentanglement_lib's: 10,000 train / 5,000 test
#: for the array metrics; 10,000 / 5,000 points of L = 64 pairs (BetaVAE, 1.9 M images to
#: encode) or vectors (FactorVAE, plus 10,000 for the variances) for the sampled scores.
#: ``fast`` (for use during training) uses 5,000 / 2,500 points, and 500 / 250 points of
#: L = 16 with 5,000 variance points for the sampled scores (about 70k images in all).
SIZES = {
    "default": {"num_train": 10_000, "num_test": 5_000, "sampled_train": 10_000, "sampled_eval": 5_000,
                "sampled_batch": 64, "num_variance_estimate": 10_000},
    "fast": {"num_train": 5_000, "num_test": 2_500, "sampled_train": 500, "sampled_eval": 250,
             "sampled_batch": 16, "num_variance_estimate": 5_000},
}


def resolve_data(data: Any) -> Any:
    """A ground-truth source from ``data``: a source (anything with ``factor_sizes``,
    ``sample_factors_uniform`` and ``observations``, returned as is), a data config, a mapping
    with a ``kind`` (``{"kind": "dsprites_correlated", "pairs": [...]}``) or a kind name
    (``"dsprites"``): any built-in data set (:data:`betavae.data.DATA`)."""
    if all(hasattr(data, a) for a in ("factor_sizes", "sample_factors_uniform", "observations")):
        return data
    from betavae.components import parse_component
    from betavae.config import DATA
    from betavae.data.base import DataConfig

    if isinstance(data, str):
        data = {"kind": data}
    if not isinstance(data, DataConfig):
        try:
            data = parse_component(DATA, data)
        except ValueError as exc:  # pydantic's ValidationError is a ValueError
            raise BetavaeError(f"data: {str(exc).splitlines()[0]}") from None
    return data.build()


def as_encoder(encode: Any, source: Any, full: bool = False) -> Callable[[np.ndarray], Any]:
    """Any encoder as ``observations (n, C, H, W) -> codes (n, D) ndarray``.

    * A ``torch.nn.Module`` is called without gradients, in eval mode (its mode is restored
      afterwards), on a float32 tensor of the observations divided by ``source.pixel_max``
      (values in [0, 1]), on the module's device.
    * Any other callable gets the observations as the source renders them (uint8, or the
      source's dtype) and scales them itself.
    * Outputs: a torch tensor becomes a NumPy array; a tuple or list gives its first element
      (the posterior mean of encoders that return ``(mean, log_variance)``), or with
      ``full=True`` a tuple of all its elements as arrays (a single array stays one).
    """
    if not callable(encode):
        raise BetavaeError(f"encode must be a callable from observations to codes, got {type(encode).__name__}")

    def one(out: Any) -> np.ndarray:
        if hasattr(out, "detach"):  # a torch tensor
            out = out.detach().float().cpu().numpy()
        return np.asarray(out)

    def to_array(out: Any) -> Any:
        if isinstance(out, tuple | list):
            if not out:
                raise BetavaeError("encode returned an empty tuple; return (n, D) codes")
            return tuple(one(o) for o in out) if full else one(out[0])
        return one(out)

    try:
        import torch
    except ImportError:  # pragma: no cover - torch is a dependency
        torch = None
    if torch is not None and isinstance(encode, torch.nn.Module):
        module = encode
        param = next(module.parameters(), None)
        device = param.device if param is not None else torch.device("cpu")
        scale = float(getattr(source, "pixel_max", 1))

        def call(observations: np.ndarray) -> np.ndarray:
            was_training = module.training
            module.eval()
            try:
                with torch.no_grad():
                    x = torch.as_tensor(np.ascontiguousarray(observations), device=device)
                    return to_array(module(x.to(torch.float32) / scale))
            finally:
                module.train(was_training)

        return call
    return lambda observations: to_array(encode(observations))


def evaluate_encoder(
    encode: Any,
    data: Any,
    metrics: Sequence[str] | None = None,
    preset: str = "default",
    seed: int = 0,
    sizes: dict[str, int] | None = None,
    progress: Callable[[str], None] | None = None,
    bootstrap: int = 0,
    breakdown: bool = False,
    intervals: str = "draws",
) -> dict[str, Any]:
    """Score any encoder on a ground-truth data set with every metric, sampled ones included.

    Args:
        encode: a callable from a batch of observations to codes (see :func:`as_encoder`).
        data: a built-in ground-truth source, config, mapping or kind name
            (see :func:`resolve_data`).
        metrics: names from :data:`ALL_METRICS` (default: all, including BetaVAE and
            FactorVAE, which draw their own batches through ``encode``, and ``posterior``, the
            KL split into information and the rest, for encoders that return
            ``(mean, log_variance)``; see :func:`posterior_scores`).
        preset: ``"default"`` (disentanglement_lib's sizes and settings) or ``"fast"``.
        seed: draws the train and test sets and seeds every metric.
        sizes: overrides of :data:`SIZES` for the preset (e.g. ``{"num_train": 2000}``).
        bootstrap: replicates for 95 % intervals of the array metrics (0: none).
        intervals: how the replicates are made: ``"draws"`` (default) draws each replicate's
            train and test sets afresh from the source (``numpy.random.default_rng((seed, 1))``,
            train then test per replicate) and encodes them, so the interval is the spread of
            the score over evaluation samples; ``"bootstrap"`` resamples the drawn rows with
            replacement (:func:`betavae.metrics.evaluate`), which duplicates rows and biases
            the classifier and histogram metrics (docs/metrics.md, *Intervals*).
        breakdown: also per-factor and per-pair values of MIG, DCI and InfoMEC.
        progress: told when each stage starts and ends (a line for the command line).

    Returns:
        ``values``, ``seconds``, ``settings``, ``seed``; with array metrics also
        ``versions``, ``warnings`` and, with ``bootstrap``, ``intervals`` and ``bootstrap``.
    """
    say = progress or (lambda message: None)
    names = check_metric_names(metrics)
    source = resolve_data(data)
    raw_encode, encode = encode, as_encoder(encode, source)
    if not getattr(source, "ground_truth", True):
        raise BetavaeError("the data source has no ground-truth factors (data.kind images), so the "
                           "disentanglement metrics cannot score it; evaluate on a ground-truth data set")
    if preset not in SIZES:
        raise BetavaeError(f"unknown metrics preset {preset!r}; known: {', '.join(SIZES)}")
    unknown = sorted(set(sizes or {}) - set(SIZES[preset]))
    if unknown:
        raise BetavaeError(f"unknown evaluation size(s) {unknown}; known: {', '.join(SIZES[preset])}")
    if intervals not in ("draws", "bootstrap"):
        raise BetavaeError(f"intervals must be draws or bootstrap, not {intervals!r}")
    size = {**SIZES[preset], **(sizes or {})}
    result: dict[str, Any] = {"values": {}, "seconds": {}, "settings": {"preset": preset, **size}}
    array_names = [m for m in names if m in ARRAY_METRICS]
    if array_names:
        t0 = time.perf_counter()
        say(f"encoding {size['num_train']} + {size['num_test']} images")
        rng = np.random.default_rng(seed)
        codes_tr, factors_tr = sample_codes(encode, source, size["num_train"], seed=rng)
        codes_te, factors_te = sample_codes(encode, source, size["num_test"], seed=rng)
        draws = []
        if bootstrap and intervals == "draws":
            say(f"encoding {bootstrap} independent draws of the train and test sets for the intervals")
            draw_rng = np.random.default_rng((seed, 1))
            for _ in range(bootstrap):
                draws.append((*sample_codes(encode, source, size["num_train"], seed=draw_rng),
                              *sample_codes(encode, source, size["num_test"], seed=draw_rng)))
        result["seconds"]["sampling"] = time.perf_counter() - t0
        say(f"encoded in {result['seconds']['sampling']:.1f} s; scoring {', '.join(array_names)}")
        scored = evaluate(codes_tr, factors_tr, codes_te, factors_te, metrics=array_names, preset=preset, seed=seed,
                          bootstrap=0 if draws else bootstrap, draws=draws,
                          factor_names=_factor_names(source, factors_tr.shape[1]), breakdown=breakdown)
        result["values"].update(scored["values"])
        for key in ("intervals", "bootstrap", "breakdown", "breakdown_intervals"):
            if key in scored:
                result[key] = scored[key]
        result["seconds"].update(scored["seconds"])
        result["settings"]["array"] = scored["settings"]
        result["versions"] = scored["versions"]
        result["warnings"] = scored.get("warnings", [])
        say("scored " + ", ".join(f"{m} ({scored['seconds'].get(m, 0):.1f} s)" for m in array_names)
            + f" in {scored['wall_seconds']:.1f} s")
    common = {"seed": seed, "num_train": size["sampled_train"], "num_eval": size["sampled_eval"],
              "batch_size": size["sampled_batch"]}
    if "beta_vae" in names:
        t0 = time.perf_counter()
        say("scoring beta_vae")
        result["values"].update(beta_vae_score(encode, source, **common))
        result["seconds"]["beta_vae"] = time.perf_counter() - t0
        say(f"scored beta_vae in {result['seconds']['beta_vae']:.1f} s")
    if "factor_vae" in names:
        t0 = time.perf_counter()
        say("scoring factor_vae")
        result["values"].update(
            factor_vae_score(encode, source, num_variance_estimate=size["num_variance_estimate"], **common)
        )
        result["seconds"]["factor_vae"] = time.perf_counter() - t0
        say(f"scored factor_vae in {result['seconds']['factor_vae']:.1f} s")
    if "posterior" in names:
        t0 = time.perf_counter()
        say(f"scoring posterior ({size['num_train']} images)")
        scores = posterior_scores(raw_encode, source, size["num_train"], seed)
        if scores is None:
            if metrics is not None and "posterior" in metrics:
                raise BetavaeError("posterior needs an encoder that returns (mean, log_variance); this one "
                                   "returns codes only")
            result.setdefault("warnings", []).append(
                "posterior: skipped, the encoder returns codes only (no log variances)")
        else:
            result["values"].update(scores)
        result["seconds"]["posterior"] = time.perf_counter() - t0
        say(f"scored posterior in {result['seconds']['posterior']:.1f} s")
    result["seed"] = seed
    return result


def posterior_scores(encode: Any, source: Any, num_points: int, seed: int) -> dict[str, float] | None:
    """The posterior diagnostics (:mod:`betavae.metrics.posterior`) of ``encode`` on ``num_points``
    images drawn uniformly over the grid with ``numpy.random.default_rng((seed, 2))``; ``None``
    when the encoder returns codes only (no log variances).

    Keys (nats, summed over latents): ``posterior.kl``, ``posterior.information`` (Σ_j I⁺_j ≥
    Σ_j I(x; z_j)), ``posterior.information_joint`` (≥ I(x; z)), ``posterior.offset``,
    ``posterior.width``; counts ``posterior.active_units`` (Var_x μ_j > 0.01, Burda et al. 2016) and
    ``posterior.informative_latents`` (I⁺_j > 0.01 nats).
    """
    full = as_encoder(encode, source, full=True)
    factors = source.sample_factors_uniform(num_points, np.random.default_rng((seed, 2)))
    mus, logvars = [], []
    for start in range(0, num_points, DEFAULT_ENCODE_BATCH):
        out = full(source.observations(factors[start : start + DEFAULT_ENCODE_BATCH]))
        if not isinstance(out, tuple) or len(out) < 2:
            return None
        mus.append(np.asarray(out[0], dtype=np.float64))
        logvars.append(np.asarray(out[1], dtype=np.float64))
    mu, logvar = np.concatenate(mus), np.concatenate(logvars)
    parts = kl_parts(mu, logvar)
    return {
        "posterior.kl": float(parts["kl"].sum()),
        "posterior.information": float(parts["information"].sum()),
        "posterior.information_joint": information_bound(mu, logvar),
        "posterior.offset": float(parts["offset"].sum()),
        "posterior.width": float(parts["width"].sum()),
        "posterior.active_units": float(active_units(mu).sum()),
        "posterior.informative_latents": float((parts["information"] > ACTIVE_THRESHOLD).sum()),
    }


def evaluate_model(model: Any, source: Any, train_config: Any, device: Any) -> dict[str, float]:
    """Scores of a model being trained (``train.eval_metrics`` at ``train.eval_preset``), keys
    ``eval.<metric>``, for the rows of ``metrics.jsonl``.

    Uses its own seeded generators, so training randomness is untouched; the model is put in eval
    mode for the encoding and back in train mode afterwards.
    """
    import torch

    model.eval()

    @torch.no_grad()
    def encode(obs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        x = torch.from_numpy(np.ascontiguousarray(obs)).to(device, torch.float32)
        mu, logvar = model.encode(x / source.pixel_max)
        return mu.float().cpu().numpy(), logvar.float().cpu().numpy()

    try:
        result = evaluate_encoder(encode, source, train_config.eval_metrics, train_config.eval_preset, seed=0)
    finally:
        model.train()
    return {f"eval.{k}": float(v) for k, v in result["values"].items()}


def evaluate_udr(
    encoders: Sequence[Any],
    data: Any,
    num_points: int = 1000,
    seed: int = 0,
    correlation: str = "lasso",
    batch_size: int = 256,
) -> dict[str, Any]:
    """UDR (:func:`betavae.metrics.udr`) of several encoders on the same observations.

    ``num_points`` factor vectors are drawn uniformly from ``data`` (disentanglement_lib:
    1,000) and rendered once; every encoder encodes them. An encoder returning
    ``(mean, log_variance)`` (a betavae model, a VAE from elsewhere) gives the per-dimension
    KL that filters inactive dimensions; one returning codes alone is not filtered.
    """
    from betavae.metrics.udr import gaussian_kl, udr

    if len(encoders) < 2:
        raise BetavaeError(f"UDR compares models: give at least 2 encoders, got {len(encoders)}")
    source = resolve_data(data)
    factors = np.asarray(source.sample_factors_uniform(num_points, np.random.default_rng(seed)))
    means, kls = [], []
    for encode in encoders:
        call = as_encoder(encode, source, full=True)
        parts = [call(source.observations(factors[s : s + batch_size]))
                 for s in range(0, num_points, batch_size)]
        if isinstance(parts[0], tuple):
            means.append(np.concatenate([p[0] for p in parts]))
            kls.append(gaussian_kl(means[-1], np.concatenate([p[1] for p in parts]))
                       if len(parts[0]) > 1 else None)
        else:
            means.append(np.concatenate(parts))
            kls.append(None)
    kl = None if any(k is None for k in kls) else kls
    result = udr(means, kl, correlation=correlation)
    result.update(num_points=num_points, seed=seed, kl_filtered=kl is not None)
    return result


def _factor_names(source: Any, k: int) -> list[str] | None:
    names = getattr(source, "factor_names", None)
    return [str(n) for n in names] if names is not None and len(names) == k else None


def evaluate_run(
    run_dir: str | Path,
    metrics: Sequence[str] | None = None,
    preset: str = "default",
    seed: int = 0,
    device: str = "cpu",
    sizes: dict[str, int] | None = None,
    progress: Callable[[str], None] | None = None,
    bootstrap: int = 0,
    breakdown: bool = False,
    intervals: str = "draws",
) -> dict[str, Any]:
    """Encode the run's data set with its trained model, score it, write ``eval.json``
    (arguments as :func:`evaluate_encoder`)."""
    from betavae.experiments.load import load_run

    run = load_run(run_dir, device=device)
    t0 = time.perf_counter()
    result = evaluate_encoder(run.encode, run.source, metrics, preset, seed, sizes,
                              progress=progress, bootstrap=bootstrap, breakdown=breakdown, intervals=intervals)
    result.update(
        run=run.run_dir.name,
        step=run.step,
        time=dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        wall_seconds=time.perf_counter() - t0,
    )
    atomic_write_json(Path(run_dir) / EVAL_FILE, result)
    return result


def load_codes_file(path: str | Path) -> dict[str, Any]:
    """Read ``codes`` (N, D) and ``factors`` (N, K) (+ optional ``codes_test``/``factors_test``
    and ``factor_names``) from a user's ``.npz`` (without pickle) or ``.csv``
    (:func:`load_codes_csv`); clear errors for anything else."""
    path = Path(path)
    if not path.is_file():
        raise BetavaeError(f"codes file {path} does not exist")
    if path.suffix.lower() == ".csv":
        return load_codes_csv(path)
    try:
        with np.load(path, allow_pickle=False) as npz:
            arrays = {k: npz[k] for k in npz.files}
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as exc:
        raise BetavaeError(f"{path} is not a readable .npz of plain arrays ({exc})") from None
    for key in ("codes", "factors"):
        if key not in arrays:
            raise BetavaeError(f"{path} has no array {key!r} (it has: {', '.join(arrays) or 'nothing'})")
    if ("codes_test" in arrays) != ("factors_test" in arrays):
        raise BetavaeError(f"{path}: give both codes_test and factors_test, or neither")
    if "factor_names" in arrays:
        arrays["factor_names"] = [str(n) for n in np.asarray(arrays["factor_names"]).reshape(-1)]
    return arrays


def load_codes_csv(path: str | Path) -> dict[str, Any]:
    """Read codes and factors from a CSV whose header names each column.

    Header: ``factor:NAME`` for a factor column (integer classes), ``code:NAME`` for a code
    column, and optionally one ``split`` column whose values are ``train`` or ``test``
    (independent test rows; without it the suite splits the rows by ``train_fraction``). At
    least one factor and one code column; other columns are an error (a typo would
    otherwise vanish silently).
    """
    path = Path(path)
    with path.open(newline="") as fh:
        rows = list(csv.reader(fh))
    if not rows:
        raise BetavaeError(f"{path} is empty; expected a header of factor:NAME and code:NAME columns")
    header = [h.strip() for h in rows[0]]
    factor_cols = [i for i, h in enumerate(header) if h.startswith("factor:")]
    code_cols = [i for i, h in enumerate(header) if h.startswith("code:")]
    split_cols = [i for i, h in enumerate(header) if h == "split"]
    other = [h for i, h in enumerate(header) if i not in {*factor_cols, *code_cols, *split_cols}]
    if other or not factor_cols or not code_cols or len(split_cols) > 1:
        raise BetavaeError(
            f"{path}: the header must name columns factor:NAME (at least one), code:NAME (at least "
            f"one) and optionally one split column; got {', '.join(header)}"
            + (f" (unrecognised: {', '.join(other)})" if other else "")
        )
    body = rows[1:]
    bad = next((n for n, r in enumerate(body, start=2) if len(r) != len(header)), None)
    if bad is not None:
        raise BetavaeError(f"{path}: line {bad} has {len(body[bad - 2])} fields, the header has {len(header)}")

    def numbers(cols: list[int], what: str) -> np.ndarray:
        try:
            return np.array([[float(r[i]) for i in cols] for r in body], dtype=np.float64).reshape(len(body), len(cols))
        except ValueError as exc:
            raise BetavaeError(f"{path}: a {what} value is not a number ({exc})") from None

    codes, factors = numbers(code_cols, "code"), numbers(factor_cols, "factor")
    out: dict[str, Any] = {"factor_names": [header[i].removeprefix("factor:") for i in factor_cols]}
    if not split_cols:
        return {**out, "codes": codes, "factors": factors}
    split = np.array([r[split_cols[0]].strip() for r in body])
    wrong = sorted({str(v) for v in split} - {"train", "test"})
    if wrong:
        raise BetavaeError(f"{path}: the split column holds {wrong}; use train or test")
    train, test = split == "train", split == "test"
    return {**out, "codes": codes[train], "factors": factors[train],
            "codes_test": codes[test], "factors_test": factors[test]}


def evaluate_codes_file(
    path: str | Path, metrics: Sequence[str] | None = None, preset: str = "default", seed: int = 0,
    out: str | Path | None = None, bootstrap: int = 0, breakdown: bool = False,
) -> dict[str, Any]:
    """Score arrays a user brings (``.npz`` or ``.csv``, see :func:`load_codes_file`); writes
    ``<file stem>.eval.json`` beside the file (or ``out``)."""
    names = check_metric_names(metrics)
    sampled = [m for m in names if m in (*SAMPLED_METRICS, *POSTERIOR_METRICS)]
    if sampled and metrics is not None:
        raise BetavaeError(f"{', '.join(sampled)} need a data source and an encoder, not fixed arrays")
    arrays = load_codes_file(path)
    result = evaluate(
        arrays["codes"], arrays["factors"], arrays.get("codes_test"), arrays.get("factors_test"),
        metrics=[m for m in names if m in ARRAY_METRICS], preset=preset, seed=seed, bootstrap=bootstrap,
        factor_names=arrays.get("factor_names"), breakdown=breakdown,
    )
    result["source"] = str(path)
    out = Path(out) if out is not None else Path(path).with_suffix(".eval.json")
    atomic_write_json(out, result)
    result["written_to"] = str(out)
    return result
