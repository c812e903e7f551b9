"""Cross-modal (video → audio) translation with a two-modality β-VAE and a Seq2Seq translator: the study.

Reproduces Bangarwaa (2025) on a built-in audiovisual object–action set shaped like De Ponte &
Rauchas (2022); see ``spec/crossmodal.md`` and ``docs/crossmodal.md``. Modules: ``train`` (the
study's two stages, trained by the one loop), ``evaluate`` (distances, the listener, controls,
retrieval), ``measures`` (a run's measures for its evaluator), ``tables`` (the thesis's Tables
2–4), ``commands`` (``bvae crossmodal data``). The set itself (labels and the 50-row layout,
speech, video, audio features, generation and cache, real feature files, scaling and tokens,
splits), the β-VAE, the translator, the loss, the data kind and the training tasks live with every
system's: ``betavae.data.audiovisual*``, :mod:`betavae.models.crossmodal`,
:mod:`betavae.models.seq2seq`, :mod:`betavae.objectives.crossmodal`,
:mod:`betavae.train.tasks.audiovisual`.
"""
