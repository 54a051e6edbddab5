"""The tiny Marian test model (tests/data/tiny_swish_shared) converted by CTranslate2's own Transformers
converter (what `ct2-transformers-converter --quantization Q` does) at float32, float16, bfloat16, int8 and
int16, into tests/data/ctranslate2/converted_<Q>/, with CTranslate2's translations of each as goldens
(tests/data/ctranslate2/goldens_converted.json, same format and near-tie filter as make_test_models.py).

    tools/.venv/bin/python tools/ctranslate2/make_converted_models.py
"""

import json
import shutil

import numpy as np
from ctranslate2.converters import TransformersConverter

from make_test_models import OUT, ROOT, goldens_for

QUANTIZATIONS = ["float32", "float16", "bfloat16", "int8", "int16"]


def main():
    goldens = {}
    rng = np.random.default_rng(4321)
    for quantization in QUANTIZATIONS:
        directory = OUT / f"converted_{quantization}"
        if directory.exists():
            shutil.rmtree(directory)
        TransformersConverter(str(ROOT / "tests" / "data" / "tiny_swish_shared")).convert(
            str(directory), quantization=quantization)
        # The model's SentencePiece files are not needed: the test translates tokens.
        vocabulary = json.loads((directory / "shared_vocabulary.json").read_text())
        goldens[directory.name] = goldens_for(directory, vocabulary, rng)
        print(directory.name, sum(f.stat().st_size for f in directory.iterdir()), "bytes")
    (OUT / "goldens_converted.json").write_text(json.dumps(goldens, indent=1) + "\n")


if __name__ == "__main__":
    main()
