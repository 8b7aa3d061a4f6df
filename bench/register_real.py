"""Benchmark: the register stage on real serial-section pairs with expert landmarks (ANHIR layout), scored by rTRE.

Usage: python bench/register_real.py --pairs DIR [--mpp UM] [--pair NAME ...] [--nonrigid bspline|blocks]

DIR holds `pairs.csv` (columns pair, fixed_image, moving_image, fixed_landmarks, moving_landmarks; optional
landmark_scale: image px per landmark unit, default 1; optional mpp: µm per px of both images), the images and the
landmark CSVs (ImageJ layout `,X,Y`, origin top-left; row k of the fixed file and row k of the moving file are the
same point, only the first min(n) rows pair up). The fixed image is the H&E, the moving one the IHC.
Metric (ANHIR, Borovec et al. 2020): TRE = |fixed landmark - moving landmark mapped into the fixed frame|,
rTRE = TRE / diagonal of the fixed image; per pair the median and max rTRE, overall the mean of the medians.
µm per px: `--mpp`, else the pairs table's `mpp` column, else the images' own metadata, else unknown (the stage
then works in pixels). Each pair runs in a fresh process (its seconds and peak memory are its own).
Prints one JSON line: per pair rTRE median / max before, after the affine step and after the final registration,
which the stage kept (affine or non-rigid) and why, its reliability, seconds, peak RSS (MB), and `smooth_bound`: the
median rTRE a smooth correction of the affine step learnt from the other landmarks reaches (leave one out), the
floor for any non-rigid step that is smooth at the landmarks' spacing; overall the means.
"""
import argparse, json, os, subprocess, sys, time
from pathlib import Path

import numpy as np
import pandas as pd

def read_landmarks(path, scale:float=1.) -> np.ndarray:
    "(N, 2) float (x, y) image px of an ImageJ landmark CSV (`,X,Y`)."
    df = pd.read_csv(path)
    cols = {c.strip().upper(): c for c in df.columns}
    return df[[cols['X'], cols['Y']]].to_numpy(float)*float(scale)

def pair_landmarks(root:Path, row) -> tuple:
    "(fixed (N, 2), moving (N, 2)) landmark pairs of one row: the first min(n) rows of both files."
    s = float(row.get('landmark_scale', 1) if pd.notna(row.get('landmark_scale', 1)) else 1)
    f,m = read_landmarks(root/row['fixed_landmarks'], s),read_landmarks(root/row['moving_landmarks'], s)
    n = min(len(f), len(m))
    return f[:n],m[:n]

def rtre(reg, fixed_pts, moving_pts, diag:float) -> np.ndarray:
    "rTRE of each landmark pair: the moving landmark mapped into the fixed (H&E) frame against the fixed one, over the fixed image's diagonal."
    mapped = moving_pts if reg is None else reg.ihc_to_he(moving_pts)
    return np.linalg.norm(mapped - fixed_pts, axis=1)/diag

def _stats(e): return dict(median=round(float(np.median(e)), 5), max=round(float(np.max(e)), 5))

def smooth_bound(reg, fixed_pts, moving_pts, diag:float, bandwidths=(0.02, 0.04, 0.07, 0.14)) -> float:
    """Median rTRE of the affine step's residuals corrected, landmark by landmark, by the Gaussian-weighted mean of the
    *other* landmarks' residuals (leave one out; the best of `bandwidths`, fractions of the diagonal, so optimistic):
    what a smooth deformation on top of the affine could reach if it knew the landmarks themselves. A non-rigid step
    cannot be expected to beat it; the rest is local (annotation noise, or deformation finer than the landmarks)."""
    mapped = reg.ihc_to_he(moving_pts)
    res,best = fixed_pts - mapped,np.inf
    for bw in bandwidths:
        d = np.linalg.norm(mapped[:, None] - mapped[None], axis=-1)
        w = np.exp(-0.5*(d/(bw*diag))**2); np.fill_diagonal(w, 0)
        pred = w @ res/np.maximum(w.sum(1, keepdims=True), 1e-12)
        best = min(best, float(np.median(np.linalg.norm(res - pred, axis=1))/diag))
    return round(best, 5)

