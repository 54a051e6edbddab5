#!/usr/bin/env python3
"""Writes the test data of tests/test_package.cpp and tests/test_tokenizer_ct2.cpp into tests/data/packages/.

Run with tools/.venv/bin/python (ctranslate2, sentencepiece, numpy); the output is committed, so the tests
need no Python. It writes:

- translate-en_de-tiny.argosmodel: an Argos Translate package laid out as argos-train makes them (a zip of
  one directory: metadata.json, README.md, sentencepiece.model, stanza/ and model/, a CTranslate2 model
  made with its Python spec API as OpenNMT-py's converter makes Argos models: pre-norm, relu, one shared
  vocabulary <unk> <blank> <s> </s> + pieces, int8, random weights). The SentencePiece model is trained here
  on the shipped model's test set; a few of its pieces are left out of the vocabulary, as a vocabulary built
  from a corpus leaves rare ones out, so that they map to <unk>. target_prefix is "__de__".
  stanza/ holds Stanza's layout (resources.json, en/tokenize/) with placeholder weights: vkformer ignores it.
- translate-en_de-tiny.json: sentences with the ids argostranslate hands CTranslate2 (SentencePiece pieces
  through the vocabulary), and CTranslate2's own translations with argostranslate's options (beam 4,
  length penalty 0.2, the target prefix) as tokens, ids and the text argostranslate makes of them
  (SentencePiece decode_pieces, the prefix and one leading space removed; not 1.11's replacement of every
  "_" by a space, which also breaks its own prefix removal).
- bad/*.argosmodel: small archives for the bad-input table (zip-slip names, a symbolic link, no
  metadata.json, bad JSON, no model/, no sentencepiece.model, an absolute path, a duplicate entry).
- ct2-tiny_swish_shared: tests/data's tiny Marian model converted with CTranslate2's TransformersConverter
  (source.spm and target.spm copied beside), for the Marian kind: its ids must be MarianTokenizer's. Only
  its text files are kept (config.json, shared_vocabulary.json, the spm files): model.bin is not needed.
"""
import json
import shutil
import stat
import sys
import tempfile
import warnings
import zipfile
from pathlib import Path

import ctranslate2
import numpy as np
import sentencepiece as spm
from ctranslate2.specs import common_spec, model_spec, transformer_spec

ROOT = Path(__file__).resolve().parent.parent.parent
OUT = ROOT / "tests" / "data" / "packages"
NAME = "translate-en_de-tiny"
D_MODEL, FFN, HEADS, LAYERS = 32, 64, 4, 2
SPECIALS = ["<unk>", "<blank>", "<s>", "</s>"]
PREFIXES = ["__de__", "__fr__"]
LEFT_OUT = 6  # SentencePiece pieces not in the vocabulary
EOS_BIAS = 1.0  # random weights end sentences after a few tokens, not at 256

SENTENCES = [
    "Hello world.",
    "The file could not be opened.",
    "  Several   spaces  between words  ",
    "Zürich, Köln und Genève: ÄÖÜ äöü ß!",
    "Emoji 🙂 and CJK 漢字 are not in the vocabulary.",
    "x",
    "",
    "Permission denied (errno 13) while writing /tmp/output.txt",
    "Ｆｕｌｌｗｉｄｔｈ and the ﬁ ligature are NFKC-normalized",
]


def train_sentencepiece(work):
    lines = []
    for name in ("test.en", "test.de"):
        lines += (ROOT / "models" / "en-de" / "testset" / name).read_text(encoding="utf-8").splitlines()[:400]
    corpus = work / "corpus.txt"
    corpus.write_text("\n".join(lines) + "\n", encoding="utf-8")
    spm.SentencePieceTrainer.train(input=str(corpus), model_prefix=str(work / "sentencepiece"), vocab_size=300,
                                   model_type="unigram", num_threads=1,
                                   user_defined_symbols=PREFIXES)
    return work / "sentencepiece.model"


