"""Decoding goldens for tests/test_attention.cpp and test_ctranslate2_model.cpp, into tests/data/decoding_goldens.json:

- "ctranslate2": CTranslate2 4.3.1's translate_batch(return_attention=True) on tiny CTranslate2 models
  (greedy and beam 4, the inputs of tests/data/ctranslate2/goldens.json): its alignment layer and heads.
- "replace_unknowns": an input whose greedy translation has <unk>, with CTranslate2's replace_unknowns.
- "min_length": translate_batch(min_decoding_length=4) greedy and beam 4 with scores (the banned end token
  is out of the log-softmax), on inputs whose unconstrained translation is shorter.
- "transformers": the tiny Marian models' golden hypotheses (tests/data/<model>/golden.json, greedy and
  the best of beam 4) teacher-forced through transformers' MarianMTModel with output_attentions: the last
  decoder layer's cross attention, averaged over its heads, for each generated token.

    tools/.venv/bin/python tools/reference/make_decoding_goldens.py
"""

import json
from pathlib import Path

import ctranslate2
import numpy as np
import torch
from transformers import MarianMTModel

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "tests" / "data"
CT2_MODELS = ["post_relu_shared", "pre_gelu_separate", "converted_float32"]
MARIAN_MODELS = ["tiny_swish_shared", "tiny_gelu_separate", "tiny_relu_odd"]
MAX_DECODING = 24  # make_test_models.py's
MIN_LENGTH = 4


def rounded(rows):
    return [[float(f"{x:.7g}") for x in row] for row in rows]


def ctranslate2_goldens():
    goldens = {}
    for name in CT2_MODELS:
        translator = ctranslate2.Translator(str(DATA / "ctranslate2" / name), device="cpu", compute_type="float32")
        golden_file = "goldens_converted.json" if name.startswith("converted") else "goldens.json"
        cases = json.loads((DATA / "ctranslate2" / golden_file).read_text())[name][:3]
        entries = []
        for case in cases:
            for beam in (1, 4):
                result = translator.translate_batch([case["source"]], beam_size=beam, return_attention=True,
                                                    min_decoding_length=0, max_decoding_length=MAX_DECODING)[0]
                entries.append({"source": case["source"], "beam": beam, "hypothesis": result.hypotheses[0],
                                "attention": rounded(result.attention[0])})
        goldens[name] = entries
    return goldens


def tiny_ctranslate2(name):
    directory = DATA / "ctranslate2" / name
    translator = ctranslate2.Translator(str(directory), device="cpu", compute_type="float32")
    return translator, json.loads((directory / "shared_vocabulary.json").read_text())


def random_source(rng, vocabulary):
    """3 to 10 tokens past the special ones, as make_test_models.py draws its inputs."""
    return [vocabulary[int(i)] for i in rng.integers(3, len(vocabulary), size=int(rng.integers(3, 11)))]


def replace_unknowns_golden():
    name = "post_relu_shared"
    translator, vocabulary = tiny_ctranslate2(name)
    rng = np.random.default_rng(99)
    for _ in range(2000):
        source = random_source(rng, vocabulary)
        plain = translator.translate_batch([source], beam_size=1, min_decoding_length=0,
                                           max_decoding_length=MAX_DECODING)[0].hypotheses[0]
        if "<unk>" not in plain:
            continue
        replaced = translator.translate_batch([source], beam_size=1, min_decoding_length=0, replace_unknowns=True,
                                              max_decoding_length=MAX_DECODING)[0].hypotheses[0]
        return {"model": name, "source": source, "hypothesis": plain, "replaced": replaced}
    raise SystemExit("no input translated with <unk> in 2000 tries")


def min_length_goldens():
    name = "post_relu_shared"
    translator, vocabulary = tiny_ctranslate2(name)
    rng = np.random.default_rng(7)
    entries = []
    for _ in range(5000):
        if len(entries) == 6:
            break
        source = random_source(rng, vocabulary)
        beam = 1 + 3 * (len(entries) % 2)
        free = translator.translate_batch([source], beam_size=beam, min_decoding_length=0,
                                          max_decoding_length=MAX_DECODING)[0].hypotheses[0]
        if len(free) >= MIN_LENGTH:
            continue
        result = translator.translate_batch([source], beam_size=beam, min_decoding_length=MIN_LENGTH, return_scores=True,
                                            max_decoding_length=MAX_DECODING)[0]
        entries.append({"source": source, "beam": beam, "hypothesis": result.hypotheses[0], "score": result.scores[0]})
    if len(entries) < 6:
        raise SystemExit("too few inputs with short translations")
    return {"model": name, "min_length": MIN_LENGTH, "cases": entries}


def marian_attention(model, source_ids, ids, start):
    """The last layer's cross attention, averaged over heads, at each of the hypothesis's steps."""
    with torch.no_grad():
        out = model(input_ids=torch.tensor([source_ids]), decoder_input_ids=torch.tensor([[start] + ids[:-1]]),
                    output_attentions=True)
    return out.cross_attentions[-1][0].mean(dim=0).tolist()  # [steps, source]


def transformers_goldens():
    goldens = {}
    for name in MARIAN_MODELS:
        model = MarianMTModel.from_pretrained(str(DATA / name)).eval()
        golden = json.loads((DATA / name / "golden.json").read_text())
        start = model.config.decoder_start_token_id
        entries = []
        for i, source_ids in enumerate(golden["source_ids"]):
            for key, output in (("greedy", golden["greedy"]["outputs"][i]), ("beam", golden["beam"]["outputs"][i][0])):
                entries.append({"sentence": i, "search": key, "ids": output["ids"],
                                "attention": rounded(marian_attention(model, source_ids, output["ids"], start))})
        goldens[name] = entries
    return goldens


def main():
    goldens = {"ctranslate2": ctranslate2_goldens(), "replace_unknowns": replace_unknowns_golden(),
               "min_length": min_length_goldens(),
               "transformers": transformers_goldens()}
    path = DATA / "decoding_goldens.json"
    path.write_text(json.dumps(goldens) + "\n")
    print(path, path.stat().st_size, "bytes")


if __name__ == "__main__":
    main()
