"""Benchmark: the seed's pixel random-forest (ilastik) baseline on synthetic slides; prints one JSON line.

Writes K synthetic slide pairs, cuts 512-px patch pairs at the true registration, scribbles 10 pairs per stain from
the truth (as the seed labelled 10 patches by hand), trains one forest per stain and scores every other pair:
H&E-RF vs IHC-RF (the seed's comparison, next to its published numbers) and each vs the true area ratio, for
forests without and with class_weight='balanced'. Reference measured in the same run: feature throughput of
one unchunked 1024^2 image vs the same image in 512-px chunks (the cost of the overlap margins).

    python bench/pixel_rf.py [--pairs 4] [--size 2048 2048] [--patch 512] [--trees 100] [--out DIR]
"""
import argparse, json, shutil, tempfile, time
from pathlib import Path

from ki67_nb.core import Dataset, metrics_by_bin, peak_rss_mb
from ki67_nb.pixel_rf import pixel_features, pixel_rf_dataset, pixel_rf_metrics
from ki67_nb.synth import SyntheticPair, write_synthetic_dataset
from ki67_nb.testing import truth_patch_manifest
from ki67_nb.pairs import kept_pairs
from ki67_nb.truth import patch_truth, write_truth_scribbles
from ki67_nb.pixel_rf import sample_scribbles, scribble_path

SEED = {'acc@0.05': 0.7524, 'acc@0.1': 0.8447, 'acc@0.2': 0.9272, 'mse': 0.0084, 'mae': 0.0455}
KEYS = ['n', 'acc@0.05', 'acc@0.1', 'acc@0.2', 'mse', 'mae', 'pearson_r', 'bias']


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--pairs', type=int, default=4)
    ap.add_argument('--size', nargs=2, type=int, default=[2048, 2048])
    ap.add_argument('--patch', type=int, default=512)
    ap.add_argument('--trees', type=int, default=100)
    ap.add_argument('--jobs', type=int, default=2)
    ap.add_argument('--out', type=Path, default=None, help='keep the dataset here (default: a temporary directory)')
    a = ap.parse_args()
    out = a.out or Path(tempfile.mkdtemp(prefix='ki67_bench_pixel_rf_'))
    try:
        img = SyntheticPair(2048, 2048, seed=1).render('ihc', 512, 512, 1024, 1024)
        t = time.time(); pixel_features(img); whole_s = time.time() - t
        t = time.time(); pixel_features(img, chunk=512); chunked_s = time.time() - t
        write_synthetic_dataset(out, size=tuple(a.size), pairs=a.pairs, seed=7, force=True)
        manifest = patch_truth(Dataset(out), truth_patch_manifest(out, patch_size=a.patch, force=True))
        kept = kept_pairs(out)
        write_truth_scribbles(out, kept.sample(min(10, len(kept)), random_state=0), sample_scribbles, scribble_path, seed=0)   # the seed scribbled 10 pairs
        result = dict(bench='pixel_rf', pairs=a.pairs, size=a.size, patch=a.patch, trees=a.trees, kept=int(manifest.keep.sum()),
                      feature_mp_per_s=round(1.048576/whole_s, 3), chunked_vs_whole_time=round(chunked_s/whole_s, 3), seed_published=SEED)
        for name, kw in {'rgb': {}, 'rgb_balanced': dict(class_weight='balanced')}.items():
            t = time.time()
            preds = pixel_rf_dataset(out, n_estimators=a.trees, n_jobs=a.jobs, force=True, **kw)
            m = pixel_rf_metrics(preds, reference=manifest)
            held = preds[~preds.scribbled]
            truth = held.patch_id.map(manifest.set_index('patch_id').true_ratio_area)
            bins = metrics_by_bin(truth, held.pred_he)
            result[name] = dict(seconds=round(time.time() - t), **{cmp: {k: round(float(m.loc[cmp, k]), 4) for k in KEYS} for cmp in m.index},
                                he_vs_truth_mae_by_bin={b: round(float(v), 4) for b, v in zip(bins.bin, bins.mae)})
        result['peak_rss_mb'] = round(peak_rss_mb())
        print(json.dumps(result))
    finally:
        if a.out is None: shutil.rmtree(out, ignore_errors=True)


if __name__ == '__main__':
    main()
