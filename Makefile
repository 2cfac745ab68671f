# decaf: `make demo` stylizes the built-in default picture; `make test` runs the whole suite.
# Both install first (once): a .venv with the pinned dependencies from pyproject.toml.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
OUT    ?= out/demo.png

.PHONY: install demo test lint bench docs proto clean

install: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@echo "installing decaf and its pinned dependencies into $(VENV) (first time: a few minutes)"
	@$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[test]' 2>&1 \
		| grep -v "is ignored: it is neither a file nor a directory" || true
	@# rapidocr pulls opencv-python-headless, which shares the cv2 folder with the contrib build:
	@# whichever installs last wins. Put the contrib build (saliency, ximgproc) back on top.
	@$(BIN)/python -c "import cv2; cv2.ximgproc.segmentation; cv2.saliency.StaticSaliencySpectralResidual_create" \
		2>/dev/null || $(BIN)/python -m pip install --quiet --disable-pip-version-check --force-reinstall \
		--no-deps "$$(grep -o 'opencv-contrib-python-headless==[0-9.]*' pyproject.toml)" 2>&1 \
		| grep -v "is ignored: it is neither a file nor a directory" || true
	@$(BIN)/python -c "import decaf, torch, torchvision, timm, cv2; cv2.ximgproc" || (echo "install failed" && exit 1)
	@touch $(STAMP)

demo: install
	@mkdir -p $(dir $(OUT))
	@$(BIN)/decaf stylize -o $(OUT)

test: install
	$(BIN)/python -m pytest -q tests

lint: install
	$(BIN)/ruff check src tests benchmarks docs
	$(BIN)/ruff format --check src tests benchmarks docs

bench: install
	$(BIN)/python benchmarks/stylize_gatys.py

docs: install
	$(BIN)/python docs/make_stylize_grid.py
	$(BIN)/python docs/make_classify_figures.py

proto: install  # regenerate the committed caffe_pb2.py from our caffe.proto
	$(BIN)/python -m grpc_tools.protoc -Isrc/decaf/caffe/proto --python_out=src/decaf/caffe/proto \
		src/decaf/caffe/proto/caffe.proto

clean:
	rm -rf $(VENV) out .pytest_cache
