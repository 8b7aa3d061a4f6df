"""Benchmark: the register stage on one unregistered synthetic pair (turned, mirrored, scaled, elastically warped), timed in a fresh process, with its error against the truth.

Usage: python bench/register.py [CACHE_DIR] [--size H W] [--upscale N] [--angle DEG] [--flip] [--scale K] [--warp-um UM]
(CACHE_DIR default $KI67_BENCH_DIR or /tmp/ki67_bench). The pair is written once into CACHE_DIR/register_HxW[_xN] and reused.
Default size 4096 x 4096 (about a minute to write). `--upscale N` renders the synthetic pair at 1/N of the size and
writes each pixel as N x N (so a seed-size slide, `--size 31104 31938 --upscale 8`, takes minutes, not an hour, to
write; cells are then N times larger, the slide size, pyramid and reading cost are the seed's). The elastic
displacement is `--warp-um` µm on the written slide either way.
Prints one JSON line: seconds (total and per step), peak RSS of the registering process, TRE median / 90th percentile
(µm, 2000 tissue points), quality.
"""
import argparse, json, math, os, subprocess, sys, time
from pathlib import Path

import numpy as np

from ki67_nb.core import Dataset, atomic_path, write_table
from ki67_nb.synth import STRIP, PairLayout, SyntheticPair, write_pair, write_pyramid_tiff

def make_pair(cache:Path, size, upscale:int=1, layout:PairLayout=PairLayout(angle=137., flip=True, scale=1.05, shift=(0.02, -0.01), warp_um=40.),
              seed:int=0) -> tuple:
    "(dataset dir, SyntheticPair at 1/upscale) of one unregistered pair, written once."
    h,w = size
    out = Dataset(cache/(f'register_{h}x{w}' + (f'_x{upscale}' if upscale > 1 else '')))
    small = PairLayout(**{**layout.__dict__, 'warp_um': layout.warp_um/upscale})
    pair = SyntheticPair(h//upscale, w//upscale, seed=seed, layout=small)
    if not out.pairs_path.exists():
        if upscale == 1: paths = write_pair(pair, out, 'bench', workers=2)
        else:
            paths = {}
            for section in ['he', 'ihc']:
                sh,sw = pair.slide_shape(section)
                path = out.slides_dir/f'bench_{section.upper()}.tiff'
                mpp = 0.5 if section == 'he' else 0.5/pair.layout.scale
                write_pyramid_tiff(path, sh*upscale, sw*upscale, _upscaled(pair.strips(section, 2), upscale), mpp=mpp)
                paths[f'{section}_path'] = path.relative_to(out.root).as_posix()
        import pandas as pd
        write_table(pd.DataFrame([dict(slide_id='bench', **paths)]), out.pairs_path)
    return out,pair

def _upscaled(strips, n:int):
    "Each pixel of each strip as n x n, yielded in bands of at most STRIP rows."
    for s in strips:
        s = np.repeat(s, n, axis=1)
        for r0 in range(0, len(s)*n, STRIP):
            rows = np.arange(r0, min(len(s)*n, r0 + STRIP))//n
            yield s[rows]

def truth_error(ds:Dataset, pair:SyntheticPair, upscale:int, n:int=2000) -> np.ndarray:
    "Errors (µm at 0.5 µm per H&E px) of the saved registration at `n` IHC tissue points."
    from ki67_nb.registration import load_registration
    reg = load_registration(ds, 'bench')
    q,p = pair.registration_points(n)
    big = lambda c: (c + 0.5)*upscale - 0.5         # small-pair pixel coordinates to the written slide's
    return np.linalg.norm(reg.ihc_to_he(big(q)) - big(p), axis=1)*0.5,reg

if __name__ == '__main__':
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('cache', nargs='?', default=os.environ.get('KI67_BENCH_DIR', '/tmp/ki67_bench'))
    ap.add_argument('--size', nargs=2, type=int, default=[4096, 4096], metavar=('H', 'W'), help='H&E slide size, level-0 px (seed: 31104 31938)')
    ap.add_argument('--upscale', type=int, default=1, help='render at 1/N and write each pixel N x N (fast large slides)')
    ap.add_argument('--angle', type=float, default=137.); ap.add_argument('--flip', action='store_true', default=True)
    ap.add_argument('--no-flip', dest='flip', action='store_false')
    ap.add_argument('--scale', type=float, default=1.05, help='IHC px per H&E px (magnification ratio)')
    ap.add_argument('--warp-um', type=float, default=40.)
    ap.add_argument('--workers', type=int, default=1)
    a = ap.parse_args()
    t = time.perf_counter()
    ds,pair = make_pair(Path(a.cache), a.size, a.upscale, PairLayout(angle=a.angle, flip=a.flip, scale=a.scale, shift=(0.02, -0.01), warp_um=a.warp_um))
    t_write = time.perf_counter() - t
    code = ("import time, json; from ki67_nb.core import peak_rss_mb; from ki67_nb.register import register_dataset; t = time.perf_counter(); "
            f"r = register_dataset({str(ds.root)!r}, workers={a.workers}, force=True); dt = time.perf_counter() - t; "
            "print(json.dumps(dict(seconds=dt, rss_mb=max(peak_rss_mb(), peak_rss_mb(children=True)), registered=len(r))))")
    res = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, env=os.environ | {'KI67_PROGRESS': '0'})
    if res.returncode: raise SystemExit(res.stderr[-3000:])
    run = json.loads(res.stdout.strip().splitlines()[-1])
    if not run['registered']: raise SystemExit(f'not registered: {res.stderr[-2000:]}')
    err,reg = truth_error(ds, pair, a.upscale)
    from ki67_nb.wsi import open_slide
    he = open_slide(ds/ds.read_pairs().he_path[0]); ihc = open_slide(ds/ds.read_pairs().ihc_path[0])
    print(json.dumps(dict(he_size=list(he.dimensions), ihc_size=list(ihc.dimensions), upscale=a.upscale, angle=a.angle, flip=a.flip, scale=a.scale,
                          warp_um=a.warp_um, seconds=round(run['seconds'], 1), steps=reg.info['seconds'], rss_mb=round(run['rss_mb']),
                          tre_median_um=round(float(np.median(err)), 2), tre_p90_um=round(float(np.percentile(err, 90)), 2),
                          nmi=reg.info['nmi'], overlap=reg.info['overlap'], nonrigid=reg.field is not None, why=reg.info.get('why'),
                          confidence=reg.info.get('confidence'), specific=(reg.info.get('match') or {}).get('specific'), write_s=round(t_write, 1))))
