#!/usr/bin/python3
# Native PyTorch reference for `npm run bench`: the same ResNet34-UNet (the plain-torch smp.Unet of
# scripts/fixtures/unet.py, whose module code is reused: the part of that file before its fixture-making code is
# executed here, so no fixture is written), same loss (softmax over each map's pixels, NLL of a one-hot target,
# temperature 1), Adam, on the CPU. Prints one JSON line.
#   /usr/bin/python3 bench/torch_unet.py --size 160x128 --batch 1 --reps 3 --threads 2
import argparse
import json
import os
import time

import torch

ap = argparse.ArgumentParser()
ap.add_argument("--size", default="160x128")
ap.add_argument("--batch", type=int, default=1)
ap.add_argument("--reps", type=int, default=3)
ap.add_argument("--threads", type=int, default=2)
args = ap.parse_args()
h, w = (int(v) for v in args.size.split("x"))
n = args.batch
torch.set_num_threads(args.threads)

src_path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "scripts", "fixtures", "unet.py")
src = open(src_path).read()
marker = "# ---- the full-size model"
if marker not in src:
    raise SystemExit(f"{src_path}: marker {marker!r} not found; cannot reuse its model code")
ns = {"__name__": "unet_fixture_models"}
exec(compile(src[: src.index(marker)], src_path, "exec"), ns)
CHH, two_d_softmax = ns["CHH"], ns["two_d_softmax"]

FULL = {"inChannels": 1, "landmarks": 19, "encoderChannels": [64, 64, 128, 256, 512], "encoderBlocks": [3, 4, 6, 3],
        "decoderChannels": [256, 128, 64, 32, 32]}
L = FULL["landmarks"]
torch.manual_seed(0)
model = CHH(FULL)
model.train()
x = torch.rand(n, 1, h, w) * 255
targets = torch.tensor([(i * 7919) % (h * w) for i in range(n * L)]).reshape(n, L)
opt = torch.optim.Adam(model.parameters(), lr=1e-3)


def loss_fn(logits):
    # two_d_softmax then NLL of the one-hot target: -log p[target], mean over maps (log-softmax for stability)
    logp = torch.log_softmax((logits / model.temperatures).flatten(2), dim=2)
    return -logp.gather(2, targets.unsqueeze(2)).mean()


def forward():
    with torch.no_grad():
        model(x)


def step():
    opt.zero_grad()
    loss = loss_fn(model(x))
    loss.backward()
    opt.step()


def timed(fn):
    fn()  # warm-up
    out = []
    for _ in range(args.reps):
        t0 = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t0) * 1000)
    return out


result = {
    "torch": torch.__version__,
    "threads": torch.get_num_threads(),
    "forward_ms": timed(forward),
    "train_step_ms": timed(step),
    "parameters": sum(p.numel() for p in model.parameters() if p.requires_grad),
}
print(json.dumps(result))
