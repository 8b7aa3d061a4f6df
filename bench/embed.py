"""Benchmark: tiles/s of `features.embed_tiles` (patches read, tiles cut, encoder, cache written) vs a bare forward pass; one JSON line.

The embedding path is `embed_tiles` on every labelled tile of a synthetic oracle dataset, into an empty cache:
patch files read by a thread pool ahead of use, tiles cut and batched, copied to the device, the encoder (bf16
autocast on CUDA), embeddings flushed to the zarr cache. The reference, measured in the same run on the same encoder
and the same batches, is the bare forward pass on batches already on the device: no data path at all. After one
warm-up of each, the two are timed in alternating order (embed-bare, bare-embed, ...) so a shared machine's load
drifts into both; medians are compared. The ratio embed/bare should be >= 0.85: the data path is never the bottleneck.

    python bench/embed.py [--encoder tiny-vit] [--random-weights] [--bs N] [--slides N] [--rounds N] [--workers N]

On a GPU without access to a gated encoder, `--random-weights` builds its architecture with random weights (the same
speed). CPU default: the tiny random ViT.
"""
import argparse, json, os, shutil, statistics, tempfile, time
from pathlib import Path

os.environ.setdefault('KI67_PROGRESS', '0'); os.environ.setdefault('KI67_LOG', 'ERROR')
import torch

from ki67_nb.core import Dataset, peak_rss_mb
from ki67_nb.tileset import load_tile_table
from ki67_nb.features import ENCODERS, TINY_ENCODER, embed_tiles, load_encoder, tile_batches
from ki67_nb.testing import ORACLE, write_oracle_label_fixture


def sync(device):
    if device.type == 'cuda': torch.cuda.synchronize()


def embed_rate(ds, tiles, enc, bs, workers):
    "Tiles/s of `embed_tiles` into an empty cache."
    shutil.rmtree(Dataset(ds).embeddings_path(enc.enc.name), ignore_errors=True)
    sync(enc.device); t = time.perf_counter()
    embed_tiles(ds, tiles, enc, bs=bs, workers=workers)
    sync(enc.device)
    return len(tiles)/(time.perf_counter() - t)


def bare_rate(enc, batches):
    "Tiles/s of the encoder's forward pass on uint8 batches already on the device."
    sync(enc.device); t = time.perf_counter()
    for x in batches: enc(x)
    sync(enc.device)
    return sum(len(x) for x in batches)/(time.perf_counter() - t)


def main():
    gpu = torch.cuda.is_available()
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--encoder', default=TINY_ENCODER, choices=list(ENCODERS))
    ap.add_argument('--random-weights', action='store_true', help='the architecture with random weights (no download)')
    ap.add_argument('--bs', type=int, default=128 if gpu else 32)
    ap.add_argument('--slides', type=int, default=16 if gpu else 2, help='synthetic 2048 px slides (~220 tiles each)')
    ap.add_argument('--rounds', type=int, default=4, help='timed rounds of each, after one warm-up')
    ap.add_argument('--workers', type=int, default=None, help="threads reading patches (default: embed_tiles' own: up to 8 on a GPU, 0 on the CPU)")
    a = ap.parse_args()
    if a.workers is None: a.workers = min(8, os.cpu_count() or 1) if gpu else 0   # embed_tiles' default
    device = torch.device('cuda' if gpu else 'cpu')
    tmp = Path(tempfile.mkdtemp(prefix='ki67_bench_embed_'))
    try:
        write_oracle_label_fixture(tmp, slides=a.slides, size=2048, patch_size=1024)
        tiles = load_tile_table(tmp, labels=ORACLE)
        enc = load_encoder(a.encoder, pretrained=not a.random_weights, device=device)
        batches = [torch.from_numpy(im).to(device) for _,im in tile_batches(tmp, tiles, a.bs, a.workers)]
        embed_rate(tmp, tiles, enc, a.bs, a.workers); bare_rate(enc, batches)      # warm-up (cudnn, allocator, page cache)
        emb,bare = [],[]
        for r in range(a.rounds):
            for which in (('embed', 'bare') if r % 2 == 0 else ('bare', 'embed')):
                if which == 'embed': emb.append(embed_rate(tmp, tiles, enc, a.bs, a.workers))
                else: bare.append(bare_rate(enc, batches))
        e,b = statistics.median(emb),statistics.median(bare)
        print(json.dumps(dict(bench='embed', device=torch.cuda.get_device_name() if gpu else f'cpu x{torch.get_num_threads()} threads',
                              encoder=a.encoder, weights='random' if a.random_weights or not enc.pretrained else 'published',
                              amp='bf16' if gpu else None, tiles=len(tiles), bs=a.bs, workers=a.workers, rounds=a.rounds,
                              embed_tiles_per_s=round(e, 1), forward_tiles_per_s=round(b, 1),
                              forward_spread=round((max(bare) - min(bare))/b, 3), ratio_embed_vs_forward=round(e/b, 3),
                              target_ratio=0.85, peak_rss_mb=round(peak_rss_mb()))))
    finally: shutil.rmtree(tmp, ignore_errors=True)


if __name__ == '__main__':
    main()
