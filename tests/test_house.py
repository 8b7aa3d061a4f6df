"""The house rules, checked on the exported package: a module imports only layers below it, the synthetic generator
and the test fixtures stay out of the stages, and only `core.Dataset` spells the dataset's file names.

The layer of a module is the number of the notebook it is exported from (`nbs/NN_name.ipynb`; `NNb_name` sits between NN and NN+1, as in fastai), so the notebook order
*is* the dependency order. `cli` (the face, importing stages lazily) and `testing` (fixtures) stand above everything.
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
FACES = {'cli', 'testing'}                                   # may import any layer
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
