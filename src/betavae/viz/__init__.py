"""Figures (matplotlib with the Agg backend; nothing opens a window)."""
