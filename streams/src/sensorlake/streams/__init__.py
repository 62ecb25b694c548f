"""The Auto Loader streams: landed files into Unity Catalog Delta tables.

One query per target, written once: :mod:`.spec` (options, schema, paths, names; pure) and
:mod:`.transform` (the shared transformation) serve both :mod:`.databricks` (the job's
entry point, ``cloudFiles`` into ``toTable``) and :mod:`.runner` (the local runner, ``json``
into Delta with ``deltalake``). Import the submodule you need: this one imports nothing.
"""

__all__: list[str] = []
