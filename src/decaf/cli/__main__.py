"""``python -m decaf.cli``."""

from decaf.cli import main

raise SystemExit(main())
