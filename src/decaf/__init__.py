"""decaf."""
