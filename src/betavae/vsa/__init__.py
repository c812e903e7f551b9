"""dSprites-VSA's study: evaluation, pictures and the source's grid's rule.

What trains lives in the layers of every system (see docs/vsa.md and spec/dsprites-vsa.md): the
data kinds ``paired_dsprites``, ``scene_dsprites``, ``paired_scene_dsprites`` (``data/``), the
feature-vector VAE, its item memory and the factor classifier (``models/``), the ``vsa`` objective
(``objectives/vsa.py``) and the ``vsa`` task (``train/tasks/vsa.py``), trained by ``bvae train
vsa_paired`` (``vsa_scenes``, ``vsa_paired_scenes``). Modules here, one job each:

- ``settings``: the evaluation settings (thresholds, classifier);
- ``load``: a run folder back as its run config and model;
- ``classifier`` + ``evaluate`` + ``measures`` + ``diagnostics``: the measures of spec §7;
- ``figures``: pictures of the exchange (source, target, result), of scenes and of the loss terms;
- ``study``: the source's 17-row table, its Good/Bad rule and the per-row summary (the grid itself
  is the sweep file ``configs/sweep_vsa_grid.yaml``; the evaluator is
  ``experiments/evaluators/vsa.py``, the report and index sections ``report/sections/vsa.py``);
- ``commands``: the ``bvae vsa`` CLI group (``bvae vsa data``).
"""
