"""Benchmark: images/s of the fastai training loop vs a bare model step on one batch of tensors; one JSON line.

The training loop is `train_regressor`'s: PNG tiles read by the DataBlock, resized, flipped (and HED-jittered
with --stain-aug) and normalised, then forward, loss, backward, optimizer step and fastai's callbacks. The
reference, measured in the same run on the same model, is a bare step (forward + backward + AdamW step) repeated
on one batch already on the device: no data pipeline at all. The ratio loop/bare should be >= 0.8 (the data
pipeline is never the bottleneck). The bare step is timed before and after the loop and averaged, so a shared
machine's load drifts into both. On a GPU the same two figures are also measured with bf16 mixed precision (AMP).

    python bench/train.py [--arch resnet18] [--size PX] [--bs N] [--epochs N] [--workers N] [--stain-aug SIGMA]
"""
import argparse, json, os, shutil, tempfile, time
from pathlib import Path

os.environ.setdefault('KI67_PROGRESS', '0'); os.environ.setdefault('KI67_LOG', 'ERROR')
import torch
from fastai.vision.all import Callback, Learner, MSELossFlat, Adam

from ki67_nb.core import peak_rss_mb
from ki67_nb.tileset import extract_tiles, split_tiles
from ki67_nb.regress import create_regressor, tile_dataloaders
from ki67_nb.testing import ORACLE, write_oracle_label_fixture


def sync(device):
    if device.type == 'cuda': torch.cuda.synchronize()


class TrainTimer(Callback):
    "Time the training phase of every epoch after the first (warm-up), validation excluded."
    order = 100
    def __init__(self): self.seconds,self.images = 0.,0
    def before_train(self): sync(self.dls.device); self.t0 = time.perf_counter(); self.n = 0
    def after_batch(self):
        if self.training: self.n += len(self.xb[0])
    def after_train(self):
        sync(self.dls.device)
        if self.epoch > 0: self.seconds += time.perf_counter() - self.t0; self.images += self.n


def loop_rate(dls, model, epochs, amp):
    "Images/s of fastai's training loop (`Learner.fit`) on the tile DataLoaders."
    timer = TrainTimer()
    learn = Learner(dls, model, loss_func=MSELossFlat(), opt_func=Adam, cbs=[timer])
    learn.remove_cb(learn.progress)
    if amp: learn.to_bf16()
    with learn.no_logging(): learn.fit(epochs, 1e-4)
    return timer.images/timer.seconds


def bare_rate(model, xb, yb, steps, amp):
    "Images/s of forward + backward + optimizer step repeated on one batch already on the device."
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    loss_fn = torch.nn.MSELoss()
    def step():
        opt.zero_grad(set_to_none=True)
        with torch.autocast(xb.device.type, dtype=torch.bfloat16, enabled=amp):
            loss = loss_fn(model(xb).float().flatten(), yb.float())
        loss.backward(); opt.step()
    step(); sync(xb.device)
    t = time.perf_counter()
    for _ in range(steps): step()
    sync(xb.device)
    return steps*len(xb)/(time.perf_counter() - t)


def main():
    gpu = torch.cuda.is_available()
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--arch', default='resnet18', choices=['resnet18', 'vit_b16', 'vit_tiny'])
    ap.add_argument('--size', type=int, default=224 if gpu else 112, help='network input px (tiles are 224 px)')
    ap.add_argument('--bs', type=int, default=64 if gpu else 16)
    ap.add_argument('--epochs', type=int, default=4 if gpu else 3, help='epochs of the loop; the first is warm-up')
    ap.add_argument('--bare-steps', type=int, default=30 if gpu else 8)
    ap.add_argument('--workers', type=int, default=min(8, os.cpu_count() or 1) if gpu else 0)
    ap.add_argument('--stain-aug', type=float, default=0.)
    ap.add_argument('--slides', type=int, default=6, help='synthetic slides in the fixture (1024 px each)')
    a = ap.parse_args()
    device = torch.device('cuda' if gpu else 'cpu')
    tmp = Path(tempfile.mkdtemp(prefix='ki67_bench_train_'))
    try:
        write_oracle_label_fixture(tmp, slides=a.slides, size=1024, patch_size=1024)
        tiles = split_tiles(tmp, labels=ORACLE, valid_frac=0.01, test_frac=0.01, quotas=(10**6,)*3, eval_tiles=a.bs)
        tiles = extract_tiles(tmp, tiles)
        dls = tile_dataloaders(tmp, tiles, a.size, a.bs, a.stain_aug, a.workers)
        model = create_regressor(a.arch, pretrained=False, size=a.size)[0].to(device)
        xb,yb = dls.one_batch()
        res = dict(bench='train', device=torch.cuda.get_device_name() if gpu else f'cpu x{torch.get_num_threads()} threads',
                   arch=a.arch, size=a.size, bs=a.bs, workers=a.workers, stain_aug=a.stain_aug, train_tiles=int((tiles.split == 'train').sum()))
        for amp in ([False, True] if gpu else [False]):
            pre = bare_rate(model, xb, yb, a.bare_steps, amp)
            loop = loop_rate(dls, model, a.epochs, amp)
            post = bare_rate(model, xb, yb, a.bare_steps, amp)
            bare = (pre + post)/2
            key = 'amp_' if amp else ''
            res |= {f'{key}loop_images_per_s': round(loop, 2), f'{key}bare_images_per_s': round(bare, 2),
                    f'{key}bare_spread': round(abs(pre - post)/bare, 3), f'{key}ratio_loop_vs_bare': round(loop/bare, 3)}
        res |= dict(target_ratio=0.8, peak_rss_mb=round(peak_rss_mb()))
        print(json.dumps(res))
    finally: shutil.rmtree(tmp, ignore_errors=True)


if __name__ == '__main__':
    main()
