#!/usr/bin/env python3
"""Train a small transformers.MarianMTModel from scratch on the pre-encoded corpus (CPU).

Stops at a wall-clock deadline (or --max-steps). Saves a resumable checkpoint every
--save-minutes into --ckpt-dir and keeps the last --keep of them for checkpoint averaging.
Run with torch.set_num_threads(1) + OPENBLAS_NUM_THREADS=2 (fastest measured on 2 cores).
"""
import argparse
import datetime as dt
import math
import random
import time
from pathlib import Path

import torch
from transformers import MarianConfig, MarianMTModel

MAX_LEN = 128  # tokens per side; longer segments are skipped (MAX_CHARS=200 makes them rare)


def model_config(vocab_size, pad_id, args):
    return MarianConfig(
        vocab_size=vocab_size, d_model=args.d_model, encoder_layers=args.enc_layers,
        decoder_layers=args.dec_layers, encoder_attention_heads=args.heads, decoder_attention_heads=args.heads,
        encoder_ffn_dim=args.ffn, decoder_ffn_dim=args.ffn, activation_function="swish",
        max_position_embeddings=256, scale_embedding=True, share_encoder_decoder_embeddings=True,
        tie_word_embeddings=True,
        dropout=0.1, attention_dropout=0.0, activation_dropout=0.0,
        pad_token_id=pad_id, eos_token_id=0, decoder_start_token_id=pad_id, forced_eos_token_id=0,
        bad_words_ids=[[pad_id]], max_length=256, num_beams=4)


def make_batches(src, tgt, max_tokens, rng):
    """Length-bucketed batches whose padded size (rows x longest side) stays under max_tokens."""
    idx = [i for i in range(len(src)) if len(src[i]) < MAX_LEN and len(tgt[i]) < MAX_LEN]
    rng.shuffle(idx)  # random order inside equal lengths
    idx.sort(key=lambda i: (len(tgt[i]), len(src[i])))
    batches, cur, longest = [], [], 0
    for i in idx:
        n = max(len(src[i]), len(tgt[i])) + 1
        if cur and max(longest, n) * (len(cur) + 1) > max_tokens:
            batches.append(cur)
            cur, longest = [], 0
        cur.append(i)
        longest = max(longest, n)
    if cur:
        batches.append(cur)
    rng.shuffle(batches)
    return batches


def collate(src, tgt, ids, pad_id):
    """input_ids/attention_mask, decoder inputs (pad = decoder start) and labels, all + </s>=0."""
    s = [src[i] + [0] for i in ids]
    t = [tgt[i] + [0] for i in ids]
    ls, lt = max(map(len, s)), max(map(len, t))
    inp = torch.full((len(ids), ls), pad_id)
    lab = torch.full((len(ids), lt), -100)
    dec = torch.full((len(ids), lt), pad_id)
    for r, (a, b) in enumerate(zip(s, t)):
        inp[r, :len(a)] = torch.tensor(a)
        lab[r, :len(b)] = torch.tensor(b)
        dec[r, 1:len(b)] = torch.tensor(b[:-1])
    return inp, inp.ne(pad_id).long(), dec, lab


def lr_at(step, args):
    """Linear warmup to --lr, then inverse square root decay; from --cooldown-start the rate is also
    scaled down linearly to zero at --cooldown-end (annealing gives a lower final loss than inverse sqrt)."""
    step = max(step, 1)
    lr = args.lr * min(step / args.warmup, math.sqrt(args.warmup / step))
    if args.cooldown_end > args.cooldown_start and step > args.cooldown_start:
        lr *= max(0.0, (args.cooldown_end - step) / (args.cooldown_end - args.cooldown_start))
    return lr


