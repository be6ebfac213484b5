"""One module per ``cnnstudio`` subcommand.

Each module's docstring's first line is the command's help; it defines
``add_arguments(parser)`` and ``run(args) -> int``, and imports TensorFlow or Keras only
inside ``run`` so that ``cnnstudio --help`` and the GUI's start stay fast.
"""
