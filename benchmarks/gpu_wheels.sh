#!/usr/bin/env bash
# The wheels the GPU machine lacks (Python 3.12, torch 2.11, transformers 5.17, no hiera-transformer), into .whl/
# of the repository (ignored by git): the versions CI tests. benchmarks/gpu_check.sh installs them there.
# pyarrow (55 MB) stays behind: the device tool carries 64 MiB in all, and the machine has its own.
set -euo pipefail
cd "$(dirname "$0")/.."
grep -qx "/.whl/" .git/info/exclude 2>/dev/null || { mkdir -p .git/info && echo /.whl/ >>.git/info/exclude; }
platforms=()
for platform in manylinux_2_28_x86_64 manylinux_2_27_x86_64 manylinux_2_17_x86_64 manylinux2014_x86_64 manylinux1_x86_64; do
  platforms+=(--platform "$platform")
done
python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp "${platforms[@]}" \
  -d .whl transformers==5.23.0 hiera-transformer==0.1.4 timm==1.0.31 datasets==5.2.0 evaluate==0.4.6 dill==0.4.1 \
  multiprocess==0.70.19 parameterized==0.9.0
du -sh .whl
