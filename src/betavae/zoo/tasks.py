"""What a zoo card holds that depends on the model's system: one :class:`ZooTask` per training
task the zoo takes (``config.model.task``), in :data:`TASKS`.

Each entry says how to measure the card's *check values* (cheap, deterministic from the stored
weights on seeded built-in data: what the honest-card test recomputes) and how closely they must
agree, how to score the model fully (the task's evaluator, on the stored weights), which figures
the card shows, its key settings and the headline scores of ``bvae zoo list``. The rest of a card
(facts, retraining command, plateau, pages, manifest) is the same for every task
(:mod:`betavae.zoo.add`).

The seven image cards shipped first have no ``task`` key: :func:`card_task` reads them as ``image``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from betavae.errors import BetavaeError
from betavae.experiments.evaluate import EVAL_FILE
from betavae.zoo import card as C

CURVES_FILE = "curves.png"
GIF_FILE = "traverse.gif"
#: the vsa evaluator's picture of the exchange (betavae.vsa.evaluate writes it beside eval.json)
SWAP_FILE = "swap.png"
MEASURES_FILE = "measures.png"
#: largest traversal GIF a card keeps (the whole zoo stays within its size budget)
MAX_GIF_BYTES = 400_000
#: test items of a vsa model's check values (the first ones of the test split: fixed by the data seed)
VSA_CHECK_ITEMS = 128


@dataclass(frozen=True)
class Request:
    """How ``bvae zoo add`` asked for the full evaluation: the image metrics' preset, seed, sizes
    and interval draws, or the other evaluators' options (``-s key=value``)."""

    preset: str = "fast"
    seed: int = 0
    sizes: dict[str, int] | None = None
    bootstrap: int = 50
    options: dict[str, Any] | None = None


@dataclass(frozen=True)
class ZooTask:
    """The task-specific parts of a zoo card (see the module docstring)."""

    task: str
    #: what the system is, in a few words (card, ``zoo list``, refusals)
    title: str
    #: check values of a loaded run: {"values": {key: number}, ...what they were measured on}
    check: Callable[[Any], dict[str, Any]]
    #: (label, key) of each check value, in the card's order
    check_labels: Callable[[dict[str, Any]], list[tuple[str, str]]]
    #: the full evaluation of a run folder (writes its eval.json)
    evaluate: Callable[[Path, Request, Callable[[str], None]], dict[str, Any]]
    #: the training curves of the run's rows into the folder's curves.png
    curves: Callable[[Path, list[dict[str, Any]], Any], Path]
    #: other figures: [{"file", "caption"}] (written into the folder, or by the evaluation)
    figures: Callable[[Any, Path], list[dict[str, str]]]
    #: the key settings (``zoo list``, the card's facts)
    settings: Callable[[Any], dict[str, Any]]
    #: (evaluation key, label) of the scores ``zoo list`` shows
    headline: tuple[tuple[str, str], ...]
    #: the logged term the plateau rule reads as the reconstruction error
    recon_key: str
    #: whether the ``eval.*`` rows logged during training are scores in [0, 1] that should rise
    #: (the plateau rule's second part); the multimodal measures are KLs in nats, not such scores
    rising_scores: bool
    #: the logged terms of the last row the card keeps
    final_terms: tuple[str, ...]
    #: caption of curves.png
    curves_caption: str
    #: the progress lines of ``bvae zoo add`` before the check values and the full evaluation
    check_message: str
    evaluate_message: Callable[[Request], str]
    #: the card's fields that differ by task (given the check values and the figures)
    card_fields: Callable[[dict[str, Any], list[dict[str, str]]], dict[str, Any]]
    #: the card pages' task-specific context (sections template, contents, check rows, captions)
    page: Callable[[dict[str, Any]], dict[str, Any]]
    #: check keys (substrings) whose values move in steps (thresholded pixels): compared with an
    #: absolute tolerance, the others with a relative one
    stepped: tuple[str, ...] = ()


# ------------------------------------------------------------------ image VAEs (dSprites)

def _image_evaluate(folder: Path, request: Request, say: Callable[[str], None]) -> dict[str, Any]:
    from betavae.experiments.evaluate import evaluate_run

    if request.options:
        raise BetavaeError("-s key=value sets the evaluator of runs that are not image VAEs; image runs take "
                           "--preset, --bootstrap and --seed")
    return evaluate_run(folder, None, request.preset, request.seed, "cpu", request.sizes, progress=say,
                        bootstrap=request.bootstrap)


def _image_curves(folder: Path, rows: list[dict[str, Any]], config: Any) -> Path:
    from betavae.viz.figures import plot_curves

    return plot_curves(rows, folder / CURVES_FILE, config.objective.kind, scores=True)


