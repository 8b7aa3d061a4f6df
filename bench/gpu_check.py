"""GPU check: every CUDA path of the course in one process, one JSON line per part; `--cpu-smoke` runs them at toy size on the CPU.

Parts (each in its own try/except; a failing part prints {"part": ..., "ok": false, "error": ...} and the rest still run;
the exit status is 1 when any part failed):

  a  StarDist labelling of a 4096 px synthetic IHC patch with TensorFlow on the GPU while torch holds GPU memory
     (TF memory growth set first by `configure_tensorflow`); the same patch is labelled again on the CPU in a subprocess
     (CUDA_VISIBLE_DEVICES='') and the two labellings are compared: nuclei, ratios, foreground IoU, seconds.
  b  CycleGAN (the paper's ResNet-9 generators, 70x70 PatchGANs) training steps at 256 px, batch 1, channels-last:
     float32 vs AMP (float16 autocast + GradScaler), steps/s and peak memory, and whether batch 1 fits a 15 GB T4.
  c  ResNet18 and ViT-B/16 regression: images/s of fastai's training loop (the `Learner` of `train_regressor`) vs a bare
     forward + backward + AdamW step on one batch already on the device, float32 and AMP (float16 on CUDA, bfloat16 on CPU).
  d  Whole-slide prediction: tiles/s of `predict_slide` with a trained regressor on a seed-size synthetic slide
     (31104 x 31938 px) vs a bare forward of the same model on the same number of tiles.
  e  `ki67 demo` with the GPU, in a subprocess: wall time and the GPU memory it used.

Timings follow the other benches: warm-up first, the reference (bare step / bare forward) measured in the same run,
alternating with the measured path, and the ratio reported. Expected on an H100/H200 (estimates, not yet measured):
a ~1.5 min (most of it the CPU reference label of 4096 px), b < 1 min, c ~1.5 min, d ~3 min (rendering the 1-gigapixel
slide pair is most of it), e a few minutes (`ki67 demo` runs CPU stages too). Where a command is limited to ~10 min,
run `--parts a,b,c,d` and `--parts e` separately; `--slide-size 16384 16384` shortens d.

    python bench/gpu_check.py [--parts a,b,c,d,e] [--out DIR] [--model STARDIST_DIR] [--slide-size H W]
    python bench/gpu_check.py --cpu-smoke      # the same code paths at toy size on the CPU (< 3 min on 2 cores)
"""
import argparse, contextlib, functools, inspect, json, math, os, shutil, subprocess, sys, tempfile, time, traceback
from dataclasses import dataclass
from pathlib import Path

os.environ.setdefault('KI67_PROGRESS', '0'); os.environ.setdefault('KI67_LOG', 'ERROR')
os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')
if '--cpu-smoke' in sys.argv:   # before torch/TF load; inherited by the subprocesses
    os.environ['CUDA_VISIBLE_DEVICES'] = ''
    os.environ.setdefault('OMP_WAIT_POLICY', 'PASSIVE')   # a shared 2-core runner: spinning OpenMP threads slow torch ~5x
if '--label-worker' in sys.argv: os.environ['CUDA_VISIBLE_DEVICES'] = ''

PARTS = 'abcde'
T4_GIB = 15.0          # a Colab T4 shows 15 GiB (15360 MiB)
CUDA_CONTEXT_GIB = 0.6 # CUDA context + cuDNN/cuBLAS workspaces, not in torch's allocator statistics


