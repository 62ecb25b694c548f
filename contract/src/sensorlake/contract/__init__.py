"""What every sensorlake stage shares, written once.

Landing writes files, streams ingest them, infra provisions where they go and dashboards
count them; each imports the facts it needs from here instead of re-deriving them:

- :mod:`.pipelines`: the pipelines, their bucket roles and ``S3_BUCKET_*`` variables, bucket names
- :mod:`.keys`: the object key layout and its partition fields
- :mod:`.lake`: local paths (lake, state, warehouse, checkpoints) and ``s3://`` URLs
- :mod:`.records`: every pipeline's record shape, exported as JSON Schema
- :mod:`.summary`: a landing run's summary, as stored in the gateway state
- :mod:`.errors`: the exit-code table and the error base every package's errors sit under
- :mod:`.gateway_state`: the state directory's layout (database, lock, spool) and its ``runs`` table
- :mod:`.layouts`: the streams' checkpoint and schema locations, and the Databricks job's arguments
- :mod:`.cli`: the root ``sensorlake`` command group that each package extends

Standard library only (``cli`` adds click), so importing any of it costs milliseconds.
This module imports nothing: import the submodule you need.
"""

__all__: list[str] = []
