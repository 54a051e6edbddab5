#!/usr/bin/env python3
"""Independent plain-PyTorch reference of Hugging Face transformers' Marian (4.40.2) inference.

Loads a model directory in the HF Marian layout (config.json, model.safetensors in f32/f16/bf16,
vocab.json [+ target_vocab.json], source.spm, target.spm) and reproduces, with plain tensor ops:
  * MarianTokenizer encode/decode,
  * MarianMTModel's encoder, decoder and logits,
  * generate() greedy and beam search, including the generation-time logit processors.
The exact semantics are written down in DECODING.md.

Usage: marian_ref.py MODEL_DIR "sentence" ... [--beams N] [--max-length L]
"""
import argparse
import json
import math
import re
from pathlib import Path

import numpy as np
import sentencepiece as spm
import torch
import torch.nn.functional as F
from safetensors.torch import load_file

# transformers' ACT2FN: "swish"/"silu" are x*sigmoid(x); "gelu" is the exact erf form.
ACTIVATIONS = {"swish": F.silu, "silu": F.silu, "relu": F.relu, "gelu": F.gelu}
LN_EPS = 1e-5  # nn.LayerNorm default, used by every Marian layer norm


def sinusoidal_positions(n_pos, dim):
    """Marian's static table: sin in the first half, cos in the second (not interleaved).
    Computed in float64 like transformers, then rounded to float32 (the table it uses)."""
    j = np.arange(dim)
    angle = np.arange(n_pos)[:, None] / np.power(10000, 2 * (j // 2) / dim)[None, :]
    half = (dim + 1) // 2
    table = np.empty((n_pos, dim))
    table[:, :half] = np.sin(angle[:, 0::2])
    table[:, half:] = np.cos(angle[:, 1::2])
    return torch.from_numpy(table.astype(np.float32))


class MarianTokenizerRef:
    """MarianTokenizer: spm pieces -> ids through vocab.json (not spm ids), unknown -> <unk>, + </s>."""

    LANG_CODE = re.compile(">>.+<<")  # a leading ">>xx<<" target-language tag is kept as one token

    def __init__(self, model_dir):
        d = Path(model_dir)
        tok_cfg_path = d / "tokenizer_config.json"
        tok_cfg = json.loads(tok_cfg_path.read_text()) if tok_cfg_path.exists() else {}
        self.src_vocab = json.loads((d / "vocab.json").read_text(encoding="utf-8"))
        tgt_vocab = self.src_vocab
        if tok_cfg.get("separate_vocabs", False):
            tgt_vocab = json.loads((d / "target_vocab.json").read_text(encoding="utf-8"))
        self.tgt_pieces = {i: p for p, i in tgt_vocab.items()}
        self.spm_src = spm.SentencePieceProcessor(model_file=str(d / "source.spm"))
        self.spm_tgt = spm.SentencePieceProcessor(model_file=str(d / "target.spm"))
        self.eos_id, self.unk_id, self.pad_id = (self.src_vocab[t] for t in ("</s>", "<unk>", "<pad>"))

    def encode(self, text):
        match = self.LANG_CODE.match(text)
        code = [match.group(0)] if match else []
        pieces = code + self.spm_src.encode(self.LANG_CODE.sub("", text), out_type=str)
        return [self.src_vocab.get(p, self.unk_id) for p in pieces] + [self.eos_id]

    def decode(self, ids):
        """decode(ids, skip_special_tokens=True): drops </s>, <pad> AND <unk>, then spm-decodes the pieces
        and applies transformers' clean_up_tokenization (on by default)."""
        special = {self.eos_id, self.unk_id, self.pad_id}
        pieces = [self.tgt_pieces.get(i, "<unk>") for i in ids if i not in special]
        text = self.spm_tgt.decode_pieces(pieces).replace("\u2581", " ").strip()
        for a, b in ((" .", "."), (" ?", "?"), (" !", "!"), (" ,", ","), (" ' ", "'"), (" n't", "n't"),
                     (" 'm", "'m"), (" 's", "'s"), (" 've", "'ve"), (" 're", "'re")):
            text = text.replace(a, b)
        return text


class MarianRef:
    def __init__(self, model_dir, dtype=torch.float32):
        d = Path(model_dir)
        self.dtype = dtype
        self.cfg = cfg = json.loads((d / "config.json").read_text())
        gen_path = d / "generation_config.json"  # generate() prefers it over config.json
        gen = json.loads(gen_path.read_text()) if gen_path.exists() else cfg
        self.tok = MarianTokenizerRef(d)
        w = {k: v.to(dtype) for k, v in load_file(str(d / "model.safetensors")).items()}
        self.w = w

        self.d_model = cfg["d_model"]
        self.pad_id = cfg["pad_token_id"]
        self.eos_id = gen.get("eos_token_id", cfg["eos_token_id"])
        self.start_id = gen.get("decoder_start_token_id", cfg["decoder_start_token_id"])
        self.forced_eos_id = gen.get("forced_eos_token_id")
        bad = gen.get("bad_words_ids") or []
        assert all(len(b) == 1 for b in bad), "only single-token bad_words_ids are supported"
        self.banned = [b[0] for b in bad]
        self.act = ACTIVATIONS[cfg["activation_function"]]
        self.embed_scale = math.sqrt(self.d_model) if cfg.get("scale_embedding", False) else 1.0
        # normalize_before / normalize_embedding / add_final_layer_norm are legacy keys that MarianConfig
        # stores but MarianMTModel never reads: the network is always post-LN without extra norms.

        # Tied weights are stored once by save_pretrained; resolve the aliases transformers ties.
        shared = w.get("model.shared.weight")
        self.enc_emb = w.get("model.encoder.embed_tokens.weight", shared)
        self.dec_emb = w.get("model.decoder.embed_tokens.weight", shared)
        tie = cfg.get("tie_word_embeddings", True)
        self.lm_head = self.dec_emb if tie or "lm_head.weight" not in w else w["lm_head.weight"]
        self.final_bias = w.get("final_logits_bias", torch.zeros(1, self.lm_head.shape[0], dtype=dtype))[0]
        self.positions = sinusoidal_positions(cfg["max_position_embeddings"], self.d_model).to(dtype)

    # ---- network -------------------------------------------------------------------------------

    def linear(self, x, name):
        return x @ self.w[name + ".weight"].T + self.w[name + ".bias"]

    def layer_norm(self, x, name):
        return F.layer_norm(x, (self.d_model,), self.w[name + ".weight"], self.w[name + ".bias"], LN_EPS)

    def attention(self, x, kv, mask, name, heads):
        """mask: bool [B, 1|Tq, Tk], True = may attend. Scale head_dim^-0.5 is applied to q (as HF)."""
        B, Tq, D = x.shape
        hd = D // heads
        q = self.linear(x, name + ".q_proj") * hd ** -0.5
        k, v = self.linear(kv, name + ".k_proj"), self.linear(kv, name + ".v_proj")
        q, k, v = (t.view(B, -1, heads, hd).transpose(1, 2) for t in (q, k, v))  # [B, H, T, hd]
        scores = (q @ k.transpose(-1, -2)).masked_fill(~mask[:, None], float("-inf"))
        out = torch.softmax(scores, -1) @ v
        return self.linear(out.transpose(1, 2).reshape(B, Tq, D), name + ".out_proj")

    def ffn(self, x, name):
        return self.linear(self.act(self.linear(x, name + "fc1")), name + "fc2")

    def encode(self, src_ids, src_mask):
        """src_ids, src_mask: [B, S] (mask True for real tokens). Returns [B, S, D]; padded query rows
        are computed like any other row (they only see the real keys) and are never used later."""
        S = src_ids.shape[1]
        x = self.enc_emb[src_ids] * self.embed_scale + self.positions[:S]
        key_mask = src_mask[:, None, :]
        for i in range(self.cfg["encoder_layers"]):
            p = f"model.encoder.layers.{i}."
            x = self.layer_norm(x + self.attention(x, x, key_mask, p + "self_attn",
                                                   self.cfg["encoder_attention_heads"]), p + "self_attn_layer_norm")
            x = self.layer_norm(x + self.ffn(x, p), p + "final_layer_norm")
        return x

    def decode(self, dec_ids, enc_out, src_mask, offset=0):
        """Full (non-incremental) decoder pass over dec_ids [B, T] -> logits [B, T, V].
        offset is the position of dec_ids[:, 0] (non-zero only for cached incremental decoding)."""
        B, T = dec_ids.shape
        y = self.dec_emb[dec_ids] * self.embed_scale + self.positions[offset:offset + T]
        causal = torch.ones(T, T, dtype=torch.bool).tril()[None].expand(B, T, T)
        cross = src_mask[:, None, :]
        heads = self.cfg["decoder_attention_heads"]
        for i in range(self.cfg["decoder_layers"]):
            p = f"model.decoder.layers.{i}."
            y = self.layer_norm(y + self.attention(y, y, causal, p + "self_attn", heads), p + "self_attn_layer_norm")
            y = self.layer_norm(y + self.attention(y, enc_out, cross, p + "encoder_attn", heads),
                                p + "encoder_attn_layer_norm")
            y = self.layer_norm(y + self.ffn(y, p), p + "final_layer_norm")
        return y @ self.lm_head.T + self.final_bias

    def pad_batch(self, batch_ids):
        """Right-pads with pad_id; returns ids [B, S] and mask [B, S] (True = real token)."""
        S = max(len(s) for s in batch_ids)
        ids = torch.full((len(batch_ids), S), self.pad_id, dtype=torch.long)
        for i, s in enumerate(batch_ids):
            ids[i, :len(s)] = torch.tensor(s)
        lengths = torch.tensor([len(s) for s in batch_ids])
        return ids, torch.arange(S)[None] < lengths[:, None]

    # ---- generation ------------------------------------------------------------------------------

    def adjust(self, scores, cur_len, max_length):
        """generate()'s logits processors. cur_len counts the decoder input incl. the start token.
        Banned tokens (bad_words_ids = [[pad]]) -> -inf. Forced EOS: when the next token is the last
        one allowed (cur_len == max_length - 1), every score is -inf except EOS, which is set to 0."""
        scores = scores.clone()
        scores[:, self.banned] = float("-inf")
        if self.forced_eos_id is not None and cur_len == max_length - 1:
            scores.fill_(float("-inf"))
            scores[:, self.forced_eos_id] = 0.0
        return scores

    @torch.no_grad()
    def greedy(self, batch_ids, max_length):
        """Batched greedy search; returns per sentence the generated ids (no start token, incl. EOS)."""
        src, mask = self.pad_batch(batch_ids)
        enc = self.encode(src, mask)
        seqs = torch.full((len(batch_ids), 1), self.start_id, dtype=torch.long)
        running = torch.ones(len(batch_ids), dtype=torch.bool)
        while True:
            logits = self.decode(seqs, enc, mask)[:, -1]
            nxt = self.adjust(logits, seqs.shape[1], max_length).argmax(-1)  # ties: lowest id
            nxt = torch.where(running, nxt, torch.full_like(nxt, self.pad_id))  # finished rows get pad
            seqs = torch.cat([seqs, nxt[:, None]], 1)
            running &= nxt != self.eos_id
            if not running.any() or seqs.shape[1] >= max_length:
                break
        return [strip_output(row[1:].tolist(), self.eos_id) for row in seqs]

    @torch.no_grad()
    def beam_search(self, src_ids, num_beams=4, length_penalty=1.0, max_length=20, n_best=1, trace=None):
        """One sentence, transformers' BeamSearchScorer with early_stopping=False.
        Returns n_best (ids, score) pairs, best first; ids exclude the start token, include EOS.
        trace (a dict) receives, for near-tie checks: "steps", each step's 2*num_beams+1 best (score, token)
        candidates; "margins", the score differences behind the hypothesis-list and stopping tests."""
        src, mask = self.pad_batch([src_ids])
        enc = self.encode(src, mask).expand(num_beams, -1, -1)
        mask = mask.expand(num_beams, -1)
        seqs = torch.full((num_beams, 1), self.start_id, dtype=torch.long)
        # Only beam 0 is live at the start; the copies get -1e9 so step 1 expands beam 0 alone.
        beam_scores = torch.full((num_beams,), -1e9, dtype=self.dtype)
        beam_scores[0] = 0.0
        hyps = []  # (score, ids incl. start, excl. EOS, ended_with_eos) in insertion order
        worst = 1e9

        def add(ids, sum_logprobs, gen_len, ended):
            # BeamHypotheses.add: score = sum_logprobs / gen_len**lp; keep the num_beams best.
            nonlocal worst
            score = sum_logprobs / gen_len ** length_penalty
            if trace is not None and len(hyps) >= num_beams:
                trace["margins"].append(abs(score - worst))
            if len(hyps) < num_beams or score > worst:
                hyps.append((score, ids, ended))
                if len(hyps) > num_beams:
                    order = sorted((s, i) for i, (s, _, _) in enumerate(hyps))
                    del hyps[order[0][1]]
                    worst = order[1][0]
                else:
                    worst = min(score, worst)

        done = False
        while True:
            cur_len = seqs.shape[1]
            logprobs = torch.log_softmax(self.decode(seqs, enc, mask)[:, -1], -1)
            cand = self.adjust(logprobs, cur_len, max_length) + beam_scores[:, None]
            V = cand.shape[1]
            if trace is not None:
                top = cand.view(-1).topk(2 * num_beams + 1)
                trace["steps"].append([(s, i % V) for s, i in zip(top.values.tolist(), top.indices.tolist())])
            top_scores, top_idx = cand.view(-1).topk(2 * num_beams)  # sorted, best first
            next_beams = []  # (score, source beam, token)
            for rank, (s, idx) in enumerate(zip(top_scores.tolist(), top_idx.tolist())):
                beam, token = divmod(idx, V)
                if token == self.eos_id:
                    if rank < num_beams:  # EOS only counts among the top num_beams candidates
                        add(seqs[beam].tolist(), s, cur_len, True)  # gen_len: generated tokens incl. EOS
                else:
                    next_beams.append((s, beam, token))
                if len(next_beams) == num_beams:
                    break
            # early_stopping=False heuristic: done once the best candidate of this step, normalised by the
            # current length, cannot beat the worst kept hypothesis (not an exact bound).
            margin = worst - top_scores[0].item() / cur_len ** length_penalty
            done = len(hyps) >= num_beams and margin >= 0
            if trace is not None and len(hyps) >= num_beams:
                trace["margins"].append(abs(margin))
            beam_scores = torch.tensor([s for s, _, _ in next_beams], dtype=self.dtype)
            seqs = torch.cat([seqs[[b for _, b, _ in next_beams]],
                              torch.tensor([[t] for _, _, t in next_beams])], 1)
            if done or seqs.shape[1] >= max_length:
                break
        if not done:  # max_length reached: the open beams compete too (no EOS, gen_len excl. start)
            for ids, s in zip(seqs.tolist(), beam_scores.tolist()):
                add(ids, s, len(ids) - 1, False)
        ranked = sorted(hyps, key=lambda h: h[0])[::-1]  # ties: the later-added hypothesis first
        return [(ids[1:] + ([self.eos_id] if ended else []), float(np.float32(score)))
                for score, ids, ended in ranked[:n_best]]


def strip_output(ids, eos_id):
    """Generated ids up to and including the first EOS."""
    return ids[:ids.index(eos_id) + 1] if eos_id in ids else ids


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("model_dir")
    ap.add_argument("sentences", nargs="+")
    ap.add_argument("--beams", type=int, default=1)
    ap.add_argument("--max-length", type=int, default=64)
    ap.add_argument("--n-best", type=int, default=1)
    args = ap.parse_args()
    m = MarianRef(args.model_dir)
    batch = [m.tok.encode(s) for s in args.sentences]
    if args.beams == 1:
        for ids in m.greedy(batch, args.max_length):
            print(m.tok.decode(ids), ids)
    else:
        for src in batch:
            for ids, score in m.beam_search(src, args.beams, 1.0, args.max_length, args.n_best):
                print(f"{score:.6f}", m.tok.decode(ids), ids)


if __name__ == "__main__":
    main()