@dataclass(frozen=True)
class Sizes:
    "What each part runs at: the full check on a GPU, or the toy CPU smoke."
    patch:int=4096              # (a) IHC patch side, px
    torch_hold_gib:float=4.     # (a) GPU memory torch holds while TensorFlow labels
    cyclegan:str='full'         # (b) 'full' (CycleGANConfig()) or 'tiny' (CycleGANConfig.tiny())
    crop:int=256                # (b) training crop, px
    gan_steps:int=20            # (b) timed steps per variant and round (after 3 warm-up steps)
    archs:tuple=('resnet18', 'vit_b16')  # (c) the smoke: vit_tiny, the same timm ViT code at 1/15 of the cost
    fixture_slides:int=8        # (c, d) synthetic slides of the oracle-label fixture
    fixture_px:int=2048         # (c, d) their side, px
    patch_px:int=1024           # (c, d) H&E patch side, px
    tile:int=224                # (c, d) tile side, px (level 0)
    tile_stride:int=112         # (c, d) step between tiles (the seed's 112 px overlap)
    size:int=224                # (c, d) network input, px
    bs:int=64                   # (c, d) batch size
    quota:int=10**6             # (c, d) training tiles per slide and bin (all)
    eval_tiles:int=64           # (c, d) validation/test tiles per slide
    epochs:int=3                # (c) loop epochs; the first is warm-up
    bare_steps:int=20           # (c) bare steps before and after the loop
    workers:int=8               # (c, d) DataLoader workers
    slide:tuple=(31104, 31938)  # (d) synthetic slide (height, width), the seed's slide size
    pred_bs:int=64              # (d) tiles per predictor call
    slide_runs:int=1            # (d) predict_slide runs (the fastest counts), each followed by a bare forward
    demo:str='full'             # (e) 'full': `ki67 demo OUT`; 'small': `ki67_nb.cli.demo` at toy size; 'help': `ki67 demo --help` only

GPU = Sizes(workers=min(8, os.cpu_count() or 1))
SMOKE = Sizes(patch=512, torch_hold_gib=0., cyclegan='tiny', crop=64, gan_steps=2, archs=('resnet18', 'vit_tiny'), fixture_slides=3, fixture_px=1024,
              patch_px=512, tile=64, tile_stride=64, size=64, bs=4, quota=3, eval_tiles=4, epochs=2, bare_steps=2, workers=0,
              slide=(2048, 2048), demo='help')
SMOKE_DEMO = dict(size=(512, 768), pairs=3, patch_size=256, epochs=1)   # ki67_nb.cli.demo arguments of the smoke


class CheckFailed(Exception):
    "A part ran but its result is wrong; `fields` are the measurements, printed with the failure."
    def __init__(self, msg, fields): super().__init__(msg); self.fields = fields


# ---- names across the issue-14 refactor: the post-refactor name first, today's as a fallback ----
def _first(*refs):
    "The first importable `module:attr` of `refs`."
    import importlib
    for ref in refs:
        mod,attr = ref.split(':')
        try: return getattr(importlib.import_module(mod), attr)
        except (ImportError, AttributeError): continue
    raise ImportError(f'none of {refs} can be imported')

def _kw(fn, **kw):
    "The keyword arguments `fn` takes (so `labels='oracle'` goes only where the layout has labels/<method>.parquet)."
    params = inspect.signature(fn).parameters
    if any(p.kind == p.VAR_KEYWORD for p in params.values()): return kw
    return {k: v for k,v in kw.items() if k in params}

def _call(fn, *args, **kw): return fn(*args, **_kw(fn, **kw))

def _pairs_path(root):
    "The dataset's pairs table (`Dataset.pairs_path` after the refactor)."
    try: return _first('ki67_nb.core:Dataset')(root).pairs_path
    except ImportError: return Path(root)/'pairs.csv'


# ---- helpers ----
def _torch():
    import torch
    return torch

def device_name():
    torch = _torch()
    if torch.cuda.is_available(): return f'{torch.cuda.get_device_name()} (torch {torch.__version__}, CUDA {torch.version.cuda})'
    return f'cpu x{torch.get_num_threads()} threads (torch {torch.__version__})'

def sync():
    torch = _torch()
    if torch.cuda.is_available(): torch.cuda.synchronize()

def gib(n): return round(n/2**30, 3)

def rss_mb():
    from ki67_nb.core import peak_rss_mb
    return round(peak_rss_mb())


# ---- (a) StarDist / TensorFlow beside torch ----
def nuclei_model(S, out, model_arg):
    "`(model, folder)`: --model, else `load_nuclei_model()`'s (env, cache), else the tiny model trained into the cache (as the demo does)."
    from ki67_nb.nuclei import load_nuclei_model, cached_model_dir
    from ki67_nb.core import InputError
    train_nuclei_model = _first('ki67_nb.truth:train_nuclei_model', 'ki67_nb.label:train_nuclei_model')
    if model_arg: model = load_nuclei_model(model_arg)
    else:
        try: model = load_nuclei_model()
        except InputError: model = train_nuclei_model(cached_model_dir('tiny'), 'tiny')
    logdir = getattr(model, 'logdir', None)
    return model,(Path(logdir) if logdir and (Path(logdir)/'config.json').exists() else None)

