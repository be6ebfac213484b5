"""Keras without the optional libraries it imports for features CNN Studio does not use.

``import keras`` imports scikit-learn and scipy (for its ``SKLearn*`` wrappers), pandas (to slice
DataFrames passed to ``fit``) and matplotlib's pyplot (for ``plot_image_gallery``) whenever they
are installed, and they are (other packages need them): 1.5 s of the 4.7 s of CPU that every
process importing Keras spends, and there is one per training run, command and window. While
those Keras modules initialise, the library reads as not installed, which each of them is
written for; any other import of it, before or after, is untouched.
"""

from __future__ import annotations

import sys
from importlib.abc import MetaPathFinder

SKIPPED_FOR = {
    "sklearn": "keras.src.wrappers",
    "pandas": "keras.src.trainers.data_adapters.array_slicing",
    "matplotlib": "keras.src.visualization",
}
"""Each optional library, and the Keras package that imports it only for features we do not use."""


def _initialising(package: str) -> bool:
    """Whether ``package`` or one of its modules is running its module code right now."""
    return any((name == package or name.startswith(package + "."))
               and getattr(getattr(module, "__spec__", None), "_initializing", False)
               for name, module in list(sys.modules.items()))


class _SkipOptionalLibrariesForKeras(MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        keras_module = SKIPPED_FOR.get(name)
        if keras_module is not None and _initialising(keras_module):
            raise ModuleNotFoundError(f"{name} is skipped while {keras_module} loads (cnnstudio.lean_keras)",
                                      name=name)
        return None


def install() -> None:
    """Put the finder first on the import path, once."""
    if not any(isinstance(finder, _SkipOptionalLibrariesForKeras) for finder in sys.meta_path):
        sys.meta_path.insert(0, _SkipOptionalLibrariesForKeras())
