"""Where a seed-CNN training step's time goes, by layer type (main thread, wall clock).

Trains the seed network (32x32x3 inputs, 2 classes, batch 32, Adam 1e-4, float32) with
``fit`` and times every layer's ``forward`` and ``backward`` call (with the fast engine: its
kernel's, :mod:`gdsim.nn.fast.kernels`) as the main thread sees it:
work handed to the background thread (weight gradients, dropout masks, pooling masks, the
next batch's im2col) counts only where the main thread waits for it. With two cores the
image layers run in two lanes (:mod:`gdsim.nn.fast.lanes`): their rows are this process's
lane, half of each batch, waits at BatchNormalization's swaps of channel sums included. What is left of the
step ("optimizer and bookkeeping") is the flat Adam update, the loss and ``fit``'s own work.

    python benchmarks/cnn_profile.py [--images 960] [--epochs 5] [--serial] [--reference] [--json]

``--serial`` profiles ``Sequential(background=False)`` (everything on one thread);
``--reference`` profiles ``fit(engine="reference")`` (the reference tier alone). Timing
wrappers add ~1 us per call; the step time printed is measured without them.
"""

from __future__ import annotations

import argparse
import collections
import json
import sys
import time

import cnn_throughput  # beside this script: run as ``python benchmarks/cnn_profile.py``

BATCH = cnn_throughput.BATCH


def profile(images: int, epochs: int, background: bool, engine: str = "fast") -> dict:
    from gdsim import optim

    x, y = cnn_throughput.data(images)  # the images the throughput benchmark trains on
    model = cnn_throughput.seed_model()
    model.background = background
    model.compile(optimizer=optim.Adam(1e-4), loss="categorical_crossentropy")
    steps = -(-images // BATCH)

    def epoch_seconds() -> float:
        start = time.perf_counter()
        model.fit(x, y, batch_size=BATCH, epochs=1, verbose=0, engine=engine)
        return time.perf_counter() - start

    epoch_seconds()  # warm-up
    step_ms = min(epoch_seconds() for _ in range(epochs)) / steps * 1e3

    seconds: dict[str, float] = collections.defaultdict(float)
    counts = collections.Counter(type(layer).__name__ for layer in model.layers)
    # the objects whose forward/backward a step calls: the layers, or the fast engine's kernels
    # (made by the warm-up fit)
    pairs = list(zip(model.layers, model.layers if engine == "reference" else model._fast_engine.kernels))
    lanes = None if engine == "reference" else model._fast_engine.lanes
    if lanes is not None and lanes.kernels:  # this process's lane of the image layers
        pairs += list(zip(lanes.layers, lanes.kernels))
    for layer, stepper in pairs:
        kind = type(layer).__name__
        forward, backward = stepper.forward, stepper.backward

        def timed_forward(*args, _f=forward, _k=kind, **kwargs):
            start = time.perf_counter()
            out = _f(*args, **kwargs)
            seconds[_k] += time.perf_counter() - start
            return out

        def timed_backward(*args, _b=backward, _k=kind, **kwargs):
            start = time.perf_counter()
            out = _b(*args, **kwargs)
            seconds[_k] += time.perf_counter() - start
            return out

        stepper.forward, stepper.backward = timed_forward, timed_backward
    total = sum(epoch_seconds() for _ in range(epochs))
    per_step = {kind: s / (epochs * steps) * 1e3 for kind, s in seconds.items()}
    wrapped_step = total / (epochs * steps) * 1e3
    per_step["optimizer and bookkeeping"] = wrapped_step - sum(per_step.values())
    return {"background": background, "engine": engine, "step_ms": step_ms, "images_per_s": BATCH / step_ms * 1e3,
            "layers": {kind: {"count": counts.get(kind, 0), "ms": ms, "share": ms / wrapped_step}
                       for kind, ms in sorted(per_step.items(), key=lambda kv: -kv[1])}}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=960, help="images per epoch")
    parser.add_argument("--epochs", type=int, default=5, help="timed epochs (best one for the step)")
    parser.add_argument("--serial", action="store_true", help="profile background=False")
    parser.add_argument("--reference", action="store_true", help='profile engine="reference"')
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    if args.images < BATCH or args.epochs < 1:
        parser.error(f"--images must be >= {BATCH} and --epochs >= 1")
    result = profile(args.images, args.epochs, not args.serial,
                     "reference" if args.reference else "fast")
    if args.json:
        print(json.dumps(result, indent=1))
        return 0
    mode = ("reference engine" if args.reference else "one thread" if args.serial else
            "two lanes (a worker process) and the background thread")
    print(f"seed CNN training step, batch {BATCH}, {mode}: {result['step_ms']:.2f} ms "
          f"({result['images_per_s']:.0f} images/s)")
    print(f"  {'layer':28s} {'ms per batch':>12s} {'share':>6s}")
    for kind, row in result["layers"].items():
        label = f"{kind} ({row['count']})" if row["count"] else kind
        print(f"  {label:28s} {row['ms']:12.2f} {row['share']:6.0%}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
