"""The user-facing parts: the `empathic` command, the web demo, benchmarks. Wires the other packages together."""
