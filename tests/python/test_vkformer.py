"""Tests of the Python module (tools/python_check.sh runs them with validation layers on).

The CLI's output is the reference: VKFORMER_CLI names the binary of the same build.
"""
import json
import os
import pathlib
import subprocess
import threading
import time

import pytest

import vkformer

ROOT = pathlib.Path(__file__).resolve().parents[2]
MODEL = ROOT / "models" / "en-de"
LINES = [
    "Could not open file %s",
    "Permission denied",
    "The disk is full, and the file was not saved.",
    "Do you want to delete all selected messages?",
    "Press any key to continue.",
]


def cli(*args, lines=()):
    command = [os.environ["VKFORMER_CLI"], "translate", "--model", str(MODEL), *args, *lines]
    return subprocess.run(command, check=True, capture_output=True, text=True).stdout.splitlines()


@pytest.fixture(scope="module")
def translator():
    return vkformer.Translator(str(MODEL))


@pytest.fixture(autouse=True)
def no_validation_messages(capfd):
    yield
    err = capfd.readouterr().err
    assert "vulkan " not in err, err


def test_devices():
    devices = vkformer.devices()
    assert devices, "no Vulkan device"
    assert [d["index"] for d in devices] == list(range(len(devices)))
    for device in devices:
        assert device["name"] and device["type"] and device["api_version"].count(".") == 2


def test_new_translator_with_device_and_precision():
    name = vkformer.devices()[0]["name"]
    translator = vkformer.Translator(MODEL, device=0, precision="f32")  # a PathLike is a path too
    assert translator.device == name
    assert translator.model_path == str(MODEL)
    assert vkformer.Translator(str(MODEL), device=name[:5]).device == name


@pytest.mark.parametrize("precision, cli_name", [("f16", "f16"), ("int8", "i8")])
def test_precision_equals_cli(precision, cli_name):
    translator = vkformer.Translator(str(MODEL), precision=precision)
    results = translator.translate_batch(LINES[:3], beam_size=1)
    assert [r.hypotheses[0] for r in results] == cli("--precision", cli_name, "--beam", "1", lines=LINES[:3])


def test_cpu_threads_equals_cli():
    translator = vkformer.Translator(str(MODEL), cpu_threads=0)
    results = translator.translate_batch(LINES[:3], beam_size=1, max_batch_size=1)
    assert [r.hypotheses[0] for r in results] == cli("--beam", "1", lines=LINES[:3])
    for bad in (-1, 257):
        with pytest.raises(vkformer.Error, match=f"cpu_threads {bad}: it is 0 to 256"):
            vkformer.Translator(str(MODEL), cpu_threads=bad)
    for bad in (True, 1.0, "0"):
        with pytest.raises(TypeError, match="cpu_threads must be None or an int"):
            vkformer.Translator(str(MODEL), cpu_threads=bad)


@pytest.mark.parametrize("beam", [None, 1])
def test_text_equals_cli(translator, beam):
    results = translator.translate_batch(LINES, beam_size=beam)
    expected = cli(*(["--beam", str(beam)] if beam else []), lines=LINES)
    assert [r.hypotheses for r in results] == [[line] for line in expected]
    assert all(r.scores == [] and r.attention == [] for r in results)


def test_options_equal_cli(translator):
    results = translator.translate_batch(LINES[:3], beam_size=4, num_hypotheses=2, length_penalty=0.5,
                                         max_decoding_length=6, max_batch_size=2, return_scores=True)
    expected = [json.loads(line)["hypotheses"] for line in cli(
        "--beam", "4", "--n-best", "2", "--length-penalty", "0.5", "--max-length", "7", "--batch-size", "2",
        "--json", lines=LINES[:3])]
    assert [r.hypotheses for r in results] == [[h["text"] for h in e] for e in expected]
    assert [r.scores for r in results] == [[pytest.approx(h["score"], rel=1e-6) for h in e] for e in expected]
    for r in results:
        assert len(r.hypotheses) == 2 and r.scores[0] >= r.scores[1]


def test_greedy_scores_and_sampling_equal_cli(translator):
    results = translator.translate_batch(LINES[:3], beam_size=1, return_scores=True)
    expected = [json.loads(line)["hypotheses"][0] for line in cli("--beam", "1", "--json", lines=LINES[:3])]
    assert [r.scores[0] for r in results] == [pytest.approx(h["score"], rel=1e-6) for h in expected]
    sampled = translator.translate_batch(LINES[:3], beam_size=1, sampling_topk=8, sampling_temperature=1.5,
                                         sampling_seed=7)
    again = translator.translate_batch(LINES[:3], beam_size=1, sampling_topk=8, sampling_temperature=1.5,
                                       sampling_seed=7, max_batch_size=1)
    assert [r.hypotheses for r in sampled] == [r.hypotheses for r in again]
    expected = cli("--beam", "1", "--sampling-topk", "8", "--sampling-temperature", "1.5", "--seed", "7",
                   lines=LINES[:3])
    assert [r.hypotheses[0] for r in sampled] == expected


