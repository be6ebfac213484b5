"""Keras loads without the optional libraries it would import for features we do not use, and
those libraries stay importable."""

import subprocess
import sys

PROBE = """
import sys
import cnnstudio
import keras
print("after keras:", sorted(m for m in ("sklearn", "pandas", "matplotlib") if m in sys.modules))
from keras.src.trainers.data_adapters import array_slicing
from keras.src.visualization import plot_image_gallery
from keras.src.wrappers import fixes
print("keras sees:", fixes.sklearn, array_slicing.pandas, plot_image_gallery.plt)
import matplotlib
import pandas
import sklearn.utils
print("later:", sklearn.utils.__name__, pandas.__name__, matplotlib.__name__)
"""


def test_importing_keras_skips_its_optional_libraries_which_stay_importable_afterwards():
    out = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=120, check=True)
    assert out.stdout.splitlines() == ["after keras: []", "keras sees: None None None",
                                       "later: sklearn.utils pandas matplotlib"]


def test_the_guard_is_installed_once_and_passes_every_other_import_on():
    from cnnstudio import lean_keras

    lean_keras.install()
    finders = [f for f in sys.meta_path if isinstance(f, lean_keras._SkipOptionalLibrariesForKeras)]
    assert len(finders) == 1
    for name in ("sklearn", "pandas", "matplotlib", "numpy"):  # outside those Keras modules: the normal finders decide
        assert finders[0].find_spec(name) is None
