#!/usr/bin/env python3
"""Goldens for the repetition penalty and no-repeat n-grams, from the runtimes vkformer follows.

Run with tools/.venv/bin/python (transformers 4.40.2, ctranslate2 4.3.1). Writes
tests/data/repetition_goldens.json, which tests/test_repetition.cpp reads:

- "marian": the tiny Marian models (tests/data/tiny_*), MarianMTModel.generate() with each option set,
  greedy and num_beams=4, each sentence alone: generated ids (start token dropped, eos kept) and, for beam
  search, sequences_scores. A case is kept only if float64 generate() gives the same ids and the same
  ids come out of the padded batch: otherwise a near-tie could flip in any float32 engine.
- "ctranslate2": tiny CTranslate2 models (tests/data/ctranslate2/*), Translator.translate_batch() with
  each option set, greedy and beam 4, min_decoding_length 0, compute_type float32, with and without a
  target prefix: tokens (no end token) and scores. A case is kept only if each input alone gives the same
  tokens as the batch.

Exits non-zero when a case is dropped, or when an option set changes no output (a test that could not
fail).
"""

import json
import os
import pathlib
import sys

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"

import ctranslate2  # noqa: E402
import torch  # noqa: E402
from transformers import MarianMTModel, MarianTokenizer  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parents[1]
DATA = ROOT / "tests" / "data"
OPTIONS = [
    {"repetition_penalty": 1.3},
    {"no_repeat_ngram_size": 2},
    {"repetition_penalty": 0.7},  # below 1 rewards repeats: the other branch of both x * P and x / P
    {"repetition_penalty": 1.3, "no_repeat_ngram_size": 3},
]
BEAMS = [1, 4]

MARIAN_MODELS = ["tiny_swish_shared", "tiny_gelu_separate", "tiny_relu_odd"]
MARIAN_SOURCES = [
    "Hello",
    "Thank you very much.",
    "Where is the train station?",
    "The children play in the garden behind the old school.",
    "My sister works in a hospital in the city and reads a good book every evening.",
]
MARIAN_MAX_LENGTH = 16  # counts the decoder start token, like generate(max_length=...)

CT2_MODELS = ["post_relu_shared", "pre_gelu_separate", "post_zero_start_tied"]
CT2_MAX_DECODING = 24
CT2_PREFIX_LENGTH = 2  # the prefix case takes the first tokens of the unpenalized greedy output

failures = []


def marian_ids(row, eos_id):
    ids = row[1:]
    return ids[: ids.index(eos_id) + 1] if eos_id in ids else ids


def marian_generate(model, batch, beam, options):
    out = model.generate(**batch, num_beams=beam, max_length=MARIAN_MAX_LENGTH, do_sample=False,
                         output_scores=True, return_dict_in_generate=True, **options)
    eos = model.config.eos_token_id
    ids = [marian_ids(row, eos) for row in out.sequences.tolist()]
    scores = out.sequences_scores.tolist() if beam > 1 else None
    return ids, scores


def marian_goldens(name):
    directory = DATA / name
    tokenizer = MarianTokenizer.from_pretrained(directory)
    model = MarianMTModel.from_pretrained(directory).eval()
    model64 = MarianMTModel.from_pretrained(directory).double().eval()
    source_ids = [tokenizer(s).input_ids for s in MARIAN_SOURCES]
    padded = tokenizer(MARIAN_SOURCES, return_tensors="pt", padding=True)
    cases = []
    with torch.no_grad():
        for beam in BEAMS:
            plain = [marian_generate(model, tokenizer([s], return_tensors="pt"), beam, {})[0][0]
                     for s in MARIAN_SOURCES]
            for options in OPTIONS:
                outputs, scores = [], []
                for source in MARIAN_SOURCES:
                    one = tokenizer([source], return_tensors="pt")
                    ids, score = marian_generate(model, one, beam, options)
                    ids64, _ = marian_generate(model64, one, beam, options)
                    if ids64 != ids:
                        failures.append(f"{name} beam {beam} {options} '{source}': float64 gives other ids")
                    outputs.append(ids[0])
                    scores.append(score[0] if score else None)
                batched, _ = marian_generate(model, padded, beam, options)
                if batched != outputs:
                    failures.append(f"{name} beam {beam} {options}: the padded batch gives other ids")
                if outputs == plain:
                    failures.append(f"{name} beam {beam} {options}: the same outputs as without the options")
                cases.append({"beam": beam, "options": options, "outputs": outputs,
                              "scores": scores if beam > 1 else None})
    return {"source_ids": source_ids, "max_length": MARIAN_MAX_LENGTH, "cases": cases}


def ct2_goldens(name, sources):
    translator = ctranslate2.Translator(str(DATA / "ctranslate2" / name), device="cpu", compute_type="float32")
    common = dict(return_scores=True, min_decoding_length=0, max_decoding_length=CT2_MAX_DECODING)
    plain_greedy = translator.translate_batch(sources, beam_size=1, **common)
    prefixes = [r.hypotheses[0][:CT2_PREFIX_LENGTH] for r in plain_greedy]
    cases = []
    for beam in BEAMS:
        for with_prefix in (False, True):
            prefix = prefixes if with_prefix else None
            plain = translator.translate_batch(sources, prefix, beam_size=beam, **common)
            for options in OPTIONS:
                results = translator.translate_batch(sources, prefix, beam_size=beam, **options, **common)
                for i, source in enumerate(sources):
                    alone = translator.translate_batch([source], [prefix[i]] if prefix else None, beam_size=beam,
                                                       **options, **common)[0]
                    if alone.hypotheses != results[i].hypotheses:
                        failures.append(f"{name} beam {beam} {options} input {i}: alone gives other tokens")
                if [r.hypotheses for r in results] == [r.hypotheses for r in plain]:
                    failures.append(f"{name} beam {beam} prefix {with_prefix} {options}: the same outputs as "
                                    "without the options")
                cases.append({"beam": beam, "options": options, "target_prefix": prefix,
                              "outputs": [r.hypotheses[0] for r in results], "scores": [r.scores[0] for r in results]})
    return {"sources": sources, "max_decoding_length": CT2_MAX_DECODING, "cases": cases}


def main():
    existing = json.loads((DATA / "ctranslate2" / "goldens.json").read_text())
    goldens = {
        "marian": {name: marian_goldens(name) for name in MARIAN_MODELS},
        "ctranslate2": {name: ct2_goldens(name, [c["source"] for c in existing[name]]) for name in CT2_MODELS},
    }
    out = DATA / "repetition_goldens.json"
    out.write_text(json.dumps(goldens, separators=(",", ":")) + "\n")
    print(f"wrote {out.relative_to(ROOT)} ({out.stat().st_size} bytes)")
    for failure in failures:
        print("FAILED", failure)
    if failures:
        sys.exit(1)
    print("OK")


if __name__ == "__main__":
    main()
