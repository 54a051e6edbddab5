#!/usr/bin/env python3
"""Writes a random-weight Marian model (Hugging Face layout) of any size, for benchmarks and big-tensor tests.

Only numpy is needed: the safetensors file is written by hand. The tokenizer is the shipped en-de
model's (its source.spm/target.spm and vocab.json), with filler pieces added up to --vocab and <pad> as
the last id, the OPUS-MT convention. With --no-eos, </s> gets a final_logits_bias of -30, so every
engine decodes to max_length and does the same work whatever its tokens (random weights give near-ties).

  tools/make_random_model.py OUT_DIR [--d-model 512 --layers 6 --vocab 58101 ...]   # opus-mt-base sized
"""
import argparse
import json
import shutil
import struct
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
SHIPPED = ROOT / "models" / "en-de"


def write_safetensors(path, tensors):
    header, offset = {"__metadata__": {"format": "pt"}}, 0
    for name, array in tensors.items():
        header[name] = {"dtype": "F32", "shape": list(array.shape), "data_offsets": [offset, offset + array.nbytes]}
        offset += array.nbytes
    encoded = json.dumps(header, separators=(",", ":")).encode()
    encoded += b" " * (-len(encoded) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(encoded)) + encoded)
        for array in tensors.values():
            f.write(np.ascontiguousarray(array, dtype="<f4").tobytes())


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out", type=Path)
    parser.add_argument("--d-model", type=int, default=512)
    parser.add_argument("--encoder-layers", type=int, default=6)
    parser.add_argument("--decoder-layers", type=int, default=6)
    parser.add_argument("--heads", type=int, default=8)
    parser.add_argument("--ffn", type=int, default=2048)
    parser.add_argument("--vocab", type=int, default=58101)
    parser.add_argument("--max-positions", type=int, default=512)
    parser.add_argument("--no-eos", action="store_true", help="never choose </s>: outputs run to max_length")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()

    vocab = json.loads((SHIPPED / "vocab.json").read_text(encoding="utf-8"))
    shipped_pad = vocab.pop("<pad>")
    if args.vocab <= shipped_pad:
        parser.error(f"--vocab must exceed the shipped vocabulary ({shipped_pad + 1})")
    vocab.update({f"<fill_{i}>": i for i in range(shipped_pad, args.vocab - 1)})
    pad = args.vocab - 1
    vocab["<pad>"] = pad

    rng = np.random.default_rng(args.seed)
    D, F = args.d_model, args.ffn

    def normal(*shape):
        return rng.standard_normal(shape, dtype=np.float32) * np.float32(0.02)

    tensors = {}

    def linear(name, out, inp):
        tensors[name + ".weight"] = normal(out, inp)
        tensors[name + ".bias"] = normal(out)

    def norm(name):
        tensors[name + ".weight"] = np.ones(D, np.float32)
        tensors[name + ".bias"] = np.zeros(D, np.float32)

    shared = normal(args.vocab, D)
    shared[pad] = 0
    tensors["model.shared.weight"] = shared
    bias = np.zeros((1, args.vocab), np.float32)
    if args.no_eos:
        bias[0, vocab["</s>"]] = -30.0
    tensors["final_logits_bias"] = bias
    for side, layers in (("encoder", args.encoder_layers), ("decoder", args.decoder_layers)):
        for layer in range(layers):
            p = f"model.{side}.layers.{layer}."
            attentions = ["self_attn"] + (["encoder_attn"] if side == "decoder" else [])
            for attention in attentions:
                for proj in ("q_proj", "k_proj", "v_proj", "out_proj"):
                    linear(p + f"{attention}.{proj}", D, D)
                norm(p + f"{attention}_layer_norm")
            linear(p + "fc1", F, D)
            linear(p + "fc2", D, F)
            norm(p + "final_layer_norm")

    config = json.loads((SHIPPED / "config.json").read_text())
    config.update({
        "d_model": D, "encoder_layers": args.encoder_layers, "decoder_layers": args.decoder_layers,
        "num_hidden_layers": args.encoder_layers, "encoder_attention_heads": args.heads,
        "decoder_attention_heads": args.heads, "encoder_ffn_dim": F, "decoder_ffn_dim": F,
        "vocab_size": args.vocab, "decoder_vocab_size": args.vocab, "max_position_embeddings": args.max_positions,
        "max_length": args.max_positions, "pad_token_id": pad, "decoder_start_token_id": pad,
        "bad_words_ids": [[pad]], "torch_dtype": "float32",
    })
    generation = json.loads((SHIPPED / "generation_config.json").read_text())
    generation.update({"pad_token_id": pad, "decoder_start_token_id": pad, "bad_words_ids": [[pad]],
                       "max_length": args.max_positions})

    args.out.mkdir(parents=True, exist_ok=True)
    write_safetensors(args.out / "model.safetensors", tensors)
    (args.out / "config.json").write_text(json.dumps(config, indent=2) + "\n")
    (args.out / "generation_config.json").write_text(json.dumps(generation, indent=2) + "\n")
    (args.out / "vocab.json").write_text(json.dumps(vocab, ensure_ascii=False) + "\n", encoding="utf-8")
    for name in ("source.spm", "target.spm", "tokenizer_config.json", "special_tokens_map.json"):
        shutil.copy(SHIPPED / name, args.out / name)
    params = sum(a.size for a in tensors.values())
    print(f"{args.out}: {params / 1e6:.1f} M parameters, vocab {args.vocab}, d_model {D}, "
          f"{args.encoder_layers}+{args.decoder_layers} layers")


if __name__ == "__main__":
    main()
