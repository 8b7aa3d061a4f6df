"""Benchmark: do the whole-slide 90 % intervals of a morphometry model cover the true Ki-67 index? One JSON line.

For each seed, writes the oracle fixture (`ki67_nb.testing.write_oracle_label_fixture`: synthetic slides, labels
the synthetic truth of the IHC tile at the same place), trains `ki67_nb.morphometry.train_morphometry` on it
(`TrainRecipe` split by slide; calibration chosen on out-of-fold predictions of the non-test slides), then renders
each TEST slide's whole H&E and predicts it with `slide.load_predictor` + `slide.predict_slide`. The slide's truth
is its true index as the demo's report defines it (`truth.slide_truth`): the area ratio of the whole IHC section
(positive nuclear area / nuclear area; the labels the model learns come from that section, and the adjacent H&E
section's own ratio differs by up to ~0.1). Also reported: the tissue-weighted mean of the IHC truth of the tiles
predicted (the quantity a mean of tile predictions estimates) and the H&E section's own ratio.

Printed: per slide truth, estimate, interval and hotspot; coverage of the 90 % interval; mean |slide error|; how
many slides lie within 0.05; per seed the calibration chosen and the test tiles' MAE raw and with the calibration
chosen. The trees learn on every non-test slide (training and validation).

    python bench/slide_coverage.py [--seeds 0 1 2 3] [--slides 12] [--size 1280] [--patch 640]
"""
import argparse, json, os, tempfile, time
from pathlib import Path

os.environ.setdefault('KI67_PROGRESS', '0'); os.environ.setdefault('KI67_LOG', 'ERROR')
import numpy as np
import pandas as pd
from PIL import Image

from ki67_nb.core import Ki67Error
from ki67_nb.morphometry import train_morphometry
from ki67_nb.slide import load_predictor, predict_slide
from ki67_nb.synth import SyntheticPair
from ki67_nb.testing import ORACLE, write_oracle_label_fixture


def tile_maes(mdir:Path) -> dict:
    "Test tiles' MAE raw and calibrated (the chosen map); the trees learned on every non-test slide."
    test = pd.read_parquet(mdir/'test_predictions.parquet')
    mae = lambda p, t: round(float(np.mean(np.abs(np.asarray(p) - np.asarray(t)))), 4)
    return dict(raw=mae(test.pred_raw, test.target), calibrated=mae(test.pred, test.target))


def predict_test_slide(mdir:Path, pair:SyntheticPair, size:int, work:Path, sid:str) -> dict:
    "Render one test slide's H&E, predict it whole, and compare with its truth."
    png = work/f'{sid}_HE.png'
    Image.fromarray(pair.render('he', 0, 0, size, size)).save(png)
    pr = load_predictor(mdir)
    s = predict_slide(pr, png, work/f'{sid}_out', slide_id=sid, tile_size=pr.tile_size)
    tiles = pd.read_csv(work/f'{sid}_out/tiles.csv')
    tr = np.array([pair.truth_ratio(int(x), int(y), pr.tile_size, pr.tile_size, section='ihc')['ratio_area']
                   for x,y in zip(tiles.x, tiles.y)], float)
    ok = np.isfinite(tr)
    g,h = s['global_index'],s['hotspot']
    truth = float(pair.truth_ratio(0, 0, size, size, section='ihc')['ratio_area'])
    tile_mean = float(np.average(tr[ok], weights=tiles.tissue[ok]))
    return dict(slide=sid, truth=round(truth, 4), truth_tile_mean=round(tile_mean, 4),
                truth_he=round(float(pair.truth_ratio(0, 0, size, size, section='he')['ratio_area']), 4),
                estimate=round(g['mean'], 4), lo=round(g['lo'], 4), hi=round(g['hi'], 4), tiles=g['n'],
                covered=bool(g['lo'] <= truth <= g['hi']), covered_tile_mean=bool(g['lo'] <= tile_mean <= g['hi']),
                error=round(g['mean'] - truth, 4), error_tile_mean=round(g['mean'] - tile_mean, 4),
                hotspot=[round(h[k], 4) for k in ('mean', 'lo', 'hi')] if h['available'] else None,
                interval=g.get('interval'))


def run_seed(seed:int, a, root:Path) -> tuple:
    "Train on one seed's fixture and predict its test slides: (slide rows, seed summary)."
    data = root/f'ds{seed}'
    write_oracle_label_fixture(data, slides=a.slides, size=a.size, patch_size=a.patch, seed=seed)
    t0 = time.perf_counter()
    mdir = train_morphometry(data, mpp=0.5, labels=ORACLE, valid_frac=0.17, test_frac=0.25, seed=seed)
    cfg = json.loads((mdir/'config.json').read_text())
    rows = []
    for sid in cfg['splits']['test']:
        pair = SyntheticPair(a.size, a.size, seed=seed, index=int(sid[3:]) - 1)
        try: rows.append(predict_test_slide(mdir, pair, a.size, data, sid) | dict(seed=seed))
        except Ki67Error as e: rows.append(dict(seed=seed, slide=sid, failed=str(e)))   # counted, never dropped
    fit = cfg['calibration_fit']
    return rows,dict(seed=seed, train_s=round(time.perf_counter() - t0, 1), calibration=fit['kind'],
                     cross_fitted_mae=fit['cross_fitted_mae'], slide_error_rms=round(fit['slide_error']['rms'], 4),
                     slide_error_n=fit['slide_error']['n'], test_tile_mae=tile_maes(mdir))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--seeds', type=int, nargs='+', default=[0, 1, 2, 3])
    ap.add_argument('--slides', type=int, default=12); ap.add_argument('--size', type=int, default=1280)
    ap.add_argument('--patch', type=int, default=640)
    a = ap.parse_args()
    root,t0,rows,seeds = Path(tempfile.mkdtemp()),time.perf_counter(),[],[]
    for seed in a.seeds:
        r,s = run_seed(seed, a, root); rows += r; seeds.append(s)
    failed,rows = [r for r in rows if 'failed' in r],[r for r in rows if 'failed' not in r]
    err = np.array([r['error'] for r in rows])
    print(json.dumps(dict(bench='coverage', method='morphometry', seeds=a.seeds, slides_per_seed=a.slides,
                          size=a.size, test_slides=len(rows) + len(failed), failed=failed, coverage_90=round(float(np.mean([r['covered'] for r in rows])), 3),
                          coverage_90_tile_mean=round(float(np.mean([r['covered_tile_mean'] for r in rows])), 3),
                          mean_abs_slide_error=round(float(np.abs(err).mean()), 4),
                          mean_abs_error_tile_mean=round(float(np.mean([abs(r['error_tile_mean']) for r in rows])), 4),
                          within_0_05=int((np.abs(err) <= 0.05).sum()),
                          mean_interval_width=round(float(np.mean([r['hi'] - r['lo'] for r in rows])), 4),
                          per_seed=seeds, per_slide=rows, wall_s=round(time.perf_counter() - t0, 1))))


if __name__ == '__main__': main()
