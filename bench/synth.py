"""Benchmark: write a full seed-size synthetic pair (31104 x 31938 by default) and print one JSON line.

Reports megapixels/s of the whole generator (render + JPEG + pyramid + truth tables), peak RSS of the main process
and of the largest rendering worker, and, as the reference measured in the same run, the rate of a bare
tifffile write of the same pyramid from a constant image (the I/O and JPEG floor).

    python bench/synth.py [--size H W] [--workers N] [--out DIR]
"""
import argparse, json, shutil, tempfile, time
from pathlib import Path

import numpy as np

from ki67_nb.core import peak_rss_mb
from ki67_nb.synth import STRIP, SyntheticPair, write_pair, write_pyramid_tiff


def bare_write(path, height, width):
    "Write a constant-image pyramid of the same size: the reference rate."
    strip = np.full((STRIP, width, 3), 200, np.uint8)
    strips = (strip[:min(STRIP, height - y)] for y in range(0, height, STRIP))
    write_pyramid_tiff(path, height, width, strips)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--size', nargs=2, type=int, default=[31104, 31938])
    ap.add_argument('--workers', type=int, default=2)
    ap.add_argument('--out', type=Path, default=None, help='keep the pair here (default: a temporary directory)')
    a = ap.parse_args()
    h, w = a.size
    out = a.out or Path(tempfile.mkdtemp(prefix='ki67_bench_synth_'))
    try:
        t = time.time(); bare_write(out/'bare.tiff', h, w); bare_s = time.time() - t
        (out/'bare.tiff').unlink()
        t = time.time()
        write_pair(SyntheticPair(h, w, seed=0), out, 'syn01', workers=a.workers)
        synth_s = time.time() - t
        mp = 2*h*w/1e6   # two slides
        size_mb = sum(p.stat().st_size for p in (out/'slides').iterdir())/2**20
        print(json.dumps(dict(bench='synth', height=h, width=w, workers=a.workers, megapixels=round(mp),
                              synth_s=round(synth_s, 1), synth_mp_per_s=round(mp/synth_s, 2),
                              bare_write_mp_per_s=round(mp/2/bare_s*1, 2) if bare_s else None,
                              ratio_vs_bare_write=round((mp/synth_s)/(mp/2/bare_s), 3),
                              peak_rss_main_mb=round(peak_rss_mb()), peak_rss_worker_mb=round(peak_rss_mb(children=True)),
                              slides_mb=round(size_mb))))
    finally:
        if a.out is None: shutil.rmtree(out, ignore_errors=True)


if __name__ == '__main__':
    main()
