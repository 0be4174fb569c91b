#!/usr/bin/env bash
# The GPU check, one command, about 8 minutes on an H100/H200: the CUDA tests (tests/test_cuda.py), then the GPU
# benchmark (benchmark.py --sections gpu); everything lands in the folder given (7 files: the device tool returns 8).
#
#   bash benchmarks/gpu_wheels.sh            # on a machine with PyPI, once: the wheels the GPU machine lacks
#   bash benchmarks/gpu_check.sh "$OUT"      # on the GPU machine, the repository's root carried with .whl/
#   GPU_CHECK_DEVICE=cpu bash benchmarks/gpu_check.sh /tmp/dry   # a dry run here: the same steps, small, on CPU
set -uo pipefail
device=${GPU_CHECK_DEVICE:-cuda}
out=$(realpath -m "${1:-gpu_check}")
cd "$(dirname "$0")/.."
mkdir -p "$out"
export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false PYTHONPATH="$PWD/src"
if compgen -G ".whl/*.whl" >/dev/null; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl ||
    exit 1
  export PYTHONPATH="/tmp/site:$PYTHONPATH"
fi
{
  nvidia-smi
  python3 -c 'import platform, torch, transformers, timm, hiera, importlib.metadata as m
print("python", platform.python_version(), "torch", torch.__version__, "cuda", torch.version.cuda,
      "transformers", transformers.__version__, "timm", timm.__version__, "hiera", m.version("hiera-transformer"),
      "device", torch.cuda.get_device_name() if torch.cuda.is_available() else "no CUDA")'
  python3 -m pip list 2>/dev/null | grep -iE "^(accelerate|datasets|pyarrow|fsspec|huggingface.hub|triton) "
} >"$out/environment.txt" 2>&1
cat "$out/environment.txt"
small=()
[ "$device" = cuda ] || small=(--quick --gpu-archs tiny,base)
timeout 270 env HIERA_HF_TEST_DEVICE="$device" python3 -m pytest tests/test_cuda.py -v -rs -p no:cacheprovider 2>&1 | tee "$out/cuda_tests.log"
tests=${PIPESTATUS[0]}
timeout 330 python3 benchmarks/benchmark.py --device "$device" --dtype bf16 --sections gpu --batch-size 256 \
  --video-batch-size 32 --train-batch-size 128 --rounds 5 --iterations 4 --time-budget 200 "${small[@]}" \
  --output-dir "$out" --name gpu_bf16 2>&1 | tee "$out/benchmark.log"
benchmark=${PIPESTATUS[0]}
echo "CUDA tests exit $tests, benchmark exit $benchmark" | tee -a "$out/benchmark.log"
exit $((tests || benchmark))
