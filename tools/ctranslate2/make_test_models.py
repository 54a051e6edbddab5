"""Tiny CTranslate2 models with random weights, and CTranslate2's own translations of them as goldens.

Run with tools/.venv/bin/python (ctranslate2 4.3.1). Writes tests/data/ctranslate2/<variant>/ (model.bin,
config.json, vocabularies) and tests/data/ctranslate2/goldens.json: for each variant and input, the greedy
and beam-4 outputs of ctranslate2.Translator.translate_batch (compute_type float32, min_decoding_length 0)
with their scores. Inputs whose decoding passes through a near-tie (top-2 log-probabilities closer than
MIN_GAP at some greedy step) are not used: f32 rounding order could flip them in any other engine.

Older binary versions (1-5) are written by write_legacy() from a v6 model's variables, in the layouts
CTranslate2 still reads (see src/model/ctranslate2_model.cpp); CTranslate2 itself makes their goldens.
"""

import json
import pathlib
import shutil
import struct
import sys

import numpy as np
import ctranslate2
from ctranslate2.specs import common_spec, transformer_spec

ROOT = pathlib.Path(__file__).resolve().parents[2]
OUT = ROOT / "tests" / "data" / "ctranslate2"
MIN_GAP = 2e-3
MAX_DECODING = 24
INPUT_COUNT = 4


def vocabulary(size, prefix):
    return ["<unk>", "<s>", "</s>"] + [f"{prefix}{i}" for i in range(size - 3)]


def linear(rng, out, inp, bias=True, scale=None):
    scale = scale if scale is not None else 1.0 / np.sqrt(inp)
    w = (rng.standard_normal((out, inp)) * scale).astype(np.float32)
    b = (rng.standard_normal(out) * 0.1).astype(np.float32) if bias else None
    return w, b


def set_linear(spec, rng, out, inp, bias=True):
    spec.weight, b = linear(rng, out, inp, bias)
    if b is not None:
        spec.bias = b


def set_norm(spec, rng, d):
    spec.gamma = (1.0 + 0.2 * rng.standard_normal(d)).astype(np.float32)
    spec.beta = (0.1 * rng.standard_normal(d)).astype(np.float32)


def build(name, seed, d=16, ffn=32, layers=2, heads=4, pre_norm=False, activation=common_spec.Activation.RELU,
          shared=True, src_vocab=48, tgt_vocab=48, output_bias=True, stored_positions=False, zero_start=False,
          scale_embeddings=True, tied_output=False, epsilon=None):
    rng = np.random.default_rng(seed)
    spec = transformer_spec.TransformerSpec.from_config(layers, heads, pre_norm=pre_norm, activation=activation)
    enc, dec = spec.encoder, spec.decoder
    if not shared:
        assert src_vocab != tgt_vocab or True
    else:
        tgt_vocab = src_vocab
    src_emb = rng.standard_normal((src_vocab, d)).astype(np.float32) * 0.5
    enc.embeddings[0].weight = src_emb
    dec.embeddings.weight = src_emb if shared else rng.standard_normal((tgt_vocab, d)).astype(np.float32) * 0.5
    if not isinstance(scale_embeddings, bool) or not scale_embeddings:
        enc.scale_embeddings = scale_embeddings
        dec.scale_embeddings = scale_embeddings
    if stored_positions:
        enc.position_encodings.encodings = (rng.standard_normal((64, d)) * 0.3).astype(np.float32)
        dec.position_encodings.encodings = (rng.standard_normal((64, d)) * 0.3).astype(np.float32)
    for layer in enc.layer:
        set_linear(layer.self_attention.linear[0], rng, 3 * d, d)
        set_linear(layer.self_attention.linear[1], rng, d, d)
        set_norm(layer.self_attention.layer_norm, rng, d)
        set_linear(layer.ffn.linear_0, rng, ffn, d)
        set_linear(layer.ffn.linear_1, rng, d, ffn)
        set_norm(layer.ffn.layer_norm, rng, d)
    for layer in dec.layer:
        set_linear(layer.self_attention.linear[0], rng, 3 * d, d)
        set_linear(layer.self_attention.linear[1], rng, d, d)
        set_norm(layer.self_attention.layer_norm, rng, d)
        set_linear(layer.attention.linear[0], rng, d, d)
        set_linear(layer.attention.linear[1], rng, 2 * d, d)
        set_linear(layer.attention.linear[2], rng, d, d)
        set_norm(layer.attention.layer_norm, rng, d)
        set_linear(layer.ffn.linear_0, rng, ffn, d)
        set_linear(layer.ffn.linear_1, rng, d, ffn)
        set_norm(layer.ffn.layer_norm, rng, d)
    if pre_norm:
        set_norm(enc.layer_norm, rng, d)
        set_norm(dec.layer_norm, rng, d)
    if tied_output:
        dec.projection.weight = dec.embeddings.weight
    else:
        dec.projection.weight = (rng.standard_normal((tgt_vocab, d)) / np.sqrt(d) * 2).astype(np.float32)
    if output_bias:
        bias = (rng.standard_normal(tgt_vocab) * 0.3).astype(np.float32)
        bias[2] += 1.5  # </s> often enough that outputs end before MAX_DECODING
        dec.projection.bias = bias
    dec.start_from_zero_embedding = zero_start
    source_tokens = vocabulary(src_vocab, "s")
    target_tokens = source_tokens if shared else vocabulary(tgt_vocab, "t")
    spec.register_source_vocabulary(source_tokens)
    spec.register_target_vocabulary(target_tokens)
    if epsilon is not None:
        spec.config.layer_norm_epsilon = epsilon
    return spec, source_tokens


