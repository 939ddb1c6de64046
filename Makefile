# Two commands do all the set-up on a fresh machine:
#   make demo   install, segment the seeds, train every backend, predict, evaluate, summarise
#   make test   install and run the default (fast) test suite
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
OUT := out/demo
REPORT := reports/seeds
BACKENDS := majority lexicon tfidf embed transformer

.PHONY: demo test test-slow install lint benchmark clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -e '.[dev,fast,ray]'
	touch $(STAMP)

install: $(STAMP)

test: $(STAMP)
	$(BIN)/pytest

test-slow: $(STAMP)
	$(BIN)/pytest -m slow

lint: $(STAMP)
	$(BIN)/ruff check pipeline tests benchmarks scripts

demo: $(STAMP)
	@mkdir -p $(OUT) models $(REPORT)
	@echo "== 1/6 segment the seed documents"
	$(BIN)/pipeline segment seeds -o $(OUT)/sentences.jsonl
	@echo "== 2/6 validate the labels against the segmented seeds"
	$(BIN)/pipeline validate labels --seeds seeds
	@echo "== 3/6 train every backend (held-out sources inside: seeds, written batches 1, 2 and 3)"
	@for backend in $(BACKENDS); do \
		$(BIN)/pipeline train --backend $$backend --labels labels -o models/$$backend || exit 1; \
	done
	@echo "== 3b/6 ensemble of tfidf and the transformer (no training: their held-out scores averaged)"
	$(BIN)/pipeline combine models/tfidf models/transformer --labels labels -o models/ensemble
	@echo "== 4/6 predict the seeds with the best held-out model"
	$(BIN)/python scripts/best_model.py models > $(OUT)/best_model.txt
	@echo "best model: $$(cat $(OUT)/best_model.txt)"
	$(BIN)/pipeline predict $(OUT)/sentences.jsonl --model $$(cat $(OUT)/best_model.txt) -o $(OUT)/predictions.jsonl
	@echo "== 5/6 evaluation report comparing the backends"
	$(BIN)/pipeline evaluate --labels labels --backends $(shell echo $(BACKENDS) ensemble | tr ' ' ',') \
		--models models -o $(REPORT)
	@echo "== 6/6 blame summary of the seed predictions"
	$(BIN)/pipeline summarize $(OUT)/predictions.jsonl --model $$(cat $(OUT)/best_model.txt) -o $(REPORT)/summary
	@echo "done: report in $(REPORT)/report.md, summary in $(REPORT)/summary/summary.md"

benchmark: $(STAMP)
	$(BIN)/python benchmarks/predict_speed.py --model models/transformer --tfidf models/tfidf

clean:
	rm -rf $(OUT) $(REPORT)
