"""The readers: the package's only side effects (landing zone, tables, gateway state)."""