VARIANTS = [
    # name, quantization, build arguments
    ("post_relu_shared", "float32", dict(seed=1)),
    ("pre_gelu_separate", "float32", dict(seed=2, pre_norm=True, activation=common_spec.Activation.GELU,
                                           shared=False, src_vocab=52, tgt_vocab=44, epsilon=1e-6)),
    ("pre_swish_stored_positions", "float32", dict(seed=3, pre_norm=True, activation=common_spec.Activation.SWISH,
                                                    stored_positions=True, output_bias=False)),
    ("post_zero_start_tied", "float32", dict(seed=4, zero_start=True, tied_output=True, scale_embeddings=False)),
    ("post_scale_value_separate_embeddings", "float32", dict(seed=5, shared=False, src_vocab=40, tgt_vocab=40,
                                                              scale_embeddings=3.0)),
    ("pre_relu_float16", "float16", dict(seed=6, pre_norm=True)),
    ("pre_relu_bfloat16", "bfloat16", dict(seed=6, pre_norm=True)),
    ("post_gelu_int8", "int8", dict(seed=7, activation=common_spec.Activation.GELU)),
    ("post_gelu_int16", "int16", dict(seed=7, activation=common_spec.Activation.GELU)),
    ("pre_swish_int8_separate", "int8", dict(seed=8, pre_norm=True, activation=common_spec.Activation.SWISH,
                                              shared=False, src_vocab=46, tgt_vocab=50)),
    # post_gelu_int8 before quantization: vkformer's int8 quantization on load must give its outputs.
    ("post_gelu_float32", "float32", dict(seed=7, activation=common_spec.Activation.GELU)),
]


def near_tie(translator, source, hypothesis):
    """The smallest top-2 gap of log-probabilities along the greedy path (its tokens plus the end)."""
    smallest = float("inf")
    for t in range(len(hypothesis) + 1):
        result = translator.translate_batch([source], target_prefix=[hypothesis[:t]], beam_size=2, num_hypotheses=2,
                                            return_alternatives=True, return_scores=True, min_decoding_length=0,
                                            length_penalty=0,
                                            max_decoding_length=t + 1)
        scores = result[0].scores
        if len(scores) == 2:
            smallest = min(smallest, abs(scores[0] - scores[1]))
    return smallest


def goldens_for(directory, source_vocab, rng):
    translator = ctranslate2.Translator(str(directory), device="cpu", compute_type="float32")
    cases = []
    tries = 0
    while len(cases) < INPUT_COUNT and tries < 200:
        tries += 1
        length = int(rng.integers(3, 11))
        source = [source_vocab[int(i)] for i in rng.integers(3, len(source_vocab), size=length)]
        greedy = translator.translate_batch([source], beam_size=1, return_scores=True, min_decoding_length=0,
                                            max_decoding_length=MAX_DECODING)[0]
        if near_tie(translator, source, greedy.hypotheses[0]) < MIN_GAP:
            continue
        beam = translator.translate_batch([source], beam_size=4, num_hypotheses=1, return_scores=True,
                                          min_decoding_length=0, max_decoding_length=MAX_DECODING)[0]
        # The beam's best path must not pass through a near-tie either.
        if near_tie(translator, source, beam.hypotheses[0]) < MIN_GAP:
            continue
        cases.append({"source": source, "greedy": greedy.hypotheses[0], "greedy_score": greedy.scores[0],
                      "beam": beam.hypotheses[0], "beam_score": beam.scores[0]})
    if len(cases) < INPUT_COUNT:
        sys.exit(f"{directory.name}: only {len(cases)} inputs without near-ties")
    return cases


# The binary layouts before version 6 (CTranslate2's model.cc reads them all): v1 no spec name or
# aliases and OpenNMT-tf names (spec revision 1); v2 the spec name and revision; v3 aliases; v4 dtype ids.
def read_v6(path):
    data = path.read_bytes()
    pos = 0

    def take(fmt):
        nonlocal pos
        value = struct.unpack_from(fmt, data, pos)
        pos += struct.calcsize(fmt)
        return value[0]

    def string():
        nonlocal pos
        n = take("<H")
        s = data[pos:pos + n - 1].decode()
        pos += n
        return s

    assert take("<I") == 6
    spec, revision = string(), take("<I")
    variables = []
    for _ in range(take("<I")):
        name = string()
        shape = [take("<I") for _ in range(take("<B"))]
        dtype, size = take("<B"), take("<I")
        variables.append((name, shape, dtype, data[pos:pos + size]))
        pos += size
    aliases = [(string(), string()) for _ in range(take("<I"))]
    return spec, revision, variables, aliases


