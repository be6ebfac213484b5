"""The repository's resources/ folder: the window icon, sample images and the default project.

They live beside the packages, so a checkout (``make run``) has them; where they are missing
the window goes without an icon and the image dialog opens in the home folder.
"""

from __future__ import annotations

from pathlib import Path

RESOURCES = Path(__file__).resolve().parent.parent / "resources"
APP_ICON = RESOURCES / "icons" / "cnnstudio.png"
SAMPLES = RESOURCES / "samples"
DEFAULT_PROJECT = RESOURCES / "default.cnnproj.json"
"""LeNet-5 on mnist-5k with its training settings: what the window opens on."""


def samples_folder() -> str:
    """Where to start looking for an image: the samples, else the home folder."""
    return str(SAMPLES if SAMPLES.is_dir() else Path.home())
