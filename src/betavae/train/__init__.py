"""Training: the one loop (:meth:`betavae.train.loop.Loop.fit`), checkpoints and callbacks; no run folders
(those are the experiments layer's: ``experiments/run.py``)."""
