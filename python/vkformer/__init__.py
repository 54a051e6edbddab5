"""vkformer: transformer translation models (Marian / opus-mt) on Vulkan devices.

    >>> import vkformer
    >>> translator = vkformer.Translator("models/en-de")
    >>> translator.translate_batch(["Could not open file %s"])[0].hypotheses[0]

The API follows CTranslate2's Translator: translate_batch takes a list of strings (tokenized by the
model, hypotheses come back as strings) or a list of token lists (hypotheses come back as token lists).
"""
from itertools import islice

from . import _vkformer
from ._vkformer import Error, TranslationResult, devices

__all__ = ["Error", "TranslationResult", "Translator", "devices"]
__version__ = "0.1.0"


class Translator(_vkformer.Translator):
    """Translator(model_path, device=None, precision=None, cpu_threads=None): a model directory on a Vulkan device.

    device: None (VKFORMER_DEVICE, else the best device), an index or a name substring (devices()).
    precision: None keeps the weights as the model stores them (f16 matrices of a Marian model stored so, else f32); "f32", "f16",
    "bf16", "i8" or "i16" (or CTranslate2's "float16", "int8", ...) stores the weight matrices so;
    compute stays f32.
    cpu_threads: on a CPU driver (lavapipe), its worker threads; 0 runs each dispatch on the calling thread,
    faster for a small model translating a sentence at a time. None: LP_NUM_THREADS, else one per core.
    One device batch runs at a time: calls from several threads wait for each other, without the GIL.
    """

    def translate_iterable(self, source, max_batch_size=32, **options):
        """Yields a TranslationResult for each item of `source` (any iterable, read as it goes), in
        order, translating max_batch_size items at a time; options are translate_batch's."""
        if not isinstance(max_batch_size, int) or isinstance(max_batch_size, bool) or max_batch_size < 1:
            raise Error(f"max_batch_size {max_batch_size!r}: it must be an int of 1 or more")
        items = iter(source)
        while True:
            batch = list(islice(items, max_batch_size))
            if not batch:
                return
            yield from self.translate_batch(batch, max_batch_size=max_batch_size, **options)
