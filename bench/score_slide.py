"""Benchmark `ki67 score` on a whole synthetic IHC slide (seed size 31104 x 31938 at 0.5 µm/px by default) and print one
JSON line: seconds, megapixels of tissue per second, peak RSS of the main process and of the largest worker, and the
global index against the slide's true index (every nucleus of the synthetic slide is known).

The reference measured in the same run is a bare read of the same tissue tiles at level 0 (decode only: the I/O
floor the scorer cannot beat); `ratio_vs_bare_read` is the scorer's time over it.

    python bench/score_slide.py [--size H W] [--workers N] [--slide EXISTING_IHC.tiff --truth-seed S]
"""
import argparse, json, shutil, tempfile, time
from pathlib import Path

from ki67_nb.core import peak_rss_mb
from ki67_nb.synth import SyntheticPair, write_pair
from ki67_nb.wsi import open_slide
from ki67_nb.score import _slide_tiles, score_slide


def bare_read(path, mpp):
    "Seconds to read every tissue tile the scorer reads (decode only)."
    s = open_slide(path)
    size, grid = _slide_tiles(s, mpp)
    t = time.time()
    for r in grid.itertuples(): s.read_region(int(r.x), int(r.y), size, size)
    return time.time() - t, len(grid)*size*size/1e6


def true_index(pair, h, w, step=4096):
    "True Ki-67 index (positive / all nuclei) of the whole IHC slide, from the slide model's nuclei, block by block."
    pos = n = 0
    for y in range(0, h, step):
        for x in range(0, w, step):
            nuc = pair.nuclei('ihc', x, y, min(step, w - x), min(step, h - y))
            nuc = nuc[(nuc.x >= x) & (nuc.x < x + step) & (nuc.y >= y) & (nuc.y < y + step)]
            pos += int(nuc.positive.sum()); n += len(nuc)
    return pos/max(n, 1)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--size', nargs=2, type=int, default=[31104, 31938])
    ap.add_argument('--workers', type=int, default=2)
    ap.add_argument('--seed', type=int, default=0)
    a = ap.parse_args()
    h, w = a.size
    out = Path(tempfile.mkdtemp(prefix='ki67_bench_score_'))
    try:
        pair = SyntheticPair(h, w, seed=a.seed)
        path = out/write_pair(pair, out, 'syn01', workers=a.workers)['ihc_path']
        bare_s, tissue_mp = bare_read(path, 0.5)
        t = time.time(); s = score_slide(path, workers=a.workers); score_s = time.time() - t
        truth = true_index(pair, h, w)
        print(json.dumps(dict(bench='score_slide', height=h, width=w, workers=a.workers, tissue_mp=round(tissue_mp),
                              score_s=round(score_s, 1), tissue_mp_per_s=round(tissue_mp/score_s, 2), bare_read_s=round(bare_s, 1),
                              ratio_vs_bare_read=round(score_s/bare_s, 2), n_tiles=s.row['n_tiles'], n_cells=len(s.cells),
                              ki67_index=round(s.row['ki67_index'], 4), interval=[round(s.row['index_lo'], 4), round(s.row['index_hi'], 4)],
                              true_index=round(truth, 4), error=round(s.row['ki67_index'] - truth, 4),
                              peak_rss_main_mb=round(peak_rss_mb()), peak_rss_worker_mb=round(peak_rss_mb(children=True)))))
    finally: shutil.rmtree(out, ignore_errors=True)


if __name__ == '__main__':
    main()
