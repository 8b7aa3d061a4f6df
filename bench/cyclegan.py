"""Benchmark: CycleGAN training steps/s at 256 px crops, batch 1, and print one JSON line.

On the CPU: the tiny configuration (`CycleGANConfig.tiny()` networks) and the paper's full-size one (ResNet-9
generators, 70x70 PatchGAN), with their ratio measured in the same run. On a GPU, when torch sees one: the full
model in float32 and with mixed precision (autocast float16 + GradScaler, channels-last), steps/s and peak memory,
and their ratio. Random crops stand in for patches: the step cost does not depend on the pixels.

    python bench/cyclegan.py [--cpu-steps 3] [--gpu-steps 30] [--threads N]
"""
import argparse, json, time

import torch

from ki67_nb.core import peak_rss_mb
from ki67_nb.cyclegan import CycleGAN, CycleGANConfig


def steps_per_s(model, steps, crop=256, warmup=1):
    "Training steps per second of `model` on random 1x3xcropxcrop pairs (after `warmup` steps)."
    x,y = (torch.rand(1, 3, crop, crop)*2 - 1 for _ in range(2))
    for _ in range(warmup): model.train_step(x, y)
    if model.device.type == 'cuda': torch.cuda.synchronize()
    t = time.perf_counter()
    for _ in range(steps): model.train_step(x, y)
    if model.device.type == 'cuda': torch.cuda.synchronize()
    return steps/(time.perf_counter() - t)


def gpu_run(config, amp, steps):
    "steps/s and peak GPU memory (GiB) of the model on CUDA."
    torch.cuda.empty_cache(); torch.cuda.reset_peak_memory_stats()
    model = CycleGAN(config, device='cuda', amp=amp)
    rate = steps_per_s(model, steps, warmup=3)
    peak = torch.cuda.max_memory_allocated()/2**30
    del model
    return rate,peak


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--cpu-steps', type=int, default=3, help='timed steps of the full model on the CPU (tiny: 10x)')
    ap.add_argument('--gpu-steps', type=int, default=30)
    ap.add_argument('--threads', type=int, default=None, help='torch CPU threads (default: torch default)')
    a = ap.parse_args()
    if a.threads: torch.set_num_threads(a.threads)
    full,tiny = CycleGANConfig(),CycleGANConfig.tiny(crop=256)
    out = dict(bench='cyclegan', crop=256, batch=1, cpu_threads=torch.get_num_threads())
    out['cpu_tiny_steps_per_s'] = round(steps_per_s(CycleGAN(tiny, device='cpu'), 10*a.cpu_steps), 3)
    out['cpu_full_steps_per_s'] = round(steps_per_s(CycleGAN(full, device='cpu'), a.cpu_steps), 4)
    out['cpu_full_vs_tiny'] = round(out['cpu_full_steps_per_s']/out['cpu_tiny_steps_per_s'], 4)
    out['cpu_peak_rss_mb'] = round(peak_rss_mb())
    if torch.cuda.is_available():
        out['gpu'] = torch.cuda.get_device_name()
        fp32,fp32_mem = gpu_run(full, False, a.gpu_steps)
        amp,amp_mem = gpu_run(full, True, a.gpu_steps)
        out |= dict(gpu_fp32_steps_per_s=round(fp32, 2), gpu_amp_steps_per_s=round(amp, 2), gpu_amp_vs_fp32=round(amp/fp32, 3),
                    gpu_fp32_peak_gib=round(fp32_mem, 2), gpu_amp_peak_gib=round(amp_mem, 2))
    else: out['gpu'] = None
    print(json.dumps(out))


if __name__ == '__main__':
    main()