def label_once(img, model):
    "Label `img` with the nuclear labeller after a warm-up; `(row, foreground mask, seconds)`."
    from ki67_nb.label import label_image, patch_row
    from ki67_nb.nuclei import nuclear_image, predict_nuclei
    predict_nuclei(model, nuclear_image(img[:256, :256]))   # build the graph outside the timing
    t0 = time.perf_counter()
    lab = label_image(img, 'nuclear', model)
    row = patch_row(lab)
    seconds = time.perf_counter() - t0
    return row,lab.labels['nuclei'] > 0,seconds

def label_worker(patch, model_dir, out_npy):
    "Subprocess side of part a: label the patch on the CPU; one JSON line; the foreground mask to `out_npy`."
    import numpy as np
    from ki67_nb.core import read_image
    from ki67_nb.nuclei import configure_tensorflow, load_nuclei_model
    with contextlib.redirect_stdout(sys.stderr):   # stdout: the JSON line only
        tf = configure_tensorflow()
        gpus = tf.config.list_physical_devices('GPU')
        row,fg,seconds = label_once(read_image(patch), load_nuclei_model(model_dir))
    np.save(out_npy, np.packbits(fg))
    print(json.dumps(dict(n_nuclei=row['n_nuclei'], ratio_area=row['ratio_area'], ratio_count=row['ratio_count'],
                          label_s=seconds, tf_gpus=len(gpus))))

def part_a(S, out, args):
    import numpy as np
    torch = _torch()
    cuda = torch.cuda.is_available()
    hold = torch.empty(int(S.torch_hold_gib*2**30), dtype=torch.uint8, device='cuda') if cuda else None  # torch holds memory first
    from ki67_nb.nuclei import configure_tensorflow
    from ki67_nb.core import write_image
    from ki67_nb.synth import SyntheticPair
    tf = configure_tensorflow()
    gpus = tf.config.list_physical_devices('GPU')
    res = dict(tf_version=tf.__version__, tf_built_with_cuda=tf.test.is_built_with_cuda(),
               tf_build_cuda=tf.sysconfig.get_build_info().get('cuda_version'), tf_gpus=[g.name for g in gpus],
               tf_memory_growth=[tf.config.experimental.get_memory_growth(g) for g in gpus],
               torch_held_gib=gib(torch.cuda.memory_allocated()) if cuda else 0.)
    if cuda and not gpus:
        raise CheckFailed('TensorFlow sees no GPU (its CUDA libraries are not found or do not match): StarDist would run on the CPU', res)
    model,folder = nuclei_model(S, out, args.model)
    if folder is None: raise CheckFailed('the StarDist model has no folder for the CPU subprocess to load; pass --model DIR', res)
    res['model'] = str(folder)
    pair = SyntheticPair(S.patch + 2048, S.patch + 2048, seed=7)
    img = pair.render('ihc', 1024, 1024, S.patch, S.patch)
    patch = Path(out)/'a_patch.png'; write_image(img, patch)
    row,fg,seconds = label_once(img, model)
    if gpus: res['tf_peak_gib'] = gib(tf.config.experimental.get_memory_info('GPU:0')['peak'])
    if cuda:   # torch still has its memory and still computes after TensorFlow took its share
        x = torch.randn(2048, 2048, device='cuda'); res['torch_ok_after_tf'] = bool(torch.isfinite(x @ x).all())
        res['torch_still_holds_gib'] = gib(torch.cuda.memory_allocated())
        del x, hold
    env = os.environ | dict(CUDA_VISIBLE_DEVICES='')
    cmd = [sys.executable, __file__, '--label-worker', str(patch), str(folder), str(Path(out)/'a_cpu_fg.npy')]
    p = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=900)
    if p.returncode: raise CheckFailed(f'CPU labelling subprocess failed: {p.stderr.strip().splitlines()[-1:]}', res)
    cpu = json.loads(p.stdout.strip().splitlines()[-1])
    cpu_fg = np.unpackbits(np.load(Path(out)/'a_cpu_fg.npy'))[:fg.size].reshape(fg.shape).astype(bool)
    union = (fg | cpu_fg).sum()
    iou = float((fg & cpu_fg).sum()/union) if union else 1.
    r4 = lambda v: None if v is None or (isinstance(v, float) and math.isnan(v)) else round(float(v), 4)
    res |= dict(patch_px=S.patch, n_nuclei=row['n_nuclei'], cpu_n_nuclei=cpu['n_nuclei'],
                ratio_area=r4(row['ratio_area']), cpu_ratio_area=r4(cpu['ratio_area']),
                ratio_count=r4(row['ratio_count']), cpu_ratio_count=r4(cpu['ratio_count']), foreground_iou=round(iou, 4),
                identical=bool(row['n_nuclei'] == cpu['n_nuclei'] and (fg == cpu_fg).all()),
                label_s=round(seconds, 2), cpu_label_s=round(cpu['label_s'], 2), speedup_vs_cpu=round(cpu['label_s']/seconds, 2),
                cpu_subprocess_tf_gpus=cpu['tf_gpus'])
    n,m = row['n_nuclei'] or 0,cpu['n_nuclei'] or 0
    bad = []
    if abs(n - m) > max(2, 0.01*max(n, m)): bad.append(f'nuclei {n} vs CPU {m}')
    for k in ['ratio_area', 'ratio_count']:
        a,b = res[k],res[f'cpu_{k}']
        if (a is None) != (b is None) or (a is not None and abs(a - b) > 0.01): bad.append(f'{k} {a} vs CPU {b}')
    if not n: bad.append('no nucleus found on a synthetic tissue patch')
    if iou < 0.98: bad.append(f'foreground IoU {iou:.3f} < 0.98')
    if cpu['tf_gpus']: bad.append('the CPU reference subprocess saw a GPU')
    if bad: raise CheckFailed('labels differ from the CPU labels: ' + '; '.join(bad), res)
    return res


