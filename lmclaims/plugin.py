"""pytest11 entry point (stub, being written)."""
