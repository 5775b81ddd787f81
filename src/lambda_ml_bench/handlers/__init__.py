"""Lambda handlers: `benchmark` (the study's SVM workload) and `predict` (serving a model)."""
