PY := .venv/bin/python
export PYTHONUNBUFFERED := 1

.PHONY: run test test-unit lint test-deploy images release lock soak-saves fuzz-wav fuzz-analysis bench install clean

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

## Lint: ruff check, ruff format --check and mypy (ruff.toml, mypy.ini); tests/test_lint.py runs the same
lint:
	@scripts/bootstrap.sh test
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) -m mypy

## Offline checks of deploy/ and the images' inputs (renders, schemas, checkov, promtool, Prometheus)
test-deploy:
	@scripts/bootstrap.sh test
	scripts/check_deploy.sh

## The five service images from this commit: beatpass/<svc>:<commit> and :dev (Docker with BuildKit)
images:
	scripts/build_images.sh

## Build, push to $(REGISTRY) and pin the digests into deploy/k8s/overlays/prod/release
release:
	@test -n "$(REGISTRY)" || { echo "usage: make release REGISTRY=registry.example/beatpass"; exit 2; }
	REGISTRY=$(REGISTRY) PUSH=1 scripts/build_images.sh

## Re-resolve services/*/requirements.lock (hashes) after changing a pin in a pyproject.toml
lock:
	@scripts/bootstrap.sh test
	$(PY) scripts/lock_requirements.py

## Soak: 80 saves while the gateway is SIGKILLed at random and restarted; one track per key
soak-saves:
	@scripts/bootstrap.sh test
	SOAK_SAVES=80 $(PY) -m pytest -q -s tests/e2e/test_dead_gateway.py -k random_gateway_kills

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

## Longer run of the WAV reader's generated-file property and byte fuzzing (BEATPASS_WAV_EXAMPLES), and of
## generated files through every service's handler (BEATPASS_PIPELINE_EXAMPLES)
fuzz-wav:
	@scripts/bootstrap.sh test
	BEATPASS_WAV_EXAMPLES=$${BEATPASS_WAV_EXAMPLES:-20000} BEATPASS_PIPELINE_EXAMPLES=$${BEATPASS_PIPELINE_EXAMPLES:-3000} \
		$(PY) -m pytest -q --timeout=7200 libs/common/tests/unit/test_wav_generated.py tests/agreement/test_accepted_audio.py

clean:
	rm -rf var .venv test-artifacts
