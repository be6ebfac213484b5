"""``python -m cnnstudio``: the same as the ``cnnstudio`` command."""

import sys

from cnnstudio.cli import main

sys.exit(main())
