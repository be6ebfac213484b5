"""``python -m ui``: the same as the ``cnnstudio`` command (the window by default)."""

import sys

from ui.launcher import main

sys.exit(main())