def write_small_gif(run: Any, out: Path, max_bytes: int = MAX_GIF_BYTES) -> Path:
    """The traversal GIF of 3 seed images (``bvae traverse``'s, 512 images seeded 0 for the KL
    order), at 100 dpi or lower until it is at most ``max_bytes``."""
    from betavae.viz.traverse import posterior_batch, traverse, write_gif

    tr = traverse(run.decode_mean, posterior_batch(run, 512, 0), n_seeds=3)
    dpi = 100
    while True:
        write_gif(tr, out, dpi=dpi)
        if out.stat().st_size <= max_bytes or dpi <= 40:
            return out
        dpi = int(dpi * 0.85)


def _image_figures(run: Any, folder: Path) -> list[dict[str, str]]:
    write_small_gif(run, folder / GIF_FILE)
    return [{"file": GIF_FILE, "caption": "latent traversal"}]


def _image_fields(check: dict[str, Any], figures: list[dict[str, str]]) -> dict[str, Any]:
    """An image card's latents and files, as the first cards have them (and no ``task`` key)."""
    return {"latents": {"kl_per_latent": check["kl_per_latent"], "active": check["active"],
                        "information_per_latent": check["information_per_latent"],
                        "informative": check["informative"], "threshold_nats": C.ACTIVE_NATS,
                        "images": check["images"]},
            "files": {"gif": GIF_FILE, "curves": CURVES_FILE, "eval": EVAL_FILE}}


# ------------------------------------------------------------------ shared by the other systems

def _options(request: Request, task: str) -> dict[str, Any]:
    """The evaluator options of a request for a ``task`` run; the image metrics' own are refused."""
    image = {"--preset": request.preset != "fast", "--bootstrap": request.bootstrap != 50,
             "--seed": request.seed != 0, "sizes": bool(request.sizes)}
    given = [name for name, value in image.items() if value]
    if given:
        raise BetavaeError(f"{', '.join(given)}: options of the image metrics; a {task} run is scored by its own "
                           "evaluator: give its settings as -s key=value")
    return dict(request.options or {})


def _evaluator(task: str) -> Callable[[Path, Request, Callable[[str], None]], dict[str, Any]]:
    def evaluate(folder: Path, request: Request, say: Callable[[str], None]) -> dict[str, Any]:
        from betavae.experiments.evaluators import evaluator_for

        options = _options(request, task)
        evaluator = evaluator_for(task)
        evaluator.check(options)
        return evaluator.after(folder, options)

    return evaluate


#: the contents line of an image card's HTML page (the first cards')
IMAGE_NAV = (("facts", "facts"), ("retrain", "retrain"), ("scores", "scores"), ("check", "check values"),
             ("latents", "latents"), ("curves", "curves"), ("traversal", "traversal"), ("config", "config"))


def _image_page(card: dict[str, Any]) -> dict[str, Any]:
    return {"sections": "_zoo_image", "system": None, "nav": IMAGE_NAV}


def _system_page(task: str, intro: Callable[[dict[str, Any]], str]) -> Callable[[dict[str, Any]], dict[str, Any]]:
    """The page context of a card of ``task`` (not an image VAE): its check rows, captions, contents."""
    def page(card: dict[str, Any]) -> dict[str, Any]:
        entry = TASKS[task]
        nav = [("facts", "facts"), ("retrain", "retrain"), ("scores", "scores"), ("check", "check values"),
               ("curves", "curves"), *([("figures", "figures")] if card.get("figures") else []), ("config", "config")]
        values = card["check"]["values"]
        return {"sections": "_zoo_system", "system": entry.title, "nav": nav, "check_intro": intro(card["check"]),
                "check_rows": [(label, values[key]) for label, key in entry.check_labels(card["check"])],
                "curves_caption": entry.curves_caption, "recon_key": entry.recon_key}

    return page


def _system_fields(task: str) -> Callable[[dict[str, Any], list[dict[str, str]]], dict[str, Any]]:
    def fields(check: dict[str, Any], figures: list[dict[str, str]]) -> dict[str, Any]:
        return {"task": task, "files": {"curves": CURVES_FILE, "eval": EVAL_FILE}, "figures": figures}

    return fields


def _floats(values: dict[str, Any]) -> dict[str, float]:
    import numpy as np

    return {k: float(np.asarray(v).reshape(())) for k, v in values.items()}


# ------------------------------------------------------------------ multimodal (sensorimotor simulator)

