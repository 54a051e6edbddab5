#!/usr/bin/env python3
"""Train the joint SentencePiece model, write the Marian tokenizer files and pre-encode the corpus.

Marian id convention (what transformers.MarianTokenizer expects): vocab.json maps piece -> id with
"</s>" = 0, "<unk>" = 1, the SentencePiece pieces after them in SentencePiece order, and "<pad>" as
the last id. The SentencePiece model is trained with eos_id=0, unk_id=1 and no bos/pad, so its own ids
equal the vocab.json ids and the corpus can be encoded with SentencePiece directly.
"""
import argparse
import json
from pathlib import Path

import sentencepiece as spm
import torch
from transformers import MarianTokenizer


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--corpus", required=True, help="directory with {train,dev,test}.{en,de}")
    ap.add_argument("--tok-dir", required=True, help="where the tokenizer files are written")
    ap.add_argument("--out", required=True, help="encoded corpus (.pt)")
    ap.add_argument("--vocab-size", type=int, default=8000, help="including <pad>")
    args = ap.parse_args()
    corpus, tok_dir = Path(args.corpus), Path(args.tok_dir)
    tok_dir.mkdir(parents=True, exist_ok=True)

    prefix = tok_dir / "spm"
    spm.SentencePieceTrainer.train(
        input=[str(corpus / "train.en"), str(corpus / "train.de")],
        model_prefix=str(prefix), model_type="unigram", vocab_size=args.vocab_size - 1,
        eos_id=0, unk_id=1, bos_id=-1, pad_id=-1, eos_piece="</s>", unk_piece="<unk>",
        character_coverage=0.9999, input_sentence_size=2_000_000, shuffle_input_sentence=True,
        num_threads=2, minloglevel=2)
    sp = spm.SentencePieceProcessor(model_file=f"{prefix}.model")
    vocab = {sp.id_to_piece(i): i for i in range(sp.get_piece_size())}
    vocab["<pad>"] = len(vocab)
    vocab_file = tok_dir / "vocab.json"
    vocab_file.write_text(json.dumps(vocab, ensure_ascii=False, indent=0))
    tok = MarianTokenizer(source_spm=f"{prefix}.model", target_spm=f"{prefix}.model", vocab=str(vocab_file),
                          source_lang="en", target_lang="de", model_max_length=512)
    tok.save_pretrained(str(tok_dir))
    for f in ("spm.model", "spm.vocab"):
        (tok_dir / f).unlink()

    data = {}
    for split in ("train", "dev", "test"):
        en = (corpus / f"{split}.en").read_text().splitlines()
        de = (corpus / f"{split}.de").read_text().splitlines()
        data[split] = (sp.encode(en), sp.encode(de))
    # The tokenizer must reproduce the pre-encoded ids exactly (+ </s>).
    for line in en[:200]:
        assert tok(line)["input_ids"] == sp.encode(line) + [0], line
    torch.save({"vocab_size": len(vocab), "pad_id": vocab["<pad>"], "data": data}, args.out)
    n_tok = sum(map(len, data["train"][1]))
    print(f"vocab {len(vocab)}; train target tokens {n_tok} ({n_tok / len(data['train'][1]):.1f}/segment)")


if __name__ == "__main__":
    main()
