#!/usr/bin/env python3
"""Translation throughput: vkformer against PyTorch (transformers) and CTranslate2.

One run measures, on the same model directory and the same input lines, each configuration of
beam size x batch size:
  (a) `vkformer bench translate --json` (a subprocess; it warms up and times itself),
  (b) transformers' MarianMTModel.generate in float32 on the CPU, for each thread setting in
      --torch-threads (each in its own subprocess, since OPENBLAS_NUM_THREADS is read at load time),
      keeping the fastest per configuration,
  (c) CTranslate2 (float32, inter_threads 1, intra_threads --ct2-threads), converted once into a cache.
With --torch-device cuda, (b) runs once per --torch-dtypes entry on the GPU instead (each its own peer),
--vk-precision adds vkformer runs with f16 weights, --vk-cpu-threads runs with --cpu-threads (CPU drivers), and
--no-ct2 leaves CTranslate2 out.
All three get the same source token ids (MarianTokenizer's, which vkformer's tokenizer matches), are
timed without tokenization, decode with the same max_length (counting the start token) and length
penalty 1.0 (vkformer bench translate's; not the model's own, which would change the work done) and report
sentences/s and target tokens/s (generated tokens of the best hypothesis, </s> included). PyTorch runs
its batches longest-first, as vkformer and CTranslate2 do.

  tools/.venv/bin/python tools/bench_translate.py --binary build/vkformer --model models/en-de [--markdown]
"""
import argparse
import hashlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def read_lines(path, limit):
    lines = Path(path).read_text(encoding="utf-8").splitlines()
    return lines[:limit] if limit else lines


def effective_max_length(model_dir):
    """The generation config's max_length, capped by the model's positions (the decoder cannot go further)."""
    config = json.loads((Path(model_dir) / "config.json").read_text())
    generation = Path(model_dir) / "generation_config.json"
    max_length = config.get("max_length", 512)
    if generation.exists():
        max_length = json.loads(generation.read_text()).get("max_length", max_length)
    return min(max_length, config["max_position_embeddings"])


def run_vkformer(args, max_length, precision, cpu_threads):
    command = [args.binary, "bench", "translate", "--json", "--model", str(args.model), "--input", str(args.input),
               "--max-length", str(max_length), "--precision", precision, "--beam", *map(str, args.beams), "--batch-size", *map(str, args.batches)]
    if cpu_threads != "default":
        command += ["--cpu-threads", cpu_threads]
    if args.lines:
        command += ["--lines", str(args.lines)]
    if args.device:
        command += ["--device", args.device]
    print("+", " ".join(command), file=sys.stderr, flush=True)
    report = json.loads(subprocess.run(command, check=True, stdout=subprocess.PIPE, text=True).stdout)
    return report


def generated_length(ids, eos):
    """Tokens up to and including the first </s> (all of them when cut by max_length)."""
    return ids.index(eos) + 1 if eos in ids else len(ids)


def openblas_core():
    """The OpenBLAS core this process runs, or None without OpenBLAS. OpenBLAS 0.3.21 does not know some
    AVX-512 Xeons and falls back to its slowest kernels ("Prescott"): run with OPENBLAS_CORETYPE=SkylakeX."""
    import ctypes

    paths = {line.split()[-1] for line in open("/proc/self/maps") if "openblas" in line.split()[-1]}
    for path in sorted(paths):
        library = ctypes.CDLL(path)
        if hasattr(library, "openblas_get_corename"):
            library.openblas_get_corename.restype = ctypes.c_char_p
            library.openblas_get_config.restype = ctypes.c_char_p
            return f"{library.openblas_get_corename().decode()} ({library.openblas_get_config().decode()})"
    return None


