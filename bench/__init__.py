"""The benchmark suite: `python -m bench` measures the nodes' timing through the real compose file.

Modules: `suite` (the steps and the command line), `docker` (compose runs, cost sampling),
`metrics` (figures from raw logs), `naive` (reference tick loops run in the node image),
`profile` (where a node's time goes), `report` (BENCHMARKS.md).
"""
