"""Trainings with the student's functions: the trusted SGD loop, the training tasks (data, models, settings,
probes, judges) and the polynomial under/over-fitting figure's probe."""
