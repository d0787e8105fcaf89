# Two commands on a fresh machine: `make run` and `make test` (README "Quick start").
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
export FLASK_APP := webapp

.PHONY: run test test-sqlite test-s3 test-postgres translations system-deps browser-deps serve clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

$(VENV)/.req: requirements.txt | $(BIN)/python
	$(BIN)/pip install -q -r requirements.txt
	touch $@

$(VENV)/.req-test: requirements-test.txt $(VENV)/.req
	$(BIN)/pip install -q -r requirements-test.txt
	touch $@

# Compiled catalogues are build output, never committed.
# (pybabel refuses to run when there is no catalogue yet; a fresh project must still start.)
translations: $(VENV)/.req
	@if ls webapp/translations/*/LC_MESSAGES/*.po >/dev/null 2>&1; then \
	  $(BIN)/pybabel compile -d webapp/translations; \
	else echo "no translation catalogues yet: Chinese only"; fi

# The watermark needs a CJK font; browser tests need Debian's Chromium (no browser downloads here).
system-deps:
	@fc-list 2>/dev/null | grep -qi "Noto Sans CJK" || $(call apt_install,fonts-noto-cjk)

browser-deps: system-deps
	@command -v chromium >/dev/null || $(call apt_install,chromium)

define apt_install
	{ echo "installing $(1) with apt-get"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $(1) >/dev/null; }
endef

run: $(VENV)/.req translations system-deps
	$(BIN)/flask db upgrade
	$(BIN)/flask seed-demo --if-empty
	@echo ""
	@echo "  巡查 Xuncha on http://127.0.0.1:$${PORT:-8000}"
	@echo "  demo logins (password demo12345): inspector inspector2 desk manager community leader admin"
	@echo ""
	$(BIN)/gunicorn -c gunicorn.conf.py "webapp:create_app()"

test: $(VENV)/.req-test translations browser-deps
	$(MAKE) --no-print-directory test-sqlite
	$(MAKE) --no-print-directory test-s3
	@if [ -n "$$TEST_DATABASE_URL" ]; then $(MAKE) --no-print-directory test-postgres; \
	 else echo "TEST_DATABASE_URL not set: skipping the PostgreSQL run"; fi

test-sqlite:
	env -u TEST_DATABASE_URL $(BIN)/python -m pytest -q $(PYTEST_ARGS)

# The photo suite again with photos in a bucket on a local S3 server (moto on loopback, real HTTP).
S3_SUITE := tests/test_api_photos.py tests/test_api_findings.py tests/test_storage.py tests/test_storage_s3.py \
	tests/test_gc.py tests/test_backup.py tests/test_open311.py tests/test_ops.py
test-s3:
	env -u TEST_DATABASE_URL STORAGE=s3 $(BIN)/python -m pytest -q -m "not browser" $(S3_SUITE) $(PYTEST_ARGS)

# Browser tests exercise the client, which is the same whatever the database: they run once, above.
test-postgres:
	$(BIN)/python -m pytest -q -m "not browser" $(PYTEST_ARGS)

# The performance budgets (docs/benchmarks.md): one table, written to docs/benchmarks.md; non-zero when
# a budget is missed. Minutes, not seconds, so not part of `make test`.
bench: $(VENV)/.req-test translations browser-deps
	$(BIN)/python -m bench.run $(BENCH_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache
