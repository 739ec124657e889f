"""``python -m greenkit ...`` is the ``greenkit`` command (see :mod:`greenkit.cli`)."""

from greenkit.cli import main

raise SystemExit(main())
