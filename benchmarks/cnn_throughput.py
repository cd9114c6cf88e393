"""Training and inference throughput of the seed CNN: gdsim against every installed peer.

Every engine trains the same network (``seed_cnn``'s layers: 32x32x3 inputs, 2 classes, batch
32, Adam 1e-4, float32) on the same random images, then predicts them at batch 32:

- ``gdsim``: the portable numerics profile (:mod:`gdsim.numerics`, the profile users get) and
  ``gdsim-native`` (this machine's own kernels); OpenBLAS at 1 thread, gdsim's background
  thread and its lane worker process (:mod:`gdsim.nn.fast.lanes`);
- ``keras``: Keras 3 ``fit``/``predict`` on ``KERAS_BACKEND`` (default jax), its own threads;
- ``torch-channels_last``: PyTorch eager on the CPU in its fastest configuration (channels_last
  memory format, one intra-op thread per core); ``torch-channels_last-1thread`` and
  ``torch-nchw`` (the default layout, all cores) as extra rows. The network is translated layer
  for layer from gdsim's model (same shapes, Keras's BatchNorm momentum and epsilon, Adam's
  epsilon 1e-7), trained with ``cross_entropy`` on logits (softmax + categorical cross-entropy).

Each engine lives in its own process (OpenMP threads spin-wait and disturb whatever shares their
process), started once and warmed up (Keras compiles, PyTorch allocates); then the processes
take turns -- one timed epoch each, A, B, C, then B, C, A, then C, A, B, ... (each round starts
one engine later, so that no engine always follows the same one) -- ``--repeats`` times, and
the best (least disturbed) epoch of each counts; the same for one pass of ``predict``, three
times as many rounds by default (``--predict-repeats``: a pass takes a tenth of a second, less
than the host's slowdowns last). Only one process works at a time: the others wait on a
pipe. Beside the best-of ratios, the JSON gives gdsim's ratio to the fastest peer round by
round (``round_ratios_vs_fastest``): on a host whose speed drifts by tens of percent within
minutes, as these VMs do, their median is the steadier one.

FLOP/s: the seed CNN's GEMM work per training image is counted from the layer shapes (forward,
dL/dW of every layer and dL/dx of all but the first; BatchNorm, ReLU, pooling and Adam are not
counted); the machine's peak float32 FLOP/s is SIMD lanes (AVX-512: 16, AVX2: 8, from
/proc/cpuinfo's flags) x 2 (an FMA is two FLOPs) x FMA units per core (``--fma-units``,
default 2: Intel server cores since Skylake-SP, Sapphire Rapids included) x clock (/proc/cpuinfo
``cpu MHz``, the nominal clock a VM reports) x cores; a large single-thread sgemm in the gdsim
process measures the practical peak of the kernels it runs.

    python benchmarks/cnn_throughput.py [--images 1600] [--repeats 4] [--engines ...] [--json]
    python benchmarks/cnn_throughput.py --profiles   # gdsim alone, portable vs native

This is a benchmark, not a test: on a shared machine the timings are noisy.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import resource
import subprocess
import sys
import time

from gdsim import numerics

numerics.pin(native=numerics.requested_native(sys.argv[1:]))  # before NumPy loads

import numpy as np  # noqa: E402

BATCH = 32
SHAPE = (32, 32, 3)
CLASSES = 2
LEARNING_RATE = 1e-4
ENGINES = ("gdsim", "gdsim-native", "keras", "torch-channels_last",
           "torch-channels_last-1thread", "torch-nchw")
GDSIM_ENGINES = ("gdsim", "gdsim-native")


def seed_model():
    """gdsim's seed CNN, built: the one place the benchmarks import it."""
    from gdsim.studies.cnn.model import seed_cnn

    return seed_cnn(*SHAPE, CLASSES)


