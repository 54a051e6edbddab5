#!/usr/bin/env python3
"""What the Debian copyright file of each corpus package says about the licence of its German catalog.

Reads models/en-de/MANIFEST.txt and the .deb files build_corpus.sh downloaded (DATA_DIR/debs), and prints
one tab-separated line per package: split, package, version, the gettext domains of its German .mo files,
and the licence of the catalog's source file po/de.po according to the package's
usr/share/doc/*/copyright: in a machine-readable (DEP-5) file, the License of the last Files stanza that
matches po/de.po, with that stanza's patterns, plus any stanza naming another German catalog
(.../de.po); for a free-form file, "free-form", to be read by hand. models/en-de/catalog_licenses.tsv
is this output with the free-form files read and the package-wide stanzas annotated.

Usage: tools/corpus/catalog_licenses.py [DATA_DIR]   (default /work/data)
"""
import re
import subprocess
import sys
import tarfile
from io import BytesIO
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
MANIFEST = REPO / "models/en-de/MANIFEST.txt"


def deb_members(deb: Path):
    """The files under usr/share/doc (contents, or a link's target) and the domains of the German .mo files."""
    data = subprocess.run(["dpkg-deb", "--fsys-tarfile", str(deb)], check=True, capture_output=True).stdout
    docs, domains = {}, []
    with tarfile.open(fileobj=BytesIO(data)) as tar:
        for member in tar:
            name = member.name.removeprefix("./")
            if name.startswith("usr/share/doc/") and member.issym():
                docs[name] = member.linkname
            elif name.startswith("usr/share/doc/") and member.isfile():
                docs[name] = tar.extractfile(member).read()
            elif re.fullmatch(r"usr/share/locale/de/LC_MESSAGES/[^/]+\.mo", name):
                domains.append(Path(name).stem)
    return docs, sorted(domains)


def stanzas(text: str):
    """The paragraphs of a DEP-5 file as dicts of lower-case field names to values."""
    result = []
    for paragraph in re.split(r"\n[ \t]*\n", text):
        fields, key = {}, None
        for line in paragraph.split("\n"):
            if not line.strip() or line.startswith("#"):
                continue
            if line[0] in " \t" and key:
                fields[key] += "\n" + line.strip()
            elif ":" in line:
                key, value = line.split(":", 1)
                key = key.strip().lower()
                fields[key] = value.strip()
        if fields:
            result.append(fields)
    return result


def matches(pattern: str, path: str) -> bool:
    """DEP-5 Files patterns: * is any run of characters (slashes too), ? one character."""
    regex = re.escape(pattern.removeprefix("./")).replace(r"\*", ".*").replace(r"\?", ".")
    return re.fullmatch(regex, path) is not None


def verdict(copyright_text: str) -> str:
    first = copyright_text.split("\n", 1)[0]
    if "copyright-format" not in first and "CopyrightFormat" not in copyright_text[:300]:
        return "free-form"
    found = None
    others = []
    for stanza in stanzas(copyright_text):
        patterns = stanza.get("files", "").split()
        licence = stanza.get("license", "?").split("\n")[0]
        if any(matches(p, "po/de.po") for p in patterns):
            found = f"{licence} [Files: {' '.join(patterns[:3])}{' ...' if len(patterns) > 3 else ''}]"
        others += [f"{p}: {licence}" for p in patterns if p.endswith("/de.po") and p != "po/de.po"]
    return "; ".join(([found] if found else ["no stanza matches po/de.po"]) + others)


def main() -> None:
    data = Path(sys.argv[1] if len(sys.argv) > 1 else "/work/data")
    for line in MANIFEST.read_text().splitlines():
        if line.startswith("#") or not line.strip():
            continue
        package, version, _sha256, split = line.split()
        debs = sorted((data / "debs").glob(f"{package}_*.deb"))
        if not debs:
            sys.exit(f"catalog_licenses: no {package}_*.deb in {data / 'debs'} (run tools/corpus/build_corpus.sh)")
        docs, domains = deb_members(debs[-1])
        copyright_files = [name for name in docs if re.fullmatch(r"usr/share/doc/[^/]+/copyright", name)]
        if copyright_files and isinstance(docs[copyright_files[0]], bytes):
            text = docs[copyright_files[0]].decode("utf-8", "replace")
            result = verdict(text)
        else:
            links = [f"{name} -> {target}" for name, target in docs.items() if isinstance(target, str)]
            result = "no copyright file: " + (", ".join(links) or "none")
        print("\t".join([split, package, version, " ".join(domains), result]))


if __name__ == "__main__":
    main()
