#!/usr/bin/env python3
"""Reads what tools/gpu_check.sh wrote into OUT_DIR and writes OUT_DIR/summary.md and summary.json.

Checks (exit 1 if one fails): every conformance case passed under every tuning that ran (skipped cases,
which apply only to another device or tuning, are counted apart; under a cooperative-matrix tuning none may
skip), and each test-set translation is identical to lavapipe's committed output (tools/gpu_check/reference/)
on at least 99 % of the lines (f32 and f16 rounding can flip near-ties; the lines that differ are listed).
The greedy f16 translation on tensor cores (A rounded to f16 too) is reported against the f16 reference only.
Standard library only.
"""
import argparse
import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def load(path):
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("out", type=Path)
    parser.add_argument("--test-lines", type=int, default=0, help="lines of the test set translated (0: all)")
    args = parser.parse_args()
    out, md, summary, ok = args.out, [], {}, True

    devices = load(out / "devices.json")
    if devices:
        device = devices["devices"][devices["default"]]
        summary["device"] = {k: device.get(k) for k in ("name", "vendor", "type", "driver", "driver_info", "api_version", "subgroup_size", "default_tuning", "vendor_id", "device_id", "cooperative_matrix")}
        md.append(f"# GPU check: {device.get('name')} ({device.get('driver')} {device.get('driver_info', '')})\n")
    else:
        md.append("# GPU check: no device listed (devices.json missing)\n")
        ok = False

    md.append("## Conformance\n\n| tuning | passed | skipped | failed |\n|---|---|---|---|")
    summary["conformance"] = {}
    conformance_files = sorted(out.glob("conformance-*.json"))
    for path in conformance_files:
        report = load(path)
        tuning = path.stem.removeprefix("conformance-")
        if not report:
            md.append(f"| {tuning} | did not finish | |")
            ok = False
            continue
        skipped = [f"{c['op']} {c['shape']}" for c in report["cases"] if c.get("skipped")]
        failed = [f"{c['op']} {c['shape']}" for c in report["cases"] if not c["passed"] and not c.get("skipped")]
        passed = len(report["cases"]) - len(failed) - len(skipped)
        summary["conformance"][report["tuning"]] = {"passed": passed, "skipped": len(skipped), "failed": failed}
        md.append(f"| {report['tuning']} | {passed} | {len(skipped)} | {len(failed)}"
                  f"{': ' + ', '.join(failed[:8]) if failed else ''} |")
        ok &= not failed and not (report["tuning"].endswith("coopmat") and skipped)
    if not conformance_files:
        ok = False

    md.append("\n## Test set against lavapipe's output\n\n| decoding | identical lines | differing lines |\n|---|---|---|")
    summary["translation"] = {}
    for name, reference_name in (("greedy", "greedy"), ("beam", "beam"), ("greedy-f16", "greedy-f16"),
                                 ("greedy-f16-coopmat", "greedy-f16")):
        path = out / f"translate-{name}.de"
        if name.endswith("coopmat") and not path.exists():
            continue  # the device has no tensor cores for vkformer
        reference = (HERE / "reference" / f"en-de.{reference_name}.de").read_text(encoding="utf-8").splitlines()
        if args.test_lines:
            reference = reference[:args.test_lines]
        lines = path.read_text(encoding="utf-8").splitlines() if path.exists() else []
        differing = [i + 1 for i in range(len(reference)) if i >= len(lines) or lines[i] != reference[i]]
        same = len(reference) - len(differing)
        summary["translation"][name] = {"identical": same, "lines": len(reference), "differing": differing}
        shown = name if name == reference_name else f"{name} (against {reference_name}; reported only)"
        md.append(f"| {shown} | {same}/{len(reference)} | {', '.join(map(str, differing[:20]))} |")
        if name == reference_name:
            ok &= same >= 0.99 * len(reference) and len(lines) == len(reference)

    # (weights as stored, report): the f16 kernels the default tuning picks at the coopmat shapes, then coopmat.
    ops = [(p, load(out / f"bench-ops-{p}.json")) for p in ("f32", "f16", "f16-decoder", "coopmat")]
    # Keyed by variant: peak_fma (f32), peak_fma_f16 (where the device computes in f16), copy.
    ceilings = {r["variant"]: r for r in (load(out / "bench-ops-ceilings.json") or {}).get("results", [])}
    copy_gbps = ceilings["copy"]["rate"] if "copy" in ceilings else None
    if ceilings:
        summary["ceilings"] = {variant: r["rate"] for variant, r in ceilings.items()}
        md.append("\n## Device ceilings (`vkformer bench ops --op peak --op copy`)\n\n"
                  + ", ".join(f"{variant} {r['shape']}: {r['rate']:.0f} {r['unit']}" for variant, r in ceilings.items()))
    torch_ops = load(out / "torch-ops.json")
    peer = {}
    if torch_ops:
        for r in torch_ops["results"]:
            peer[(r["shape"], r["dtype"])] = r
    md.append(f"\n## Kernels (`vkformer bench ops`) against torch.matmul ({torch_ops['device'] if torch_ops else 'no torch'})\n")
    md.append("| shape MxNxK | weights | variant | vkformer ms | GFLOP/s | GB/s (% of copy) | torch fp32 GFLOP/s | "
              "vk/torch fp32 | torch fp16 GFLOP/s | vk/torch fp16 |\n|---|---|---|---|---|---|---|---|---|---|")
    summary["ops"] = []
    for name, report in ops:
        precision = "f32" if name == "f32" else "f16"
        for r in (report or {}).get("results", []):
            M, N, K = map(int, r["shape"].split("x"))
            gbps = (N * K * (2 if precision == "f16" else 4) + 4 * (M * K + M * N)) / (r["median_ms"] * 1e6)
            row = {"shape": r["shape"], "weights": precision, "variant": r["variant"], "ms": r["median_ms"],
                   "gflops": r["rate"], "gbps": gbps}
            bandwidth = f"{gbps:.0f}" + (f" ({gbps / copy_gbps:.0%})" if copy_gbps else "")
            cells = []
            for dtype in ("float32", "float16"):
                p = peer.get((r["shape"], dtype))
                row[f"torch_{dtype}"] = p["gflops"] if p else None
                cells += [f"{p['gflops']:.0f}", f"{r['rate'] / p['gflops']:.1%}"] if p else ["", ""]
            summary["ops"].append(row)
            md.append(f"| {r['shape']} | {precision} | {r['variant']} | {r['median_ms']:.3f} | {r['rate']:.0f} | "
                      f"{bandwidth} | " + " | ".join(cells) + " |")
    if torch_ops:
        for r in torch_ops["results"]:
            if r["op"] == "copy":
                md.append(f"\ntorch device-to-device copy of {r['shape']}: {r['gbps']:.0f} GB/s (read + write)")
                summary["torch_copy_gbps"] = r["gbps"]

    for model in ("en-de", "opus-base"):
        for suffix in ("md", "txt"):
            path = out / f"bench-translate-{model}.{suffix}"
            if path.exists():
                md.append(f"\n## Translation throughput: {model}\n\n{path.read_text()}")
    profile = out / "profile-opus-base.txt"
    if profile.exists():
        md.append(f"\n## Profile: opus-base-sized model\n\n```\n{profile.read_text()}```")
    log = out / "log.txt"
    if log.exists():
        md.append(f"\n## Steps\n\n```\n{log.read_text()}```")

    summary["ok"] = bool(ok)
    (out / "summary.json").write_text(json.dumps(summary, indent=1))
    text = "\n".join(md) + "\n"
    (out / "summary.md").write_text(text)
    print(f"{out / 'summary.md'}: {'all checks passed' if ok else 'a check FAILED'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
