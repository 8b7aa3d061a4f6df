"""Benchmark: whole-slide prediction (`slide.predict_slide`) vs a bare forward of the same model on as many tiles, in one run.

The model is the seed's: ResNet18 at 224 px (random weights: speed does not depend on them), batch 64, on the CPU
(`--device` to change), MC dropout off. The bare forward is the network alone on ready, normalised batches; the
whole-slide run adds everything else: the thumbnail and tissue mask, reading the tiles from the slide, artefact
fractions, uint8 -> float, the outputs (table, GeoJSON, heatmap). Both are warmed up first and run alternately
(`--rounds` times each, the order swapped every round), since the load on a shared machine drifts.

Usage: python bench/predict.py [--size H W] [--rounds N] [--read-px PX] [--bare-tiles N] [--cache DIR]
Writes a synthetic H&E/IHC pair of H x W px (default 3072 x 3072: ~2 min on 2 cores) into DIR once and reuses it;
`--read-px 224` reads tile by tile (the reads before streaming), for comparison.
Prints one JSON line: tiles/s of both, their ratio (target >= 0.8 at the seed's size), peak RSS.
"""
import argparse, json, os, shutil, sys, tempfile, time
from pathlib import Path

import numpy as np
import warnings; warnings.filterwarnings("ignore", message=r"`torch\.jit\.\w+` is deprecated", category=FutureWarning)

from ki67_nb.core import Dataset, peak_rss_mb

def slide_file(cache:Path, size:tuple) -> Path:
    "The H&E slide of a synthetic pair of `size`, written once."
    out = cache/f'slide_{size[0]}x{size[1]}'
    ds = Dataset(out)
    if not ds.pairs_path.exists():
        from ki67_nb.synth import write_synthetic_dataset
        write_synthetic_dataset(out, size=size, pairs=1, seed=3, workers=os.cpu_count() or 1, force=True)
    return ds/ds.read_pairs().he_path.iloc[0]

def model_dir(cache:Path) -> Path:
    "A ResNet18 regressor at 224 px with random weights, in the layout `regress.load_regressor` reads."
    import torch
    from ki67_nb.regress import create_regressor, MODEL_FORMAT
    out = cache/'resnet18_224_random'
    if not (out/'config.json').exists():
        out.mkdir(parents=True, exist_ok=True)
        torch.manual_seed(0)
        model,_ = create_regressor('resnet18', pretrained=False, size=224)
        torch.save(model.state_dict(), out/'model.pth')
        cfg = dict(kind='ki67_nb.regress', format=MODEL_FORMAT, name=out.name, arch='resnet18', size=224, tile_size=224,
                   normalize=[[0.485, 0.456, 0.406], [0.229, 0.224, 0.225]])
        (out/'config.json').write_text(json.dumps(cfg, indent=1))
    return out

def bare_forward_s(model, n:int, size:int=224, bs:int=64) -> float:
    "Seconds of the model's forward alone on `n` tiles: normalised float batches already on its device, inference mode."
    import torch
    device = next(model.parameters()).device
    x = torch.rand(bs, 3, size, size, device=device)
    with torch.inference_mode():
        t = time.perf_counter()
        for i in range(0, n, bs): model(x[:min(bs, n - i)]).float().cpu()
        if device.type == 'cuda': torch.cuda.synchronize()
    return time.perf_counter() - t

def slide_s(predictor, he:Path, out:Path, bs:int=64, **kw) -> tuple:
    "Seconds of one whole-slide prediction from scratch (outputs removed first) and its summary."
    from ki67_nb.slide import predict_slide
    shutil.rmtree(out, ignore_errors=True)
    t = time.perf_counter()
    summary = predict_slide(predictor, he, out, tile_size=predictor.tile_size, batch_size=bs, **kw)
    return time.perf_counter() - t,summary

if __name__ == '__main__':
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--size', nargs=2, type=int, default=(3072, 3072), metavar=('H', 'W'), help='synthetic slide size, px (seed: 31104 31938)')
    p.add_argument('--rounds', type=int, default=2, help='timed runs of each, alternating')
    p.add_argument('--bs', type=int, default=64, help='batch size')
    p.add_argument('--device', default='cpu', help='torch device')
    p.add_argument('--read-px', type=int, default=2048, help="side of the blocks predict_slide reads at once (224: one tile per read)")
    p.add_argument('--bare-tiles', type=int, default=None, help='tiles of each bare forward (default: as many as the slide has; fewer keep a seed-size run short, the rate per tile is the same)')
    p.add_argument('--cache', default=os.environ.get('KI67_BENCH_DIR', '/tmp/ki67_bench'), help='where the slide and model are kept')
    a = p.parse_args()
    os.environ.setdefault('KI67_PROGRESS', '0')
    cache = Path(a.cache); cache.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    he = slide_file(cache, tuple(a.size))
    setup_s = time.perf_counter() - t0
    from ki67_nb.slide import RegressorPredictor
    predictor = RegressorPredictor(model_dir(cache), mc_samples=0, bs=a.bs, device=a.device)
    work = Path(tempfile.mkdtemp(prefix='bench_predict_'))
    try:
        bare_forward_s(predictor.model, 2*a.bs, bs=a.bs)                                  # warm-up: both paths once
        slide_s(predictor, he, work/'warm', a.bs, max_tiles=a.bs)
        from ki67_nb.slide import tissue_tiles
        from ki67_nb.wsi import open_slide
        n = len(tissue_tiles(open_slide(he), predictor.tile_size))                      # the tiles predict_slide predicts
        nb = min(n, a.bare_tiles or n)                                                   # tiles of the bare forward
        slide,bare = [],[]
        for k in range(a.rounds):
            for what in (('slide', 'bare') if k % 2 == 0 else ('bare', 'slide')):
                if what == 'bare': bare.append(bare_forward_s(predictor.model, nb, bs=a.bs))
                else:
                    s,summary = slide_s(predictor, he, work/f'run{k}', a.bs, read_px=a.read_px); slide.append(s)
                    assert summary['n_tiles'] == n, (summary['n_tiles'], n)
    finally: shutil.rmtree(work, ignore_errors=True)
    slide_rate,bare_rate = n/np.mean(slide),nb/np.mean(bare)
    print(json.dumps(dict(bench='predict', slide=f'{a.size[0]}x{a.size[1]}', model='resnet18 224 px (random weights)', device=a.device, bs=a.bs, read_px=a.read_px,
                          tiles=n, bare_tiles=nb, rounds=a.rounds, slide_s=[round(s, 2) for s in slide], bare_s=[round(b, 2) for b in bare],
                          slide_tiles_per_s=round(slide_rate, 1), bare_tiles_per_s=round(bare_rate, 1), ratio=round(slide_rate/bare_rate, 3),
                          peak_rss_gb=round(peak_rss_mb()/1024, 2), setup_s=round(setup_s, 1))))
