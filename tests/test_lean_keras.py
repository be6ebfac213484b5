"""Keras loads without scikit-learn in CNN Studio's processes, and scikit-learn stays importable."""

import subprocess
import sys

PROBE = """
import sys
import cnnstudio
import keras
print("after keras:", "sklearn" in sys.modules)
from keras.src.wrappers import fixes
print("wrappers see:", fixes.sklearn)
import sklearn.utils
print("later:", sklearn.utils.__name__)
"""


def test_importing_keras_skips_scikit_learn_which_is_still_importable_afterwards():
    out = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=120, check=True)
    assert out.stdout.splitlines() == ["after keras: False", "wrappers see: None", "later: sklearn.utils"]


def test_the_guard_is_installed_once_and_passes_every_other_import_on():
    from cnnstudio import lean_keras

    lean_keras.install()
    finders = [f for f in sys.meta_path if isinstance(f, lean_keras._SkipScikitLearnForKerasWrappers)]
    assert len(finders) == 1
    assert finders[0].find_spec("sklearn") is None  # outside Keras' wrappers: the normal finders decide
    assert finders[0].find_spec("numpy") is None
