# Copyright 2026 The hiera-hf authors. Licensed under the Apache License, Version 2.0.
"""The hiera-hf benchmark (`python benchmarks/benchmark.py`): `common` (peers, timing, report), `sections/` (one
module per section), `workers` (the measurements run in a fresh process), `cpu_routes` (the CPU modes and exported
routes the CPU sections and `cpu_modes_agreement.py` share)."""
