#!/usr/bin/env python3
"""Checks marian_ref.py and the goldens against transformers' MarianMTModel / MarianTokenizer (offline).

For every tiny model: tokenizer ids, encoder output and logits (max abs diff <= 1e-5), greedy tokens and
text, beam tokens, scores (|diff| <= 1e-5) and text. Also reports how far the float32 reference is from a
float64 run (the rounding noise an fp32 engine should expect). Exits non-zero on any mismatch.
"""
import argparse
import json
import os
import sys
from pathlib import Path

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"

import torch  # noqa: E402
import transformers  # noqa: E402
from transformers import MarianMTModel, MarianTokenizer  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from make_goldens import MODELS  # noqa: E402
from marian_ref import MarianRef, strip_output  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
TOL = 1e-5


def tensor(blob):
    return torch.tensor(blob["data"]).view(blob["shape"])


def generated(seqs, eos_id, pad_id):
    """generate() rows -> ids without the start token, up to and incl. EOS (or without trailing pads)."""
    out = []
    for row in seqs.tolist():
        ids = strip_output(row[1:], eos_id)
        while eos_id not in ids and ids and ids[-1] == pad_id:
            ids.pop()
        out.append(ids)
    return out


def check_model(name, data_dir):
    d = data_dir / name
    golden = json.loads((d / "golden.json").read_text())
    tok = MarianTokenizer.from_pretrained(d)
    hf = MarianMTModel.from_pretrained(d).eval()  # float32, whatever the stored dtype
    ref, ref64 = MarianRef(d), MarianRef(d, torch.float64)
    errors = []

    def expect(cond, what):
        if not cond:
            errors.append(what)

    sources = golden["sources"]
    batch = tok(sources, return_tensors="pt", padding=True)
    hf_ids = [tok(s).input_ids for s in sources]
    expect(hf_ids == golden["source_ids"] == [ref.tok.encode(s) for s in sources], "tokenizer ids")

    src, mask = ref.pad_batch(golden["source_ids"])
    forced = torch.tensor(golden["forced_decoding"]["decoder_input_ids"])
    with torch.no_grad():
        hf_enc = hf.get_encoder()(**batch).last_hidden_state
        hf_logits = hf(**batch, decoder_input_ids=forced).logits
        enc64 = ref64.encode(src, mask)
        logits64 = ref64.decode(forced, enc64, mask)
    diffs = {
        "encoder": (hf_enc - tensor(golden["encoder_output"])).abs().max().item(),
        "logits": (hf_logits - tensor(golden["forced_decoding"]["logits"])).abs().max().item(),
        "encoder live ref": (hf_enc - ref.encode(src, mask)).abs().max().item(),
    }
    for what, diff in diffs.items():
        expect(diff <= TOL, f"{what} max abs diff {diff:.2e}")

    g = golden["greedy"]
    out = hf.generate(**batch, num_beams=1, do_sample=False, max_length=g["max_length"])
    hf_greedy = generated(out, hf.config.eos_token_id, hf.config.pad_token_id)
    expect(hf_greedy == [o["ids"] for o in g["outputs"]], "greedy ids")
    expect([tok.decode(i, skip_special_tokens=True) for i in hf_greedy] == [o["text"] for o in g["outputs"]],
           "greedy text")

    b = golden["beam"]
    out = hf.generate(**batch, num_beams=b["beam_size"], length_penalty=b["length_penalty"], do_sample=False,
                      max_length=b["max_length"], num_return_sequences=b["n_best"], early_stopping=False,
                      output_scores=True, return_dict_in_generate=True)
    hf_beam = generated(out.sequences, hf.config.eos_token_id, hf.config.pad_token_id)
    want = [h for sent in b["outputs"] for h in sent]
    expect(hf_beam == [h["ids"] for h in want], "beam ids")
    score_diff = max(abs(s - h["score"]) for s, h in zip(out.sequences_scores.tolist(), want))
    expect(score_diff <= TOL, f"beam scores max abs diff {score_diff:.2e}")
    expect([tok.decode(i, skip_special_tokens=True) for i in hf_beam] == [h["text"] for h in want], "beam text")

    f64 = {"encoder": (enc64 - tensor(golden["encoder_output"]).double()).abs().max().item(),
           "logits": (logits64 - tensor(golden["forced_decoding"]["logits"]).double()).abs().max().item()}
    max_logit = tensor(golden["forced_decoding"]["logits"]).abs().max().item()
    print(f"{name}: {'OK' if not errors else 'MISMATCH: ' + ', '.join(errors)}\n"
          f"  vs transformers: encoder {diffs['encoder']:.1e}, logits {diffs['logits']:.1e}, "
          f"beam scores {score_diff:.1e}; f32 golden vs f64 reference: encoder {f64['encoder']:.1e}, "
          f"logits {f64['logits']:.1e}; max |logit| {max_logit:.2f}")
    return not errors


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--data", type=Path, default=REPO / "tests" / "data")
    args = ap.parse_args()
    transformers.logging.set_verbosity_error()
    print(f"transformers {transformers.__version__}, torch {torch.__version__}")
    ok = all([check_model(name, args.data) for name in MODELS])
    print("ALL OK" if ok else "FAILED")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
