"""Multimodal sensorimotor VAEs (Zambelli et al. 2020) and integration measures (Langer et al. 2024).

The model, loss, data and task are registered parts of the one spine (docs/multimodal.md):
``betavae.models.multimodal`` (model kind ``zambelli``), ``betavae.objectives.multimodal``
(``multimodal_elbo``), ``betavae.data.sensorimotor`` (``sensorimotor``) and
``betavae.train.tasks.sensorimotor``; the one loop trains them. This package holds the study
(see spec/multimodal.md), one job per module:

- ``layout``: the 28-column layout, muting groups and masks;
- ``simulator``: the seeded arm-and-keyboard simulator (``data.sensorimotor`` fills the container);
- ``files``: the ``.mat``/``.npz`` loader and writer of the original study's files;
- ``schedules``: the study's names for the catalogue's ``kl_weight`` schedule, time-scaled;
- ``measures`` + ``protocols``: SME / LoP / baseline / prediction error, and the test protocols;
- ``settings``: the measures' reconstructed choices (``model.measures``); ``scoring``: a model
  scored with them (the sensorimotor evaluator, ``betavae.experiments.evaluators.sensorimotor``);
- ``study`` + ``summary`` + ``figures`` + ``index``: a study's run folders read back, Langer's
  windows, the figures, and the findings in the sweep's index (the study itself is the sweep
  ``sweep_multimodal_langer``; a run's report sections are ``betavae.report.sections.sensorimotor``);
- ``runs``: a ``bvae train`` run folder back as a model;
- ``commands``: the ``bvae multimodal`` CLI group (the simulator).
"""
