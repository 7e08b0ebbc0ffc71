"""Analysis of a Lamport-clock model run: reads only the run's JSON-lines logs.

`python -m analysis [RUN ...]` (see analysis.__main__). Modules: loader (parse and validate),
metrics (per-node and cross-node figures), messages (per-link accounting), causality (vector
clocks, concurrent and ordered pairs, Lamport against happens-before), plots, spacetime (the
space-time diagram), shiviz (the ShiViz export), report (summary.json / summary.md / terminal),
compare (several runs side by side).
"""
