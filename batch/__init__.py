"""Batch engines: one Worker mapped over a stream of items, on this machine (local.py) or on a Ray cluster
(ray_engine.py). Tooling only: the runtime packages never import it."""
