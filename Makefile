PY := .venv/bin/python
export PYTHONUNBUFFERED := 1

.PHONY: run test test-unit fuzz-analysis bench install clean

## Start the whole platform in one process with embedded defaults on http://127.0.0.1:8080
run:
	@scripts/bootstrap.sh run
	$(PY) scripts/run_all.py

## Install what is missing, start what is not running (an S3 server), run every test
test:
	@scripts/bootstrap.sh test
	$(PY) -m pytest -q

## Fast unit tests only (no external services)
test-unit:
	@scripts/bootstrap.sh test
	$(PY) -m pytest -q libs/common/tests/unit services/*/tests/unit

## The analysis property tests with the long hypothesis profile: ten times the examples, longer signals
ANALYSIS_PROPERTIES := services/validation/tests/unit/test_analysis_properties.py \
	services/waveform/tests/unit/test_peaks_properties.py services/fingerprint/tests/unit/test_chroma_properties.py
fuzz-analysis:
	@scripts/bootstrap.sh test
	HYPOTHESIS_PROFILE=long $(PY) -m pytest -q --timeout=3600 $(ANALYSIS_PROPERTIES)

## Benchmarks: printed ratios measured side by side in one run
bench:
	@scripts/bootstrap.sh bench
	$(PY) scripts/run_bench.py

clean:
	rm -rf var .venv test-artifacts