def _sensorimotor_check(run: Any) -> dict[str, Any]:
    """On the simulator's test rows the protocols score (the reference's 100–1099), decoded from
    z = μ_z: the complete input's reconstruction RMSE per modality, the normalised RMSE of the
    forward model (every t−1 block kept, the t blocks predicted) and of vision alone per modality;
    and Langer et al.'s prediction error on the seeded evaluation points of ``model.measures``."""
    from betavae.multimodal.protocols import scored_rows
    from betavae.multimodal.scoring import measure, protocols

    settings = run.config.model.measures
    prot = _floats(protocols(run.model, run.source, settings))
    names = run.source.layout.names
    values = {f"complete.rmse_all.{m}": prot[f"complete.rmse_all.{m}"] for m in names}
    values |= {f"{test}.nrmse_muted.{m}": prot[f"{test}.nrmse_muted.{m}"]
               for test in ("prediction", "vision_only") for m in names}
    values = {k: v for k, v in values.items() if v == v}  # NaN: nothing of that modality is muted
    values |= _floats(measure(run.model, run.source, settings, ["prediction_error"]))
    return {"rows": list(scored_rows(run.source.test)), "points": settings.n_points, "point_seed": settings.eval_seed,
            "values": values}


def _sensorimotor_labels(check: dict[str, Any]) -> list[tuple[str, str]]:
    labels = {"complete.rmse_all": "reconstruction RMSE, complete input",
              "prediction.nrmse_muted": "forward model: t blocks from the t−1 blocks (normalised RMSE)",
              "vision_only.nrmse_muted": "from vision alone (normalised RMSE)"}
    out = []
    for key in check["values"]:
        stem, _, modality = key.rpartition(".")
        if stem in labels:
            out.append((f"{labels[stem]}: {modality}", key))
    out.append(("prediction error ‖x − μ(x)‖ (Langer et al.), complete input", "prediction_error"))
    return out


def _sensorimotor_curves(folder: Path, rows: list[dict[str, Any]], config: Any) -> Path:
    from betavae.multimodal.figures import training_figure
    from betavae.multimodal.study import load_study

    study = load_study([folder])
    return training_figure(study.records, study.histories, folder / CURVES_FILE)


def _sensorimotor_figures(run: Any, folder: Path) -> list[dict[str, str]]:
    from betavae.multimodal.figures import measure_curves_figure
    from betavae.multimodal.study import load_study

    records = load_study([folder]).records
    if not any(r["measure"] in ("sme_mod", "lop_mod") for r in records):
        return []
    measure_curves_figure(records, folder / MEASURES_FILE)
    return [{"file": MEASURES_FILE,
             "caption": "SME and LoP (Langer et al. 2024) per modality over training, in nats (log scale; values "
                        "at or below 0 left out), measured during training on the seeded evaluation points."}]


def _sensorimotor_settings(config: Any) -> dict[str, Any]:
    from betavae.multimodal.study import schedule_label

    return {"schedule": schedule_label(config), "n_z": config.model.n_z, "epochs": config.train.epochs,
            "model": config.model.kind, "data": config.data.kind}


# ------------------------------------------------------------------ dSprites-VSA

def _vsa_check(run: Any) -> dict[str, Any]:
    """The reconstruction and exchange measures of the vsa evaluator's stage (no classifier) on
    the first :data:`VSA_CHECK_ITEMS` test items (fixed by the data seed), decoded from μ."""
    from betavae.vsa.evaluate import EVALUATORS
    from betavae.vsa.settings import EvalSettings

    values, _ = EVALUATORS[run.config.data.stage](run.model, None, run.config,
                                                  EvalSettings(n_items=VSA_CHECK_ITEMS))
    scalars = {k: v for k, v in values.items() if not isinstance(v, list)}  # not the count confusion matrix
    return {"items": VSA_CHECK_ITEMS, "split": "test", "values": _floats(scalars)}


VSA_LABELS = {"bce": "BCE (nats / image)", "iou": "IoU (binarised at 0.5)", "cos_shared": "cosine of the shared features",
              "cos_changed": "cosine of the changed feature", "count_acc": "object count accuracy",
              "kl": "KL (nats / image)", "empty": "fraction of empty outputs"}


def _vsa_labels(check: dict[str, Any]) -> list[tuple[str, str]]:
    out = []
    for key in check["values"]:
        parts = key.split(".")
        what = VSA_LABELS.get(parts[-1], parts[-1])
        out.append((f"{' '.join(parts[1:-1]).replace('_', ' ')}: {what}", key))
    return out


def _vsa_curves(folder: Path, rows: list[dict[str, Any]], config: Any) -> Path:
    from betavae.vsa.figures import terms_figure

    out = terms_figure(rows, folder / CURVES_FILE)
    if out is None:
        raise BetavaeError(f"{folder}: the run logged none of the vsa loss terms; nothing to draw")
    return out


