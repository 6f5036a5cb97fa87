"""The machinery of structured pruning (pruning.granularity.structured is what the rest
of the package sees of it): which channels must go together (groups), which may go and
how they rank (plan), what removing them does to each weight (masks), the pruning while
retraining and at once (pruning), the model rebuilt smaller (rebuild), and residual
blocks taken out whole (residual_blocks)."""
