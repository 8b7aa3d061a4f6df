"""The house rules, checked on the exported package: a module imports only layers below it, the synthetic generator
and the test fixtures stay out of the stages, and only `core.Dataset` spells the dataset's file names.

The layer of a module is the number of the notebook it is exported from (`nbs/NN_name.ipynb`; `NNb_name` sits between NN and NN+1, as in fastai), so the notebook order
*is* the dependency order. `cli` (the face, importing stages lazily) stands above everything; the fixtures (`testing`)
and the synthetic truth (`truth`) sit right after the generator, so that every lesson can use them.

The notebooks follow fastcore's: one short definition per cell (median at most 10 lines, none over 40), few lines
over 120 characters, `show_doc` for what users call, and a lesson imports only earlier lessons.
"""
import ast, re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PKG = ROOT/'ki67_nb'
def _rank(stem:str) -> float:
    "Layer of a notebook: `05_tiles` -> 5, `04b_register` -> 4.2 (fastai-style letters sit between two numbers)."
    num, letter = re.match(r'^(\d+)([a-z]?)_', stem).groups()
    return int(num) + (ord(letter) - ord('a') + 1)/10 if letter else int(num)

RANK = {re.sub(r'^\d+[a-z]?_', '', p.stem): _rank(p.stem) for p in (ROOT/'nbs').glob('[0-9][0-9]*_*.ipynb')}
MODULES = sorted(p.stem for p in PKG.glob('*.py') if not p.stem.startswith('_'))
FACES = {'cli'}                                              # may import any layer
MAY_IMPORT_SYNTH = {'synth', 'truth', 'download', 'testing', 'cli'}
DATASET_NAMES = ['manifest.parquet', 'manifest.csv', 'pairs.csv', 'tile_labels.', '_tiles.parquet', "'labels'", "'predictions'"]


def imports(module:str) -> set:
    "Names of the ki67_nb modules `module` imports, at the top or inside functions."
    tree, found = ast.parse((PKG/f'{module}.py').read_text()), set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            mod = node.module or ''
            if node.level == 1 and mod: found.add(mod.split('.')[0])
            elif node.level == 1: found |= {a.name for a in node.names}
            elif mod.startswith('ki67_nb.'): found.add(mod.split('.')[1])
            elif mod == 'ki67_nb': found |= {a.name for a in node.names if a.name in MODULES}
        elif isinstance(node, ast.Import):
            found |= {a.name.split('.')[1] for a in node.names if a.name.startswith('ki67_nb.')}
    return (found & set(MODULES)) - {module}


def test_every_module_has_a_notebook():
    assert set(MODULES) <= set(RANK), f'modules without a numbered notebook: {set(MODULES) - set(RANK)}'


@pytest.mark.parametrize('module', MODULES)
def test_imports_only_lower_layers(module):
    if module in FACES: return
    up = {m for m in imports(module) if RANK[m] >= RANK[module]}
    assert not up, f'{module} (notebook {RANK[module]}) imports higher layers: {sorted(up)}'


@pytest.mark.parametrize('module', MODULES)
def test_stages_know_nothing_of_the_generator_or_the_fixtures(module):
    got = imports(module)
    if module not in MAY_IMPORT_SYNTH: assert 'synth' not in got, f'{module} imports the synthetic generator; use ki67_nb.truth'
    if module != 'testing': assert 'testing' not in got, f'{module} imports the test fixtures'


@pytest.mark.parametrize('module', [m for m in MODULES if m != 'core'])
def test_only_the_dataset_spells_file_names(module):
    src = (PKG/f'{module}.py').read_text()
    strings = [n.value for n in ast.walk(ast.parse(src)) if isinstance(n, ast.Constant) and isinstance(n.value, str)]
    bad = sorted({name for s in strings for name in DATASET_NAMES if name.strip("'") in s and (name[0] != "'" or s == name.strip("'"))})
    assert not bad, f'{module} spells dataset paths {bad}: ask core.Dataset for them'


