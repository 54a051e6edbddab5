#!/usr/bin/env python3
"""Writes small random Marian models (Hugging Face layout) into tests/data/<name>/.

Each model: config.json, generation_config.json, model.safetensors, vocab.json (+ target_vocab.json),
source.spm, target.spm, tokenizer_config.json. Everything is seeded and SentencePiece is trained
single-threaded from the built-in text, so re-running gives byte-identical files.
"""
import argparse
import io
import json
import random
from pathlib import Path

import sentencepiece as spm
import torch
from transformers import MarianConfig, MarianMTModel

REPO = Path(__file__).resolve().parents[2]

EN = """The cat sits on the mat and looks out of the window.
I would like a cup of coffee, please.
Where is the train station?
The weather is nice today, so we are going for a walk in the park.
My brother reads a book every week.
Can you help me with my homework?
We have been living in this house for ten years.
The children are playing in the garden behind the school.
Please close the door when you leave the room.
She bought fresh bread and cheese at the market this morning.
How much does this ticket cost?
The meeting starts at nine o'clock tomorrow.
He does not know the answer to the question.
Our teacher speaks three languages fluently.
The old man walks his dog along the river every evening.
I am tired because I worked all night.
Do you want to come to the cinema with us?
The museum is closed on Mondays.
They travelled by bus from Berlin to Munich.
Thank you very much for your kind letter.
The water in the lake is very cold in winter.
What time is it now?
My sister works in a hospital in the city.
We need more time to finish the project.
The red car belongs to my neighbour.
"""

DE = """Die Katze sitzt auf der Matte und schaut aus dem Fenster.
Ich möchte bitte eine Tasse Kaffee.
Wo ist der Bahnhof?
Das Wetter ist heute schön, also gehen wir im Park spazieren.
Mein Bruder liest jede Woche ein Buch.
Kannst du mir bei meinen Hausaufgaben helfen?
Wir wohnen seit zehn Jahren in diesem Haus.
Die Kinder spielen im Garten hinter der Schule.
Bitte schließ die Tür, wenn du das Zimmer verlässt.
Sie hat heute Morgen auf dem Markt frisches Brot und Käse gekauft.
Wie viel kostet diese Fahrkarte?
Die Besprechung beginnt morgen um neun Uhr.
Er weiß die Antwort auf die Frage nicht.
Unsere Lehrerin spricht fließend drei Sprachen.
Der alte Mann geht jeden Abend mit seinem Hund am Fluss entlang.
Ich bin müde, weil ich die ganze Nacht gearbeitet habe.
Willst du mit uns ins Kino kommen?
Das Museum ist montags geschlossen.
Sie sind mit dem Bus von Berlin nach München gefahren.
Vielen Dank für deinen freundlichen Brief.
Das Wasser im See ist im Winter sehr kalt.
Wie spät ist es jetzt?
Meine Schwester arbeitet in einem Krankenhaus in der Stadt.
Wir brauchen mehr Zeit, um das Projekt fertigzustellen.
Das rote Auto gehört meinem Nachbarn.
"""

# name -> what it covers (see README.md). "spm": which SentencePiece models feed source/target.
MODELS = {
    "tiny_swish_shared": dict(
        seed=11, dtype=torch.float32, emb_std=0.5, eos_bias=2.5, spm=("en", "de"), separate_vocabs=False,
        cfg=dict(d_model=32, encoder_attention_heads=4, decoder_attention_heads=4, encoder_layers=2,
                 decoder_layers=2, encoder_ffn_dim=64, decoder_ffn_dim=64, activation_function="swish",
                 scale_embedding=True, tie_word_embeddings=True)),
    "tiny_gelu_separate": dict(
        seed=32, dtype=torch.float16, emb_std=0.5, eos_bias=4.5, spm=("en", "de"), separate_vocabs=True,
        cfg=dict(d_model=32, encoder_attention_heads=4, decoder_attention_heads=4, encoder_layers=2,
                 decoder_layers=2, encoder_ffn_dim=64, decoder_ffn_dim=64, activation_function="gelu",
                 scale_embedding=True, tie_word_embeddings=True)),
    "tiny_relu_odd": dict(
        seed=40, dtype=torch.bfloat16, emb_std=3.0, eos_bias=1.5, spm=("joint", "joint"), separate_vocabs=False,
        cfg=dict(d_model=36, encoder_attention_heads=3, decoder_attention_heads=3, encoder_layers=1,
                 decoder_layers=3, encoder_ffn_dim=52, decoder_ffn_dim=52, activation_function="relu",
                 scale_embedding=False, tie_word_embeddings=False)),
}

# Weight scales, found by trial: large enough for peaked outputs, but q/k and cross-attention kept
# small so that attention mixes and the decoder input (not only the source) drives each step.
W_STD, QK_STD, CROSS_STD, LM_HEAD_STD = 0.35, 0.2, 0.05, 0.5
SPM_VOCAB = {"en": 100, "de": 100, "joint": 140}


def train_spm(lang):
    """Returns the serialized model. Trained from memory so that no temp path ends up in the file."""
    text = {"en": EN, "de": DE, "joint": EN + DE}[lang]
    model = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(text.splitlines()), model_writer=model, vocab_size=SPM_VOCAB[lang],
        character_coverage=1.0, model_type="unigram", num_threads=1,
        normalization_rule_name="identity",  # no NFKC charsmap: keeps each .spm a few KiB
        minloglevel=2)
    return model.getvalue()