@pytest.mark.parametrize("beam", [1, 4])
def test_repetition_options_equal_cli(translator, beam):
    options = dict(beam_size=beam, repetition_penalty=1.3, no_repeat_ngram_size=2)
    results = translator.translate_batch(LINES[:3], return_scores=True, **options)
    expected = [json.loads(line)["hypotheses"][0] for line in cli(
        "--beam", str(beam), "--repetition-penalty", "1.3", "--no-repeat-ngram-size", "2", "--json", lines=LINES[:3])]
    assert [r.hypotheses[0] for r in results] == [h["text"] for h in expected]
    assert [r.scores[0] for r in results] == [pytest.approx(h["score"], rel=1e-6) for h in expected]
    assert [r.hypotheses for r in translator.translate_batch(LINES[:3], beam_size=beam, repetition_penalty=1.0)] == \
        [r.hypotheses for r in translator.translate_batch(LINES[:3], beam_size=beam)]


def test_tokens_as_ctranslate2_takes_them(translator):
    # CTranslate2's recipe for opus-mt: tokens from the transformers tokenizer (with </s>), back to text.
    transformers = pytest.importorskip("transformers")
    tokenizer = transformers.MarianTokenizer.from_pretrained(str(MODEL))
    source = [tokenizer.convert_ids_to_tokens(tokenizer.encode(line)) for line in LINES]
    assert source[0][-1] == "</s>"
    results = translator.translate_batch(source, beam_size=1)
    hypotheses = [r.hypotheses[0] for r in results]
    assert all(isinstance(h, list) and h and "</s>" not in h for h in hypotheses)
    texts = [tokenizer.decode(tokenizer.convert_tokens_to_ids(h)) for h in hypotheses]
    assert texts == cli("--beam", "1", lines=LINES)
    # A token outside the vocabulary is <unk>, as convert_tokens_to_ids makes it.
    unknown = translator.translate_batch([["▁no-such-piece", "</s>"], ["<unk>", "</s>"]], beam_size=1)
    assert unknown[0].hypotheses == unknown[1].hypotheses


def test_translate_iterable_streams(translator):
    consumed = []

    def lines():
        for line in LINES:
            consumed.append(line)
            yield line

    stream = translator.translate_iterable(lines(), max_batch_size=2, beam_size=1)
    first = next(stream)
    assert consumed == LINES[:2], "the first batch is translated before the rest is read"
    results = [first, *stream]
    assert [r.hypotheses for r in results] == [r.hypotheses for r in translator.translate_batch(LINES, beam_size=1)]
    with pytest.raises(vkformer.Error, match="max_batch_size"):
        next(translator.translate_iterable(LINES, max_batch_size=0))


