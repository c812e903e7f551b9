"""Training: the one loop (:func:`betavae.train.loop.fit`), checkpoints and callbacks."""