def data(images: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Random images ``(images, 32, 32, 3)`` in [0, 1) and one-hot labels ``(images, 2)``."""
    rng = np.random.default_rng(seed)
    x = rng.random((images, *SHAPE), dtype=np.float32)
    y = np.eye(CLASSES, dtype=np.float32)[rng.integers(0, CLASSES, images)]
    return x, y


# -- work and peak ---------------------------------------------------------------------------
def gemm_flops_per_image(model) -> dict[str, int]:
    """Multiply-add work of the network's GEMMs per image, as FLOPs (2 per multiply-add).

    A Conv2D with output ``Ho x Wo`` and kernel ``(kh, kw, C, F)`` does ``Ho*Wo*kh*kw*C*F``
    multiply-adds forward, as many for dL/dW and for dL/dx; a Dense ``(n, u)``: ``n*u``.
    Training = forward + dL/dW of every layer + dL/dx of every layer but the first (nobody needs
    the input's gradient; gdsim and PyTorch both skip it)."""
    from gdsim.nn.layers import Conv2D, Dense

    per_layer = []
    for layer in model.layers:
        if isinstance(layer, Conv2D):
            geo = layer.geometry
            per_layer.append(geo.rows.out * geo.cols.out * int(np.prod(layer.kernel.shape)))
        elif isinstance(layer, Dense):
            per_layer.append(int(np.prod(layer.kernel.shape)))
    forward = sum(per_layer)
    training = 3 * forward - per_layer[0]
    return {"forward": 2 * forward, "training": 2 * training}


def cpu() -> dict:
    """Processor model, nominal clock, SIMD width and the cores this process may use."""
    info: dict[str, str] = {}
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                key, _, value = line.partition(":")
                info.setdefault(key.strip(), value.strip())
    except OSError:
        pass
    flags = set(info.get("flags", "").split())
    lanes = 16 if "avx512f" in flags else 8 if "avx2" in flags else 4
    return {"model": info.get("model name", "unknown"), "mhz": float(info.get("cpu MHz", "nan")),
            "simd": "AVX-512" if lanes == 16 else "AVX2" if lanes == 8 else "SSE",
            "float32_lanes": lanes, "cores": len(os.sched_getaffinity(0))}


def peak_flops(lanes: int, fma_units: int, mhz: float, cores: int) -> float:
    """float32 FLOP/s: lanes x 2 (FMA) x FMA units x clock x cores."""
    return lanes * 2 * fma_units * mhz * 1e6 * cores


def sgemm_flops(size: int = 1536, repeats: int = 5) -> float:
    """FLOP/s of the best of ``repeats`` float32 ``(size x size) @ (size x size)`` on 1 thread."""
    from gdsim.nn import blas

    rng = np.random.default_rng(0)
    a, b = (rng.random((size, size), dtype=np.float32) for _ in range(2))
    out = np.empty_like(a)
    best = float("inf")
    with blas.blas_threads(1):
        np.matmul(a, b, out=out)
        for _ in range(repeats):
            start = time.perf_counter()
            np.matmul(a, b, out=out)
            best = min(best, time.perf_counter() - start)
    return 2 * size**3 / best


# -- the engines (each in its own worker process) --------------------------------------------
class GdsimEngine:
    def __init__(self, images: int):
        from gdsim import optim

        self.x, self.y = data(images)
        self.model = seed_model()
        self.model.compile(optimizer=optim.Adam(LEARNING_RATE), loss="categorical_crossentropy")
        self.info = {"numerics": numerics.label(), "blas_threads": 1,
                     "threads": 2 if self.model.background else 1,
                     "threads_note": ("main process (main + background thread) and the lane worker "
                                      "process, one core each; BLAS at 1 thread")}

    def train(self):
        self.model.fit(self.x, self.y, batch_size=BATCH, epochs=1, shuffle=False, verbose=0)

    def predict(self):
        self.model.predict(self.x, batch_size=BATCH)


class KerasEngine:
    def __init__(self, images: int):
        os.environ.setdefault("KERAS_BACKEND", "jax")
        import keras

        from gdsim import keras_bridge

        self.x, self.y = data(images)
        self.model = keras_bridge.to_keras(seed_model())
        self.model.compile(optimizer=keras.optimizers.Adam(LEARNING_RATE),
                           loss="categorical_crossentropy")
        self.info = {"version": keras.__version__, "backend": keras.backend.backend(),
                     "threads": len(os.sched_getaffinity(0)),
                     "threads_note": "the backend's own thread pool (all cores)"}

    def train(self):
        self.model.fit(self.x, self.y, batch_size=BATCH, epochs=1, shuffle=False, verbose=0)

    def predict(self):
        self.model.predict(self.x, batch_size=BATCH, verbose=0)


def torch_network(model, torch):
    """gdsim's layers as a ``torch.nn.Sequential`` (channels-first; the softmax is left to the
    loss, which takes logits)."""
    from gdsim.nn.layers import (Activation, BatchNormalization, Conv2D, Dense, Dropout, Flatten,
                                 MaxPooling2D)

    nn, modules, channels, features = torch.nn, [], SHAPE[-1], None
    for layer in model.layers:
        if isinstance(layer, Conv2D):
            modules.append(nn.Conv2d(channels, layer.filters, layer.kernel.shape[:2],
                                     stride=tuple(layer.strides), padding=layer.padding))
            channels = layer.filters
        elif isinstance(layer, Dense):
            modules.append(nn.Linear(layer.kernel.shape[0], layer.units))
            features = layer.units
        elif isinstance(layer, BatchNormalization):
            norm = nn.BatchNorm2d if features is None else nn.BatchNorm1d
            modules.append(norm(channels if features is None else features, eps=layer.epsilon,
                                momentum=1.0 - layer.momentum))
        elif isinstance(layer, Activation):
            if layer.activation.name == "relu":
                modules.append(nn.ReLU())
            elif layer.activation.name != "softmax" or layer is not model.layers[-1]:
                raise ValueError(f"no PyTorch form for activation {layer.activation.name!r}")
        elif isinstance(layer, MaxPooling2D):
            modules.append(nn.MaxPool2d(layer.pool_size, tuple(layer.strides)))
        elif isinstance(layer, Dropout):
            modules.append(nn.Dropout(layer.rate))
        elif isinstance(layer, Flatten):
            modules.append(nn.Flatten())
        else:
            raise ValueError(f"no PyTorch form for {type(layer).__name__}")
    return nn.Sequential(*modules)


class TorchEngine:
    def __init__(self, images: int, channels_last: bool, threads: int):
        import torch

        torch.set_num_threads(threads)
        torch.manual_seed(0)
        self.torch = torch
        x, y = data(images)
        self.format = torch.channels_last if channels_last else torch.contiguous_format
        self.x = torch.from_numpy(x).permute(0, 3, 1, 2).contiguous(memory_format=self.format)
        self.y = torch.from_numpy(y.argmax(axis=1))
        self.model = torch_network(seed_model(), torch).to(memory_format=self.format)
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=LEARNING_RATE, eps=1e-7)
        self.info = {"version": torch.__version__, "threads": torch.get_num_threads(),
                     "memory_format": "channels_last" if channels_last else "NCHW"}

    def train(self):
        torch, model = self.torch, self.model
        functional = torch.nn.functional
        model.train()
        for start in range(0, len(self.x), BATCH):
            self.optimizer.zero_grad(set_to_none=True)
            loss = functional.cross_entropy(model(self.x[start:start + BATCH]),
                                            self.y[start:start + BATCH])
            loss.backward()
            self.optimizer.step()

    def predict(self):
        torch, model = self.torch, self.model
        model.eval()
        with torch.inference_mode():
            torch.cat([torch.softmax(model(self.x[start:start + BATCH]), dim=1)
                       for start in range(0, len(self.x), BATCH)]).numpy()


def make_engine(name: str, images: int):
    cores = len(os.sched_getaffinity(0))
    if name in GDSIM_ENGINES:
        return GdsimEngine(images)
    if name == "keras":
        return KerasEngine(images)
    return TorchEngine(images, channels_last="channels_last" in name,
                       threads=1 if name.endswith("1thread") else cores)


def serve(name: str, images: int) -> int:
    """Worker process: set up ``name``, warm it up, then time one command per line of stdin
    (``train``, ``predict``, ``sgemm``), answering each with one JSON line on stdout."""
    engine = make_engine(name, images)
    engine.train()
    engine.predict()
    engine.train()
    out = sys.stdout
    print(json.dumps({"ready": True, **engine.info}), file=out, flush=True)
    for command in sys.stdin:
        command = command.strip()
        if command == "sgemm":
            answer = {"flops": sgemm_flops()}
        elif command in ("train", "predict"):
            start = time.perf_counter()
            getattr(engine, command)()
            answer = {"seconds": time.perf_counter() - start}
        else:
            break
        answer["max_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(json.dumps(answer), file=out, flush=True)
    return 0


class Worker:
    """One engine's process, driven over a pipe."""

    def __init__(self, name: str, images: int):
        env = dict(os.environ)
        # peers and gdsim-native see this machine's own NumPy kernels; gdsim the portable ones
        env[numerics.ENV_VAR] = "portable" if name == "gdsim" else "native"
        self.name = name
        self.process = subprocess.Popen(
            [sys.executable, os.path.abspath(__file__), "--worker", name, "--images", str(images)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env)
        self.info = self._answer()

    def _answer(self) -> dict:
        line = self.process.stdout.readline()
        if not line:
            raise RuntimeError(f"the {self.name} worker stopped (exit code {self.process.wait()})")
        return json.loads(line)

    def ask(self, command: str) -> dict:
        self.process.stdin.write(command + "\n")
        self.process.stdin.flush()
        return self._answer()

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.stdin.close()
            self.process.wait()


def available(name: str) -> bool:
    module = {"keras": "keras", "torch": "torch"}.get(name.split("-")[0])
    return module is None or importlib.util.find_spec(module) is not None


def measure(images: int, repeats: int, engines: list[str], fma_units: int,
            predict_repeats: int | None = None) -> dict:
    """Every engine's best training epoch of ``repeats`` and best ``predict`` pass of
    ``predict_repeats`` (default ``3 * repeats``), taking turns; FLOP/s figures."""
    predict_repeats = 3 * repeats if predict_repeats is None else predict_repeats
    missing = [name for name in engines if not available(name)]
    engines = [name for name in engines if name not in missing]
    if not engines:
        raise SystemExit(f"cnn_throughput: none of the engines asked for is installed "
                         f"({', '.join(missing)})")
    workers = []
    try:
        for name in engines:  # one at a time: warm-ups do not overlap
            workers.append(Worker(name, images))
        # seconds[kind][name]: one entry per round, the rounds in order
        seconds: dict[str, dict[str, list[float]]] = {kind: {w.name: [] for w in workers}
                                                      for kind in ("train", "predict")}
        rss: dict[str, float] = {}
        for kind, rounds in (("train", repeats), ("predict", predict_repeats)):
            for round_ in range(rounds):
                # each round starts one engine later: none always follows the same one
                for worker in workers[round_ % len(workers):] + workers[:round_ % len(workers)]:
                    answer = worker.ask(kind)
                    seconds[kind][worker.name].append(answer["seconds"])
                    rss[worker.name] = answer["max_rss_mb"]
        best = {kind: {name: min(times) for name, times in by_name.items()}
                for kind, by_name in seconds.items()}
        sgemm = {w.name: w.ask("sgemm")["flops"] for w in workers if w.name in GDSIM_ENGINES}
    finally:
        for worker in workers:
            worker.close()
    train = {name: images / s for name, s in best["train"].items()}
    infer = {name: images / s for name, s in best["predict"].items()}
    processor = cpu()
    flops = gemm_flops_per_image(seed_model())
    peak_all = peak_flops(processor["float32_lanes"], fma_units, processor["mhz"], processor["cores"])
    peak_avx2_core = peak_flops(8, fma_units, processor["mhz"], 1)
    result: dict = {
        "images": images, "repeats": repeats, "predict_repeats": predict_repeats,
        "batch": BATCH, "cores": processor["cores"],
        "cpu": processor["model"], "cpu_mhz": processor["mhz"], "simd": processor["simd"],
        "engines": {w.name: w.info for w in workers}, "missing": missing,
        "train_images_per_s": train, "inference_images_per_s": infer,
        "threads": {w.name: w.info.get("threads") for w in workers},
        "process_max_rss_mb": rss,
    }
    peers = {name: rate for name, rate in train.items() if name not in GDSIM_ENGINES}
    peer_inference = {name: rate for name, rate in infer.items() if name not in GDSIM_ENGINES}
    if "gdsim" in train:
        result["gdsim_images_per_s"] = train["gdsim"]
        result["gdsim_inference_images_per_s"] = infer["gdsim"]
        result["numerics"] = workers[engines.index("gdsim")].info["numerics"]
    if "gdsim-native" in train:
        result["gdsim_native_images_per_s"] = train["gdsim-native"]
        result["gdsim_native_inference_images_per_s"] = infer["gdsim-native"]
        result["native_numerics"] = workers[engines.index("gdsim-native")].info["numerics"]
    result["peers"] = peers
    result["peers_inference"] = peer_inference
    if peers and "gdsim" in train:
        fastest = max(peers, key=peers.get)
        fastest_inference = max(peer_inference, key=peer_inference.get)
        result.update({
            "fastest_peer": fastest, "ratio_vs_fastest": train["gdsim"] / peers[fastest],
            "fastest_inference_peer": fastest_inference,
            "inference_ratio_vs_fastest": infer["gdsim"] / peer_inference[fastest_inference]})
        result["round_ratios_vs_fastest"] = {
            "training": round_ratios(seconds["train"], "gdsim", fastest),
            "inference": round_ratios(seconds["predict"], "gdsim", fastest_inference)}
    if "keras" in train and "gdsim" in train:
        result["keras_images_per_s"] = train["keras"]
        result["ratio"] = train["gdsim"] / train["keras"]
        result["inference_ratio"] = infer["gdsim"] / infer["keras"]
    result["flops"] = {
        "gemm_flops_per_training_image": flops["training"],
        "gemm_flops_per_inference_image": flops["forward"],
        "fma_units_per_core": fma_units,
        "peak_flops_all_cores": peak_all,
        "peak_how": (f"{processor['float32_lanes']} float32 lanes ({processor['simd']}) x 2 (FMA) x "
                     f"{fma_units} FMA units x {processor['mhz']:.0f} MHz x {processor['cores']} cores"),
        "peak_flops_avx2_one_core": peak_avx2_core,
        "sgemm_1thread_flops": sgemm,
        "achieved_training_flops": {name: rate * flops["training"] for name, rate in train.items()},
        "achieved_inference_flops": {name: rate * flops["forward"] for name, rate in infer.items()},
    }
    result["flops"]["training_fraction_of_peak"] = {
        name: value / peak_all for name, value in result["flops"]["achieved_training_flops"].items()}
    return result


def round_ratios(seconds: dict[str, list[float]], ours: str, peer: str) -> dict:
    """``ours``'s speed over ``peer``'s in each round (their epochs ran one after the other, so
    a host that drifts over minutes moves both alike), and the median of those ratios: a check
    on the best-of ratio when the machine's speed wanders."""
    ratios = [theirs / mine for mine, theirs in zip(seconds[ours], seconds[peer])]
    return {"peer": peer, "per_round": ratios, "median": float(np.median(ratios))}


def report(result: dict) -> None:
    f = result["flops"]
    print(f"seed CNN, 32x32x3, {CLASSES} classes, batch {BATCH}, Adam, float32; "
          f"best of {result['repeats']} epochs (predict: {result['predict_repeats']} passes) of "
          f"{result['images']} images, each engine in its "
          f"own process, taking turns")
    print(f"  cpu: {result['cpu']}, {result['cores']} cores, {result['simd']}, "
          f"{result['cpu_mhz']:.0f} MHz")
    if "numerics" in result:
        print(f"  gdsim numerics: {result['numerics']}")
    print(f"  {'engine':30s} {'threads':>7s} {'train img/s':>12s} {'infer img/s':>12s} "
          f"{'GEMM GFLOP/s':>12s} {'of peak':>8s}")
    for name, rate in sorted(result["train_images_per_s"].items(), key=lambda kv: -kv[1]):
        print(f"  {name:30s} {result['threads'][name]!s:>7s} {rate:12.0f} "
              f"{result['inference_images_per_s'][name]:12.0f} "
              f"{f['achieved_training_flops'][name] / 1e9:12.1f} "
              f"{f['training_fraction_of_peak'][name]:8.1%}")
    if "ratio_vs_fastest" in result:
        print(f"  gdsim / fastest peer ({result['fastest_peer']}): training "
              f"{result['ratio_vs_fastest']:.2f}; inference (vs {result['fastest_inference_peer']}) "
              f"{result['inference_ratio_vs_fastest']:.2f}")
    if "round_ratios_vs_fastest" in result:
        for kind, r in result["round_ratios_vs_fastest"].items():
            print(f"  {kind} round by round (vs {r['peer']}): "
                  f"{', '.join(f'{x:.2f}' for x in r['per_round'])}; median {r['median']:.2f}")
    if "ratio" in result:
        print(f"  gdsim / Keras: training {result['ratio']:.2f}, inference {result['inference_ratio']:.2f}")
    print(f"  GEMM work: {f['gemm_flops_per_training_image'] / 1e6:.2f} MFLOP per training image, "
          f"{f['gemm_flops_per_inference_image'] / 1e6:.2f} per inference image")
    print(f"  peak {f['peak_flops_all_cores'] / 1e9:.0f} GFLOP/s = {f['peak_how']}; "
          f"AVX2 (the portable kernels) on one core {f['peak_flops_avx2_one_core'] / 1e9:.0f}")
    for name, value in f["sgemm_1thread_flops"].items():
        print(f"  measured sgemm 1536^3, 1 thread, {name}: {value / 1e9:.0f} GFLOP/s")
    if result["missing"]:
        print(f"  not installed, not measured: {', '.join(result['missing'])}")


def gdsim_rate(images: int) -> float:
    """Training images per second of gdsim alone: one warm-up epoch, then one timed epoch."""
    engine = GdsimEngine(images)
    engine.train()
    start = time.perf_counter()
    engine.train()
    return images / (time.perf_counter() - start)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=1600, help="images per timed epoch")
    parser.add_argument("--repeats", type=int, default=4, help="timed training epochs per engine")
    parser.add_argument("--predict-repeats", type=int, default=None,
                        help="timed predict passes per engine (default: 3 x --repeats)")
    parser.add_argument("--engines", nargs="+", choices=ENGINES, default=list(ENGINES),
                        help="which engines to measure (default: all that are installed)")
    parser.add_argument("--fma-units", type=int, default=2,
                        help="FMA units per core, for the peak FLOP/s (default 2)")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--native-kernels", action="store_true",
                        help="(with --gdsim-only) this machine's own kernels")
    parser.add_argument("--profiles", action="store_true",
                        help="gdsim alone under both numerics profiles (= --engines gdsim gdsim-native)")
    parser.add_argument("--worker", choices=ENGINES, help=argparse.SUPPRESS)
    parser.add_argument("--gdsim-only", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if (args.images < BATCH or args.repeats < 1 or args.fma_units < 1
            or (args.predict_repeats is not None and args.predict_repeats < 1)):
        parser.error(f"--images must be >= {BATCH}, --repeats, --predict-repeats and --fma-units >= 1")
    if args.worker:
        return serve(args.worker, args.images)
    if args.gdsim_only:
        print(json.dumps({"numerics": numerics.label(), "gdsim_images_per_s": gdsim_rate(args.images)}))
        return 0
    engines = list(GDSIM_ENGINES) if args.profiles else args.engines
    result = measure(args.images, args.repeats, engines, args.fma_units, args.predict_repeats)
    if args.profiles and "gdsim-native" in result["train_images_per_s"]:
        result["portable_images_per_s"] = result["gdsim_images_per_s"]
        result["native_images_per_s"] = result["gdsim_native_images_per_s"]
        result["native_over_portable"] = result["native_images_per_s"] / result["portable_images_per_s"]
    if args.json:
        print(json.dumps(result, indent=1))
    else:
        report(result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
