#!/usr/bin/env python3
"""The shipped en-de model with the repetition penalty and no-repeat n-grams against both runtimes.

Run with tools/.venv/bin/python after building (build/vkformer). For the first --lines lines of the
model's test set, greedy and beam 4, each option set: the Marian directory through `vkformer translate`
against transformers' generate() (ids, and beam scores within 1e-4), and the model converted by
CTranslate2 (float32, into --cache with the SentencePiece files) against CTranslate2's translate_batch
(tokens). Prints every difference and how many outputs the options changed; exits non-zero on one.
"""
import argparse
import json
import os
import pathlib
import shutil
import subprocess
import sys

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"

import ctranslate2  # noqa: E402
import torch  # noqa: E402
from ctranslate2.converters import TransformersConverter  # noqa: E402
from transformers import MarianMTModel, MarianTokenizer  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parents[1]
MODEL = ROOT / "models" / "en-de"
OPTIONS = [
    ({"repetition_penalty": 1.3}, ["--repetition-penalty", "1.3"]),
    ({"no_repeat_ngram_size": 2}, ["--no-repeat-ngram-size", "2"]),
    ({"repetition_penalty": 1.3, "no_repeat_ngram_size": 2},
     ["--repetition-penalty", "1.3", "--no-repeat-ngram-size", "2"]),
]


def vkformer(model, lines, *flags):
    command = [str(ROOT / "build" / "vkformer"), "translate", "--model", str(model), "-q", "--json", *flags]
    out = subprocess.run(command, input="\n".join(lines) + "\n", capture_output=True, text=True, check=True).stdout
    return [json.loads(line)["hypotheses"][0] for line in out.splitlines()]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--lines", type=int, default=40)
    # Not check_en_de.py's cache: this one gets the SentencePiece files, so vkformer reads and writes text.
    parser.add_argument("--cache", default=os.path.expanduser("~/.cache/vkformer/ctranslate2-en-de-text"))
    args = parser.parse_args()
    lines = (MODEL / "testset" / "test.en").read_text().splitlines()[: args.lines]
    tokenizer = MarianTokenizer.from_pretrained(str(MODEL))
    model = MarianMTModel.from_pretrained(str(MODEL)).eval()
    converted = pathlib.Path(args.cache)
    if not (converted / "model.bin").exists():
        TransformersConverter(str(MODEL)).convert(str(converted), quantization="float32", force=True)
    for name in ("source.spm", "target.spm"):  # the converter does not copy them
        shutil.copy(MODEL / name, converted / name)
    translator = ctranslate2.Translator(str(converted), device="cpu", compute_type="float32")
    vocabulary = json.loads((converted / "shared_vocabulary.json").read_text())
    source_tokens = [tokenizer.convert_ids_to_tokens(tokenizer(line).input_ids) for line in lines]
    differences = checked = changed = 0
    for beam in (1, 4):
        plain = vkformer(MODEL, lines, "--beam", str(beam))
        for options, flags in OPTIONS:
            ours = vkformer(MODEL, lines, "--beam", str(beam), *flags)
            ours_ct2 = vkformer(converted, lines, "--beam", str(beam), *flags)
            theirs_ct2 = translator.translate_batch(source_tokens, beam_size=beam, **options)
            for i, line in enumerate(lines):
                with torch.no_grad():
                    out = model.generate(**tokenizer([line], return_tensors="pt"), num_beams=beam, output_scores=True,
                                         return_dict_in_generate=True, **options)
                ids = out.sequences[0].tolist()[1:]
                ids = ids[: ids.index(model.config.eos_token_id) + 1] if model.config.eos_token_id in ids else ids
                score = out.sequences_scores[0].item() if beam > 1 else None
                ct2_ids = [vocabulary.index(t) for t in theirs_ct2[i].hypotheses[0]]
                ours_ct2_ids = [t for t in ours_ct2[i]["ids"] if t != model.config.eos_token_id]
                checked += 2
                changed += ours[i]["text"] != plain[i]["text"]
                if ids != ours[i]["ids"] or (score is not None and abs(score - ours[i]["score"]) > 1e-4):
                    differences += 1
                    print(f"transformers beam {beam} {options} line {i + 1}: {ids} {score} vs {ours[i]}")
                if ct2_ids != ours_ct2_ids:
                    differences += 1
                    print(f"CTranslate2 beam {beam} {options} line {i + 1}: {ct2_ids} vs {ours_ct2_ids}")
    print(f"{checked - differences}/{checked} identical; the options changed {changed} of "
          f"{len(OPTIONS) * 2 * len(lines)} Marian outputs")
    sys.exit(1 if differences else 0)


if __name__ == "__main__":
    main()