# ---- (b) CycleGAN ----
def gan_rate(model, steps, crop, warmup):
    "Training steps/s of `model` on random 1x3xcropxcrop pairs after `warmup` steps."
    torch = _torch()
    x,y = (torch.rand(1, 3, crop, crop)*2 - 1 for _ in range(2))
    for _ in range(warmup): model.train_step(x, y)
    sync(); t = time.perf_counter()
    for _ in range(steps): model.train_step(x, y)
    sync()
    return steps/(time.perf_counter() - t)

def part_b(S, out, args):
    torch = _torch()
    from ki67_nb.cyclegan import CycleGAN, CycleGANConfig
    cuda = torch.cuda.is_available()
    cfg = CycleGANConfig() if S.cyclegan == 'full' else CycleGANConfig.tiny(crop=S.crop)
    variants = dict(fp32=dict(amp=False, channels_last=True), amp=dict(amp=True, channels_last=True))
    if cuda: variants['amp_contiguous'] = dict(amp=True, channels_last=False)
    res = dict(config=S.cyclegan, ngf=cfg.ngf, n_blocks=cfg.n_blocks, crop=S.crop, batch=1, steps=S.gan_steps)
    rates,peaks,skipped = {k: [] for k in variants},{k: (0, 0) for k in variants},set()
    for rnd in range(2):   # two rounds, the second in reverse order: a drifting machine load falls on every variant
        for name in (list(variants) if rnd == 0 else list(variants)[::-1]):
            if name in skipped: continue
            if cuda: torch.cuda.empty_cache(); torch.cuda.reset_peak_memory_stats()
            model = CycleGAN(cfg, device='cuda' if cuda else 'cpu', **variants[name])
            if variants[name]['amp'] and not model.amp: skipped.add(name); del model; continue   # CPU: CycleGAN runs float32
            rates[name].append(gan_rate(model, S.gan_steps, S.crop, warmup=3 if cuda else 1))
            if cuda: peaks[name] = tuple(map(max, peaks[name], (torch.cuda.max_memory_allocated(), torch.cuda.max_memory_reserved())))
            del model
    for name,v in variants.items():
        if name in skipped:
            res[name] = dict(skipped="CycleGAN's AMP is float16 autocast + GradScaler on CUDA only: CycleGAN(amp=True) trains in float32 on the CPU")
            continue
        r = dict(steps_per_s=round(sum(rates[name])/2, 3), round_spread=round(abs(rates[name][0] - rates[name][1])/(sum(rates[name])/2), 3))
        if cuda:
            alloc,reserved = peaks[name]
            r |= dict(peak_allocated_gib=gib(alloc), peak_reserved_gib=gib(reserved),
                      fits_t4_15gb=bool(reserved/2**30 + CUDA_CONTEXT_GIB < T4_GIB))
        res[name] = r
    if 'steps_per_s' in res.get('amp', {}): res['amp_vs_fp32'] = round(res['amp']['steps_per_s']/res['fp32']['steps_per_s'], 3)
    if cuda: res['fits_t4_15gb_batch1'] = bool(res['fp32']['fits_t4_15gb'] or res['amp']['fits_t4_15gb'])
    else: res['peak_rss_mb'] = rss_mb()
    return res


