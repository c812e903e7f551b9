"""Cross-modal (video → audio) translation with a two-modality β-VAE and a Seq2Seq translator.

Reproduces Bangarwaa (2025) on a built-in audiovisual object–action set shaped like De Ponte &
Rauchas (2022); see ``spec/crossmodal.md`` and ``docs/crossmodal.md``. Modules: ``vocab``
(labels and the 50-row layout), ``speech`` (espeak-ng), ``render`` (procedural video),
``audio`` (clip placement, MFCCs), ``dataset`` (generation and cache), ``files`` (real feature
files), ``features`` (scaling, tokens, shapes), ``splits``, ``train`` (the study's two stages,
trained by the one loop), ``units``, ``evaluate``, ``study``, ``runs``, ``report``, ``commands``
(``bvae crossmodal``). The β-VAE, the translator, the loss, the data kind and the training tasks
live with every system's: :mod:`betavae.models.crossmodal`, :mod:`betavae.models.seq2seq`,
:mod:`betavae.objectives.crossmodal`, :mod:`betavae.data.audiovisual`,
:mod:`betavae.train.tasks.audiovisual`.
"""
