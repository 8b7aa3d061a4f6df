"""Benchmark: the label stage reading its IHC patches from the slides (`ki67 tile --patch-format none`) vs from lossless
patch files (`--patch-format tif`), on the same synthetic pair, in one run.

Usage: python bench/label_source.py [CACHE_DIR] [--size H W] [--patch PX] [--reps N] [--detector watershed|stardist]
The pair (default 8192 x 8192, 2048-px patches; `--size 31104 31938 --patch 4096` is the seed's) is written once into
CACHE_DIR (default $KI67_BENCH_DIR or /tmp/ki67_bench) and shared by both datasets (the patch-free one links its
slides). Both are tiled, then labelled with `force=True` in alternating order after one warm-up run of each; the
best and median of `--reps` runs are compared. Prints one JSON line: seconds of each, the ratio slide/files (target
<= 1.05) and whether the two label tables are identical.
"""
import argparse, json, os, shutil, statistics, sys, time
from pathlib import Path
os.environ.setdefault('KI67_PROGRESS', '0')
os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')

sys.path.insert(0, str(Path(__file__).parent))
import tiles as tile_bench                                  # bench/tiles.py: the cached synthetic pair
from ki67_nb.core import Dataset, peak_rss_mb
from ki67_nb.tiles import tile_dataset
from ki67_nb.labelset import label_dataset

def datasets(cache:Path, size, patch:int) -> tuple:
    "(files, free): the cached pair tiled with lossless patch files and without, the second linking the first's slides."
    src = Dataset(tile_bench.dataset(cache, size))
    root = cache/f'label_source_{size[0]}x{size[1]}_{patch}'
    files,free = Dataset(root/'files'),Dataset(root/'free')
    for ds,fmt in [(files, 'tif'), (free, 'none')]:
        if not ds.manifest_path.exists():
            if ds.root.exists(): shutil.rmtree(ds.root)
            ds.root.mkdir(parents=True)
            for name in [src.slides_dir.name, src.truth_dir.name]:
                if (src.root/name).exists(): os.symlink(src.root/name, ds.root/name)
            shutil.copy(src.pairs_path, ds.pairs_path)
            tile_dataset(ds, patch_size=patch, patch_format=fmt, workers=2)
    return files,free

def timed(ds:Dataset, detector:str) -> tuple:
    t = time.perf_counter()
    labels = label_dataset(ds, detector=detector, force=True)
    return time.perf_counter() - t,labels

if __name__ == '__main__':
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('cache', nargs='?', default=os.environ.get('KI67_BENCH_DIR', '/tmp/ki67_bench'), help='folder for the synthetic pair')
    ap.add_argument('--size', nargs=2, type=int, metavar=('H', 'W'), default=[8192, 8192], help='slide height and width, level-0 px (default 8192 8192)')
    ap.add_argument('--patch', type=int, default=2048, help='patch side, level-0 px (default 2048)')
    ap.add_argument('--reps', type=int, default=3, help='timed runs of each, alternating (default 3)')
    ap.add_argument('--detector', default='watershed', help="nuclei detector of the label stage (default 'watershed')")
    a = ap.parse_args()
    files,free = datasets(Path(a.cache), tuple(a.size), a.patch)
    n = int(files.read_manifest().keep.sum())
    timed(files, a.detector); timed(free, a.detector)            # warm-up: imports, page cache, first-call costs
    t_files,t_free = [],[]
    for k in range(a.reps):
        order = [(files, t_files), (free, t_free)] if k % 2 == 0 else [(free, t_free), (files, t_files)]
        for ds,acc in order:
            s,lab = timed(ds, a.detector); acc.append(s)
            if ds is files: lf = lab
            else: ln = lab
    print(json.dumps(dict(bench='label_source', slide=f'{a.size[0]}x{a.size[1]}', patch=a.patch, kept_patches=n, detector=a.detector,
                          files_s=[round(s, 2) for s in t_files], slide_s=[round(s, 2) for s in t_free],
                          ratio_best=round(min(t_free)/min(t_files), 3), ratio_median=round(statistics.median(t_free)/statistics.median(t_files), 3),
                          identical=bool(lf.equals(ln)), peak_rss_gb=round(peak_rss_mb()/1024, 2))))
