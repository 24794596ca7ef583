"""``python -m lstmgen`` runs the command line, through the same entry point as ``lstmgen``."""

from ._entry import main

main()