def vocabulary(processor):
    pieces = [processor.id_to_piece(i) for i in range(processor.get_piece_size())
              if not processor.is_control(i) and not processor.is_unknown(i)]
    kept = [p for p in pieces if p not in PREFIXES][:-LEFT_OUT]
    return SPECIALS + PREFIXES + kept


def random_spec(tokens, seed):
    rng = np.random.default_rng(seed)
    spec = transformer_spec.TransformerSpec.from_config((LAYERS, LAYERS), HEADS, pre_norm=True,
                                                          activation=common_spec.Activation.RELU)

    def shape(name):
        v = len(tokens)
        if name.endswith("embeddings_0/weight") or name.endswith("embeddings/weight") or name.endswith("projection/weight"):
            return (v, D_MODEL)
        if name.endswith("projection/bias"):
            return (v,)
        if name.endswith("gamma") or name.endswith("beta"):
            return (D_MODEL,)
        if "/self_attention/linear_0/" in name:
            return (3 * D_MODEL, D_MODEL) if name.endswith("weight") else (3 * D_MODEL,)
        if "/attention/linear_1/" in name:  # cross-attention: fused keys and values
            return (2 * D_MODEL, D_MODEL) if name.endswith("weight") else (2 * D_MODEL,)
        if "/ffn/linear_0/" in name:
            return (FFN, D_MODEL) if name.endswith("weight") else (FFN,)
        if "/ffn/linear_1/" in name:
            return (D_MODEL, FFN) if name.endswith("weight") else (D_MODEL,)
        return (D_MODEL, D_MODEL) if name.endswith("weight") else (D_MODEL,)

    def fill(spec_, name, value):
        if value is not None and not (isinstance(value, str) and name.split("/")[-1] == "bias"):
            return
        attribute = name.rpartition("/")[2]
        if name.endswith("gamma"):
            array = 1 + 0.1 * rng.standard_normal(shape(name))
        else:
            array = 0.1 * rng.standard_normal(shape(name))
        setattr(spec_, attribute, array.astype(np.float32))

    model_spec.visit_spec(spec, fill)
    spec.decoder.projection.bias[tokens.index("</s>")] += EOS_BIAS  # sentences of a few tokens, not 256
    spec.register_source_vocabulary(tokens)
    spec.register_target_vocabulary(tokens)
    # What OpenNMT-py's converter writes for an Argos model.
    spec.config.add_source_bos = False
    spec.config.add_source_eos = False
    spec.config.decoder_start_token = "<s>"
    return spec


def write_package(work, processor_path):
    processor = spm.SentencePieceProcessor(model_file=str(processor_path))
    tokens = vocabulary(processor)
    root = work / NAME
    (root / "model").mkdir(parents=True)
    spec = random_spec(tokens, seed=12)
    spec.validate()
    spec.optimize(quantization="int8")
    spec.save(str(root / "model"))
    shutil.copy(processor_path, root / "sentencepiece.model")
    metadata = {"package_version": "1.0", "argos_version": "1.9.0", "from_code": "en", "from_name": "English",
                "to_code": "de", "to_name": "German", "target_prefix": "__de__"}
    (root / "metadata.json").write_text(json.dumps(metadata, indent=4) + "\n")
    (root / "README.md").write_text("# English-German (tiny, random weights)\n\nA test package for vkformer, made by "
                                    "tools/packages/make_test_package.py. It translates nothing.\n")
    stanza = root / "stanza"
    (stanza / "en" / "tokenize").mkdir(parents=True)
    (stanza / "resources.json").write_text(json.dumps({"en": {"lang_name": "English", "default_processors":
                                                              {"tokenize": "combined"}}}) + "\n")
    (stanza / "en" / "tokenize" / "combined.pt").write_bytes(b"placeholder: vkformer does not read Stanza models\n")
    return root, processor, tokens


def zip_directory(root, path):
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for file in sorted(root.rglob("*")):
            archive.write(file, file.relative_to(root.parent))