def _vsa_figures(run: Any, folder: Path) -> list[dict[str, str]]:
    if not (folder / SWAP_FILE).is_file():  # the evaluator draws it; a stage without one has none
        return []
    return [{"file": SWAP_FILE,
             "caption": "The exchange on the first test items (the vsa evaluator's figure): source, target and the "
                        "decoded result of swapping the named feature (row label) between them."}]


def _vsa_settings(config: Any) -> dict[str, Any]:
    return {"stage": config.data.stage, "kld": config.objective.kld, "cosine": config.objective.cosine,
            "latent_dim": config.model.latent_dim, "hidden": config.model.hidden, "model": config.model.kind,
            "data": config.data.kind}


# ------------------------------------------------------------------ the table

TASKS: dict[str, ZooTask] = {t.task: t for t in (
    ZooTask(
        task="image", title="image VAE", check=C.check_scores, check_labels=lambda check: [],
        evaluate=_image_evaluate, curves=_image_curves, figures=_image_figures, settings=C.settings,
        headline=C.HEADLINE,
        recon_key="recon", rising_scores=True, final_terms=("step", "recon", "kl", "loss"), curves_caption="",
        check_message=f"check scores: reconstruction over {C.CHECK_IMAGES} images, MIG ({C.CHECK_PRESET} preset)",
        evaluate_message=lambda r: (f"evaluating every metric ({r.preset} preset, intervals from {r.bootstrap} "
                                    "independent draws)"),
        card_fields=_image_fields, page=_image_page),
    ZooTask(
        task="sensorimotor", title="multimodal VAE (sensorimotor simulator)", check=_sensorimotor_check,
        check_labels=_sensorimotor_labels, evaluate=_evaluator("sensorimotor"), curves=_sensorimotor_curves,
        figures=_sensorimotor_figures, settings=_sensorimotor_settings,
        headline=(("prediction_error", "prediction error"),
                  ("protocol.prediction.nrmse_muted.joints", "forward model nRMSE (joints)"),
                  ("protocol.vision_only.nrmse_muted.joints", "joints from vision nRMSE")),
        recon_key="recon", rising_scores=False, final_terms=("step", "epoch", "recon", "kl", "loss", "alpha"),
        curves_caption="Prediction error (measured during training), reconstruction loss, latent KL, loss and the "
                       "KL weight α against the epoch (the study's figure, one model).",
        check_message="check values: the protocols' errors on the test rows, the prediction error",
        evaluate_message=lambda r: "evaluating: the integration measures and the five test protocols",
        card_fields=_system_fields("sensorimotor"),
        page=_system_page("sensorimotor", lambda c: (
            f"the simulator's test rows {c['rows'][0]}–{c['rows'][1] - 1} (the protocols' rows; the data seed is the "
            f"config's), decoded from z = μ_z, and {c['points']} test points drawn with seed {c['point_seed']} for "
            "the prediction error"))),
    ZooTask(
        task="vsa", title="dSprites-VSA feature VAE", check=_vsa_check, check_labels=_vsa_labels,
        evaluate=_evaluator("vsa"), curves=_vsa_curves, figures=_vsa_figures, settings=_vsa_settings,
        headline=(("vsa.direct.iou", "IoU"), ("vsa.swap.iou", "swap IoU"), ("vsa.swap_acc.changed", "swap accuracy (changed feature)")),
        recon_key="image", rising_scores=False, final_terms=("step", "loss", "image", "swap", "direct", "kl", "cos"),
        curves_caption="Each logged loss term against the step (image: the reconstruction BCE of the swapped and "
                       "direct images, nats / image).",
        check_message=f"check values: reconstruction and exchange of {VSA_CHECK_ITEMS} test items",
        evaluate_message=lambda r: "evaluating: the vsa measures (the factor classifier is trained once and cached)",
        card_fields=_system_fields("vsa"), stepped=("iou", "count_acc"),
        page=_system_page("vsa", lambda c: (
            f"the first {c['items']} items of the {c['split']} split (fixed by the data seed), encoded to μ and "
            "decoded without sampling; IoU of the decoded images binarised at 0.5"))),
)}


def zoo_task(task: str) -> ZooTask:
    """The entry of ``task``; a task the zoo does not take is refused with the ones it does."""
    if task not in TASKS:
        raise BetavaeError(f"the zoo takes runs of the {', '.join(TASKS)} tasks; {task} runs are not in it yet")
    return TASKS[task]


def card_task(card: dict[str, Any]) -> str:
    """The task of a card (the first image cards have no ``task`` key)."""
    return str(card.get("task", "image"))