def torch_worker(args, max_length):
    """Runs in a subprocess with the thread environment set; prints one JSON object."""
    import torch
    from transformers import MarianMTModel, MarianTokenizer

    import transformers

    torch.set_num_threads(args.torch_worker)
    if args.torch_device == "cpu":
        torch.zeros(2, 2) @ torch.zeros(2, 2)  # loads the BLAS
        print(f"  OpenBLAS core: {openblas_core()}", file=sys.stderr, flush=True)
    device, dtype = args.torch_device, getattr(torch, args.torch_dtypes[0])
    tokenizer = MarianTokenizer.from_pretrained(args.model)
    dtype_key = "dtype" if int(transformers.__version__.split(".")[0]) >= 5 else "torch_dtype"
    model = MarianMTModel.from_pretrained(args.model, **{dtype_key: dtype}).to(device).eval()
    lines = read_lines(args.input, args.lines)
    sources = [tokenizer(line)["input_ids"] for line in lines]
    eos, pad = model.config.eos_token_id, model.config.pad_token_id
    order = sorted(range(len(sources)), key=lambda i: -len(sources[i]))  # stable: longest first, as vkformer

    def batches(size):
        for begin in range(0, len(order), size):
            chunk = order[begin:begin + size]
            longest = len(sources[chunk[0]])
            ids = torch.tensor([sources[i] + [pad] * (longest - len(sources[i])) for i in chunk], device=device)
            yield chunk, ids, (ids != pad).long()

    def translate(size, beam, limit=None):
        outputs = [None] * len(sources)
        for n, (chunk, ids, mask) in enumerate(batches(size)):
            if limit is not None and n >= limit:
                break
            with torch.inference_mode():
                generated = model.generate(input_ids=ids, attention_mask=mask, num_beams=beam, max_length=max_length,
                                           length_penalty=1.0, do_sample=False)
            for i, row in zip(chunk, generated[:, 1:].tolist()):
                outputs[i] = row[:generated_length(row, eos)]
        return outputs

    results = []
    for beam in args.beams:
        for size in args.batches:
            translate(size, beam, limit=max(1, 64 // size))  # warm-up
            start = time.perf_counter()
            outputs = translate(size, beam)
            seconds = time.perf_counter() - start
            tokens = sum(map(len, outputs))
            results.append({"beam": beam, "batch": size, "seconds": seconds, "target_tokens": tokens,
                            "sentences_per_s": len(sources) / seconds, "target_tokens_per_s": tokens / seconds,
                            "outputs": outputs})
            print(f"  torch {device} {args.torch_dtypes[0]} {args.torch_worker} thread(s) beam {beam} batch {size}: {len(sources) / seconds:.2f} "
                  f"sentences/s", file=sys.stderr, flush=True)
    print(json.dumps({"source_ids": sources, "results": results}))


def run_torch(args, max_length, setting, dtype="float32"):
    """setting "T" or "T:B": T torch threads, B (default T) OpenBLAS/OpenMP threads."""
    threads, _, blas = setting.partition(":")
    blas = blas or threads
    env = dict(os.environ, OPENBLAS_NUM_THREADS=blas, OMP_NUM_THREADS=threads, MKL_NUM_THREADS=threads)
    command = [sys.executable, __file__, "--torch-worker", threads, "--model", str(args.model), "--input",
               str(args.input), "--lines", str(args.lines), "--max-length", str(max_length),
               "--beams", *map(str, args.beams), "--batches", *map(str, args.batches),
               "--torch-device", args.torch_device, "--torch-dtypes", dtype]
    print(f"+ PyTorch on {args.torch_device} ({dtype}), torch threads {threads}, OPENBLAS_NUM_THREADS {blas}",
          file=sys.stderr, flush=True)
    report = json.loads(subprocess.run(command, check=True, stdout=subprocess.PIPE, text=True, env=env).stdout)
    for result in report["results"]:
        result["setting"] = f"{threads}t" if blas == threads else f"{threads}t/blas{blas}"
    return report


def convert_ct2(model_dir):
    import ctranslate2

    weights = next(p for p in (model_dir / "model.safetensors", model_dir / "pytorch_model.bin") if p.exists())
    stat = weights.stat()
    key = hashlib.sha256(f"{model_dir.resolve()}:{stat.st_size}:{stat.st_mtime_ns}".encode()).hexdigest()[:16]
    cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "vkformer" / f"ct2-{key}"
    if not (cache / "model.bin").exists():
        print(f"+ converting {model_dir} for CTranslate2 into {cache}", file=sys.stderr, flush=True)
        ctranslate2.converters.TransformersConverter(str(model_dir)).convert(str(cache), quantization="float32",
                                                                            force=True)

    # CTranslate2 4.3 writes decoder_start_token "</s>" for Marian; transformers starts from
    # config.decoder_start_token_id (<pad> in OPUS-MT models), so use that.
    from transformers import MarianTokenizer
    start_id = json.loads((model_dir / "config.json").read_text())["decoder_start_token_id"]
    config = json.loads((cache / "config.json").read_text())
    config["decoder_start_token"] = MarianTokenizer.from_pretrained(model_dir).convert_ids_to_tokens(start_id)
    (cache / "config.json").write_text(json.dumps(config, indent=2))
    return cache


def run_ct2(args, max_length, source_ids):
    import ctranslate2
    from transformers import MarianTokenizer

    tokenizer = MarianTokenizer.from_pretrained(args.model)
    sources = [tokenizer.convert_ids_to_tokens(ids) for ids in source_ids]  # spm pieces + "</s>"
    translator = ctranslate2.Translator(str(convert_ct2(args.model)), device="cpu", compute_type="float32",
                                        inter_threads=1, intra_threads=args.ct2_threads)
    options = dict(max_decoding_length=max_length - 1, return_end_token=True, max_input_length=0, length_penalty=1.0)
    results = []
    for beam in args.beams:
        for size in args.batches:
            translator.translate_batch(sources[:max(size, 64)], beam_size=beam, max_batch_size=size, **options)
            start = time.perf_counter()
            translations = translator.translate_batch(sources, beam_size=beam, max_batch_size=size, **options)
            seconds = time.perf_counter() - start
            outputs = [tokenizer.convert_tokens_to_ids(t.hypotheses[0]) for t in translations]
            tokens = sum(map(len, outputs))
            results.append({"beam": beam, "batch": size, "seconds": seconds, "target_tokens": tokens,
                            "sentences_per_s": len(sources) / seconds, "target_tokens_per_s": tokens / seconds,
                            "outputs": outputs})
            print(f"  CTranslate2 beam {beam} batch {size}: {len(sources) / seconds:.2f} sentences/s",
                  file=sys.stderr, flush=True)
    return results


def table(rows, peers, markdown):
    """rows: one per (config, vkformer precision) with "vk" and one result per peer name."""
    header = ["config", "vkformer", "sent/s", "tok/s"]
    for peer in peers:
        header += [f"{peer} sent/s", "tok/s", f"vk/{peer}"]
    body = []
    for r in rows:
        row = [f"{'greedy' if r['beam'] == 1 else 'beam ' + str(r['beam'])}, batch {r['batch']}", r["precision"],
               f"{r['vk']['sentences_per_s']:.2f}", f"{r['vk']['target_tokens_per_s']:.0f}"]
        for peer in peers:
            p = r[peer]
            row += [f"{p['sentences_per_s']:.2f}", f"{p['target_tokens_per_s']:.0f}",
                    f"{r['vk']['sentences_per_s'] / p['sentences_per_s']:.2f}x"]
        body.append(row)
    if markdown:
        lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        lines += ["| " + " | ".join(row) + " |" for row in body]
    else:
        widths = [max(len(row[i]) for row in [header] + body) for i in range(len(header))]
        lines = ["  ".join(cell.rjust(w) if i else cell.ljust(w) for i, (cell, w) in enumerate(zip(row, widths)))
                 for row in [header] + body]
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--binary", default=str(ROOT / "build" / "vkformer"), help="the vkformer executable")
    parser.add_argument("--model", type=Path, default=ROOT / "models" / "en-de")
    parser.add_argument("--input", type=Path, default=ROOT / "tools" / "bench" / "input.en")
    parser.add_argument("--lines", type=int, default=0, help="use only the first N lines (0: all)")
    parser.add_argument("--device", default="", help="vkformer --device")
    parser.add_argument("--beams", type=int, nargs="+", default=[1, 4])
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 32])
    parser.add_argument("--max-length", type=int, default=0,
                        help="counting the start token; default: generation config, capped by the positions")
    parser.add_argument("--torch-threads", nargs="+", default=["1", "2"],
                        help='PyTorch thread settings to try: "T" (torch and OpenBLAS threads) or "T:B"')
    parser.add_argument("--ct2-threads", type=int, default=2, help="CTranslate2 intra_threads")
    parser.add_argument("--torch-device", default="cpu", help="cpu, or cuda (then --torch-threads is ignored)")
    parser.add_argument("--torch-dtypes", nargs="+", default=["float32"], help="with --torch-device cuda: each a peer")
    parser.add_argument("--vk-precision", nargs="+", default=["f32"], help="vkformer --precision values to run")
    parser.add_argument("--vk-cpu-threads", nargs="+", default=["default"],
                        help="vkformer --cpu-threads values to run with each precision (default: not given)")
    parser.add_argument("--no-ct2", action="store_true", help="leave CTranslate2 out")
    parser.add_argument("--markdown", action="store_true", help="print the table in Markdown")
    parser.add_argument("--json-out", type=Path, help="also write every result (with outputs) to this file")
    parser.add_argument("--torch-worker", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    max_length = args.max_length or effective_max_length(args.model)
    if args.torch_worker:
        return torch_worker(args, max_length)

    vks = {}  # label -> report, for each precision and --cpu-threads value
    for precision in args.vk_precision:
        for threads in args.vk_cpu_threads:
            label = precision if threads == "default" else f"{precision}, cpu threads {threads}"
            vks[label] = run_vkformer(args, max_length, precision, threads)
    vk = next(iter(vks.values()))
    peers = {}  # name -> one result per configuration, in vkformer's order
    if args.torch_device == "cpu":
        torch_reports = [run_torch(args, max_length, setting) for setting in args.torch_threads]
        peers["PyTorch"] = [max((report["results"][i] for report in torch_reports), key=lambda r: r["sentences_per_s"])
                            for i in range(len(vk["results"]))]
    else:
        torch_reports = [run_torch(args, max_length, "1", dtype) for dtype in args.torch_dtypes]
        for dtype, report in zip(args.torch_dtypes, torch_reports):
            peers[f"PyTorch {args.torch_device} {dtype}"] = report["results"]
    source_ids = torch_reports[0]["source_ids"]
    mismatched_sources = sum(a != b for a, b in zip(vk["source_ids"], source_ids))
    if not args.no_ct2:
        peers["CT2"] = run_ct2(args, max_length, source_ids)

    rows = []
    for label, report in vks.items():
        for i, result in enumerate(report["results"]):
            row = {"beam": result["beam"], "batch": result["batch"], "precision": label, "vk": result}
            row.update({name: results[i] for name, results in peers.items()})
            rows.append(row)

    n = len(source_ids)
    torch_setting = (f"PyTorch settings tried: {', '.join(args.torch_threads)}" if args.torch_device == "cpu"
                     else f"PyTorch on {args.torch_device}: {', '.join(args.torch_dtypes)}")
    ct2_setting = "no CTranslate2" if args.no_ct2 else f"CTranslate2 intra_threads {args.ct2_threads}"
    print(f"\ndevice: {vk['device']} ({vk['driver']}); model: {args.model}; input: {args.input}, {n} sentences, "
          f"{vk['source_tokens']} source tokens; max_length {max_length}; {torch_setting}; {ct2_setting}\n")
    print(table(rows, list(peers), args.markdown))
    print()
    if mismatched_sources:
        print(f"WARNING: {mismatched_sources} source lines tokenized differently by vkformer and MarianTokenizer")
    for row in rows:
        if row["beam"] != 1:
            continue
        same = ", ".join(f"{name} for {sum(a == b for a, b in zip(row['vk']['outputs'], row[name]['outputs']))}/{n}"
                         for name in peers)
        print(f"greedy, batch {row['batch']}, vkformer {row['precision']}: output token-identical to {same}")
    if args.json_out:
        args.json_out.write_text(json.dumps({"device": vk["device"], "driver": vk["driver"], "model": str(args.model),
                                             "max_length": max_length, "peers": list(peers), "rows": rows}))


if __name__ == "__main__":
    sys.exit(main())