# ---- shared by (c) and (d): the oracle-label fixture and its sampled tiles ----
@functools.lru_cache(maxsize=None)
def fixture(S, out):
    "`(dataset, tiles, seconds)`: the oracle-label fixture (labels='oracle' in the refactored layout), split, sampled, tiles extracted."
    from ki67_nb.tileset import split_tiles, extract_tiles
    refs = ['ki67_nb.testing:write_oracle_label_fixture', 'ki67_nb.regress:write_oracle_label_fixture']
    if 'labels' not in inspect.signature(split_tiles).parameters: refs.reverse()   # the fixture of the layout split_tiles reads
    write = _first(*refs)
    ds = Path(out)/'oracle'
    t0 = time.perf_counter()
    write(ds, slides=S.fixture_slides, size=S.fixture_px, patch_size=S.patch_px, tile_size=S.tile, tile_stride=S.tile_stride)
    tiles = _call(split_tiles, ds, labels='oracle', valid_frac=0.1, test_frac=0.1, quotas=(S.quota,)*3, eval_tiles=S.eval_tiles)
    tiles = extract_tiles(ds, tiles)
    return ds,tiles,time.perf_counter() - t0


# ---- (c) regressors: fastai loop vs bare step ----
def loop_rate(dls, model, epochs, amp):
    "Images/s of fastai's training loop (the `Learner` of `train_regressor`) over the timed epochs (the first is warm-up)."
    from fastai.vision.all import Callback, Learner, MSELossFlat, Adam
    from ki67_nb.regress import regressor_splitter
    class TrainTimer(Callback):
        order = 100
        def __init__(self): self.seconds,self.images = 0.,0
        def before_train(self): sync(); self.t0 = time.perf_counter(); self.n = 0
        def after_batch(self):
            if self.training: self.n += len(self.xb[0])
        def after_train(self):
            sync()
            if self.epoch > 0: self.seconds += time.perf_counter() - self.t0; self.images += self.n
    timer = TrainTimer()
    learn = Learner(dls, model, loss_func=MSELossFlat(), opt_func=Adam, splitter=regressor_splitter, cbs=[timer])
    learn.remove_cb(learn.progress)
    if amp == 'float16': learn.to_fp16()
    elif amp == 'bfloat16': learn.to_bf16()
    with learn.no_logging(): learn.fit(epochs, 1e-4)
    return timer.images/timer.seconds

def bare_rate(model, xb, yb, steps, amp):
    "Images/s of forward + backward + AdamW step repeated on one batch already on the device (GradScaler with float16)."
    torch = _torch()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    dtype = dict(float16=torch.float16, bfloat16=torch.bfloat16).get(amp)
    scaler = torch.amp.GradScaler(xb.device.type, enabled=amp == 'float16')
    def step():
        opt.zero_grad(set_to_none=True)
        with torch.autocast(xb.device.type, dtype=dtype or torch.float32, enabled=dtype is not None):
            loss = torch.nn.functional.mse_loss(model(xb).float().flatten(), yb.float().flatten())
        scaler.scale(loss).backward(); scaler.step(opt); scaler.update()
    step(); sync()
    t = time.perf_counter()
    for _ in range(steps): step()
    sync()
    return steps*len(xb)/(time.perf_counter() - t)

