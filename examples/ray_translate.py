"""Translates a corpus with Ray Data: one vkformer.Translator per device, each in a Ray actor of its own.

    python examples/ray_translate.py --model models/en-de --input corpus.txt --output out.txt --actors 2
    python examples/ray_translate.py --model DIR --input s3://bucket/in/ --column text \\
        --output s3://bucket/out/ --actors 16 --gpus-per-actor 1     # a Ray cluster with 16 GPUs

Input: a text file or directory (one sentence per line) or Parquet (a path ending in .parquet or a
directory of them, with --column). Output: a path ending in .txt is one text file in input order,
written by this driver; anything else is a directory of Parquet files (columns source, translation),
written by the cluster. See docs/SCALING.md.
"""
import argparse
import os
import sys
import time

import ray

import vkformer


class TranslateBatch:
    """A Ray Data map_batches callable: one Translator, made once per actor on the actor's device."""

    def __init__(self, model, column, beam_size, max_decoding_length, precision, gpus_per_actor):
        device = None
        if gpus_per_actor > 0:
            # Ray hands out GPUs by CUDA index, Vulkan numbers devices its own way: this takes the n-th
            # GPU Vulkan lists, which is CUDA's n-th when both order by PCI bus (CUDA_DEVICE_ORDER=PCI_BUS_ID).
            # Exact matching needs the device UUID, which vkformer.devices() does not report yet.
            gpus = [d["index"] for d in vkformer.devices() if d["type"] in ("discrete", "integrated")]
            device = gpus[int(ray.get_gpu_ids()[0]) % len(gpus)]
        self.translator = vkformer.Translator(model, device=device, precision=precision)
        self.column = column
        self.options = dict(beam_size=beam_size, max_decoding_length=max_decoding_length)

    def __call__(self, batch):
        sources = [str(text) for text in batch[self.column]]
        results = self.translator.translate_batch(sources, **self.options)
        return {"source": sources, "translation": [r.hypotheses[0] for r in results]}


def read(path, column):
    if path.endswith(".parquet") or (os.path.isdir(path) and any(f.endswith(".parquet") for f in os.listdir(path))):
        return ray.data.read_parquet(path, columns=[column])
    # read_text gives one row per line in a column named "text".
    if column != "text":
        raise SystemExit("ray_translate: --column is for Parquet input; text input is read as 'text'")
    return ray.data.read_text(path)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", required=True, help="model directory, on every node")
    parser.add_argument("--input", required=True)
    parser.add_argument("--output", required=True)
    parser.add_argument("--column", default="text", help="Parquet input: the column to translate")
    parser.add_argument("--actors", type=int, default=1, help="translators: one per device")
    parser.add_argument("--gpus-per-actor", type=float, default=0, help="1 on a GPU cluster; 0 runs on lavapipe")
    parser.add_argument("--cpus-per-actor", type=float, default=1)
    parser.add_argument("--batch-size", type=int, default=64, help="sentences per map_batches call")
    parser.add_argument("--beam-size", type=int, help="default: the model's")
    parser.add_argument("--max-decoding-length", type=int, help="most generated tokens (default: the model's)")
    parser.add_argument("--precision", help="f32 or f16 (default: as the model stores its weights)")
    parser.add_argument("--address", help="a running Ray cluster (default: start a local one)")
    args = parser.parse_args()

    ray.init(address=args.address, include_dashboard=False, log_to_driver=False)
    context = ray.data.DataContext.get_current()
    context.execution_options.preserve_order = True  # the output lines stay in input order
    context.enable_progress_bars = False

    start = time.perf_counter()
    dataset = read(args.input, args.column).map_batches(
        TranslateBatch,
        fn_constructor_kwargs=dict(model=os.path.abspath(args.model), column=args.column,
                                   beam_size=args.beam_size, max_decoding_length=args.max_decoding_length,
                                   precision=args.precision,
                                   gpus_per_actor=args.gpus_per_actor),
        batch_size=args.batch_size, batch_format="numpy", concurrency=args.actors,
        num_gpus=args.gpus_per_actor, num_cpus=args.cpus_per_actor)
    if args.output.endswith(".txt"):
        rows = 0
        with open(args.output, "w", encoding="utf-8") as out:
            for batch in dataset.iter_batches(batch_size=args.batch_size, batch_format="numpy"):
                for translation in batch["translation"]:
                    out.write(f"{translation}\n")
                rows += len(batch["translation"])
    else:
        dataset.write_parquet(args.output)
        rows = ray.data.read_parquet(args.output).count()
    seconds = time.perf_counter() - start
    print(f"ray_translate: {rows} sentences in {seconds:.1f} s with {args.actors} actor(s): "
          f"{rows / seconds:.2f} sentences/s", file=sys.stderr)


if __name__ == "__main__":
    main()
