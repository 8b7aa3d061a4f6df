"""Benchmark the Ki-67 labeller on real annotated IHC images (a folder in the layout of shared/real-data/ki67-ihc:
images/<id>.png, cells/<id>.csv with x, y, positive, index.csv). Prints one JSON line: per source and overall, the
Ki-67 index MAE and worst image, recall of positive and negative cells (a cell is found when it falls inside a
detected nucleus), positive-call F1 on found cells, and seconds per megapixel.

    python bench/label_real.py --bench ../shared/real-data/ki67-ihc [--method nuclear] [--detector watershed|stardist]
                               [--mpp-csv FILE] [--model DIR] [--per-image FILE]

Without --mpp-csv (and without an `mpp` column in index.csv) the scale of each image is estimated from its nuclei.
"""
import argparse, json, os, sys
from pathlib import Path
os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')
os.environ.setdefault('KI67_PROGRESS', '0')

from ki67_nb.nuclei import DETECTORS
from ki67_nb.realbench import real_bench


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--bench', type=Path, required=True, help='folder with images/, cells/, index.csv')
    p.add_argument('--method', default='nuclear', choices=['nuclear', 'seed'], help='labeller (default nuclear)')
    p.add_argument('--detector', default='watershed', choices=list(DETECTORS), help='nuclei detector of the nuclear labeller (default watershed)')
    p.add_argument('--mpp-csv', type=Path, default=None, help='CSV key,mpp (key: image id or id prefix); default index.csv mpp, else estimated')
    p.add_argument('--model', default=None, help='StarDist model folder or pretrained name (detector stardist / method seed)')
    p.add_argument('--per-image', type=Path, default=None, help='also write the per-image table to this CSV')
    a = p.parse_args(argv)
    out, rows = real_bench(a.bench, a.method, a.detector, a.mpp_csv, a.model)
    if a.per_image: rows.to_csv(a.per_image, index=False)
    print(json.dumps(out))


if __name__ == '__main__':
    sys.exit(main())
