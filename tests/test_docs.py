"""The docs site renders: every notebook, processed as nbdev-docs processes it (`nbdev-proc-nbs`: directives applied,
hidden and exported cells replaced by their docs), is rendered to HTML with its saved outputs, opened in headless
Chromium, and must show a title and its figures and no error output.

Quarto (which builds the real site in .github/workflows/deploy.yaml, from the same processed notebooks) cannot be
installed everywhere, so this is the local proof. It needs Chromium (`apt-get install chromium`) and is opt-in:
`KI67_TEST_FLAGS=chromium pytest tests/test_docs.py`. Pages and screenshots are left in `_docs_check/`.
"""
import os, re, shutil, subprocess, sys, tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT/'_docs_check'
CHROMIUM = next((shutil.which(c) for c in ['chromium', 'chromium-browser', 'google-chrome'] if shutil.which(c)), None)
pytestmark = pytest.mark.skipif(not CHROMIUM or 'chromium' not in os.environ.get('KI67_TEST_FLAGS', '').split(),
                                reason='needs Chromium and KI67_TEST_FLAGS containing "chromium"')
NOTEBOOKS = sorted(p.name for p in (ROOT/'nbs').glob('[0-9a-z]*.ipynb'))
CHROME_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
               '--disable-background-networking', '--disable-component-update', '--disable-sync', '--hide-scrollbars']


@pytest.fixture(scope='module')
def processed():
    "Notebooks as nbdev-docs processes them."
    res = subprocess.run([str(Path(sys.executable).parent/'nbdev-proc-nbs')], cwd=ROOT, capture_output=True, text=True)
    assert res.returncode == 0, res.stderr[-3000:]
    OUT.mkdir(exist_ok=True)
    return ROOT/'_proc'


def chromium(*args, timeout=120):
    with tempfile.TemporaryDirectory() as profile:
        return subprocess.run([CHROMIUM, *CHROME_ARGS, f'--user-data-dir={profile}', *args], capture_output=True, text=True, timeout=timeout)


@pytest.mark.parametrize('name', NOTEBOOKS)
def test_page_renders(processed, name):
    import nbformat
    from nbconvert import HTMLExporter
    nb = nbformat.read(processed/name, as_version=4)
    errors = [o for c in nb.cells if c.cell_type == 'code' for o in c.get('outputs', []) if o.output_type == 'error']
    assert not errors, f'{name}: error output {errors[0].get("ename")}: {errors[0].get("evalue")}'
    for c in nb.cells: c.metadata.pop('execution', None)   # nbdev's timing metadata is not valid nbformat
    html, _ = HTMLExporter().from_notebook_node(nb)
    page = OUT/name.replace('.ipynb', '.html')
    page.write_text(html)
    dom = chromium('--dump-dom', page.as_uri()).stdout
    assert '<h1' in dom or 'title:' in dom, f'{name}: page has no title'
    assert re.search(r'<img[^>]+src="data:image/png', dom), f'{name}: no figure on the rendered page'
    shot = chromium(f'--screenshot={OUT/name.replace(".ipynb", ".png")}', '--window-size=1280,2400', page.as_uri())
    assert shot.returncode == 0, shot.stderr[-2000:]
