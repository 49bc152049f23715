# Two entry points for a fresh machine: `make demo` and `make test`. Both create .venv if it is missing.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
TEST_STAMP := $(VENV)/.installed-test
PY ?= $(BIN)/python

.PHONY: demo test install clean onnx

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(STAMP): $(BIN)/python setup.cfg pyproject.toml
	$(BIN)/pip install --quiet -e .
	touch $@

$(TEST_STAMP): $(STAMP)
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/python -m ocr read ocr/samples/line.png ocr/samples/paragraph.png
	$(BIN)/python -m speech transcribe speech/samples/hello.wav

# The ONNX twins of the shipped models (what read/transcribe run, without TensorFlow). Each records the SHA-256 of
# its .keras file; a twin that does not match is ignored (with a warning) and a test fails. Run after a retrain
# (the recipes do it themselves) and after changing the network's code (the export holds the computation).
ONNX_MODELS := ocr/models/default.onnx speech/models/default.onnx
NETWORK_CODE := common/frontend.py common/encoder.py common/recognizer.py common/export.py common/onnx_lstm.py
onnx: $(ONNX_MODELS)

ocr/models/default.onnx: ocr/models/default.keras ocr/frontend.py $(NETWORK_CODE)
	$(PY) -m ocr export --model $< --out $@ --overwrite --quantize dynamic_recurrent  # ocr/defaults.py TWIN_QUANTIZATION

speech/models/default.onnx: speech/models/default.keras speech/frontend.py $(NETWORK_CODE)
	$(PY) -m speech export --model $< --out $@ --overwrite

test: $(TEST_STAMP)
	$(BIN)/python -m pytest -q

clean:
	rm -rf $(VENV) build *.egg-info