# OpenNMT-tf names of spec revision 1, the inverse of CTranslate2's renaming on load.
def v1_name(name):
    stack = name.split("/")[0]
    name = name.replace("embeddings/weight", "w_embs")
    name = name.replace("weight", "kernel")
    name = name.replace("layer_norm", "LayerNorm")
    name = name.replace("projection", "dense")
    if stack == "encoder":
        name = name.replace("self_attention", "multi_head")
    else:
        name = name.replace("self_attention", "masked_multi_head").replace("/attention/", "/multi_head/")
    name = name.replace("linear_0", "conv1d").replace("linear_", "conv1d_")
    return "transformer/" + name + ":0"


def write_legacy(source_dir, target_dir, version):
    spec, revision, variables, aliases = read_v6(source_dir / "model.bin")
    if target_dir.exists():
        shutil.rmtree(target_dir)
    target_dir.mkdir(parents=True)
    for f in source_dir.iterdir():
        if f.name.endswith("vocabulary.json"):
            # Old models had .txt vocabularies.
            tokens = json.loads(f.read_text())
            (target_dir / f.name.replace(".json", ".txt")).write_text("".join(t + "\n" for t in tokens))
    settings = {}
    if version < 6:
        # No config.json: settings and flags are scalar variables, aliases become copies before v3.
        config = json.loads((source_dir / "config.json").read_text())
        settings["with_source_bos"] = config["add_source_bos"]
        settings["with_source_eos"] = config["add_source_eos"]
    by_name = {name: (shape, dtype, raw) for name, shape, dtype, raw in variables}
    if version < 3:
        for alias, target in aliases:
            by_name[alias] = by_name[target]
            if target + "_scale" in by_name:
                by_name[alias + "_scale"] = by_name[target + "_scale"]
        aliases = []
    out = bytearray()

    def string(s):
        b = s.encode()
        out.extend(struct.pack("<H", len(b) + 1) + b + b"\0")

    out.extend(struct.pack("<I", version))
    spec_revision = revision
    if version >= 2:
        string(spec)
        out.extend(struct.pack("<I", revision))
    else:
        spec_revision = 1
    items = sorted(by_name.items())
    for key, value in settings.items():
        items.append((key, ([], 1, struct.pack("<b", int(value)))))
    out.extend(struct.pack("<I", len(items)))
    item_sizes = {0: 4, 1: 1, 2: 2, 3: 4, 4: 2, 5: 2}
    for name, (shape, dtype, raw) in items:
        string(v1_name(name) if spec_revision == 1 and "/" in name else name)
        out.extend(struct.pack("<B", len(shape)))
        for d in shape:
            out.extend(struct.pack("<I", d))
        if version >= 4:
            out.extend(struct.pack("<BI", dtype, len(raw)))
        else:
            assert dtype in (0, 1, 2), "before v4 the dtype is inferred from the item size"
            size = item_sizes[dtype]
            out.extend(struct.pack("<BI", size, len(raw) // size))
        out.extend(raw)
    if version >= 3:
        out.extend(struct.pack("<I", len(aliases)))
        for alias, target in aliases:
            string(alias)
            string(target)
    (target_dir / "model.bin").write_bytes(bytes(out))


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    goldens = {}
    rng = np.random.default_rng(1234)
    for name, quantization, arguments in VARIANTS:
        spec, source_vocab = build(name, **arguments)
        spec.validate()
        spec.optimize(quantization=quantization)
        directory = OUT / name
        if directory.exists():
            shutil.rmtree(directory)
        directory.mkdir()
        spec.save(str(directory))
        goldens[name] = goldens_for(directory, source_vocab, rng)
        print(name, quantization, sum(f.stat().st_size for f in directory.iterdir()), "bytes")
    # Legacy layouts of a float32 and an int16/int8 model (before v4, 2-byte items were int16).
    for version, base in [(1, "post_relu_shared"), (2, "post_relu_shared"), (3, "post_gelu_int16"),
                          (4, "post_gelu_int8"), (5, "pre_gelu_separate")]:
        name = f"v{version}_{base}"
        directory = OUT / name
        write_legacy(OUT / base, directory, version)
        source_vocab = (directory / ("shared_vocabulary.txt" if (directory / "shared_vocabulary.txt").exists()
                                     else "source_vocabulary.txt")).read_text().splitlines()
        goldens[name] = goldens_for(directory, source_vocab, rng)
        print(name, (directory / "model.bin").stat().st_size, "bytes")
    (OUT / "goldens.json").write_text(json.dumps(goldens, indent=1) + "\n")


if __name__ == "__main__":
    main()
