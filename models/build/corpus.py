"""Assembles the training corpus from text that Debian and npm packages ship on this machine.

Domains:
- python: the CPython 3.11 standard library sources (/usr/lib/python3.11, Debian package libpython3.11-stdlib),
  test folders excluded.
- javascript: JavaScript sources of the repository's npm dependencies (/work/main/node_modules) and of
  npm itself (/usr/lib/node_modules/npm), minified files excluded.
- prose: English prose from the Debian packages `fortunes` and `fortunes-min`
  (/usr/share/games/fortunes, `apt-get install fortunes fortunes-min`; every fortune is one document)
  and the license texts of /usr/share/common-licenses (base-files).

A document is a source file, a license text, or one fortune. Documents are split into train / held-out by
a hash of their identity; then cut at line boundaries into chunks of at most CHUNK_BYTES UTF-8 bytes (fortunes
of one file are packed together into chunks). Each chunk is one training sequence and one routing unit.
"""
import hashlib
import os

CHUNK_BYTES = 1024
PY_ROOT = "/usr/lib/python3.11"
JS_ROOTS = ["/work/main/node_modules", "/usr/lib/node_modules/npm"]
FORTUNE_ROOT = "/usr/share/games/fortunes"
LICENSE_ROOT = "/usr/share/common-licenses"
CAP_BYTES = {"python": 3_200_000, "javascript": 3_200_000}
HELDOUT_PERCENT = 8
WINDOWS_PER_DOC = 4


def sha256_bytes(b: bytes) -> str:
    return hashlib.sha256(b).hexdigest()


def is_heldout(identity: str) -> bool:
    h = int(hashlib.sha256(identity.encode()).hexdigest()[:8], 16)
    return h % 100 < HELDOUT_PERCENT


def _walk(root, accept):
    out = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for fn in sorted(filenames):
            p = os.path.join(dirpath, fn)
            if os.path.islink(p) or not os.path.isfile(p):
                continue
            if accept(p):
                out.append(p)
    return out


def _read_text(p):
    b = open(p, "rb").read()
    try:
        return b, b.decode("utf-8")
    except UnicodeDecodeError:
        return b, None


def _py_accept(p):
    parts = p.split("/")
    if not p.endswith(".py"):
        return False
    if any(x in ("test", "tests", "idle_test", "site-packages", "dist-packages") for x in parts):
        return False
    return True


def _js_accept(p):
    if not p.endswith(".js") or p.endswith(".min.js"):
        return False
    if "/test/" in p or "/tests/" in p or "/dist/" in p and ".bundle" in p:
        return False
    size = os.path.getsize(p)
    return 400 <= size <= 150_000


def _looks_minified(text):
    lines = text.split("\n")
    return max(len(l) for l in lines) > 1000 or len(text) / max(1, len(lines)) > 120


def _source_docs(domain, paths, cap):
    """One document per file, in an order fixed by the hash of the path, until cap bytes."""
    order = sorted(paths, key=lambda p: hashlib.sha256(p.encode()).hexdigest())
    seen = set()
    docs, files, total = [], [], 0
    for p in order:
        b, text = _read_text(p)
        if text is None or not text.strip():
            continue
        digest = sha256_bytes(b)
        if digest in seen:
            continue
        if domain == "javascript" and _looks_minified(text):
            continue
        seen.add(digest)
        docs.append({"domain": domain, "id": p, "text": text})
        files.append({"path": p, "sha256": digest, "bytes": len(b)})
        total += len(b)
        if total >= cap:
            break
    return docs, files


def _prose_docs():
    docs, files = [], []
    skip = {"art", "ascii-art"}
    for p in _walk(FORTUNE_ROOT, lambda p: not p.endswith(".dat") and not p.endswith(".u8")):
        if os.path.basename(p) in skip:
            continue
        b, text = _read_text(p)
        if text is None:
            continue
        files.append({"path": p, "sha256": sha256_bytes(b), "bytes": len(b)})
        for i, f in enumerate(text.split("\n%\n")):
            f = f.strip("\n%")
            if f.strip():
                docs.append({"domain": "prose", "id": f"{p}#{i}", "text": f + "\n%\n", "pack": p})
    seen = set()
    for p in sorted(os.listdir(LICENSE_ROOT)):
        full = os.path.realpath(os.path.join(LICENSE_ROOT, p))
        b, text = _read_text(full)
        if text is None or sha256_bytes(b) in seen:
            continue
        seen.add(sha256_bytes(b))
        files.append({"path": full, "sha256": sha256_bytes(b), "bytes": len(b)})
        docs.append({"domain": "prose", "id": full, "text": text})
    return docs, files


