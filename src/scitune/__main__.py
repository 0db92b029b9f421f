"""``python -m scitune`` is the ``scitune`` command."""

from scitune.cli import main

main()
