"""``python -m lstmgen`` runs the command line."""

from .cli import main

main()
