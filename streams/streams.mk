# streams targets, included by the root Makefile: the local streams and the whole flow on
# one machine (`make demo`), plus the streams benchmark in `make bench`.

DEMO_ROWS ?= 50000

.PHONY: demo streams bench-streams bench-streams-fleet java-check

bench: bench-streams bench-streams-fleet

java-check:
	@command -v java >/dev/null 2>&1 || [ -x "$$JAVA_HOME/bin/java" ] || { \
		echo "error: the local streams need Java 17+: sudo apt-get install openjdk-17-jre-headless (macOS: brew install openjdk@17)" >&2; exit 3; }

demo: setup java-check ## The whole flow on this machine: simulate readings, land them, ingest them into local Delta tables, compare rows
	$(RUN) sensorlake simulate --rows $(DEMO_ROWS)
	$(RUN) sensorlake land
	$(RUN) sensorlake streams run --once --verify $(ARGS)

streams: setup java-check ## Ingest landed files into local Delta tables once; ARGS="--continuous --interval 60"
	$(RUN) sensorlake streams run $(ARGS)

bench-streams: setup java-check ## Benchmark: landed files into Delta at 1M rows (rows/s), and `make demo` end to end
	$(RUN) python -m benchmarks.streams $(BENCH_STREAMS_ARGS)

bench-streams-fleet: setup java-check ## Benchmark: the local streams over a 1,000-gateway fleet's lake (files/s, rows/s, reconciliation per gateway)
	$(RUN) python -m benchmarks.streams --fleet 1000
