#!/usr/bin/env python3
"""Score EN->DE translations of the held-out test catalogs with sacreBLEU (BLEU and chrF).

Either translate the source with the PyTorch model (greedy and/or beam search), or score a
hypothesis file written by another program (e.g. the C++ `vkformer translate`):
    evaluate.py --model models/en-de --beams 1 4 --out-dir /work/data/eval
    evaluate.py --hyp vkformer.test.de
Hypothesis files have one translation per line, aligned with models/en-de/testset/test.en.
"""
import argparse
import os
import time
from pathlib import Path

import sacrebleu

REPO = Path(__file__).resolve().parents[2]
TESTSET = REPO / "models/en-de/testset"


def score(name, hyps, refs):
    assert len(hyps) == len(refs), f"{name}: {len(hyps)} hypotheses for {len(refs)} references"
    bleu, chrf = sacrebleu.metrics.BLEU(), sacrebleu.metrics.CHRF()
    b, c = bleu.corpus_score(hyps, [refs]), chrf.corpus_score(hyps, [refs])
    print(f"{name}: {b}  [{bleu.get_signature()}]")
    print(f"{name}: {c}  [{chrf.get_signature()}]")


def translate(model_dir, lines, beams, batch_size, length_penalty=None):
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import torch
    from transformers import MarianMTModel, MarianTokenizer

    tok = MarianTokenizer.from_pretrained(model_dir)
    model = MarianMTModel.from_pretrained(model_dir).eval()
    order = sorted(range(len(lines)), key=lambda i: len(lines[i]))  # similar lengths share a batch
    out = [None] * len(lines)
    with torch.no_grad():
        for s in range(0, len(order), batch_size):
            ids = order[s:s + batch_size]
            batch = tok([lines[i] for i in ids], return_tensors="pt", padding=True)
            # Bounding the output by the input length stops rare runaway repetitions early.
            limit = min(256, 2 * batch["input_ids"].shape[1] + 10)
            extra = {} if length_penalty is None else {"length_penalty": length_penalty}
            gen = model.generate(**batch, num_beams=beams, max_new_tokens=limit, **extra)
            for i, t in zip(ids, tok.batch_decode(gen, skip_special_tokens=True)):
                out[i] = t
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--src", default=TESTSET / "test.en")
    ap.add_argument("--ref", default=TESTSET / "test.de")
    ap.add_argument("--hyp", nargs="+", help="score these hypothesis files instead of translating")
    ap.add_argument("--model", default=REPO / "models/en-de")
    ap.add_argument("--beams", type=int, nargs="+", default=[1, 4])
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--length-penalty", type=float, help="beam search; default: the model's generation_config")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out-dir", help="write the model's translations here (test.beamN.de)")
    ap.add_argument("--samples", type=int, default=0, help="print this many evenly spaced examples")
    args = ap.parse_args()
    refs = Path(args.ref).read_text().splitlines()

    if args.hyp:
        for f in args.hyp:
            score(f, Path(f).read_text().splitlines(), refs)
        return

    import torch
    torch.set_num_threads(args.threads)
    src = Path(args.src).read_text().splitlines()
    for beams in args.beams:
        t0 = time.time()
        hyps = translate(args.model, src, beams, args.batch_size, args.length_penalty)
        name = "greedy" if beams == 1 else f"beam{beams}"
        print(f"{name}: {len(src)} segments in {time.time() - t0:.0f} s")
        score(f"pytorch {name}", hyps, refs)
        if args.out_dir:
            Path(args.out_dir).mkdir(parents=True, exist_ok=True)
            (Path(args.out_dir) / f"test.beam{beams}.de").write_text("".join(h + "\n" for h in hyps))
        step = max(1, len(src) // args.samples) if args.samples else 0
        for i in range(0, len(src), step or len(src) + 1)[:args.samples]:
            print(f"SRC {src[i]}\nREF {refs[i]}\nHYP {hyps[i]}\n")


if __name__ == "__main__":
    main()
