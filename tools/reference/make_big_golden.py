#!/usr/bin/env python3
"""Big tensors: a random Marian model whose shared embedding / output matrix (vocab 58,101 x d_model 1,024
in f32: 238 MB) exceeds lavapipe's 128 MiB storage-buffer range, and transformers' greedy tokens on it.

Writes the model (tools/make_random_model.py: 1 encoder and 1 decoder layer; ~400 MB, never committed)
and OUT_DIR/golden.json: the sources, max_length, MarianMTModel.generate's greedy ids and text, and the
smallest top-1 minus top-2 logit gap of any decision (a gap far above fp32 noise makes exact token
equality a fair test). tests/test_big_tensors.cpp reads it (VKFORMER_BIG_MODEL, default OUT_DIR below).

  tools/.venv/bin/python tools/reference/make_big_golden.py [OUT_DIR]   # default /tmp/vkformer-big-model
"""
import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"

import torch  # noqa: E402
import transformers  # noqa: E402
from transformers import MarianMTModel, MarianTokenizer  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from marian_ref import strip_output  # noqa: E402

TOOLS = Path(__file__).resolve().parents[1]
MODEL_ARGS = ["--d-model", "1024", "--encoder-layers", "1", "--decoder-layers", "1", "--heads", "16",
              "--ffn", "4096", "--vocab", "58101"]
SOURCES = ["Hello", "Thank you very much.", "The file could not be opened because it is locked.",
           "Where is the station?"]
MAX_LENGTH = 24  # counts the decoder start token, like generate(max_length=...)


def make_model(out):
    if (out / "model.safetensors").exists() and (out / "config.json").exists():
        return
    subprocess.run([sys.executable, str(TOOLS / "make_random_model.py"), str(out), *MODEL_ARGS], check=True)


def greedy(model, tok, source):
    """generate()'s greedy ids (without the start token, up to and incl. EOS) and its smallest decision gap."""
    batch = tok([source], return_tensors="pt")
    out = model.generate(**batch, num_beams=1, do_sample=False, max_length=MAX_LENGTH, output_scores=True,
                         return_dict_in_generate=True)
    ids = strip_output(out.sequences[0, 1:].tolist(), model.config.eos_token_id)
    gaps = []
    for scores in out.scores[:len(ids)]:
        top2 = scores[0].topk(2).values
        if torch.isfinite(top2[1]):  # a forced token (EOS at max_length) is no decision
            gaps.append(float(top2[0] - top2[1]))
    return ids, min(gaps)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out", type=Path, nargs="?", default=Path("/tmp/vkformer-big-model"))
    args = parser.parse_args()
    make_model(args.out)
    torch.set_grad_enabled(False)
    tok = MarianTokenizer.from_pretrained(args.out)
    model = MarianMTModel.from_pretrained(args.out).eval()
    outputs, gaps = [], []
    for source in SOURCES:
        ids, gap = greedy(model, tok, source)
        outputs.append({"ids": ids, "text": tok.decode(ids, skip_special_tokens=True)})
        gaps.append(gap)
    golden = {"made_by": "tools/reference/make_big_golden.py", "transformers": transformers.__version__,
              "model_args": MODEL_ARGS, "sources": SOURCES, "source_ids": [tok(s).input_ids for s in SOURCES],
              "min_gap": min(gaps), "greedy": {"max_length": MAX_LENGTH, "outputs": outputs}}
    (args.out / "golden.json").write_text(json.dumps(golden, indent=1) + "\n")
    print(f"{args.out}/golden.json: greedy lengths {[len(o['ids']) for o in outputs]}, min gap {min(gaps):.4f}")


if __name__ == "__main__":
    main()
