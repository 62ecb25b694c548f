# dashboards targets, included by the root Makefile: the monitoring service, the status
# report and their benchmark. Configuration comes from the environment (see docs/configuration.md).

.PHONY: monitor status bench-dashboards

# `make bench` also measures the monitor's endpoints.
bench: bench-dashboards

monitor: setup ## Dashboard and API on http://127.0.0.1:8000 (docs at /docs); ARGS="--port 8080"
	$(RUN) sensorlake monitor $(ARGS)

status: setup ## Is every reading in its table? Exit 0 healthy, 1 degraded, 2 could not check; ARGS=--json
	$(RUN) sensorlake status $(ARGS)

bench-dashboards: setup ## Benchmark: the monitor over 1,000 gateways, 200,000 objects (moto server): restart, freshness, p95, RSS, S3 cost
	$(RUN) python -m benchmarks.dashboards $(ARGS)
