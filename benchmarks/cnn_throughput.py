"""Training and inference throughput of the seed CNN: gdsim vs Keras, side by side.

Both train the same network (32x32x3 inputs, 2 classes, batch 32, Adam 1e-4, float32) on the
same images, in this one process, after a warm-up (Keras compiles, NumPy's allocator settles);
then both predict at batch 32. Reported as images per second and the ratio gdsim / Keras.
This is a benchmark, not a test: the machine is shared and timings are noisy, so it repeats
each measurement, taking turns, and keeps the best (least disturbed) of the repeats.

    python benchmarks/cnn_throughput.py [--images 1600] [--repeats 4] [--json]
    python benchmarks/cnn_throughput.py --profiles [--images 1600] [--repeats 4] [--json]

Keras runs on whatever ``KERAS_BACKEND`` says (default jax). To compare several installed
backends, run once per backend; the issue's target is the ratio against the fastest.

gdsim runs under the portable numerics profile (:mod:`gdsim.numerics`, pinned below before
NumPy loads), the profile users get; ``--native-kernels`` (or ``GDSIM_NUMERICS=native``)
measures the machine's own kernels instead. ``--profiles`` measures gdsim alone (training)
under both: the profile is fixed when a process loads NumPy, so each measurement is a fresh
process, and the two profiles take turns (portable, native, portable, ...) ``--repeats``
times; the best of each is reported with the ratio native / portable.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
import tracemalloc

from gdsim import numerics

numerics.pin(native=numerics.requested_native(sys.argv[1:]))  # before NumPy loads

import numpy as np  # noqa: E402

os.environ.setdefault("KERAS_BACKEND", "jax")

BATCH = 32


def data(images: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    x = rng.random((images, 32, 32, 3), dtype=np.float32)
    y = np.eye(2, dtype=np.float32)[rng.integers(0, 2, images)]
    return x, y


def best_rates(runs, images: int, repeats: int) -> list[float]:
    """Images per second of the fastest of ``repeats`` timed calls of each of ``runs``.

    The runs take turns (A, B, A, B, ...) rather than one after the other, so that a slower
    or faster phase of the shared machine (its speed drifts by 10-20% over tens of seconds,
    measured) falls on both sides alike."""
    best = [float("inf")] * len(runs)
    for _ in range(repeats):
        for i, run in enumerate(runs):
            start = time.perf_counter()
            run()
            best[i] = min(best[i], time.perf_counter() - start)
    return [images / b for b in best]


def measure(images: int, repeats: int) -> dict:
    import keras

    from gdsim import keras_bridge, optim
    from gdsim.studies.cnn.model import seed_cnn

    x, y = data(images)
    model = seed_cnn(32, 32, 3, 2)
    model.compile(optimizer=optim.Adam(1e-4), loss="categorical_crossentropy")
    keras_model = keras_bridge.to_keras(model)
    keras_model.compile(optimizer=keras.optimizers.Adam(1e-4), loss="categorical_crossentropy")

    def gdsim_train():
        model.fit(x, y, batch_size=BATCH, epochs=1, shuffle=False, verbose=0)

    def keras_train():
        keras_model.fit(x, y, batch_size=BATCH, epochs=1, shuffle=False, verbose=0)

    def gdsim_predict():
        model.predict(x, batch_size=BATCH)

    def keras_predict():
        keras_model.predict(x, batch_size=BATCH, verbose=0)

    # the first epoch is traced: it allocates the buffers later epochs reuse (the peak counts
    # them, and every temporary on top of them)
    tracemalloc.start()
    gdsim_train()
    gdsim_peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    for warm_up in (gdsim_train, keras_train, gdsim_predict, keras_predict):
        warm_up()

    train = best_rates([gdsim_train, keras_train], images, repeats)
    inference = best_rates([gdsim_predict, keras_predict], images, repeats)
    result = {
        "numerics": numerics.label(),
        "keras_backend": keras.backend.backend(),
        "images": images,
        "gdsim_images_per_s": train[0],
        "keras_images_per_s": train[1],
        "gdsim_inference_images_per_s": inference[0],
        "keras_inference_images_per_s": inference[1],
        "gdsim_peak_traced_mb": gdsim_peak / 2**20,
        "process_max_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }
    result["ratio"] = result["gdsim_images_per_s"] / result["keras_images_per_s"]
    result["inference_ratio"] = (result["gdsim_inference_images_per_s"]
                                 / result["keras_inference_images_per_s"])
    return result


def gdsim_rate(images: int) -> float:
    """Training images per second of gdsim alone: one warm-up epoch, then one timed epoch."""
    from gdsim import optim
    from gdsim.studies.cnn.model import seed_cnn
    from gdsim.nn import blas

    x, y = data(images)
    model = seed_cnn(32, 32, 3, 2)
    model.compile(optimizer=optim.Adam(1e-4), loss="categorical_crossentropy")
    with blas.blas_threads(1):  # as the studies train
        model.fit(x, y, batch_size=BATCH, epochs=1, shuffle=False, verbose=0)
        return best_rates([lambda: model.fit(x, y, batch_size=BATCH, epochs=1, shuffle=False,
                                             verbose=0)], images, 1)[0]


def measure_profiles(images: int, repeats: int) -> dict:
    """gdsim's training rate under the portable and the native profile, each measurement in a
    fresh process, the profiles taking turns; the best of ``repeats`` for each."""
    best: dict[str, float] = {}
    labels: dict[str, str] = {}
    for _ in range(repeats):
        for profile in ("portable", "native"):
            env = {**os.environ, numerics.ENV_VAR: profile}
            out = subprocess.run([sys.executable, __file__, "--gdsim-only", "--images",
                                  str(images)], env=env, capture_output=True, text=True,
                                 check=True).stdout
            measured = json.loads(out)
            best[profile] = max(best.get(profile, 0.0), measured["gdsim_images_per_s"])
            labels[profile] = measured["numerics"]
    return {"images": images, "repeats": repeats,
            "portable_images_per_s": best["portable"], "native_images_per_s": best["native"],
            "native_over_portable": best["native"] / best["portable"],
            "portable_profile": labels["portable"], "native_profile": labels["native"]}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=1600, help="images per timed epoch")
    parser.add_argument("--repeats", type=int, default=4)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--native-kernels", action="store_true",
                        help="this machine's own kernels instead of the portable profile")
    parser.add_argument("--profiles", action="store_true",
                        help="gdsim alone under both numerics profiles, in separate processes")
    parser.add_argument("--gdsim-only", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.images < BATCH or args.repeats < 1:
        parser.error(f"--images must be >= {BATCH} and --repeats >= 1")
    if args.gdsim_only:  # one measurement of --profiles, in this fresh process
        print(json.dumps({"numerics": numerics.label(),
                          "gdsim_images_per_s": gdsim_rate(args.images)}))
        return 0
    if args.profiles:
        result = measure_profiles(args.images, args.repeats)
        if args.json:
            print(json.dumps(result, indent=1))
            return 0
        print(f"seed CNN training, 32x32x3, batch {BATCH}, Adam, float32, 1 BLAS thread; "
              f"best of {args.repeats}, profiles taking turns")
        print(f"  portable: {result['portable_images_per_s']:7.0f} images/s   "
              f"[{result['portable_profile']}]")
        print(f"  native  : {result['native_images_per_s']:7.0f} images/s   "
              f"[{result['native_profile']}]")
        print(f"  native / portable {result['native_over_portable']:.2f}")
        return 0
    result = measure(args.images, args.repeats)
    if args.json:
        print(json.dumps(result, indent=1))
        return 0
    print(f"seed CNN, 32x32x3, batch {BATCH}, Adam, float32; Keras backend {result['keras_backend']}")
    print(f"  gdsim numerics: {result['numerics']}")
    print(f"  training : gdsim {result['gdsim_images_per_s']:7.0f} images/s   "
          f"Keras {result['keras_images_per_s']:7.0f} images/s   ratio {result['ratio']:.2f}")
    print(f"  inference: gdsim {result['gdsim_inference_images_per_s']:7.0f} images/s   "
          f"Keras {result['keras_inference_images_per_s']:7.0f} images/s   "
          f"ratio {result['inference_ratio']:.2f}")
    print(f"  gdsim peak traced memory during its first epoch {result['gdsim_peak_traced_mb']:.1f} MB; "
          f"process max RSS {result['process_max_rss_mb']:.0f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
