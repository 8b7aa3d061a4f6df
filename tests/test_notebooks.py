"""Runs every notebook's tests (one pytest test per notebook) and the upstream nbdev checks.

Each notebook runs in its own `nbdev-test` process, so TensorFlow and PyTorch state never leaks between
notebooks. Cells tagged with a flag in `[tool.nbdev] tst_flags` (slow, gpu, chromium) are skipped unless the flag
is listed in `$KI67_TEST_FLAGS`, e.g. `KI67_TEST_FLAGS="slow" pytest`.
"""
import hashlib, os, re, shutil, subprocess, sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT/'nbs').glob('[0-9a-z]*.ipynb'))
BIN = Path(sys.executable).parent


def _tool(name):
    "Path of an nbdev console script installed next to this Python."
    exe = BIN/name
    return str(exe) if exe.exists() else shutil.which(name) or name


def _snapshot():
    "Hash of every notebook and package file, to check that a tool changed nothing."
    files = sorted([*(ROOT/'nbs').glob('*.ipynb'), *(ROOT/'ki67_nb').glob('*.py')])
    return {str(f.relative_to(ROOT)): hashlib.sha256(f.read_bytes()).hexdigest() for f in files}


@pytest.mark.parametrize('tool', ['nbdev-clean', 'nbdev-export'])
def test_nbdev_leaves_tree_unchanged(tool):
    "Notebooks are committed clean and the package is in sync with them (the upstream nbdev CI checks)."
    before = _snapshot()
    res = subprocess.run([_tool(tool)], cwd=ROOT, capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    changed = [f for f, h in _snapshot().items() if before.get(f) != h]
    assert not changed, f'{tool} changed {changed}: run it and commit the result'



@pytest.mark.parametrize('nb', NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook(nb):
    "Execute the notebook top to bottom with nbdev-test (flagged cells skipped unless in $KI67_TEST_FLAGS)."
    flags = os.environ.get('KI67_TEST_FLAGS', '')
    env = {**os.environ, 'KI67_PROGRESS': '0', 'MPLBACKEND': 'Agg', 'TF_CPP_MIN_LOG_LEVEL': '2'}
    res = subprocess.run([_tool('nbdev-test'), str(nb), '--flags', flags], cwd=ROOT, env=env,
                         capture_output=True, text=True)
    assert res.returncode == 0, f'{nb.name} failed:\n{res.stdout[-6000:]}\n{res.stderr[-6000:]}'


def test_docs_processor_runs():
    "nbdev's docs processor (what the docs workflow runs before Quarto) executes every notebook's export, import and show_doc cells without error: a test cell that also imports would be run out of context."
    res = subprocess.run([_tool('nbdev-proc-nbs')], cwd=ROOT, capture_output=True, text=True,
                         env={**os.environ, 'KI67_PROGRESS': '0', 'MPLBACKEND': 'Agg', 'TF_CPP_MIN_LOG_LEVEL': '2'})
    assert res.returncode == 0, (res.stdout + res.stderr)[-4000:]
