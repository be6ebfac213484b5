"""The hand-written layers run unchanged on the JAX backend (where JAX is installed)."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("jax")


def test_layers_equal_keras_layers_on_the_jax_backend():
    script = Path(__file__).with_name("jax_backend_check.py")
    env = {**os.environ, "KERAS_BACKEND": "jax"}
    proc = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, env=env, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "layer configurations equal keras.layers" in proc.stdout