def score_pair(root:Path, row:dict, mpp=None, nonrigid:str|None=None) -> tuple:
    "(scores, Registration) of one pair registered in this process: rTRE before, after the affine step, of the non-rigid candidate (kept or not) and final."
    from ki67_nb.core import peak_rss_mb
    from ki67_nb.register import RegisterParams, register_slides
    from ki67_nb.registration import Registration
    from ki67_nb.wsi import open_slide
    root = Path(root)
    he,ihc = open_slide(root/row['fixed_image']),open_slide(root/row['moving_image'])
    W,H = he.dimensions
    diag = float(np.hypot(W, H))
    f,m = pair_landmarks(root, row)
    t = time.perf_counter()
    params = RegisterParams(nonrigid=nonrigid) if nonrigid else None
    reg = register_slides(he, ihc, he_mpp=mpp, ihc_mpp=mpp, params=params, name=row['pair'])
    dt = time.perf_counter() - t
    i,cand = reg.info,getattr(reg, 'candidate', None)
    aff = Registration(reg.matrix)
    out = dict(pair=row['pair'], landmarks=len(f), before=_stats(rtre(None, f, m, diag)), affine=_stats(rtre(aff, f, m, diag)),
               nonrigid=_stats(rtre(cand if cand is not None else aff, f, m, diag)), final=_stats(rtre(reg, f, m, diag)),
               smooth_bound=smooth_bound(aff, f, m, diag),
               kept=i.get('kept'), why=i.get('why'), reliable=i.get('reliable'), confidence=i.get('confidence'), reason=i.get('reason'),
               specific=(i.get('match') or {}).get('specific'), seconds=round(dt, 2), steps=i.get('seconds'), rss_mb=round(peak_rss_mb()))
    return out,reg

def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--pairs', required=True, help='folder with pairs.csv, images and landmark CSVs')
    ap.add_argument('--mpp', type=float, default=None, help='µm per px of both images (default: pairs.csv `mpp` column, else the files, else unknown)')
    ap.add_argument('--pair', nargs='*', default=None, help='only these pairs')
    ap.add_argument('--nonrigid', choices=['bspline', 'blocks'], default=None, help='non-rigid step (default: the stage default)')
    ap.add_argument('--one', default=None, help=argparse.SUPPRESS)   # internal: run one pair in this process
    a = ap.parse_args(argv)
    root = Path(a.pairs)
    table = pd.read_csv(root/'pairs.csv')
    if 'pair' not in table: table['pair'] = [f'pair{k}' for k in range(len(table))]
    table['pair'] = table['pair'].astype(str)
    def mpp_of(row):
        if a.mpp is not None: return a.mpp
        v = row.get('mpp')
        return float(v) if v is not None and pd.notna(v) else None
    if a.one is not None:
        row = table.set_index('pair', drop=False).loc[a.one].to_dict()
        print(json.dumps(score_pair(root, row, mpp_of(row), a.nonrigid)[0]))
        return
    rows = []
    for row in table.to_dict('records'):
        if a.pair and row['pair'] not in a.pair: continue
        cmd = [sys.executable, __file__, '--pairs', str(root), '--one', row['pair']] + (['--mpp', str(a.mpp)] if a.mpp is not None else []) + (['--nonrigid', a.nonrigid] if a.nonrigid else [])
        res = subprocess.run(cmd, capture_output=True, text=True, env=os.environ | {'KI67_PROGRESS': '0'})
        if res.returncode:
            rows.append(dict(pair=row['pair'], error=(res.stderr.strip().splitlines() or ['failed'])[-1][:500]))
            continue
        rows.append(json.loads(res.stdout.strip().splitlines()[-1]))
    ok = [r for r in rows if 'error' not in r]
    mean = lambda k: round(float(np.mean([r[k]['median'] for r in ok])), 5) if ok else None
    print(json.dumps(dict(pairs=rows, n=len(rows), failed=len(rows) - len(ok), mean_median_rtre=dict(before=mean('before'), affine=mean('affine'), nonrigid=mean('nonrigid'), final=mean('final'),
                                                                                                  smooth_bound=round(float(np.mean([r['smooth_bound'] for r in ok])), 5) if ok else None),
                          seconds_max=max((r['seconds'] for r in ok), default=None), rss_mb_max=max((r['rss_mb'] for r in ok), default=None))))

if __name__ == '__main__': main()
