"""dSprites-VSA: paired and scene dSprites, a VAE whose object code is five feature vectors.

Modules, one job each (see docs/vsa.md and spec/dsprites-vsa.md):

- ``settings``: pydantic settings of data, model, loss, training and evaluation;
- ``splits`` + ``pairs``: the train/test split of the grid and Paired-dSprites (PD);
- ``scenes``: Scene-dSprites (SD) and Paired-Scene-dSprites (PSD);
- ``memory``: the fixed item memory and binding (element-wise product, or circular convolution);
- ``model`` + ``losses``: the feature-vector VAE and its loss terms;
- ``train``: swap training (PD), scene training (SD) and both with the item memory (PSD);
- ``classifier`` + ``evaluate``: the factor classifier and the measures of spec §7;
- ``figures``: pictures of the exchange (source, target, result) and of scenes;
- ``grid``: the 17-row experiment table of the source, rerun and labelled;
- ``commands``: the ``bvae vsa`` CLI group.
"""