def test_gil_released_and_threads_serialised(translator):
    expected = [r.hypotheses for r in translator.translate_batch(LINES * 4)]
    outputs = [None, None]

    def run(i):
        outputs[i] = [r.hypotheses for r in translator.translate_batch(LINES * 4)]

    threads = [threading.Thread(target=run, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    ticks = 0
    while any(thread.is_alive() for thread in threads):
        ticks += 1  # runs only while the translating threads do not hold the GIL
        time.sleep(0.001)
    assert outputs == [expected, expected]
    assert ticks > 20


def test_empty_source(translator):
    assert translator.translate_batch([]) == []


def test_bad_text(translator):
    with pytest.raises(vkformer.Error, match=r"^source\[1\]: input is not valid UTF-8$"):
        # What surrogateescape makes of the byte 0xff.
        translator.translate_batch(["fine", b"caf\xff".decode("utf-8", "surrogateescape")])
    with pytest.raises(vkformer.Error, match=r"^source\[0\]: input of \d+ tokens is longer than the model's 256 positions$"):
        translator.translate_batch(["word " * 300])
    with pytest.raises(vkformer.Error, match=r"source\[0\] is an empty token list"):
        translator.translate_batch([[]])
    with pytest.raises(vkformer.Error, match="longer than the model's"):
        translator.translate_batch([["▁a"] * 257])


def test_wrong_types(translator):
    with pytest.raises(TypeError):
        translator.translate_batch("one sentence, not a list")
    with pytest.raises(TypeError, match=r"source\[1\] is int"):
        translator.translate_batch(["a", 1])
    with pytest.raises(TypeError, match="mixes"):
        translator.translate_batch(["a", ["▁a", "</s>"]])
    with pytest.raises(TypeError, match="tokens are str"):
        translator.translate_batch([["▁a", 7]])
    with pytest.raises(TypeError):
        translator.translate_batch(["a"], beam_size="4")
    with pytest.raises(TypeError):
        translator.translate_batch(["a"], 4)  # options are keyword-only
    with pytest.raises(TypeError, match="device must be"):
        vkformer.Translator(str(MODEL), device=1.5)
    with pytest.raises(TypeError):
        vkformer.Translator(42)


def test_attention_equals_cli(translator, tmp_path):
    lines = LINES[:2]
    results = translator.translate_batch(lines, beam_size=2, return_attention=True)
    records = [json.loads(line) for line in cli("--beam", "2", "--json", "--attention", str(tmp_path),
                                                lines=lines)]
    for result, record in zip(results, records):
        (attention,) = result.attention
        expected = record["hypotheses"][0]["attention"]
        assert len(attention) == len(expected) == len(record["hypotheses"][0]["ids"])
        for row, want in zip(attention, expected):
            assert len(row) == len(record["source_ids"])
            assert row == pytest.approx(want, abs=1e-6)
            assert sum(row) == pytest.approx(1.0, abs=1e-5)


def test_attention_of_tokens_has_a_row_per_token(translator):
    tokens = ["▁Permission", "▁denied", "</s>"]
    (result,) = translator.translate_batch([tokens], beam_size=1, return_attention=True)
    (hypothesis,) = result.hypotheses
    (attention,) = result.attention
    assert len(attention) == len(hypothesis)  # as CTranslate2: none for </s>
    assert all(len(row) == len(tokens) for row in attention)


def test_replace_unknowns(translator):
    line = "Press \u2603 to continue"
    (plain,) = translator.translate_batch([line], beam_size=1)
    (kept,) = translator.translate_batch([line], beam_size=1, replace_unknowns=True)
    assert "\u2603" not in plain.hypotheses[0]
    assert kept.hypotheses[0] == cli("--beam", "1", "--replace-unknowns", lines=[line])[0]
    assert "\u2603" in kept.hypotheses[0]


@pytest.mark.parametrize("options, message", [
    (dict(beam_size=0), "beam_size 0: it must be between 1 and 8"),
    (dict(beam_size=9), "beam_size 9"),
    (dict(beam_size=2, num_hypotheses=3), "num_hypotheses 3: it must be between 1 and the beam size 2"),
    (dict(num_hypotheses=0), "num_hypotheses 0"),
    (dict(length_penalty=float("nan")), "length_penalty nan: it must be finite"),
    (dict(max_decoding_length=0), "max_decoding_length 0"),
    (dict(max_batch_size=-1), "max_batch_size -1"),
    (dict(beam_size=4, sampling_topk=4), "sampling"),
    (dict(sampling_topk=0), "sampling_topk 0"),
    (dict(sampling_seed=-1), "sampling_seed -1"),
    (dict(repetition_penalty=0.0), "repetition penalty must be a finite number above 0"),
    (dict(repetition_penalty=float("nan")), "repetition penalty"),
    (dict(no_repeat_ngram_size=-1), "no_repeat_ngram_size -1: it must be between 0"),
])
def test_bad_options(translator, options, message):
    with pytest.raises(vkformer.Error, match=message):
        translator.translate_batch(["a"], **options)


def test_bad_model_and_device(tmp_path):
    with pytest.raises(vkformer.Error, match="no-such-model"):
        vkformer.Translator(str(tmp_path / "no-such-model"))
    (tmp_path / "config.json").write_text("{not json")
    with pytest.raises(vkformer.Error, match="config.json"):
        vkformer.Translator(str(tmp_path))
    with pytest.raises(vkformer.Error, match="precision 'int4': use None, 'f32', 'f16', 'bf16', 'i8' or 'i16'"):
        vkformer.Translator(str(MODEL), precision="int4")
    with pytest.raises(vkformer.Error):
        vkformer.Translator(str(MODEL), device="no such device")
    with pytest.raises(vkformer.Error):
        vkformer.Translator(str(MODEL), device=99)
    assert issubclass(vkformer.Error, RuntimeError)
