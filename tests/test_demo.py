"""The README's demo command, as CI runs it: `.ci/run` runs both README commands as written, the demo first, and
these tests check what the demo wrote (`ki67_demo/` in the checkout, or `$KI67_DEMO_DIR`).

With `CI=true` a missing demo report is a failure (the demo command failed: the end of its log is shown); elsewhere
the report checks skip until `ki67 demo ki67_demo` has been run in the checkout.
"""
import math, os, re
from pathlib import Path

import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[1]
DEMO = Path(os.environ.get('KI67_DEMO_DIR', ROOT/'ki67_demo'))
LOG = ROOT/'ki67_demo.log'
IN_CI = os.environ.get('CI', '').lower() in ('1', 'true', 'yes')


def _readme_command(kind):
    "The bash block under `<!-- {kind}-command -->` in the README."
    m = re.search(rf'<!-- {kind}-command -->\s*```bash\n(.+?)\n```', (ROOT/'README.md').read_text(), re.S)
    assert m, f'README has no <!-- {kind}-command --> block'
    return m.group(1).strip()


@pytest.mark.parametrize('kind', ['demo', 'test'])
def test_ci_runs_readme_command(kind):
    "`.ci/run` runs each README set-up command exactly as written, the demo before the tests."
    ci = (ROOT/'.ci/run').read_text()
    assert _readme_command(kind) in ci, f'.ci/run does not run the README {kind} command:\n{_readme_command(kind)}'
    assert ci.index(_readme_command('demo')) < ci.index(_readme_command('test')), '.ci/run must run the demo before the tests'


def _report_dir():
    "The demo's report folder; fails in CI (with the demo log's end) and skips elsewhere when there is none."
    report = DEMO/'report'
    if (report/'report.html').exists(): return report
    if not IN_CI: pytest.skip(f'no demo report in {DEMO}: run `ki67 demo {DEMO.name}` in the checkout first')
    tail = LOG.read_text(errors='replace')[-5000:] if LOG.exists() else '(no ki67_demo.log)'
    pytest.fail(f'the README demo command wrote no {report}/report.html; end of its log:\n{tail}')


def test_demo_report_exists():
    "The demo wrote its self-contained HTML report, with the comparison table and figures inlined."
    page = (_report_dir()/'report.html').read_text()
    assert '<h2>Comparison</h2>' in page and 'data:image/png;base64,' in page, 'report.html lacks its table or figures'
    assert 'Slide-level Ki-67 estimates' in page, 'report.html lacks the whole-slide estimate of the test slides'


def test_demo_scored_every_method():
    "Every method the demo trained is in the report, scored against the IHC labels and the synthetic truth."
    from ki67_nb.methods import TRAIN_METHODS
    table = pd.read_csv(_report_dir()/'comparison.csv')
    ours = table[table.scored_against != 'seed study (published)']
    methods = sorted(ours.method.unique())
    trained = {m.train for m in TRAIN_METHODS.values()}           # the demo trains one model per training function
    assert len(methods) >= len(trained), f'report scores {methods}, fewer than the {len(trained)} trained methods'
    for name in methods:
        rows = ours[ours.method == name].set_index('scored_against')
        for against in ['IHC label', 'truth']:
            assert against in rows.index, f'{name} is not scored against the {against}'
            n,mae = rows.at[against, 'n'],rows.at[against, 'mae']
            assert n > 0 and math.isfinite(mae), f'{name} vs {against}: n={n}, mae={mae}'


def _truth_rows():
    "The report's rows scored against the synthetic truth (our methods, not the seed's published figures)."
    table = pd.read_csv(_report_dir()/'comparison.csv')
    return table[table.scored_against == 'truth']


def test_demo_never_shows_a_silent_number():
    """Each method either learns (beats the mean predictor against the truth, and follows it: r > 0) or is marked as a
    smoke run (issue 28)."""
    for r in _truth_rows().itertuples():
        beats = r.mae < r.mean_predictor_mae and math.isfinite(r.pearson_r) and r.pearson_r > 0
        assert str(r.verdict).startswith('beats' if beats else 'SMOKE RUN'), f'{r.method}: mae {r.mae:.3f}, verdict {r.verdict!r}'


def test_demo_an_he_model_learns():
    "On the CPU, in the demo's minutes, the best H&E tile model beats the mean predictor against the known truth by >= 30 %."
    tiles = _truth_rows()[lambda t: t.level == 'tile']
    best = tiles.loc[tiles.mae.idxmin()]
    assert best.mae <= 0.7*best.mean_predictor_mae, (f'best tile model {best.method}: MAE {best.mae:.3f} against '
                                                     f'the mean predictor\'s {best.mean_predictor_mae:.3f}')
