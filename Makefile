# `make run`: set up a local venv with the package alone (no test tools) and run the example
# app (SQLite, console connector) on http://127.0.0.1:5000 (`make run PORT=8000` for another).
# `make test`: set up the venv and run every check: ruff, mypy, the docs build and the whole
# test suite.
# `make docs`: build the documentation (Sphinx) into docs/_build/html; any warning fails it.
PYTHON ?= python3
VENV ?= .venv
PORT ?= 5000
BIN := $(VENV)/bin
# Two installs: `make run` needs only the package and its runtime dependencies; every check
# needs the test extra (pytest, Playwright, mypy, Sphinx...). The test install covers the
# runtime one, so it touches both stamps: `make run` after `make test` installs nothing.
RUN_STAMP := $(VENV)/.installed-run
TEST_STAMP := $(VENV)/.installed-test

.PHONY: run test lint typecheck docs pytest browser clean translations

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(RUN_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	touch $(RUN_STAMP)

$(TEST_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(RUN_STAMP) $(TEST_STAMP)

run: $(RUN_STAMP)
	$(BIN)/flask --app example_app run --host 127.0.0.1 --port $(PORT)

lint: $(TEST_STAMP)
	$(BIN)/ruff check flask_sms_otp tests example_app examples
	$(BIN)/ruff format --check flask_sms_otp tests example_app examples

typecheck: $(TEST_STAMP)
	$(BIN)/mypy

# -n: every cross-reference must resolve (the exceptions are listed in docs/conf.py).
docs: $(TEST_STAMP)
	$(BIN)/sphinx-build -W --keep-going -n -q -b html docs docs/_build/html

# The browser tests drive Debian's Chromium (Playwright cannot download browsers here).
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    apt-get update -qq && apt-get install -y -qq chromium >/dev/null; \
	  else echo "chromium is not installed: the browser tests will be skipped"; fi; }

pytest: $(TEST_STAMP) browser
	$(BIN)/pytest $(PYTEST_ARGS)

test: lint typecheck docs pytest

# After changing a user-facing text: re-extract the catalog template, merge it into each
# language's .po (then translate what is new or fuzzy) and compile the .mo files shipped in
# the package. tests/test_translations.py fails until every text is translated and compiled.
CATALOG := flask_sms_otp/translations
BABEL_KEYWORDS := -k _l -k gettext_noop -k _sms -k _sms_n:1,2 -k _sms_html
translations: $(TEST_STAMP)
	$(BIN)/pybabel extract -F babel.cfg $(BABEL_KEYWORDS) --add-location=file --sort-output \
	  --project flask-sms-otp --copyright-holder "flask-sms-otp contributors" \
	  -o $(CATALOG)/flask_sms_otp.pot .
	$(BIN)/pybabel update -i $(CATALOG)/flask_sms_otp.pot -d $(CATALOG) -D flask_sms_otp \
	  --ignore-obsolete --ignore-pot-creation-date
	$(BIN)/pybabel compile -d $(CATALOG) -D flask_sms_otp --statistics
	$(BIN)/pybabel extract -F example_app/babel.cfg --add-location=file --sort-output \
	  -o example_app/translations/messages.pot example_app
	$(BIN)/pybabel update -i example_app/translations/messages.pot -d example_app/translations \
	  --ignore-obsolete --ignore-pot-creation-date
	$(BIN)/pybabel compile -d example_app/translations --statistics

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
