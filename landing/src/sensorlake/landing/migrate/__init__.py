"""``sensorlake migrate``: bring a fleet over from the old uploader, and back if need be.

- :mod:`.formats`   the old uploader's objects, parsed and told apart (or reported by key)
- :mod:`.oldstore`  listing and reading those objects from S3, in parallel
- :mod:`.history`   old rows in a staging database: duplicates dropped, generations found
- :mod:`.zone`      what the new landing zone (local lake or S3) already holds
- :mod:`.backfill`  old rows landed through landing's own pipeline, exactly once
- :mod:`.compare`   old against new, per gateway and day
- :mod:`.statefile` the old uploader's state file: cut over from it, roll back to it
- :mod:`.uploader`  the old uploader's way of reading and writing, re-enacted (rehearsals,
  tests, benchmarks)
- :mod:`.cli`       the commands
"""

__all__: list[str] = []
