# Copyright 2026 The hiera-hf authors. Licensed under the Apache License, Version 2.0.
"""One module per section of `benchmarks/benchmark.py` (`--sections`); each section returns its report rows."""
