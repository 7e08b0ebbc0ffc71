"""Experiments: sets of configurations (TOML, experiments/sets/) run in containers or the simulator, kept, reported.

`python -m experiments` (see experiments.__main__); the assignment's results live in
experiments/results, other sets' in experiments/results/<set>, and NOTEBOOK.md discusses them.
"""
