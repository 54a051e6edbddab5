#!/usr/bin/env python3
"""The peer of `vkformer bench ops`: torch.matmul on the same MxNxK shapes (C = A . B^T, B [N, K] as
nn.Linear), timed per call with CUDA events (or wall time on the CPU), median of --repeat after a
warm-up, TF32 off. Also a device-to-device copy as the memory-bandwidth reference. Prints one JSON object.

  python3 tools/gpu_check/torch_ops.py --device cuda --dtypes float32 float16 --shapes 1024x1024x1024
"""
import argparse
import json
import statistics
import time

import torch


def timed(device, fn, repeat):
    fn()
    if device == "cuda":
        torch.cuda.synchronize()
        times = []
        for _ in range(repeat):
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            fn()
            end.record()
            end.synchronize()
            times.append(start.elapsed_time(end))
        return statistics.median(times)
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1e3)
    return statistics.median(times)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--dtypes", nargs="+", default=["float32"])
    parser.add_argument("--shapes", nargs="+", required=True)
    parser.add_argument("--repeat", type=int, default=10)
    parser.add_argument("--copy-mib", type=int, default=1024, help="size of the copy measured for bandwidth")
    args = parser.parse_args()
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    torch.set_float32_matmul_precision("highest")
    name = torch.cuda.get_device_name() if args.device == "cuda" else "cpu"
    results = []
    for dtype_name in args.dtypes:
        dtype = getattr(torch, dtype_name)
        for shape in args.shapes:
            M, N, K = map(int, shape.split("x"))
            a = torch.randn(M, K, device=args.device, dtype=dtype)
            b = torch.randn(N, K, device=args.device, dtype=dtype)
            ms = timed(args.device, lambda: torch.matmul(a, b.t()), args.repeat)
            results.append({"op": "matmul", "shape": shape, "dtype": dtype_name, "median_ms": ms,
                            "gflops": 2.0 * M * N * K / (ms * 1e6)})
    n = args.copy_mib * 2**20 // 4
    src, dst = torch.empty(n, device=args.device), torch.empty(n, device=args.device)
    ms = timed(args.device, lambda: dst.copy_(src), args.repeat)
    results.append({"op": "copy", "shape": f"{args.copy_mib}MiB", "dtype": "float32", "median_ms": ms,
                    "gbps": 2.0 * n * 4 / (ms * 1e6)})
    print(json.dumps({"device": name, "torch": torch.__version__, "results": results}, indent=1))


if __name__ == "__main__":
    main()
