"""Benchmark of the label stage: labelling a large IHC patch vs a bare StarDist `predict_instances` on the same image,
in the same run, and patches per minute of each labeller. Prints one JSON line.

    python bench/label.py [--size 4096] [--model DIR] [--small 1024] [--patches 3]
"""
import argparse, json, os, sys, time
os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')
os.environ.setdefault('KI67_PROGRESS', '0')

from ki67_nb.core import peak_rss_mb
from ki67_nb.synth import SyntheticPair
from ki67_nb.label import (METHODS, cached_model_dir, label_image, load_nuclei_model, nuclear_image, patch_row,
                           predict_nuclei, tile_labels, train_nuclei_model)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--size', type=int, default=4096, help='side of the large patch, px (default 4096, the seed patch size)')
    p.add_argument('--small', type=int, default=1024, help='side of the patches timed per labeller (default 1024)')
    p.add_argument('--patches', type=int, default=3, help='patches per labeller for patches/min (default 3)')
    p.add_argument('--model', default=None, help='StarDist model folder (default: the cached full model, else the tiny one)')
    a = p.parse_args()
    if a.model: model = load_nuclei_model(a.model)
    elif (cached_model_dir('full')/'config.json').exists(): model = load_nuclei_model(cached_model_dir('full'))
    else: model = train_nuclei_model(cached_model_dir('tiny'), size='tiny')
    pair = SyntheticPair(a.size + 2048, a.size + 2048, seed=7)
    t0 = time.perf_counter(); img = pair.render('ihc', 1024, 1024, a.size, a.size); t_render = time.perf_counter() - t0
    predict_nuclei(model, nuclear_image(img[:256, :256]))   # build the TensorFlow graph outside the timings

    x = nuclear_image(img)
    t0 = time.perf_counter(); bare = predict_nuclei(model, x); t_bare = time.perf_counter() - t0
    del x
    label_image(img[:512, :512], 'nuclear', detector='watershed', mpp=0.5)   # warm-up
    t0 = time.perf_counter(); ws = patch_row(label_image(img, 'nuclear', detector='watershed', mpp=0.5)); t_ws = time.perf_counter() - t0
    t0 = time.perf_counter()
    lab = label_image(img, 'nuclear', model, detector='stardist')
    row = patch_row(lab)
    tiles = tile_labels(lab)
    t_label = time.perf_counter() - t0
    truth = pair.truth_ratio(1024, 1024, a.size, a.size)
    del img, lab, bare

    rates = {}
    for m in METHODS:
        imgs = [pair.render('ihc', 1024 + k*a.small % a.size, 1024 + (k*a.small//a.size)*a.small, a.small, a.small) for k in range(a.patches)]
        t0 = time.perf_counter()
        for im in imgs: label_image(im, m, model, detector='stardist')
        rates[m] = round(60*a.patches/(time.perf_counter() - t0), 2)

    print(json.dumps(dict(
        bench='label', model=str(model.logdir) if hasattr(model, 'logdir') else str(model.name), patch_px=a.size,
        bare_predict_s=round(t_bare, 2), label_s=round(t_label, 2), overhead=round(t_label/t_bare, 3), target_overhead=1.3,
        tiles=len(tiles), n_nuclei=row['n_nuclei'], ratio_count=round(row['ratio_count'], 4), true_ratio_count=round(truth['ratio_count'], 4),
        ratio_area=round(row['ratio_area'], 4), true_ratio_area=round(truth['ratio_area'], 4),
        watershed_s=round(t_ws, 2), watershed_mp_per_s=round(a.size**2/1e6/t_ws, 2), target_mp_per_s=5,
        watershed_ratio_count=round(ws['ratio_count'], 4), patches_per_min={f'{m}@{a.small}px': r for m,r in rates.items()}, render_s=round(t_render, 1),
        peak_rss_mb=round(peak_rss_mb()), cpus=os.cpu_count())))


if __name__ == '__main__':
    sys.exit(main())
