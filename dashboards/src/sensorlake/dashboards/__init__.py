"""Monitoring for sensorlake: the ``sensorlake monitor`` service and ``sensorlake status``.

Readers (:mod:`.readers`) collect the landing zone, the tables and the gateway state;
:mod:`.snapshot` turns them into figures; :mod:`.monitor` refreshes them in the background;
:mod:`.app` serves them (API, Prometheus, page) and :mod:`.status` prints them.
"""

__all__: list[str] = []
