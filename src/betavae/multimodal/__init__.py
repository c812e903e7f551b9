"""Multimodal sensorimotor VAEs (Zambelli et al. 2020) and integration measures (Langer et al. 2024).

Modules, one job each (see docs/multimodal.md and spec/multimodal.md):

- ``layout``: the 28-column layout, muting groups and masks;
- ``simulator`` + ``dataset``: the seeded arm-and-keyboard simulator and the data container;
- ``files``: the ``.mat``/``.npz`` loader and writer of the original study's files;
- ``model`` + ``loss``: the batched-ensemble VAE and its objective;
- ``schedules``: the four KL-weight schedules of the study, from the shared schedule library;
- ``train``: batched-ensemble training (E seeds as one model);
- ``measures`` + ``protocols``: SME / LoP / baseline / prediction error, and the test protocols;
- ``study`` + ``summary`` + ``figures`` + ``report``: the study runner and its outputs;
- ``commands``: the ``bvae multimodal`` CLI group.
"""
