"""A model machine of an asynchronous distributed system with a Lamport logical clock.

Run as `python -m node` (configuration from the environment; README: Configuration).
"""

__version__ = "0.1.0"