def part_c(S, out, args):
    torch = _torch()
    from ki67_nb.regress import create_regressor, tile_dataloaders
    cuda = torch.cuda.is_available()
    device = torch.device('cuda' if cuda else 'cpu')
    ds,tiles,fixture_s = fixture(S, out)
    dls = tile_dataloaders(ds, tiles, S.size, S.bs, 0., S.workers)
    xb,yb = (t.as_subclass(torch.Tensor) for t in dls.one_batch())   # plain tensors: the bare step pays no fastai dispatch
    amp = 'float16' if cuda else 'bfloat16'
    res = dict(size=S.size, tile=S.tile, bs=S.bs, workers=S.workers, epochs_timed=S.epochs - 1, amp_dtype=amp,
               train_tiles=int((tiles.split == 'train').sum()), fixture_s=round(fixture_s, 1), target_ratio=0.8)
    for arch in S.archs:
        model = create_regressor(arch, pretrained=False, size=S.size)[0].to(device)
        r = {}
        for prec in ['fp32', 'amp']:
            a = amp if prec == 'amp' else None
            pre = bare_rate(model, xb, yb, S.bare_steps, a)
            loop = loop_rate(dls, model, S.epochs, a)
            post = bare_rate(model, xb, yb, S.bare_steps, a)
            bare = (pre + post)/2
            r[prec] = dict(loop_images_per_s=round(loop, 2), bare_images_per_s=round(bare, 2),
                           bare_spread=round(abs(pre - post)/bare, 3), ratio_loop_vs_bare=round(loop/bare, 3))
        r['amp_vs_fp32_loop'] = round(r['amp']['loop_images_per_s']/r['fp32']['loop_images_per_s'], 3)
        if cuda: r['peak_allocated_gib'] = gib(torch.cuda.max_memory_allocated())
        res[arch] = r
        del model
        if cuda: torch.cuda.empty_cache(); torch.cuda.reset_peak_memory_stats()
    if not cuda: res['peak_rss_mb'] = rss_mb()
    return res


# ---- (d) whole-slide prediction ----
def bare_forward_rate(model, n, size, bs, device):
    "Tiles/s of the model's forward alone (float32, inference mode, normalised batches already on the device) on `n` tiles."
    torch = _torch()
    x = torch.rand(bs, 3, size, size, device=device)
    with torch.inference_mode():
        model(x[:2]); sync()
        t = time.perf_counter()
        for i in range(0, n, bs): model(x[:min(bs, n - i)]).float().cpu()
        sync()
    return n/(time.perf_counter() - t)

