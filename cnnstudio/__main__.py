"""``python -m cnnstudio``: the engine's commands, headless (the window is ``python -m ui``)."""

import sys

from cnnstudio.cli import main

sys.exit(main())
