"""Figures: data in, matplotlib figure out. Never drawn inside training: every figure can
be remade from a finished run's logged data."""
