"""Analysis of a Lamport-clock model run: reads only the run's JSON-lines logs.

`python -m analysis [RUN ...]` is the command line (analysis.__main__); analysis.api does the work
(`analyse_folder`, `load_and_analyse`). Modules, in the order data flows: loader (parse, check
against node.schema; bulk reads blocks of tick lines with pyarrow), columns (a node's log as
arrays), matching (every receive matched to its send, per directed link), messages (per-link
accounting), causality (vector clocks, concurrent and ordered pairs, Lamport against
happens-before), metrics (the summary, typed by node.schema), then the outputs: summaryfile
(summary.json), report (terminal), markdown (summary.md), plots, spacetime (the space-time
diagram; window: a --spacetime or --explorer window), shiviz (the ShiViz export), compare
(several runs side by side). files opens what the loader reads and writes every output (regular
files only; never through a link).
"""