def part_d(S, out, args):
    torch = _torch()
    from ki67_nb.regress import train_regressor
    from ki67_nb.slide import predict_slide
    from ki67_nb.synth import write_synthetic_dataset
    from ki67_nb.core import read_table
    Predictor = _first('ki67_nb.slide:RegressorPredictor', 'ki67_nb.slide:regressor_predictor')
    cuda = torch.cuda.is_available()
    size = tuple(args.slide_size or S.slide)
    res = dict(slide_px=list(size), tile=S.tile, size=S.size, bs=S.pred_bs)
    ds,tiles,fixture_s = fixture(S, out)
    t0 = time.perf_counter()
    model_dir = _call(train_regressor, ds, labels='oracle', arch='resnet18', name='gpu_check_resnet18', epochs=1, recipe='fastai',
                      pretrained=False, size=S.size, bs=S.bs, valid_frac=0.1, test_frac=0.1, quotas=(S.quota,)*3,
                      eval_tiles=S.eval_tiles, workers=S.workers)
    res['train_s'] = round(time.perf_counter() - t0, 1)
    slides = Path(out)/f'slide_{size[0]}x{size[1]}'
    t0 = time.perf_counter()
    if not _pairs_path(slides).exists():   # kept between runs with the same --out
        write_synthetic_dataset(slides, size=size, pairs=1, seed=3, force=True, workers=os.cpu_count() or 1)
    res['render_s'] = round(time.perf_counter() - t0, 1)
    he = slides/read_table(_pairs_path(slides)).he_path.iloc[0]
    predictor = Predictor(model_dir, mc_samples=0, bs=S.pred_bs)
    device = next(predictor.model.parameters()).device
    res['model_device'] = str(device)
    bare_forward_rate(predictor.model, 2*S.pred_bs, S.size, S.pred_bs, device)   # warm-up
    runs,bare = [],[]
    for k in range(S.slide_runs):   # predict_slide, then a bare forward on as many tiles, alternately
        t0 = time.perf_counter()
        summary = _call(predict_slide, predictor, he, Path(out)/f'd_pred{k}', slide_id='gpu_check', tile_size=predictor.tile_size,
                        batch_size=S.pred_bs)
        runs.append(time.perf_counter() - t0)
        bare.append(bare_forward_rate(predictor.model, int(summary['n_tiles']), S.size, S.pred_bs, device))
    n = int(summary['n_tiles'])
    slide_rate = n/min(runs)
    res |= dict(n_tiles=n, predict_slide_s=[round(r, 2) for r in runs], tiles_per_s=round(slide_rate, 1),
                bare_tiles_per_s=round(sum(bare)/len(bare), 1), ratio_slide_vs_bare=round(slide_rate/(sum(bare)/len(bare)), 4),
                global_index=round(float(summary['global_index']['mean']), 4))
    if cuda: res['peak_allocated_gib'] = gib(torch.cuda.max_memory_allocated())
    else: res['peak_rss_mb'] = rss_mb()
    return res


# ---- (e) ki67 demo ----
def demo_worker(out_dir, spec):
    "Subprocess side of part e: `ki67 <argv>` or `ki67_nb.cli.demo(OUT, **kwargs)`; then one JSON line with the devices it used."
    import torch
    from ki67_nb import cli
    spec = json.loads(spec)
    with contextlib.redirect_stdout(sys.stderr):   # stdout: the JSON line only
        if spec.get('kwargs') is None:
            try: rc = cli.main(spec['argv'])
            except SystemExit as e: rc = e.code or 0   # --help
        else: rc = 0; cli.demo(out_dir, **_kw(cli.demo, **spec['kwargs']))
    tf = sys.modules.get('tensorflow')
    gpus = tf.config.list_physical_devices('GPU') if tf else []
    print(json.dumps(dict(rc=rc, torch_cuda_peak_gib=gib(torch.cuda.max_memory_allocated()) if torch.cuda.is_available() else 0.,
                          tf_loaded=tf is not None, tf_gpus=len(gpus),
                          tf_peak_gib=gib(tf.config.experimental.get_memory_info('GPU:0')['peak']) if gpus else 0.)))

def part_e(S, out, args):
    torch = _torch()
    cuda = torch.cuda.is_available()
    demo = Path(out)/'demo'
    shutil.rmtree(demo, ignore_errors=True)
    mode = 'small' if args.smoke_demo else S.demo
    spec = dict(full=dict(argv=['demo', str(demo)]), help=dict(argv=['demo', '--help']), small=dict(kwargs=SMOKE_DEMO))[mode]
    t0 = time.perf_counter()
    p = subprocess.run([sys.executable, __file__, '--demo-worker', str(demo), json.dumps(spec)], capture_output=True, text=True, timeout=1800)
    wall = time.perf_counter() - t0
    res = dict(command=f"ki67 {' '.join(spec['argv'])}" if 'argv' in spec else f'ki67_nb.cli.demo(OUT, **{SMOKE_DEMO})', wall_s=round(wall, 1))
    if mode == 'help': res['skipped'] = ('the demo itself takes minutes on 2 CPU cores: the smoke runs only `ki67 demo --help` '
                                         'through the same subprocess; --smoke-demo runs a small demo')
    if p.returncode: raise CheckFailed(f'demo exited {p.returncode}: {(p.stderr.strip().splitlines() or [""])[-1][:300]}', res)
    res |= json.loads(p.stdout.strip().splitlines()[-1])
    if res['rc']: raise CheckFailed(f"`{res['command']}` returned {res['rc']}: {(p.stderr.strip().splitlines() or [''])[-1][:300]}", res)
    if mode == 'help':
        if 'usage: ki67 demo' not in p.stderr: raise CheckFailed('`ki67 demo --help` printed no usage', res)
        return res
    reports = sorted(str(q.relative_to(demo)) for q in demo.rglob('*.html'))
    res['report'] = reports[0] if reports else None
    if not reports: raise CheckFailed('the demo wrote no HTML report', res)
    if cuda and not res['torch_cuda_peak_gib']: raise CheckFailed('the demo never used the GPU from torch', res)
    return res


