"""`bench/gpu_check.py` never rots: `--cpu-smoke` runs every part of the GPU check at toy size on the CPU (~2-4 min on 2 cores)."""
import json, os, subprocess, sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT/'bench'/'gpu_check.py'
PARTS = list('abcde')


def _run(tmp_path, *args, env=None, timeout=900):
    env = {k: v for k,v in os.environ.items() if k != 'KI67_STARDIST_MODEL'} | dict(
        KI67_PROGRESS='0', KI67_DATA=str(tmp_path/'data'), MPLBACKEND='Agg', TF_CPP_MIN_LOG_LEVEL='2') | (env or {})
    res = subprocess.run([sys.executable, str(SCRIPT), *args], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=timeout)
    lines = [json.loads(line) for line in res.stdout.splitlines() if line.startswith('{')]
    return res,lines


def test_cpu_smoke_every_part_ok(tmp_path):
    res,lines = _run(tmp_path, '--cpu-smoke', '--out', str(tmp_path/'out'))
    tail = res.stderr[-4000:]
    assert [l['part'] for l in lines] == PARTS, f'one JSON line per part expected, got {res.stdout[-2000:]}\n{tail}'
    failed = {l['part']: l.get('error') for l in lines if l['ok'] is not True}
    assert not failed, f'parts failed: {failed}\n{tail}'
    assert res.returncode == 0, tail
    a,b,c,d,e = lines
    assert a['n_nuclei'] > 0 and a['n_nuclei'] == a['cpu_n_nuclei'] and a['foreground_iou'] == 1.0   # both on the CPU: identical
    assert b['fp32']['steps_per_s'] > 0 and 'skipped' in b['amp']             # CycleGAN's AMP is CUDA-only: reported, not faked
    for arch in ['resnet18', 'vit_tiny']:
        for prec in ['fp32', 'amp']:
            assert c[arch][prec]['loop_images_per_s'] > 0 and c[arch][prec]['bare_images_per_s'] > 0
    assert c['amp_dtype'] == 'bfloat16'
    assert d['n_tiles'] > 0 and d['tiles_per_s'] > 0 and d['bare_tiles_per_s'] > 0 and 0 <= d['global_index'] <= 1
    assert e['rc'] == 0 and e['wall_s'] > 0


def test_failing_parts_are_reported(tmp_path):
    "Without CUDA and without --cpu-smoke every requested part prints ok false with why, and the exit status is 1."
    res,lines = _run(tmp_path, '--parts', 'b,d', env=dict(CUDA_VISIBLE_DEVICES=''), timeout=300)
    assert res.returncode == 1
    assert [(l['part'], l['ok']) for l in lines] == [('b', False), ('d', False)]
    assert all('CUDA' in l['error'] for l in lines)
