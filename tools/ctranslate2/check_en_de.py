"""The shipped en-de model converted with CTranslate2's Transformers converter (float32 and int8), its test
set translated by CTranslate2 4.3.1 greedy, and vkformer's greedy output on the same ids compared with it.

    tools/.venv/bin/python tools/ctranslate2/check_en_de.py [--lines N] [--cache DIR] [--tests build/tests/vkformer_tests]

The converted models (29 MB and 8 MB: too big to commit) and CTranslate2's outputs go to the cache
directory (default ~/.cache/vkformer/ctranslate2-en-de); then the hidden Catch2 case
"[.ct2-en-de]" runs vkformer on them (VKFORMER_CT2_EN_DE names the directory) and fails below 99% identical
lines. This script prints both models' chrF against the reference translations (sacrebleu), CTranslate2's
and vkformer's (the test writes its detokenized-as-pieces outputs beside the goldens).
"""

import argparse
import json
import os
import pathlib
import subprocess
import sys

import ctranslate2
import sacrebleu
from ctranslate2.converters import TransformersConverter
from transformers import MarianTokenizer

ROOT = pathlib.Path(__file__).resolve().parents[2]
MODEL = ROOT / "models" / "en-de"


def detokenize(pieces):
    return "".join(pieces).replace("\u2581", " ").strip()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--lines", type=int, default=300)
    parser.add_argument("--cache", default=os.path.expanduser("~/.cache/vkformer/ctranslate2-en-de"))
    parser.add_argument("--tests", default=str(ROOT / "build" / "tests" / "vkformer_tests"))
    args = parser.parse_args()
    cache = pathlib.Path(args.cache)
    cache.mkdir(parents=True, exist_ok=True)
    tokenizer = MarianTokenizer.from_pretrained(str(MODEL))
    sources = (MODEL / "testset" / "test.en").read_text().splitlines()[: args.lines]
    references = (MODEL / "testset" / "test.de").read_text().splitlines()[: args.lines]
    source_tokens = [tokenizer.convert_ids_to_tokens(tokenizer(line).input_ids) for line in sources]
    for quantization in ("float32", "int8"):
        directory = cache / quantization
        if not (directory / "model.bin").exists():
            TransformersConverter(str(MODEL)).convert(str(directory), quantization=quantization, force=True)
        translator = ctranslate2.Translator(str(directory), device="cpu", compute_type="float32")
        results = translator.translate_batch(source_tokens, beam_size=1, min_decoding_length=0, max_batch_size=32)
        outputs = [r.hypotheses[0] for r in results]
        (directory / "golden.json").write_text(json.dumps({"sources": source_tokens, "greedy": outputs}))
        chrf = sacrebleu.corpus_chrf([detokenize(o) for o in outputs], [references]).score
        print(f"CTranslate2 {quantization}: chrF {chrf:.2f}")
    env = dict(os.environ, VKFORMER_CT2_EN_DE=str(cache))
    subprocess.run([args.tests, "[.ct2-en-de]"], env=env, check=True)
    for quantization in ("float32", "int8"):
        outputs = json.loads((cache / quantization / "vkformer.json").read_text())
        chrf = sacrebleu.corpus_chrf([detokenize(o) for o in outputs], [references]).score
        print(f"vkformer {quantization}: chrF {chrf:.2f}")


if __name__ == "__main__":
    sys.exit(main())
