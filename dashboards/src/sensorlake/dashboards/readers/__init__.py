"""The readers: the package's only side effects (landing zone, tables, gateway state)."""

__all__: list[str] = []
