#!/usr/bin/env python3
"""Build the EN->DE parallel corpus from German gettext catalogs (.mo) of Debian packages.

Input: packages.txt (SPLIT PACKAGE per line) and a directory holding, per package, the
package's usr/share/locale/de/LC_MESSAGES/*.mo files (MO_DIR/PACKAGE/*.mo, see build_corpus.sh).
Output: OUT_DIR/{train,dev,test}.{en,de} (one segment per line) and OUT_DIR/stats.tsv.

Filtering rules (why: the model translates short UI/CLI messages):
  * msgctxt is ignored (only the text is translated); plural entries give two pairs
    (msgid->msgstr[0], msgid_plural->msgstr[1]; German has nplurals=2).
  * untranslated, empty, header and "translator-credits" entries are dropped.
  * whitespace is collapsed to single spaces; entries with a blank line (multi-paragraph help)
    or more than 2 line breaks, and entries longer than MAX_CHARS, are dropped.
  * a single GTK/Qt mnemonic marker (_File, &File) is removed from both sides.
  * entries without letters (format-only like "%s: %s") are dropped, as are pairs whose
    printf/brace placeholder counts differ (broken or reordered-beyond-recognition translations).
  * identical EN/DE pairs longer than 3 words are dropped (untranslated copies).
  * exact duplicate pairs are dropped; training pairs whose English also occurs in dev/test
    are dropped so that the held-out catalogs are really unseen.
  * name lists (iso-codes, freeciv nation names) are capped at NAME_LIST_CAP training pairs.
"""
import argparse
import collections
import random
import re
from pathlib import Path

import polib

MAX_CHARS = 200
NAME_LIST_CAP = 3000
NAME_LIST_PACKAGES = {"iso-codes"}
NAME_LIST_CATALOGS = {"freeciv-nations.mo"}

PRINTF = re.compile(r"%(?:\d+\$)?[-+ #0']*(?:\d+|\*)?(?:\.(?:\d+|\*))?(?:hh|h|ll|l|L|q|j|z|t)?[diouxXeEfFgGcspaA]")
BRACE = re.compile(r"\{[A-Za-z0-9_]*\}")
MNEMONIC_US = re.compile(r"(?<![_\w])_(?=[^\W_])|(?<=[^\W\d_])_(?=[^\W\d_])")
MNEMONIC_AMP = re.compile(r"(?<!&)&(?=[^\W_])(?![a-zA-Z]+;|#\d+;)")
LETTER = re.compile(r"[^\W\d_]")


def read_packages(path):
    splits = collections.defaultdict(list)
    for line in Path(path).read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            split, pkg = line.split()
            splits[split].append(pkg)
    return splits


def catalog_pairs(mo_path):
    """Yield raw (english, german) pairs of one .mo file, singular and plural forms."""
    for e in polib.mofile(str(mo_path)):
        if not e.msgid:
            continue
        if e.msgid_plural:
            forms = e.msgstr_plural
            yield e.msgid, forms.get(0, "")
            yield e.msgid_plural, forms.get(1, "")
        else:
            yield e.msgid, e.msgstr


def strip_mnemonic(text, pattern):
    return pattern.sub("", text, count=1) if len(pattern.findall(text)) == 1 else text


def clean(src, tgt):
    """Return the normalised pair, or None if it should be dropped."""
    if not tgt or src in ("translator-credits", "translator_credits"):
        return None
    for s in (src, tgt):
        if "\n\n" in s or s.count("\n") > 2:
            return None
    src, tgt = " ".join(src.split()), " ".join(tgt.split())
    for pattern in (MNEMONIC_US, MNEMONIC_AMP):
        if len(pattern.findall(src)) == 1:
            src, tgt = strip_mnemonic(src, pattern), strip_mnemonic(tgt, pattern)
    if not src or not tgt or len(src) > MAX_CHARS or len(tgt) > MAX_CHARS * 1.5:
        return None
    if not LETTER.search(PRINTF.sub("", src)):
        return None
    for pattern in (PRINTF, BRACE):
        if len(pattern.findall(src)) != len(pattern.findall(tgt)):
            return None
    if src == tgt and len(src.split()) > 3:
        return None
    return src, tgt


def package_pairs(mo_dir, pkg):
    """Cleaned, deduplicated pairs of one package: {catalog file name: [pairs]}."""
    out = {}
    for mo in sorted((Path(mo_dir) / pkg).glob("*.mo")):
        pairs = (clean(s, t) for s, t in catalog_pairs(mo))
        out[mo.name] = list(dict.fromkeys(p for p in pairs if p))
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--packages", default=Path(__file__).with_name("packages.txt"))
    ap.add_argument("--mo-dir", required=True)
    ap.add_argument("--out-dir", required=True)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    rng = random.Random(args.seed)
    splits = read_packages(args.packages)
    out_dir = Path(args.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)

    stats = []
    data = {}
    seen_src = set()  # English of the held-out splits, filled test first
    for split in ("test", "dev", "train"):
        pairs, names = [], []
        for pkg in splits[split]:
            for cat, cat_pairs in package_pairs(args.mo_dir, pkg).items():
                kept = [p for p in cat_pairs if p[0] not in seen_src]
                if pkg in NAME_LIST_PACKAGES or cat in NAME_LIST_CATALOGS:
                    if split == "test":
                        continue  # name lists are kept out of the test set
                    names.extend(kept)
                    kept = []
                stats.append((split, pkg, cat, len(cat_pairs), len(kept)))
                pairs.extend(kept)
        if names:
            names = list(dict.fromkeys(names))
            rng.shuffle(names)
            stats.append((split, "name-lists", "(capped)", len(names), min(len(names), NAME_LIST_CAP)))
            pairs.extend(names[:NAME_LIST_CAP])
        pairs = list(dict.fromkeys(pairs))
        if split == "train":
            rng.shuffle(pairs)
        else:
            seen_src.update(s for s, _ in pairs)
        data[split] = pairs

    for split, pairs in data.items():
        for side, lang in ((0, "en"), (1, "de")):
            (out_dir / f"{split}.{lang}").write_text("".join(p[side] + "\n" for p in pairs))
        print(f"{split}: {len(pairs)} pairs")
    with open(out_dir / "stats.tsv", "w") as f:
        f.write("split\tpackage\tcatalog\tclean_pairs\tkept_pairs\n")
        for row in stats:
            f.write("\t".join(map(str, row)) + "\n")


if __name__ == "__main__":
    main()
