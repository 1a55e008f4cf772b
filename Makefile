# The book's two commands (see README.md):
#   make book   set up, execute every notebook (fast profile) and build the HTML book
#   make test   set up, then ruff + pytest: unit tests, the build's checked outputs, nbval over
#               every notebook, the built book in headless Chromium (after make book), then
#               the slow end-to-end checks (Colab simulation, full profile, grader) on their own
#   make browser  only the browser test of the built book (screenshots in _build/html/_screenshots)
#   make colab-cell  write the Colab set-up cell into every notebook (after adding one)
#   make student  write the assignments without their solution cells to student/
#   make instructor  the instructor's assignments (with solutions) as HTML in _build/instructor/
#   grading: .venv/bin/python -m seqbook.grading grade-folder SUBMISSIONS/ GRADES/ (needs bwrap)
# Both create .venv on first use and install the pinned set (requirements.txt).

PYTHON ?= python3
VENV   := .venv
BIN    := $(CURDIR)/$(VENV)/bin
STAMP  := $(VENV)/.installed
export PATH := $(BIN):$(PATH)
export SEQBOOK_PROFILE ?= fast
export PYDEVD_DISABLE_FILE_VALIDATION := 1

NOTEBOOKS := $(sort $(wildcard book/*.ipynb)) $(sort $(wildcard book/assignments/*.ipynb))
TEST_WORKERS ?= 2
TIMER = start=$$(date +%s); trap 'echo "[make] $@: $$(( $$(date +%s) - start )) s"' EXIT;

.PHONY: setup vendor book test test-fast test-slow lint clean browser colab-cell student instructor

setup: $(STAMP)

$(STAMP): requirements.txt requirements-nodeps.txt pyproject.toml
	@$(TIMER) \
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV); \
	$(BIN)/python -m pip install --quiet --upgrade pip && \
	$(BIN)/python -m pip install --quiet -r requirements.txt && \
	$(BIN)/python -m pip install --quiet --no-deps -r requirements-nodeps.txt && \
	$(BIN)/python -m pip install --quiet --no-deps -e . && \
	touch $@

vendor: $(STAMP)
	@$(TIMER) $(BIN)/python scripts/vendor_assets.py

book: $(STAMP) vendor
	@$(TIMER) \
	$(BIN)/jupyter-book build --all --nitpick --warningiserror --keep-going . && \
	echo "[make] the book is at $(CURDIR)/_build/html/index.html"

lint: $(STAMP)
	@$(TIMER) \
	$(BIN)/ruff check src tests scripts book course && \
	$(BIN)/ruff format --check src tests scripts book course

test: $(STAMP) lint test-fast test-slow

# unit tests, the build's checked outputs and nbval over every notebook, on $(TEST_WORKERS)
# processes (one test file or notebook each at a time: a notebook's cells stay in order)
test-fast: $(STAMP)
	@$(TIMER) \
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadscope tests $(NOTEBOOKS) --nbval-lax \
	  --nbval-sanitize-with tests/nbval_sanitize.cfg --durations=15

# the end-to-end checks (a fresh virtual environment for Colab, the full profile, the grader
# for real): each takes minutes, so plain `pytest` leaves them out (pyproject.toml); on
# $(TEST_WORKERS) processes, one test file each at a time (the Colab simulation is the longest)
test-slow: $(STAMP)
	@$(TIMER) $(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadscope tests -m slow --durations=10

browser: $(STAMP)
	@$(TIMER) $(BIN)/python -m pytest tests/test_browser.py -q

student: $(STAMP)
	@$(TIMER) $(BIN)/python -m seqbook.grading student student course/instructor/*.ipynb && \
	echo "[make] student notebooks (solutions removed) are in $(CURDIR)/student/"

instructor: $(STAMP)
	@$(TIMER) mkdir -p _build/instructor && cp course/instructor/*.ipynb _build/instructor/ && \
	$(BIN)/jupyter nbconvert --to html --output-dir _build/instructor course/instructor/*.ipynb && \
	echo "[make] the instructor's assignments (with solutions) are in $(CURDIR)/_build/instructor/"

colab-cell: $(STAMP)
	@$(TIMER) $(BIN)/python scripts/colab_cell.py

clean:
	rm -rf _build .pytest_cache .ruff_cache
