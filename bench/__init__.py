"""The benchmark suite: `python -m bench` measures the nodes' timing through the real compose file.

Modules, one job each: `suite` (the steps in order, the results), `options` (command line and
plan), `progress` (the progress lines), `runs` (the nodes at one rate, their row), `cluster`
(one compose run of the nodes, through deploy.compose), `sampler` (CPU and memory from /proc),
`reference` (the reference loops in containers), `ceiling` (the throughput ceiling search),
`analysis_row` (a simulated run through the analysis), `metrics` (figures from raw logs, through
the analysis), `machine` (what the suite ran on), `naive` (reference tick loops run in the node
image), `micro` (a tick's parts in-process), `profile` (where a node's time goes), `lateness`
(where its late ticks come from), `report` (BENCHMARKS.md).
"""