def _split_lines_to_chunks(text, limit):
    """Cuts text at line ends into pieces of at most `limit` UTF-8 bytes (long lines cut by characters)."""
    chunks, cur, cur_len = [], [], 0
    for line in text.splitlines(keepends=True):
        lb = len(line.encode("utf-8"))
        if lb > limit:
            if cur:
                chunks.append("".join(cur))
                cur, cur_len = [], 0
            piece = ""
            for ch in line:
                if len((piece + ch).encode("utf-8")) > limit:
                    chunks.append(piece)
                    piece = ""
                piece += ch
            if piece:
                cur, cur_len = [piece], len(piece.encode("utf-8"))
            continue
        if cur_len + lb > limit:
            chunks.append("".join(cur))
            cur, cur_len = [], 0
        cur.append(line)
        cur_len += lb
    if cur:
        chunks.append("".join(cur))
    return [c for c in chunks if c.strip()]


def build_corpus(caps=None):
    """Returns (train_chunks, heldout_docs, file_manifest). Chunks: dicts {domain, text, doc}.

    caps: bytes per code domain ({"python": n, "javascript": n}), CAP_BYTES by default."""
    caps = caps or CAP_BYTES
    py_docs, py_files = _source_docs("python", _walk(PY_ROOT, _py_accept), caps["python"])
    js_paths = []
    for r in JS_ROOTS:
        if os.path.isdir(r):
            js_paths += _walk(r, _js_accept)
    js_docs, js_files = _source_docs("javascript", js_paths, caps["javascript"])
    pr_docs, pr_files = _prose_docs()
    train, heldout = [], []
    for d in py_docs + js_docs + pr_docs:
        (heldout if is_heldout(d["id"]) else train).append(d)
    train_chunks = []
    packs = {}
    for d in train:
        if "pack" in d:
            packs.setdefault(d["pack"], []).append(d)
            continue
        for c in _split_lines_to_chunks(d["text"], CHUNK_BYTES):
            train_chunks.append({"domain": d["domain"], "text": c, "doc": d["id"]})
    for pack, ds in sorted(packs.items()):
        for c in _split_lines_to_chunks("".join(x["text"] for x in ds), CHUNK_BYTES):
            train_chunks.append({"domain": "prose", "text": c, "doc": pack})
    files = py_files + js_files + pr_files
    return train_chunks, heldout, files


def heldout_windows(heldout, per_domain_bytes, min_bytes=400):
    """Up to WINDOWS_PER_DOC windows (chunks chosen by hash) per held-out document; fortunes of a file packed into windows.

    Balanced: each domain contributes up to per_domain_bytes.
    """
    by_domain = {}
    packs = {}
    for d in heldout:
        if "pack" in d:
            packs.setdefault(d["pack"], []).append(d)
            continue
        chunks = [c for c in _split_lines_to_chunks(d["text"], CHUNK_BYTES) if len(c.encode()) >= min_bytes]
        if not chunks:
            continue
        order = sorted(range(len(chunks)), key=lambda i: hashlib.sha256(f"{d['id']}@{i}".encode()).hexdigest())
        for i in sorted(order[:WINDOWS_PER_DOC]):
            by_domain.setdefault(d["domain"], []).append((f"{d['id']}@{i}", chunks[i]))
    for pack, ds in sorted(packs.items()):
        for j, c in enumerate(_split_lines_to_chunks("".join(x["text"] for x in ds), CHUNK_BYTES)):
            if len(c.encode()) >= min_bytes:
                by_domain.setdefault("prose", []).append((f"{pack}@{j}", c))
    out = []
    for domain in sorted(by_domain):
        items = sorted(by_domain[domain], key=lambda x: hashlib.sha256(x[0].encode()).hexdigest())
        total = 0
        for ident, text in items:
            if total >= per_domain_bytes:
                break
            out.append({"domain": domain, "text": text, "id": ident})
            total += len(text.encode())
    return out
