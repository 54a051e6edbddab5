"""A random-weight pre-norm CTranslate2 model of opus-mt-base size, and input lines in its vocabulary, for
timing the pre-norm path (`vkformer bench translate`; the shipped model is post-norm). Run with
tools/.venv/bin/python (ctranslate2 4.3.1):

  tools/ctranslate2/make_bench_model.py OUT_DIR [--vocab 32000 --lines 200]

writes OUT_DIR/model (the model) and OUT_DIR/input.txt (lines of 5 to 40 source tokens).
"""
import argparse
import pathlib

import numpy as np

from make_test_models import build


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out", type=pathlib.Path)
    parser.add_argument("--vocab", type=int, default=32000)
    parser.add_argument("--lines", type=int, default=200)
    args = parser.parse_args()
    spec, source_vocab = build("bench", seed=5, d=512, ffn=2048, layers=6, heads=8, pre_norm=True,
                               src_vocab=args.vocab)
    spec.validate()
    spec.optimize(quantization="float32")
    (args.out / "model").mkdir(parents=True, exist_ok=True)
    spec.save(str(args.out / "model"))
    rng = np.random.default_rng(6)
    lines = [" ".join(source_vocab[i] for i in rng.integers(3, args.vocab, rng.integers(5, 41)))
             for _ in range(args.lines)]
    (args.out / "input.txt").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
