#!/usr/bin/env python3
"""Writes tests/data/en-de-golden.json: greedy and beam-4 outputs of the shipped models/en-de on test-set
segments, from marian_ref.py (float32) and checked against transformers' MarianMTModel.generate.

Run it whenever models/en-de changes. Only segments whose every decision has a clear margin (no near-tie
an fp32 engine with another summation order could flip) and that end before max_length are kept, so
the engine must reproduce all of them exactly.
"""
import argparse
import json
import os
import sys
from pathlib import Path

os.environ["HF_HUB_OFFLINE"] = "1"

import torch  # noqa: E402
from transformers import MarianMTModel  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from make_goldens import beam_gaps, greedy_gaps  # noqa: E402
from marian_ref import MarianRef  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
MAX_LENGTH = 64  # counts the decoder start token
BEAM = dict(beam_size=4, length_penalty=1.0, n_best=1)
# Logits of this model reach ~20; fp32 engines differ from the reference by ~1e-4 there.
MIN_GAP = 0.02


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--model", type=Path, default=REPO / "models/en-de")
    ap.add_argument("--out", type=Path, default=REPO / "tests/data/en-de-golden.json")
    ap.add_argument("--count", type=int, default=24, help="segments to keep")
    args = ap.parse_args()
    torch.set_num_threads(1)
    lines = (args.model / "testset/test.en").read_text().splitlines()
    m = MarianRef(args.model)
    hf = MarianMTModel.from_pretrained(args.model).float().eval()

    kept, skipped = [], 0
    step = max(1, len(lines) // (3 * args.count))  # spread over the file; near-ties are skipped
    for line in lines[::step]:
        if len(kept) == args.count:
            break
        ids = m.tok.encode(line)
        greedy = m.greedy([ids], MAX_LENGTH)[0]
        trace = {"steps": [], "margins": []}
        (beam_ids, beam_score), = m.beam_search(ids, BEAM["beam_size"], BEAM["length_penalty"], MAX_LENGTH,
                                                BEAM["n_best"], trace)
        gap = min(greedy_gaps(m, [ids], [greedy], MAX_LENGTH) + beam_gaps(trace, [beam_score], m.eos_id,
                                                                            BEAM["beam_size"]))
        if gap < MIN_GAP or greedy[-1] != m.eos_id or beam_ids[-1] != m.eos_id:
            skipped += 1
            continue
        with torch.no_grad():
            src = torch.tensor([ids])
            for beams, want in ((1, greedy), (BEAM["beam_size"], beam_ids)):
                out = hf.generate(input_ids=src, attention_mask=torch.ones_like(src), num_beams=beams,
                                  length_penalty=BEAM["length_penalty"], max_length=MAX_LENGTH)[0, 1:].tolist()
                out = out[:out.index(m.eos_id) + 1]
                assert out == want, f"transformers and marian_ref differ (beam {beams}) on {line!r}"
        kept.append({"source": line, "source_ids": ids,
                     "greedy": {"ids": greedy, "text": m.tok.decode(greedy)},
                     "beam": {"ids": beam_ids, "score": beam_score, "text": m.tok.decode(beam_ids)}})
    head = {"model": "models/en-de", "max_length": MAX_LENGTH, "beam": BEAM}
    segments = ",\n".join(json.dumps(s, ensure_ascii=False) for s in kept)  # one per line: readable diffs
    args.out.write_text(json.dumps(head)[:-1] + ', "segments": [\n' + segments + "\n]}\n")
    print(f"{len(kept)} segments written to {args.out}, {skipped} skipped (near-tie or no EOS)")
    sys.exit(0 if len(kept) == args.count else 1)


if __name__ == "__main__":
    main()