def goldens(root, processor, tokens):
    ids = {token: i for i, token in enumerate(tokens)}
    unk = ids["<unk>"]
    prefix = json.loads((root / "metadata.json").read_text())["target_prefix"]
    sources = [processor.encode(s, out_type=str) for s in SENTENCES]
    translator = ctranslate2.Translator(str(root / "model"), device="cpu", compute_type="float32")
    nonempty = [s for s in sources if s]
    results = translator.translate_batch(nonempty, target_prefix=[[prefix]] * len(nonempty), replace_unknowns=False,
                                         beam_size=4, num_hypotheses=1, length_penalty=0.2, return_scores=True)
    translations = []
    for source, result in zip(nonempty, results):
        out = result.hypotheses[0]
        text = processor.decode_pieces(out).replace("\u2581", " ")
        if text.startswith(prefix):
            text = text[len(prefix):]
        if text.startswith(" "):
            text = text[1:]
        translations.append({"source_tokens": source, "tokens": out, "ids": [ids.get(t, unk) for t in out],
                             "text": text, "score": result.scores[0]})
    return {
        "sentences": SENTENCES,
        "source_tokens": sources,
        "source_ids": [[ids.get(p, unk) for p in s] for s in sources],
        "target_prefix": prefix,
        "translations_argos_options": translations,
    }


def write_json(path, value):
    """One line per list item: readable diffs without one line per token."""
    lines = []
    for key, item in value.items():
        if isinstance(item, list):
            inner = ",\n  ".join(json.dumps(x, ensure_ascii=False) for x in item)
            lines.append(f"{json.dumps(key)}: [\n  {inner}\n ]")
        else:
            lines.append(f"{json.dumps(key)}: {json.dumps(item, ensure_ascii=False)}")
    path.write_text("{\n " + ",\n ".join(lines) + "\n}\n", encoding="utf-8")


def bad_archives(root, bad):
    bad.mkdir()
    metadata = (root / "metadata.json").read_bytes()

    def archive(name, entries):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # zipfile warns about the duplicate name
            with zipfile.ZipFile(bad / f"{name}.argosmodel", "w") as z:
                for entry, data in entries:
                    z.writestr(entry, data)

    def minimal(top="p/"):
        return [(top + "metadata.json", metadata), (top + "sentencepiece.model", b"x"), (top + "model/model.bin", b"x")]

    archive("zip-slip", minimal() + [("p/../../escaped.txt", b"outside")])
    archive("absolute", minimal() + [("/tmp/vkformer-absolute.txt", b"outside")])
    link = zipfile.ZipInfo("p/model/link")
    link.create_system = 3
    link.external_attr = (stat.S_IFLNK | 0o777) << 16
    archive("symlink", minimal() + [(link, "/etc/passwd")])
    archive("no-metadata", minimal()[1:])
    archive("bad-json", [("p/metadata.json", b'{"from_code": "en", "to_code": '), *minimal()[1:]])
    archive("no-model", minimal()[:2])
    archive("no-sentencepiece", [minimal()[0], minimal()[2]])
    archive("duplicate", minimal() + [("p/metadata.json", b"{}")])


def convert_marian(model):
    out = OUT / f"ct2-{model}"
    if out.exists():
        shutil.rmtree(out)
    source = ROOT / "tests" / "data" / model
    converter = ctranslate2.converters.TransformersConverter(str(source), copy_files=["source.spm", "target.spm"])
    converter.convert(str(out), quantization="int8")
    (out / "model.bin").unlink()  # the tokenizer tests need its text files only


def main():
    if OUT.exists():
        shutil.rmtree(OUT)
    OUT.mkdir(parents=True)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        root, processor, tokens = write_package(work, train_sentencepiece(work))
        zip_directory(root, OUT / f"{NAME}.argosmodel")
        write_json(OUT / f"{NAME}.json", goldens(root, processor, tokens))
        bad_archives(root, OUT / "bad")
    convert_marian("tiny_swish_shared")
    for path in sorted(OUT.rglob("*")):
        if path.is_file():
            print(f"{path.stat().st_size:8d} {path.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
