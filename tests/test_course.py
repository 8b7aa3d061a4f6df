"""Every notebook reads as a lesson: a title cell, an Open-in-Colab badge and set-up cell, and at least one figure."""
import re
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT/'nbs').glob('[0-9a-z]*.ipynb'))
FIGURE = re.compile(r'\bplot_\w+\(|\bshow_\w+\(|plt\.|sns\.|\.imshow\(|!\[[^\]]*\]\([^)]+\.png\)')


@pytest.mark.parametrize('path', NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_is_a_lesson(path):
    cells = nbformat.read(path, as_version=4).cells
    title = cells[0]
    assert title.cell_type == 'markdown' and re.match(r'# \S', title.source) and '\n> ' in title.source, \
        f'{path.name}: the first cell must be "# Title" + "> one-line description"'
    assert any(c.cell_type == 'markdown' and 'colab.research.google.com' in c.source for c in cells[:4]), f'{path.name}: no Open-in-Colab badge at the top'
    assert any(c.cell_type == 'code' and "'google.colab' in sys.modules" in c.source for c in cells[:5]), f'{path.name}: no Colab set-up cell at the top'
    assert any(FIGURE.search(c.source) for c in cells), f'{path.name}: no figure'