def test_no_fixture_in_production_modules():
    fixtures = ['write_test_manifest', 'write_oracle_label_fixture', 'FakeZenodo', 'true_tile_table', 'truth_patch_manifest']
    for module in MODULES:
        if module == 'testing': continue
        defined = {n.name for n in ast.parse((PKG/f'{module}.py').read_text()).body if isinstance(n, (ast.FunctionDef, ast.ClassDef))}
        assert not defined & set(fixtures), f'{module} defines fixtures {defined & set(fixtures)}: they live in ki67_nb.testing'


# --- room sizes and the notebooks' cells (issue 27): fastcore's notebooks are the model ---
NOTEBOOKS = sorted((ROOT/'nbs').glob('[0-9][0-9]*_*.ipynb'))
MAX_MODULE_LINES, MAX_CELL_LINES, MAX_MEDIAN_CELL, MAX_LONG_SHARE = 800, 40, 10, 0.03


def code_cells(nb_path:Path) -> list:
    "The source of every code cell of a notebook."
    import json
    return [''.join(c['source']) for c in json.loads(nb_path.read_text())['cells'] if c['cell_type'] == 'code']


def exported_sizes() -> dict:
    "Lines of every exported cell (the `#| export` line not counted), per notebook."
    return {p.stem: [len(s.splitlines()) - 1 for s in code_cells(p) if s.startswith(('#| export', '#|export'))] for p in NOTEBOOKS}


@pytest.mark.parametrize('module', MODULES)
def test_no_module_over_800_lines(module):
    n = len((PKG/f'{module}.py').read_text().splitlines())
    assert n <= MAX_MODULE_LINES, f'{module}.py has {n} lines (at most {MAX_MODULE_LINES}): it holds more than one concept'


def test_exported_cells_are_short():
    import statistics
    sizes = exported_sizes()
    big = [f'{nb}: {n} lines' for nb,ns in sizes.items() for n in ns if n > MAX_CELL_LINES]
    assert not big, f'exported cells over {MAX_CELL_LINES} lines (one short definition per cell): {big}'
    median = statistics.median([n for ns in sizes.values() for n in ns])
    assert median <= MAX_MEDIAN_CELL, f'the median exported cell has {median} lines (at most {MAX_MEDIAN_CELL})'


def test_few_long_lines():
    lines = [l for p in NOTEBOOKS for s in code_cells(p) for l in s.splitlines()]
    long = sum(len(l) > 120 for l in lines)
    assert long <= MAX_LONG_SHARE*len(lines), f'{long} of {len(lines)} code lines are over 120 characters (at most 3 %)'


def notebook_imports(nb_path:Path) -> set:
    "The ki67_nb modules a notebook's cells import (its own module excluded)."
    found = set()
    for s in code_cells(nb_path):
        found |= set(re.findall(r'(?:from|import)\s+ki67_nb\.(\w+)', s))
        found |= {m for names in re.findall(r'from\s+ki67_nb\s+import\s+([\w, ]+)', s) for m in re.split(r'\s*,\s*', names)}
    return (found & set(MODULES)) - {re.sub(r'^\d+[a-z]?_', '', nb_path.stem)}


@pytest.mark.parametrize('nb', [p.stem for p in NOTEBOOKS if p.stem != '13_cli'])
def test_a_lesson_uses_only_earlier_lessons(nb):
    later = {m for m in notebook_imports(ROOT/'nbs'/f'{nb}.ipynb') if RANK[m] > _rank(nb)}
    assert not later, f'notebook {nb} imports later lessons {sorted(later)}: move what it needs earlier, or do without'


@pytest.mark.parametrize('nb', [p.stem for p in NOTEBOOKS])
def test_functions_users_call_are_documented(nb):
    exported = [s for s in code_cells(ROOT/'nbs'/f'{nb}.ipynb') if s.startswith('#| export')]
    public = [m for s in exported for m in re.findall(r'^(?:def|class) ([a-zA-Z]\w*)', s, re.M)]
    shown = sum('show_doc(' in s for s in code_cells(ROOT/'nbs'/f'{nb}.ipynb'))
    assert not public or shown, f'notebook {nb} exports {len(public)} public names and shows the docs of none (show_doc)'
