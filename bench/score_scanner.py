"""Scanner-shift check of `ki67 score`: each real Ki-67 IHC image is scored as it is, then as another scanner would
have given it (resampled to another µm/px, a colour response of the kind scanners differ by, JPEG recompression),
and the change of the Ki-67 index is reported. Prints one JSON line: mean and max |index change| per shift and
overall, and the images with the largest change. Where the folder's index.csv gives each image's annotated `ki67_index`, also
the index MAE against it for every rendering (`mae_vs_truth`): how much one rendering's MAE is luck.

    python bench/score_scanner.py --bench ../shared/real-data/ki67-ihc [--limit N] [--mpp-given] [--per-image FILE]

The shifts (general, not fitted to any image): `scale` resamples by 0.227/0.346 (a Hamamatsu -> Olympus pixel),
`colour` applies per-channel gains (1.04, 0.98, 0.95), a gamma of 0.9 and a +6 offset (the spread between scanners'
colour calibrations), `jpeg` recompresses at quality 75, and `all` does the three together. Without --mpp-given the
detector estimates each image's scale (what a user without metadata gets); with it, the true ratio of the two pixel
sizes is given, relative to an assumed 0.25 µm/px.
"""
import argparse, io, json, os, sys, time
from pathlib import Path
os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')
os.environ.setdefault('KI67_PROGRESS', '0')

import numpy as np
import pandas as pd
from PIL import Image
from skimage.transform import rescale

from ki67_nb.core import read_image
from ki67_nb.score import score_image

SCALE = 0.227/0.346


def colour(img):
    "A scanner's different colour response: channel gains, gamma and offset."
    x = (img/255.)**0.9*np.array([1.04, 0.98, 0.95])*255 + 6
    return np.clip(x, 0, 255).astype(np.uint8)


def jpeg(img, q=75):
    buf = io.BytesIO(); Image.fromarray(img).save(buf, 'JPEG', quality=q)
    return np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert('RGB'))


def resample(img, f=SCALE):
    return (rescale(img, f, channel_axis=-1, anti_aliasing=True, preserve_range=True)).round().astype(np.uint8)


SHIFTS = {'scale': lambda im: resample(im), 'colour': colour, 'jpeg': jpeg, 'all': lambda im: jpeg(colour(resample(im)))}


def truth_mae(bench, df):
    "{'mae_vs_truth': {rendering: MAE, ..., 'mean': over the renderings}} where index.csv has `ki67_index`, else {}."
    f = bench/'index.csv'
    if not f.exists(): return {}
    t = pd.read_csv(f).set_index('id').get('ki67_index')
    if t is None or not df.image.isin(t.index).all(): return {}
    truth = t[df.image].to_numpy()
    mae = {k: float(np.nanmean(np.abs(df.base + (0 if k == 'base' else df[k]) - truth))) for k in ['base', *SHIFTS]}
    return {'mae_vs_truth': {k: round(v, 4) for k, v in mae.items()} | {'mean': round(float(np.mean(list(mae.values()))), 4)}}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--bench', type=Path, required=True, help='folder with images/*.png')
    p.add_argument('--limit', type=int, default=None, help='score only the first N images')
    p.add_argument('--mpp-given', action='store_true', help='give the µm/px (0.25, and 0.25/scale after resampling) instead of estimating it')
    p.add_argument('--per-image', type=Path, default=None, help='also write the per-image table to this CSV')
    a = p.parse_args(argv)
    files = sorted((a.bench/'images').glob('*.png'))[:a.limit]
    rows, t0 = [], time.time()
    for f in files:
        img = read_image(f)
        base = score_image(img, 0.25 if a.mpp_given else None, source=str(f)).row['ki67_index']
        row = dict(image=f.stem, source=f.stem.split('_')[0], base=base)
        for name, shift in SHIFTS.items():
            mpp = (0.25/SCALE if name in ('scale', 'all') else 0.25) if a.mpp_given else None
            row[name] = score_image(shift(img), mpp, source=f'{f} ({name})').row['ki67_index'] - base
        rows.append(row)
    df = pd.DataFrame(rows)
    if a.per_image: df.to_csv(a.per_image, index=False)
    out = dict(images=len(df), seconds=round(time.time() - t0, 1), mpp='given' if a.mpp_given else 'estimated')
    for name in SHIFTS:
        d = df[name].abs()
        out[name] = dict(mean_abs_change=round(float(d.mean()), 4), max_abs_change=round(float(d.max()), 4),
                         worst=df.image[d.idxmax()] if d.notna().any() else None, n_nan=int(d.isna().sum()))
    allc = df[list(SHIFTS)].abs()
    out.update(truth_mae(a.bench, df))
    out['overall'] = dict(mean_abs_change=round(float(allc.stack().mean()), 4), max_abs_change=round(float(allc.max().max()), 4),
                          by_source={s: round(float(g[list(SHIFTS)].abs().stack().mean()), 4) for s, g in df.groupby('source')})
    print(json.dumps(out))


if __name__ == '__main__':
    sys.exit(main())
