#!/usr/bin/env python3
"""Writes tests/data/<model>/golden.json for every tiny model, computed with marian_ref.py (float32).

Also checks that the goldens are robust (no near-ties in any greedy/beam decision, so an fp32 engine
with slightly different rounding must make the same choices) and that decoding each sentence alone
gives the same tokens as decoding the padded batch. Exits non-zero if a check fails.
"""
import argparse
import json
import math
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from marian_ref import MarianRef  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
MODELS = ["tiny_swish_shared", "tiny_gelu_separate", "tiny_relu_odd"]
SOURCES = [
    "Hello",
    "Thank you very much.",
    "Where is the train station?",
    "The children play in the garden € behind the old school.",  # '€' is not in any vocab -> <unk>
    "My sister works in a hospital in the city and reads a good book every evening.",
]
MAX_LENGTH = 16  # counts the decoder start token, like generate(max_length=...)
BEAM = dict(beam_size=4, length_penalty=1.0, n_best=2)
FORCED_STEPS = 4
MIN_GAP = 1e-3  # smallest allowed score difference behind any greedy/beam decision


def rounded(t):
    """Flattened tensor as plain floats with 9 significant digits (float32 round-trips)."""
    return [float(f"{x:.9g}") for x in t.reshape(-1).tolist()]


def greedy_gaps(m, batch_ids, outputs, max_length=MAX_LENGTH):
    """Top-1 minus top-2 processed logit at every free greedy step (forced-EOS steps excluded)."""
    gaps = []
    for src, out in zip(batch_ids, outputs):
        src_t, mask = m.pad_batch([src])
        enc = m.encode(src_t, mask)
        dec = torch.tensor([[m.start_id] + out])
        logits = m.decode(dec, enc, mask)[0]
        for t in range(len(out)):
            if t + 1 == max_length - 1:
                continue  # forced EOS, no choice made
            top2 = m.adjust(logits[t:t + 1], t + 1, max_length)[0].topk(2).values
            gaps.append((top2[0] - top2[1]).item())
    return gaps


def beam_gaps(trace, nbest_scores, eos_id, num_beams):
    """Score gaps behind each beam decision: which non-EOS candidates survive (the N-th kept one vs the
    next), whether an EOS candidate ranks in the top N (rank N-1 vs N), the hypothesis-list and
    stopping tests, and the n-best order."""
    # An exact 0 is structural, not a near-tie: the best candidate is the EOS hypothesis that was just
    # added as the worst one, so both sides of the stopping test are the same number.
    gaps = [g for g in trace["margins"] if g != 0.0]
    for step in trace["steps"]:
        scores = [s for s, _ in step]
        kept = [r for r, (_, tok) in enumerate(step) if tok != eos_id][:num_beams]
        boundary = [(kept[-1], kept[-1] + 1)]
        if eos_id in (step[num_beams - 1][1], step[num_beams][1]):
            boundary.append((num_beams - 1, num_beams))
        gaps += [scores[a] - scores[b] for a, b in boundary if math.isfinite(scores[b])]
    gaps += [a - b for a, b in zip(nbest_scores, nbest_scores[1:])]
    return gaps


def make_golden(name, data_dir):
    m = MarianRef(data_dir / name)
    batch_ids = [m.tok.encode(s) for s in SOURCES]
    src, mask = m.pad_batch(batch_ids)
    with torch.no_grad():
        enc = m.encode(src, mask)
    greedy = m.greedy(batch_ids, MAX_LENGTH)
    for ids, out in zip(batch_ids, greedy):
        assert m.greedy([ids], MAX_LENGTH)[0] == out, f"{name}: batched vs single greedy differ"

    # Teacher forcing on the greedy output: [start] + tokens, cut/right-padded with <pad> to FORCED_STEPS.
    forced = [([m.start_id] + out + [m.pad_id] * FORCED_STEPS)[:FORCED_STEPS] for out in greedy]
    with torch.no_grad():
        logits = m.decode(torch.tensor(forced), enc, mask)

    beams, gaps_b, steps = [], [], []
    for ids in batch_ids:
        trace = {"steps": [], "margins": []}
        nbest = m.beam_search(ids, BEAM["beam_size"], BEAM["length_penalty"], MAX_LENGTH, BEAM["n_best"], trace)
        steps.append(len(trace["steps"]))
        gaps_b += beam_gaps(trace, [s for _, s in nbest], m.eos_id, BEAM["beam_size"])
        beams.append([{"ids": o, "score": s, "text": m.tok.decode(o)} for o, s in nbest])
    gaps_g = greedy_gaps(m, batch_ids, greedy)
    unk_used = any(m.tok.unk_id in ids for ids in batch_ids)
    natural_eos = sum(len(o) < MAX_LENGTH - 1 for o in greedy)
    print(f"{name}: min greedy gap {min(gaps_g):.4f}, min beam gap {min(gaps_b):.4f}, |logit| max "
          f"{logits.abs().max():.2f}, greedy lengths {[len(o) for o in greedy]} ({natural_eos} end before "
          f"max_length), beam lengths {[len(h['ids']) for sent in beams for h in sent]}, beam steps {steps}, unk: {unk_used}")
    ok = min(gaps_g) > MIN_GAP and min(gaps_b) > MIN_GAP and unk_used
    golden = {
        "model": name,
        "sources": SOURCES,
        "source_ids": batch_ids,
        "encoder_output": {"shape": list(enc.shape), "data": rounded(enc)},
        "forced_decoding": {"decoder_input_ids": forced,
                            "logits": {"shape": list(logits.shape), "data": rounded(logits)}},
        "greedy": {"max_length": MAX_LENGTH,
                   "outputs": [{"ids": o, "text": m.tok.decode(o)} for o in greedy]},
        "beam": {**BEAM, "max_length": MAX_LENGTH, "outputs": beams},
    }
    (data_dir / name / "golden.json").write_text(json.dumps(golden, ensure_ascii=False, separators=(",", ":")))
    return ok


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--data", type=Path, default=REPO / "tests" / "data")
    args = ap.parse_args()
    ok = all([make_golden(name, args.data) for name in MODELS])
    print("OK" if ok else "FAILED: near-tie or missing <unk>; change the model's seed in make_tiny_models.py")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
