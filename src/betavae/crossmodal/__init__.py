"""Cross-modal (video → audio) translation with a two-modality β-VAE and a Seq2Seq translator.

Reproduces Bangarwaa (2025) on a built-in audiovisual object–action set shaped like De Ponte &
Rauchas (2022); see ``spec/crossmodal.md`` and ``docs/crossmodal.md``. Modules: ``vocab``
(labels and the 50-row layout), ``speech`` (espeak-ng), ``render`` (procedural video),
``audio`` (clip placement, MFCCs), ``dataset`` (generation and cache), ``files`` (real feature
files), ``features`` (scaling, tokens, shapes), ``splits``, ``model`` (the β-VAE), ``seq2seq``,
``train``, ``evaluate``, ``study``, ``report``, ``commands`` (``bvae crossmodal``).
"""
