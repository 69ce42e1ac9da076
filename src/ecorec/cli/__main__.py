"""``python -m ecorec.cli`` runs the ``ecorec`` command."""

from ecorec.cli.app import main

main()
