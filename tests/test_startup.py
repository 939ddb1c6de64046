"""`pipeline --help` stays fast: the CLI imports no library module until a command runs."""

from __future__ import annotations

import json
import subprocess
import sys


def test_help_imports_neither_numpy_nor_the_library():
    code = ("import sys; from pipeline.cli import app; "
            "import json; print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in "
            "('numpy', 'torch', 'transformers', 'sklearn', 'asyncio') or m in "
            "('pipeline.predict', 'pipeline.train', 'pipeline.summarize', 'pipeline.modelio'))))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout) == []


def test_the_cli_defaults_equal_the_library_constants():
    from pipeline import predict, summarize
    from pipeline.cli import predict_cmd, review_cmd, summarize_cmd
    from pipeline.review import journal

    assert predict_cmd.CHUNK == predict.CHUNK
    assert review_cmd.DEFAULT_MERGE_EVERY == journal.DEFAULT_MERGE_EVERY
    assert summarize_cmd.BY_CHOICES == summarize.BY_CHOICES
    assert (summarize_cmd.DEFAULT_RESAMPLES, summarize_cmd.DEFAULT_SEED) == (summarize.DEFAULT_RESAMPLES,
                                                                              summarize.DEFAULT_SEED)
