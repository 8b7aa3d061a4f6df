"""Benchmark of the label stage, in one run: the weight-free (watershed) detector's speed in megapixels per second
on a large synthetic IHC patch at 0.5 µm/px, and StarDist labelling vs a bare StarDist `predict_instances` on the same
(nuclear, resampled) image, both timed after a warm-up call, in alternating order; patches per minute of each
labeller. Prints one JSON line (wall and CPU seconds; wall is what the targets are on: >= 5 MP/s, overhead <= 1.3).

    python bench/label.py [--size 4096] [--sd-size 2048] [--model DIR] [--small 1024] [--patches 3] [--reps 2]
"""
import argparse, json, os, sys, time
os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')
os.environ.setdefault('KI67_PROGRESS', '0')

import numpy as np
from ki67_nb.core import peak_rss_mb
from ki67_nb.synth import SyntheticPair
from ki67_nb.stains import estimate_ihc_stains, optical_density, white_point
from ki67_nb.nuclei import cached_model_dir, concentrations_u8, load_nuclei_model, predict_nuclei
from ki67_nb.label import METHODS, label_image, patch_row, tile_labels


def timed(f):
    "(result, wall s, CPU s) of f()."
    t,c = time.perf_counter(),time.process_time()
    r = f()
    return r, time.perf_counter() - t, time.process_time() - c


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--size', type=int, default=4096, help='side of the patch the watershed detector labels, px (default 4096, the seed patch size)')
    p.add_argument('--sd-size', type=int, default=2048, help='side of the patch StarDist labels and predicts on, px (default 2048)')
    p.add_argument('--small', type=int, default=1024, help='side of the patches timed per labeller (default 1024)')
    p.add_argument('--patches', type=int, default=3, help='patches per labeller for patches/min (default 3)')
    p.add_argument('--reps', type=int, default=3, help='timed repeats of each (default 3; the best is reported: TensorFlow on shared cores varies run to run)')
    p.add_argument('--model', default=None, help='StarDist model folder (default: the cached full model, else the tiny one)')
    a = p.parse_args()
    if a.model: model = load_nuclei_model(a.model)
    elif (cached_model_dir('full')/'config.json').exists(): model = load_nuclei_model(cached_model_dir('full'))
    else:
        from ki67_nb.truth import train_nuclei_model
        model = train_nuclei_model(cached_model_dir('tiny'), size='tiny')
    pair = SyntheticPair(a.size + 2048, a.size + 2048, seed=7)
    img,t_render,_ = timed(lambda: pair.render('ihc', 1024, 1024, a.size, a.size))
    mp = a.size**2/1e6

    # the weight-free detector at the slide's stated scale (0.5 µm/px), after a warm-up call
    label_image(img[:512, :512], 'nuclear', detector='watershed', mpp=0.5)
    ws = [timed(lambda: patch_row(label_image(img, 'nuclear', detector='watershed', mpp=0.5))) for _ in range(a.reps)]
    ws_row,ws_wall,ws_cpu = ws[0][0], min(w for _,w,_ in ws), min(c for _,_,c in ws)
    truth = pair.truth_ratio(1024, 1024, a.size, a.size)

    # StarDist: labelling (stains, nuclear image, predict, measure, tile labels) vs bare predict_instances on the same image
    sd = img[:a.sd_size, :a.sd_size]
    white = white_point(sd[::4, ::4])                        # the nuclear image exactly as label_nuclear makes it
    step = max(1, int(np.sqrt(sd.shape[0]*sd.shape[1]/2.5e5)))
    st,_ = estimate_ihc_stains(optical_density(sd[::step, ::step], white))
    conc = concentrations_u8(sd, white, st)
    nim = np.clip(conc[..., 0] + conc[..., 1], 0, 3)
    predict_nuclei(model, nim[:256, :256]); label_image(sd[:256, :256], 'nuclear', model, detector='stardist', mpp=0.5)   # warm-up
    def labelled():
        lab = label_image(sd, 'nuclear', model, detector='stardist', mpp=0.5)
        return patch_row(lab), tile_labels(lab)
    bare,lab = [],[]
    for k in range(a.reps):   # alternating order: bare, label, label, bare, ...
        for which in (('bare', 'label') if k % 2 == 0 else ('label', 'bare')):
            if which == 'bare': bare.append(timed(lambda: predict_nuclei(model, nim))[1:])
            else: r,w,c = timed(labelled); lab.append((w, c)); sd_row,sd_tiles = r
    t_bare,t_label = min(w for w,_ in bare),min(w for w,_ in lab)

    rates = {}
    for m in METHODS:
        imgs = [pair.render('ihc', 1024 + k*a.small % a.size, 1024 + (k*a.small//a.size)*a.small, a.small, a.small) for k in range(a.patches)]
        t0 = time.perf_counter()
        for im in imgs: label_image(im, m, model, detector='watershed' if m == 'nuclear' else 'stardist', mpp=0.5)
        rates[m + ('/watershed' if m == 'nuclear' else '')] = round(60*a.patches/(time.perf_counter() - t0), 2)

    print(json.dumps(dict(
        bench='label', model=str(model.logdir) if hasattr(model, 'logdir') else str(model.name), patch_px=a.size,
        watershed_s=round(ws_wall, 3), watershed_cpu_s=round(ws_cpu, 3), watershed_mp_per_s=round(mp/ws_wall, 2),
        watershed_cpu_mp_per_s=round(mp/ws_cpu, 2), target_mp_per_s=5,
        watershed_ratio_count=round(ws_row['ratio_count'], 4), true_ratio_count=round(truth['ratio_count'], 4),
        watershed_ratio_area=round(ws_row['ratio_area'], 4), true_ratio_area=round(truth['ratio_area'], 4), watershed_n_nuclei=ws_row['n_nuclei'],
        stardist_px=a.sd_size, bare_predict_s=round(t_bare, 2), label_s=round(t_label, 2), overhead=round(t_label/t_bare, 3), target_overhead=1.3,
        overhead_cpu=round(min(c for _,c in lab)/min(c for _,c in bare), 3), tiles=len(sd_tiles), stardist_n_nuclei=sd_row['n_nuclei'],
        patches_per_min={f'{m}@{a.small}px': r for m,r in rates.items()}, render_s=round(t_render, 1),
        peak_rss_mb=round(peak_rss_mb()), cpus=os.cpu_count(), load=round(os.getloadavg()[0], 1))))


if __name__ == '__main__':
    sys.exit(main())