@torch.no_grad()
def dev_loss(model, dev, pad_id):
    model.eval()
    src, tgt = dev
    total, n = 0.0, 0
    for b in make_batches(src, tgt, 4000, random.Random(0)):
        inp, mask, dec, lab = collate(src, tgt, b, pad_id)
        logits = model(input_ids=inp, attention_mask=mask, decoder_input_ids=dec).logits
        total += torch.nn.functional.cross_entropy(logits.flatten(0, 1), lab.flatten(), reduction="sum").item()
        n += lab.ne(-100).sum().item()
    model.train()
    return total / n


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--data", required=True, help="encoded corpus from prepare.py")
    ap.add_argument("--ckpt-dir", required=True)
    ap.add_argument("--deadline", required=True, help="UTC wall-clock stop time, e.g. 2026-11-23T22:20")
    ap.add_argument("--max-steps", type=int, default=10**9)
    ap.add_argument("--d-model", type=int, default=256)
    ap.add_argument("--enc-layers", type=int, default=4)
    ap.add_argument("--dec-layers", type=int, default=2)
    ap.add_argument("--heads", type=int, default=4)
    ap.add_argument("--ffn", type=int, default=1024)
    ap.add_argument("--max-tokens", type=int, default=3000, help="padded tokens per batch and side")
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--warmup", type=int, default=800)
    ap.add_argument("--cooldown-start", type=int, default=0, help="update where the linear cool-down begins")
    ap.add_argument("--cooldown-end", type=int, default=0, help="update where the learning rate reaches zero")
    ap.add_argument("--label-smoothing", type=float, default=0.1)
    ap.add_argument("--save-minutes", type=float, default=8)
    ap.add_argument("--keep", type=int, default=5)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    deadline = dt.datetime.fromisoformat(args.deadline).replace(tzinfo=dt.timezone.utc).timestamp()

    blob = torch.load(args.data)
    pad_id = blob["pad_id"]
    src, tgt = blob["data"]["train"]
    model = MarianMTModel(model_config(blob["vocab_size"], pad_id, args))
    opt = torch.optim.Adam(model.parameters(), lr=args.lr, betas=(0.9, 0.98), eps=1e-9)
    loss_fn = torch.nn.CrossEntropyLoss(ignore_index=-100, label_smoothing=args.label_smoothing, reduction="sum")
    step, epoch = 0, 0
    ckpt_dir = Path(args.ckpt_dir)
    ckpt_dir.mkdir(parents=True, exist_ok=True)
    ckpts = sorted(ckpt_dir.glob("step*.pt"), key=lambda p: int(p.stem[4:]))
    if ckpts:
        state = torch.load(ckpts[-1])
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["opt"])
        step, epoch = state["step"], state["epoch"]
        print(f"resumed from {ckpts[-1]}", flush=True)
    n_params = sum(p.numel() for p in model.parameters())
    print(f"parameters {n_params}; config {model.config.to_json_string()}", flush=True)

    def save():
        path = ckpt_dir / f"step{step}.pt"
        torch.save({"model": model.state_dict(), "opt": opt.state_dict(), "step": step, "epoch": epoch,
                    "config": model.config.to_dict()}, path)
        ckpts.append(path)
        while len(ckpts) > args.keep:
            ckpts.pop(0).unlink(missing_ok=True)
        print(f"saved {path}; dev loss {dev_loss(model, blob['data']['dev'], pad_id):.3f}", flush=True)

    model.train()
    last_save = last_log = time.time()
    tok_since_log, loss_since_log = 0, 0.0
    done = False
    while not done:
        # A resumed run restarts its epoch with a fresh shuffle; fine for this purpose.
        for b in make_batches(src, tgt, args.max_tokens, random.Random(args.seed + epoch)):
            inp, mask, dec, lab = collate(src, tgt, b, pad_id)
            logits = model(input_ids=inp, attention_mask=mask, decoder_input_ids=dec).logits
            n_tok = lab.ne(-100).sum().item()
            loss = loss_fn(logits.flatten(0, 1), lab.flatten())
            opt.zero_grad(set_to_none=True)
            (loss / n_tok).backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            step += 1
            for g in opt.param_groups:
                g["lr"] = lr_at(step, args)
            opt.step()
            tok_since_log += n_tok
            loss_since_log += loss.item()
            now = time.time()
            if now - last_log >= 60:
                print(f"{time.strftime('%H:%M:%S', time.gmtime())} epoch {epoch} step {step} "
                      f"lr {lr_at(step, args):.2e} loss/tok {loss_since_log / tok_since_log:.3f} "
                      f"tgt tok/s {tok_since_log / (now - last_log):.0f}", flush=True)
                last_log, tok_since_log, loss_since_log = now, 0, 0.0
            if now >= deadline or step >= args.max_steps:
                done = True
                break
            if now - last_save >= args.save_minutes * 60:
                save()
                last_save = time.time()
        else:
            epoch += 1
    save()
    print("training finished", flush=True)


if __name__ == "__main__":
    main()
