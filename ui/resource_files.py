"""The repository's resources/ folder: the window icon and sample images to feed a network.

They live beside the packages, so a checkout (``make run``) has them; where they are missing
the window goes without an icon and the image dialog opens in the home folder.
"""

from __future__ import annotations

from pathlib import Path

RESOURCES = Path(__file__).resolve().parent.parent / "resources"
APP_ICON = RESOURCES / "icons" / "cnnstudio.png"
SAMPLES = RESOURCES / "samples"


def samples_folder() -> str:
    """Where to start looking for an image: the samples, else the home folder."""
    return str(SAMPLES if SAMPLES.is_dir() else Path.home())
