"""``python -m cnnstudio``: the engine's commands, headless (the window is ``python -m ui``)."""

from cnnstudio.cli import main
from cnnstudio.process_exit import exit_now

exit_now(main())