# ---- driver ----
def run_part(name, fn, S, out, args):
    t0 = time.perf_counter()
    line = dict(part=name, check=fn.__doc__ or fn.__name__, device=None)
    try:
        line['device'] = device_name()
        with contextlib.redirect_stdout(sys.stderr): res = fn(S, out, args)   # stdout: the JSON lines only
        line |= dict(ok=True, **res)
    except CheckFailed as e: line |= dict(ok=False, error=str(e), **e.fields)
    except Exception as e:
        line |= dict(ok=False, error=f'{type(e).__name__}: {e}'[:1000], where=traceback.format_exc().strip().splitlines()[-3:])
    line['seconds'] = round(time.perf_counter() - t0, 1)
    print(json.dumps(line, default=str), flush=True)
    return line['ok']

part_a.__doc__ = 'StarDist on TensorFlow GPU beside torch; labels vs the CPU labels'
part_b.__doc__ = 'CycleGAN training steps, float32 vs AMP, channels-last'
part_c.__doc__ = 'ResNet18 / ViT-B/16 regression: fastai loop vs bare step, float32 and AMP'
part_d.__doc__ = 'whole-slide prediction: predict_slide vs bare forward'
part_e.__doc__ = 'ki67 demo wall time'


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--parts', default=','.join(PARTS), help='comma-separated parts to run (default: a,b,c,d,e)')
    ap.add_argument('--out', default=None, help='scratch directory (default: a new temporary one, removed at the end)')
    ap.add_argument('--cpu-smoke', action='store_true', help='every part at toy size on the CPU (CUDA hidden)')
    ap.add_argument('--model', default=None, help='StarDist model folder or pretrained name for part a (default: the cached model, else a tiny one)')
    ap.add_argument('--slide-size', type=int, nargs=2, metavar=('H', 'W'), default=None, help='synthetic slide of part d (default 31104 31938; smoke 2048 2048)')
    ap.add_argument('--smoke-demo', action='store_true', help='part e on the CPU: a small demo (minutes) instead of `ki67 demo --help`')
    ap.add_argument('--label-worker', nargs=3, help=argparse.SUPPRESS)
    ap.add_argument('--demo-worker', nargs=2, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.label_worker: return label_worker(*args.label_worker)
    if args.demo_worker: return demo_worker(*args.demo_worker)
    parts = [p.strip() for p in args.parts.split(',') if p.strip()]
    if bad := [p for p in parts if p not in PARTS]: ap.error(f'unknown part(s) {bad}; choose from {",".join(PARTS)}')
    S = SMOKE if args.cpu_smoke else GPU
    out = Path(args.out) if args.out else Path(tempfile.mkdtemp(prefix='ki67_gpu_check_'))
    out.mkdir(parents=True, exist_ok=True)
    torch = _torch()
    ok = True
    try:
        if not args.cpu_smoke and not torch.cuda.is_available():
            for p in parts:
                print(json.dumps(dict(part=p, ok=False, error='CUDA is not available to torch; run on a GPU machine, or use --cpu-smoke')))
            return 1
        fns = dict(a=part_a, b=part_b, c=part_c, d=part_d, e=part_e)
        for p in PARTS:
            if p in parts: ok &= run_part(p, fns[p], S, out, args)
    finally:
        if not args.out: shutil.rmtree(out, ignore_errors=True)
    return 0 if ok else 1


if __name__ == '__main__':
    sys.exit(main())
