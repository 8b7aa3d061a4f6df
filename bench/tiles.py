"""Benchmark: the whole tile stage vs a bare openslide read of the same 4096-px patches, measured in one run.

The tile stage reads TIFF slides with tiffslide (see 02_wsi), so a bare tiffslide read is measured too: the ratio
to it says how much the stage adds on top of reading with the same reader.

Usage: python bench/tiles.py [CACHE_DIR] [--size H W] [--patch PX] [--patch-format none|tif|png|jpg]   (CACHE_DIR default $KI67_BENCH_DIR or /tmp/ki67_bench)
Writes a synthetic pair of H x W level-0 px (default the seed size, 31104 x 31938) into CACHE_DIR/seed (other sizes:
CACHE_DIR/synth_HxW) once (~20 min at seed size, about a minute at 8192 x 8192), then reuses it. A quick run:
`python bench/tiles.py --size 8192 8192`.
The stage runs with `--patch-format` (default none: no patch files, as `ki67 tile` by default; later stages read the
slides). Prints one JSON line: rates in level-0 megapixels of patch pairs per second, ratios to the bare read, peak RSS.
"""
import argparse, json, os, shutil, subprocess, sys, time
from pathlib import Path

import openslide
import tiffslide

from ki67_nb.core import Dataset, peak_rss_mb

SEED_SIZE = (31104, 31938)   # the seed's slide, (height, width) level-0 px
SIZE,PATCH,FORMAT = SEED_SIZE,4096,'none'  # this run's slide, patch side and patch files (set from the command line)

def dataset(cache:Path, size=SEED_SIZE) -> Path:
    "A synthetic pair of `size` (height, width), written once: CACHE/seed at the seed size, CACHE/synth_HxW otherwise."
    size = tuple(size)
    out = cache/('seed' if size == SEED_SIZE else f'synth_{size[0]}x{size[1]}')
    if not Dataset(out).pairs_path.exists():
        from ki67_nb.synth import write_synthetic_dataset
        write_synthetic_dataset(out, size=size, pairs=1, seed=0, workers=2, force=True)
    return out

def bare_read(ds:Path, library=openslide) -> float:
    "Seconds for one thread to read every grid patch of both slides at level 0 with `library` (openslide or tiffslide), nothing else."
    pairs = Dataset(ds).read_pairs()
    t = time.perf_counter()
    for path in [pairs.he_path[0], pairs.ihc_path[0]]:
        s = openslide.OpenSlide(ds/path) if library is openslide else tiffslide.TiffSlide(ds/path)
        W,H = s.dimensions
        for y in range(0, H - PATCH + 1, PATCH):
            for x in range(0, W - PATCH + 1, PATCH): s.read_region((x, y), 0, (PATCH, PATCH))
    return time.perf_counter() - t

def tile_run(ds:Path, workers:int) -> dict:
    "Run the tile stage from scratch in a fresh process; its wall time, peak RSS and counts."
    d = Dataset(ds)
    for p in [d.patches_dir, d.manifest_path, d.failures_path('tile')]:
        if p.is_dir(): shutil.rmtree(p)
        elif p.exists(): p.unlink()
    code = (f"import time, json; from ki67_nb.core import peak_rss_mb; from ki67_nb.tiles import tile_dataset; t = time.perf_counter(); "
            f"m = tile_dataset({str(ds)!r}, patch_size={PATCH}, workers={workers}, patch_format={FORMAT!r}); dt = time.perf_counter() - t; "
            f"print(json.dumps(dict(seconds=dt, patches=len(m), scored=int((m.reject_reason != 'tissue').sum()), kept=int(m.keep.sum()), "
            f"rss_mb=max(peak_rss_mb(), peak_rss_mb(children=True)))))")
    res = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, env=os.environ | {'KI67_PROGRESS': '0'})
    if res.returncode: raise SystemExit(res.stderr[-3000:])
    return json.loads(res.stdout.strip().splitlines()[-1])

if __name__ == '__main__':
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('cache', nargs='?', default=os.environ.get('KI67_BENCH_DIR', '/tmp/ki67_bench'), help='folder for the synthetic pair')
    ap.add_argument('--size', nargs=2, type=int, metavar=('H', 'W'), default=list(SIZE), help='slide height and width, level-0 px (default: the seed size)')
    ap.add_argument('--patch', type=int, default=PATCH, help='patch side, level-0 px (default 4096, the seed)')
    ap.add_argument('--patch-format', default=FORMAT, choices=['none', 'tif', 'png', 'jpg'], help='patch files the stage writes (default none)')
    args = ap.parse_args()
    if min(args.size) < args.patch: ap.error(f'--size {args.size[0]} {args.size[1]} holds no {args.patch}-px patch')
    SIZE,PATCH,FORMAT = tuple(args.size),args.patch,args.patch_format
    cache = Path(args.cache)
    ds = dataset(cache, SIZE)
    n = (SIZE[0]//PATCH)*(SIZE[1]//PATCH)
    mp = 2*n*PATCH*PATCH/1e6                       # level-0 megapixels of all H&E + IHC grid patches
    bare = bare_read(ds)
    one = tile_run(ds, 1)
    two = tile_run(ds, 2)
    bare_again = bare_read(ds)                     # load on this shared machine drifts: bracket the tile runs
    bare_s = (bare + bare_again)/2
    bare_tiffslide_s = bare_read(ds, tiffslide)
    print(json.dumps(dict(bench='tiles', slide=f'{SIZE[0]}x{SIZE[1]}', patch=PATCH, patch_format=FORMAT, grid_patches=n, scored=one['scored'], kept=one['kept'],
                          bare_read_mp_s=round(mp/bare_s, 1), bare_read_s=[round(bare, 1), round(bare_again, 1)],
                          tile_1worker_mp_s=round(mp/one['seconds'], 1), tile_2workers_mp_s=round(mp/two['seconds'], 1),
                          ratio_1worker=round(bare_s/one['seconds'], 2), ratio_2workers=round(bare_s/two['seconds'], 2),
                          bare_tiffslide_mp_s=round(mp/bare_tiffslide_s, 1),
                          ratio_1worker_vs_tiffslide=round(bare_tiffslide_s/one['seconds'], 2), ratio_2workers_vs_tiffslide=round(bare_tiffslide_s/two['seconds'], 2),
                          peak_rss_gb_1worker=round(one['rss_mb']/1024, 2), peak_rss_gb_2workers=round(two['rss_mb']/1024, 2),
                          bench_rss_gb=round(peak_rss_mb()/1024, 2))))
