"""A SQLite database backend for several processes writing one file (the embedded default)."""
