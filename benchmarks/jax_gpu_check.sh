#!/usr/bin/env bash
# Issue 20's GPU check as one call of the device tool: our layers against keras.layers on the
# JAX backend (the GPU machines hold JAX, not TensorFlow), equality first
# (tests/jax_backend_check.py), then bench_models.py's four networks, float32 without TF32 on
# both sides. Results are also written to $OUT.
#
# Here, once, the wheels Keras needs that the machine's image lacks (it has numpy, h5py, rich,
# absl-py, ml-dtypes and packaging; /.whl/ is git-ignored):
#   python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 \
#     --implementation cp --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 \
#     -d .whl keras==3.15.1 namex optree
# then: run(command="bash benchmarks/jax_gpu_check.sh", carry=[".whl"], timeout_s=540).
# PYTHON names another interpreter (one with JAX and Keras, to try it on a CPU).
set -uo pipefail
PYTHON=${PYTHON:-python3}
OUT=${OUT:-.}
if ! "$PYTHON" -c "import keras" 2>/dev/null; then
    "$PYTHON" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
        --target /tmp/site .whl/*.whl || exit 1
    export PYTHONPATH=/tmp/site
fi
export KERAS_BACKEND=jax JAX_DEFAULT_MATMUL_PRECISION=highest NVIDIA_TF32_OVERRIDE=0
"$PYTHON" -c "import jax, keras; print('jax', jax.__version__, 'keras', keras.__version__, jax.devices())"
"$PYTHON" tests/jax_backend_check.py 2>&1 | tail -3 | tee "$OUT/jax_layers_check.txt"
"$PYTHON" benchmarks/bench_models.py --rounds 5 2>&1 | grep -vE "^([IWEF]0000|WARNING: All log)" \
    | tee "$OUT/bench_models_jax.txt"
