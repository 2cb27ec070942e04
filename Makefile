# The two commands a new user needs: `make demo` and `make test`.
# Everything the project needs is installed here, from a fresh clone.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test setup lint typecheck catalogues bench clean extract browser documents fuzz

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

# Compiled catalogues are build output: made from the .po files at set-up.
catalogues: $(STAMP)
	$(BIN)/pybabel compile -d tipline/translations -D messages --statistics

setup: $(STAMP) catalogues

# The browser tests drive Debian's chromium with Playwright; no browser is downloaded.
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
# fonts-noto-cjk lets the screenshots of Chinese pages show Chinese, not empty boxes.
# nginx-light is the reverse proxy of deploy/, which tests/test_proxy.py runs on its own
# ports (on a machine with systemd, Debian also starts its own nginx on port 80).
# redis-server: tests/test_redis_acl.py runs its own, with deploy/redis/'s users.
# poppler-utils: pdftoppm draws the exported PDFs' pages for tests/test_export.py to look at.
# libreoffice-writer-nogui: soffice --headless turns a case's statutory documents (DOCX) into
# PDF (triage/cases/documents.py), with the Noto CJK fonts above.
browser:
	@{ command -v chromium >/dev/null && [ -d /usr/share/fonts/opentype/noto ] \
		&& [ -x /usr/sbin/nginx ] && [ -x /usr/bin/redis-server ] && [ -x /usr/bin/pdftoppm ] \
		&& command -v soffice >/dev/null; } || { \
		$(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
		$(SUDO) apt-get install -y -qq chromium fonts-noto-cjk nginx-light redis-server poppler-utils \
		libreoffice-writer-nogui; }

# What the triage site itself needs from Debian: LibreOffice turns a case's statutory
# documents into PDF, with Chinese fonts (the demo serves them too).
documents:
	@{ command -v soffice >/dev/null && [ -d /usr/share/fonts/opentype/noto ]; } || { \
		$(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
		$(SUDO) apt-get install -y -qq libreoffice-writer-nogui fonts-noto-cjk; }

demo: setup documents
	$(BIN)/tipline demo

lint: setup
	$(BIN)/ruff check tipline tests bench deploy

typecheck: setup
	$(BIN)/mypy

# Schemathesis runs in every `make test` with a fixed budget of examples per API operation
# and generation mode; `make test SCHEMATHESIS_EXAMPLES=500` searches longer.
SCHEMATHESIS_EXAMPLES ?= 25

test: setup browser lint typecheck fuzz
	TIPLINE_SCHEMATHESIS_EXAMPLES=$(SCHEMATHESIS_EXAMPLES) $(BIN)/pytest -q

# Coverage-guided fuzzing of the evidence scrubber (atheris) from the committed seeds in
# tests/fuzz/corpus; a longer run: make fuzz FUZZ_SECONDS=600 (FUZZ_KEEP_GOING=1 goes on
# past a failure). Failing inputs land in instance/fuzz/.
# The run in `make test` is a fixed sequence (seed and number of runs), so a clean run stays
# clean on the next checkout and machine;
# `make fuzz FUZZ_ARGS= FUZZ_SECONDS=600` explores from a random seed.
FUZZ_SECONDS ?= 75
FUZZ_ARGS ?= -seed=1 -runs=250000
fuzz: setup
	FUZZ_SECONDS=$(FUZZ_SECONDS) FUZZ_ARGS="$(FUZZ_ARGS)" $(BIN)/python bench/fuzz_scrub.py

bench: setup
	$(BIN)/python bench/submit.py

# Regenerate the message template after changing user-facing strings.
extract: $(STAMP)
	$(BIN)/pybabel extract -F babel.cfg -k N_ -k lazy_gettext -k _l --no-location --sort-output -w 100 \
		-o tipline/translations/messages.pot tipline
	$(BIN)/pybabel update -i tipline/translations/messages.pot -d tipline/translations -D messages --no-fuzzy-matching --ignore-obsolete -w 100

clean:
	rm -rf $(VENV) instance .pytest_cache .mypy_cache .ruff_cache
