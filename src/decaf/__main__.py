"""``python -m decaf`` (also ``torchrun … -m decaf train …`` for multi-process training)."""

from decaf.cli import main

raise SystemExit(main())
