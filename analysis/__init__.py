"""Analysis of a run's logs (stub)."""
