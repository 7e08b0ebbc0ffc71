"""Experiments: named configurations run through the real cluster, kept compactly, reported.

`python -m experiments` (see experiments.__main__); results live in experiments/results and
NOTEBOOK.md discusses them.
"""
