"""Benchmark: H&E nuclear morphometry (`ki67 train --method morphometry`) on the oracle fixture; one JSON line.

Builds twelve synthetic slides with oracle labels (the synthetic truth of the IHC tile at the same place; the
fixture of notebook 09c's learning check), then times the two parts of `train_morphometry`:

- features: stains and glass per slide, nuclei found once per H&E patch on its hematoxylin, per-tile features
  (`dataset_features`), in megapixels of H&E per second;
- training: the whole `train_morphometry` call (features included), its wall time, and the final trees alone (fitted
  on every non-test slide, training and validation).

It also reports the held-out slides' tile metrics (calibrated and raw), the calibration chosen on out-of-fold
predictions of the non-test slides (`morphometry.choose_calibration`) and the slide-level error it measured, the mean
predictor's MAE, and each test
slide's error (mean prediction minus mean label of its tiles), and the whole-slide predictor's agreement with the
patch-based test predictions (tiles of one slide per batch, nuclei found per tile).

    python bench/morphometry.py [--slides 12] [--size 1280] [--patch 640] [--seed 0] [--threads N]
"""
import argparse, json, os, tempfile, time
from pathlib import Path

os.environ.setdefault('KI67_PROGRESS', '0'); os.environ.setdefault('KI67_LOG', 'ERROR')
import numpy as np
import pandas as pd

from ki67_nb.core import peak_rss_mb
from ki67_nb.morphometry import MorphometryPredictor, dataset_features, fit_gbm, train_morphometry
from ki67_nb.tileset import TrainRecipe, he_patch_of
from ki67_nb.testing import ORACLE, write_oracle_label_fixture


def predictor_agreement(data:Path, mdir:Path, per_slide:int=20) -> dict:
    "Predictions of the whole-slide predictor (one slide's tiles per batch) against the patch-based test predictions."
    test = pd.read_parquet(mdir/'test_predictions.parquet').groupby('slide_id').head(per_slide)
    pr,preds = MorphometryPredictor(mdir),[]
    t0 = time.perf_counter()
    for _,g in test.groupby('slide_id', sort=False):
        tiles = [he_patch_of(data, r)[0][r.tile_y:r.tile_y + r.tile_size, r.tile_x:r.tile_x + r.tile_size] for _,r in g.iterrows()]
        preds.append(pr(np.stack(tiles)))
    sec = time.perf_counter() - t0
    p,ref = np.concatenate(preds),test.groupby('slide_id', sort=False).pred.apply(list).sum()
    return dict(tiles=len(p), r=round(float(np.corrcoef(p, ref)[0, 1]), 3), mean_difference=round(float(np.mean(p - np.array(ref))), 4),
                mae_vs_labels=round(float(np.abs(p - test.groupby('slide_id', sort=False).target.apply(list).sum()).mean()), 4),
                mp_per_s=round(len(p)*test.tile_size.iloc[0]**2/1e6/sec, 3))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--slides', type=int, default=12); ap.add_argument('--size', type=int, default=1280)
    ap.add_argument('--patch', type=int, default=640); ap.add_argument('--seed', type=int, default=0)
    a = ap.parse_args()
    data = Path(tempfile.mkdtemp())/'ds'
    write_oracle_label_fixture(data, slides=a.slides, size=a.size, patch_size=a.patch, seed=a.seed)
    recipe = dict(labels=ORACLE, valid_frac=0.17, test_frac=0.25, seed=a.seed)
    tiles = TrainRecipe(**recipe).tiles(data)
    X = dataset_features(data, tiles, mpp=0.5)
    fit = (tiles.split != 'test').to_numpy()
    t0 = time.perf_counter(); fit_gbm(X[fit], tiles.target[fit], a.seed); trees = time.perf_counter() - t0
    t0 = time.perf_counter()
    mdir = train_morphometry(data, mpp=0.5, force=True, **recipe)
    wall = time.perf_counter() - t0
    m,cfg = (json.loads((mdir/f).read_text()) for f in ('metrics.json', 'config.json'))
    test = pd.read_parquet(mdir/'test_predictions.parquet')
    slides = test.groupby('slide_id')[['target', 'pred']].mean()
    pick = lambda d: {k: round(d[k], 4) for k in ['mae', 'pearson_r', 'bias', 'bin_acc']}
    print(json.dumps(dict(
        bench='morphometry', slides=a.slides, size=a.size, patch=a.patch, seed=a.seed, tiles=cfg['tiles'],
        features_megapixels=X.attrs['megapixels'], features_seconds=X.attrs['seconds'],
        features_mp_per_s=round(X.attrs['megapixels']/X.attrs['seconds'], 3),
        train_wall_s=round(wall, 2), trees_fit_s=round(trees, 3), n_iter=cfg['n_iter'],
        test_slides=cfg['splits']['test'], tile=pick(m['tile']), tile_raw=pick(m['seed_recipe']['tile']),
        mean_predictor_mae=round(m['baseline_tile']['mae'], 4), calibration=m['calibration'], trained_on=m['trained_on'],
        calibration_choice={k: m['calibration_fit'][k] for k in ('kind', 'cross_fitted_mae', 'slides')},
        slide_error_rms=m['calibration_fit']['slide_error']['rms'],
        slide_error={s: round(float(r.pred - r.target), 4) for s,r in slides.iterrows()},
        predictor=predictor_agreement(data, mdir), cpu_count=os.cpu_count(), peak_rss_mb=peak_rss_mb())))


if __name__ == '__main__': main()
