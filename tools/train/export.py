#!/usr/bin/env python3
"""Average the last training checkpoints and export a Hugging Face Marian model directory.

Averages the last N checkpoints, N in 1..--max-average chosen by the lowest dev loss.

Writes config.json, generation_config.json, model.safetensors (fp16, tied embeddings stored once),
plus the tokenizer files from prepare.py, then checks that MarianMTModel/MarianTokenizer load the
directory offline and translate exactly like the in-memory fp16 model.
"""
import argparse
import os
import shutil
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
import torch  # noqa: E402
from transformers import MarianConfig, MarianMTModel, MarianTokenizer  # noqa: E402

from train import dev_loss  # noqa: E402

TOKENIZER_FILES = ("source.spm", "target.spm", "vocab.json", "tokenizer_config.json", "special_tokens_map.json")
CHECK_SENTENCES = ["Could not open file %s", "Save the document before closing?", "Downloading packages"]


def average(paths):
    states = [torch.load(p, map_location="cpu") for p in paths]
    avg = {}
    for k, v in states[0]["model"].items():
        avg[k] = sum(s["model"][k].double() for s in states).div(len(states)).to(v.dtype) if v.is_floating_point() else v
    return avg, states[-1]["config"]


def translate(model, tok, lines, length_penalty):
    batch = tok(lines, return_tensors="pt", padding=True)
    with torch.no_grad():
        # Explicit settings: a model built from a config (not loaded) takes generation defaults from it.
        out = model.generate(**batch, num_beams=4, max_new_tokens=256, length_penalty=length_penalty)
    return tok.batch_decode(out, skip_special_tokens=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--ckpt-dir", required=True)
    ap.add_argument("--max-average", type=int, default=4, help="most recent checkpoints to consider")
    ap.add_argument("--data", required=True, help="encoded corpus from prepare.py (dev set)")
    ap.add_argument("--tok-dir", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--length-penalty", type=float, default=1.0,
                    help="generation_config length_penalty (tune it on dev with evaluate.py --length-penalty)")
    args = ap.parse_args()
    torch.set_num_threads(1)

    blob = torch.load(args.data)
    ckpts = sorted(Path(args.ckpt_dir).glob("step*.pt"), key=lambda p: int(p.stem[4:]))
    best = None
    for n in range(1, min(args.max_average, len(ckpts)) + 1):
        state, config = average(ckpts[-n:])
        model = MarianMTModel(MarianConfig(**config))
        model.load_state_dict(state)
        loss = dev_loss(model, blob["data"]["dev"], blob["pad_id"])
        print(f"average of last {n} ({', '.join(p.name for p in ckpts[-n:])}): dev loss {loss:.4f}")
        if best is None or loss < best[0]:
            best = (loss, n, model)
    print(f"exporting the average of the last {best[1]}")
    model = best[2].eval().half()
    # In both files: generate() rebuilds its settings from config.json when generation_config.json was
    # derived from it (_from_model_config) and config.json holds generation parameters, as here.
    model.config.length_penalty = args.length_penalty
    model.generation_config.length_penalty = args.length_penalty

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out, safe_serialization=True)
    for f in TOKENIZER_FILES:
        shutil.copy(Path(args.tok_dir) / f, out / f)

    tok = MarianTokenizer.from_pretrained(out)
    reloaded = MarianMTModel.from_pretrained(out).eval()  # loads as fp32
    model.float()  # same fp16-rounded weights, compared in fp32
    lp = args.length_penalty
    expected, got = translate(model, tok, CHECK_SENTENCES, lp), translate(reloaded, tok, CHECK_SENTENCES, lp)
    assert expected == got, (expected, got)
    for s, t in zip(CHECK_SENTENCES, got):
        print(f"{s} -> {t}")
    size = sum(f.stat().st_size for f in out.iterdir() if f.is_file())
    print(f"exported to {out}: {size / 1e6:.1f} MB in its top-level files")


if __name__ == "__main__":
    main()
