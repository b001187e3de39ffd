"""Text corpora: the embedded default corpus and any UTF-8 file.

The default corpus needs no download and no file from outside the Python installation: it is the
concatenation of a fixed list of the standard library's own pure-Python sources (``STDLIB_FILES``, sorted,
about 1 MB), read at run time from ``sysconfig.get_paths()['stdlib']``. Each file is preceded by a
``# ==== <path> ====`` header line. The text is therefore identical on every machine with the same Python
minor version (modulo a distribution patching one of these modules, which is why modules commonly patched
by distributions -- site, sysconfig, platform -- are not in the list). Modules that a Python version moved
into a package (``x.py`` -> ``x/__init__.py``) are found in either place; a module missing from a version is
skipped. ``corpus_info()`` reports the files used and a sha256 of the text, which train() stores in the
checkpoint so a run can be matched to its data.
"""
import hashlib
import os
import sysconfig

# Sorted; about 1.0 MB on CPython 3.11.
STDLIB_FILES = (
    "argparse.py", "ast.py", "bisect.py", "calendar.py", "collections/__init__.py", "contextlib.py", "copy.py",
    "csv.py", "dataclasses.py", "difflib.py", "enum.py", "fractions.py", "functools.py", "heapq.py",
    "json/decoder.py", "json/encoder.py", "pprint.py", "queue.py", "random.py", "shlex.py", "statistics.py",
    "string.py", "textwrap.py", "threading.py", "tokenize.py", "traceback.py", "typing.py",
)

_cache = {}


def stdlib_dir():
    return sysconfig.get_paths()["stdlib"]


def _resolve(root, rel):
    p = os.path.join(root, rel)
    if os.path.isfile(p):
        return p
    alt = os.path.join(root, rel[:-3], "__init__.py")  # module turned into a package in a later Python
    return alt if os.path.isfile(alt) else None


def load_default_corpus():
    """The embedded default corpus as one str (cached per process)."""
    if "default" not in _cache:
        root = stdlib_dir()
        parts, used = [], []
        for rel in STDLIB_FILES:
            p = _resolve(root, rel)
            if p is None:
                continue
            with open(p, "r", encoding="utf-8") as f:
                parts.append(f"# ==== {rel} ====\n" + f.read().replace("\r\n", "\n"))
            used.append(rel)
        if not parts:
            raise FileNotFoundError(f"load_default_corpus: none of the standard library sources were found under "
                                    f"{root!r}; pass --data FILE with any UTF-8 text instead")
        text = "\n".join(parts)
        _cache["default"] = (text, used)
    return _cache["default"][0]


def load_text(path):
    """A UTF-8 text file as str, with a clear error for a missing, empty or non-UTF-8 file."""
    try:
        with open(path, "r", encoding="utf-8") as f:
            text = f.read()
    except FileNotFoundError:
        raise FileNotFoundError(f"--data: no such file: {path!r}") from None
    except UnicodeDecodeError as e:
        raise ValueError(f"--data: {path!r} is not valid UTF-8 text ({e})") from None
    if len(text) < 2:
        raise ValueError(f"--data: {path!r} holds {len(text)} character(s); need some text to train on")
    return text


def corpus_info(text, source):
    return {"source": source, "chars": len(text), "sha256": hashlib.sha256(text.encode("utf-8")).hexdigest(),
            "python": "%d.%d" % tuple(__import__("sys").version_info[:2]),
            "files": list(_cache["default"][1]) if source == "default" and "default" in _cache else None}
