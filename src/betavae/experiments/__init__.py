"""Run folders, evaluation glue, sweeps and executors."""