def spm_pieces(model_bytes):
    sp = spm.SentencePieceProcessor(model_proto=model_bytes)
    return [sp.id_to_piece(i) for i in range(sp.get_piece_size())
            if not (sp.is_control(i) or sp.is_unknown(i))]


def marian_vocab(pieces, seed):
    """Marian order: </s>=0, <unk>=1, pieces (shuffled, so vocab ids never equal spm ids), <pad> last."""
    pieces = list(pieces)
    random.Random(seed).shuffle(pieces)
    vocab = {"</s>": 0, "<unk>": 1}
    for p in pieces:
        vocab.setdefault(p, len(vocab))
    vocab["<pad>"] = len(vocab)
    return vocab


def randomize(model, spec, pad_id, eos_id):
    """Large random weights so that output distributions are peaked (no near-ties in the goldens)."""
    gen = torch.Generator().manual_seed(spec["seed"])

    def normal(shape, std):
        return torch.randn(shape, generator=gen) * std

    with torch.no_grad():
        for name, p in model.named_parameters():
            if "layer_norm" in name:
                p.copy_(normal(p.shape, 0.1) + (1.0 if name.endswith("weight") else 0.0))
            elif name.endswith("bias"):
                p.copy_(normal(p.shape, 0.1))
            elif "embed_tokens" in name or "shared" in name or "lm_head" in name:
                p.copy_(normal(p.shape, LM_HEAD_STD if "lm_head" in name else spec["emb_std"]))
                p[pad_id].zero_()  # the Marian converter appends an all-zero <pad> row
            elif "q_proj.weight" in name or "k_proj.weight" in name:
                p.copy_(normal(p.shape, QK_STD))
            elif "encoder_attn" in name:
                p.copy_(normal(p.shape, CROSS_STD))
            elif "fc2.weight" in name:
                # Zero-mean rows: relu/gelu outputs share a large positive mean, which would otherwise
                # add the same vector at every step and make the decoder ignore its input.
                w = normal(p.shape, W_STD)
                p.copy_(w - w.mean(dim=1, keepdim=True))
            else:
                p.copy_(normal(p.shape, W_STD))
        bias = normal(model.final_logits_bias.shape, 0.5)
        bias[0, pad_id] = 0.0
        bias[0, eos_id] += spec["eos_bias"]  # makes some hypotheses end before max_length
        model.final_logits_bias.copy_(bias)


def make_model(name, spec, spm_models, out_root):
    out = out_root / name
    out.mkdir(parents=True, exist_ok=True)
    src_lang, tgt_lang = spec["spm"]
    (out / "source.spm").write_bytes(spm_models[src_lang])
    (out / "target.spm").write_bytes(spm_models[tgt_lang])
    if spec["separate_vocabs"]:
        src_vocab = marian_vocab(spm_pieces(spm_models[src_lang]), spec["seed"])
        tgt_vocab = marian_vocab(spm_pieces(spm_models[tgt_lang]), spec["seed"] + 1)
        # transformers' MarianModel builds both embeddings with vocab_size rows (and the converter
        # requires equal sizes), so source and target vocabularies must have the same size.
        assert len(src_vocab) == len(tgt_vocab), (len(src_vocab), len(tgt_vocab))
        (out / "target_vocab.json").write_text(json.dumps(tgt_vocab, ensure_ascii=False, indent=1))
    else:
        pieces = spm_pieces(spm_models[src_lang])
        if tgt_lang != src_lang:
            pieces += spm_pieces(spm_models[tgt_lang])
        src_vocab = marian_vocab(pieces, spec["seed"])
    (out / "vocab.json").write_text(json.dumps(src_vocab, ensure_ascii=False, indent=1))
    (out / "tokenizer_config.json").write_text(json.dumps(
        {"source_lang": "en", "target_lang": "de", "separate_vocabs": spec["separate_vocabs"],
         "model_max_length": 512, "tokenizer_class": "MarianTokenizer"}, indent=1))

    pad_id, eos_id = len(src_vocab) - 1, 0
    # Mirrors what transformers' convert_marian_to_pytorch.py writes for OPUS-MT models.
    config = MarianConfig(
        vocab_size=len(src_vocab), decoder_vocab_size=len(src_vocab),
        share_encoder_decoder_embeddings=not spec["separate_vocabs"],
        max_position_embeddings=128, pad_token_id=pad_id, eos_token_id=eos_id, forced_eos_token_id=eos_id,
        bos_token_id=0, decoder_start_token_id=pad_id, bad_words_ids=[[pad_id]], max_length=512, num_beams=4,
        normalize_before=False, normalize_embedding=False, static_position_embeddings=True,
        dropout=0.1, architectures=["MarianMTModel"], **spec["cfg"])
    model = MarianMTModel(config).eval()
    randomize(model, spec, pad_id, eos_id)
    model.to(spec["dtype"]).save_pretrained(out, safe_serialization=True)
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--out", type=Path, default=REPO / "tests" / "data")
    args = ap.parse_args()
    spm_models = {lang: train_spm(lang) for lang in SPM_VOCAB}
    for name, spec in MODELS.items():
        out = make_model(name, spec, spm_models, args.out)
        size = sum(f.stat().st_size for f in out.iterdir())
        print(f"{name}: {size / 1024:.0f} KiB")


if __name__ == "__main__":
    main()
