"""Speed and memory benchmarks, one module per area, each with `run(quick) -> dict`; `empathic bench` runs them."""
