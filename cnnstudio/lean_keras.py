"""Keras without scikit-learn: ``import keras`` imports scikit-learn (and with it scipy) for its
``SKLearn*`` wrapper classes, about 1 s of CPU in every process that imports Keras: each training
child, the window's background loader, every command. CNN Studio never uses those wrappers, so
while Keras' ``wrappers`` package initialises, scikit-learn reads as not installed (the wrappers
are written for that case); any other import of scikit-learn, before or after, is untouched.
"""

from __future__ import annotations

import sys
from importlib.abc import MetaPathFinder

WRAPPERS = "keras.src.wrappers"


def _wrappers_initialising() -> bool:
    spec = getattr(sys.modules.get(WRAPPERS), "__spec__", None)
    return bool(getattr(spec, "_initializing", False))


class _SkipScikitLearnForKerasWrappers(MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name == "sklearn" and _wrappers_initialising():
            raise ModuleNotFoundError("scikit-learn is skipped while Keras' wrappers load (cnnstudio.lean_keras)",
                                      name=name)
        return None


def install() -> None:
    """Put the finder first on the import path, once."""
    if not any(isinstance(finder, _SkipScikitLearnForKerasWrappers) for finder in sys.meta_path):
        sys.meta_path.insert(0, _SkipScikitLearnForKerasWrappers())
