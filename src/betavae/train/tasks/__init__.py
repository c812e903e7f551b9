"""One training task per system (see betavae.train.task); each module registers its task in ``TASKS``."""
