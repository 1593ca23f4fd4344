"""Offline build of models/swarmpath-tiny: corpus, router clustering, DiPaCo training, dense baseline,
discriminative relabel, evaluation, ONNX export, manifest and test fixtures. One command, fixed seeds.

    /usr/bin/python3 models/build/train.py                          # "cpu" profile (about an hour on 2 cores)
    SWARMPATH_PROFILE=fast /usr/bin/python3 models/build/train.py   # smoke run (a few minutes)
    SWARMPATH_PROFILE=gpu SWARMPATH_DEVICE=cuda python3 models/build/train.py   # the committed package's recipe

Phases are checkpointed as models/build/work/<phase>-<hash of the settings it depends on>.pt so a rerun
resumes after the last finished phase. See models/build/README.md.
"""
import copy
import hashlib
import json
import math
import os
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import corpus  # noqa: E402
from featurizer import featurize, nearest  # noqa: E402
from model import Expert, Head, PathModel, Stem  # noqa: E402

REPO = os.path.dirname(os.path.dirname(HERE))
# Outputs; SWARMPATH_OUT / SWARMPATH_FIXTURES redirect them (e.g. a smoke run that must not replace the
# committed package). The corpus manifest goes beside the package when SWARMPATH_OUT is set.
OUT = os.environ.get("SWARMPATH_OUT") or os.path.join(REPO, "models", "swarmpath-tiny")
FIXTURES = os.environ.get("SWARMPATH_FIXTURES") or os.path.join(REPO, "test", "fixtures", "model")
CORPUS_MANIFEST = (OUT.rstrip("/") + ".corpus-manifest.json") if os.environ.get("SWARMPATH_OUT") else \
    os.path.join(HERE, "corpus-manifest.json")

PROFILE = os.environ.get("SWARMPATH_PROFILE", "fast" if os.environ.get("SWARMPATH_FAST") == "1" else "cpu")
FAST = PROFILE == "fast"
DEVICE = os.environ.get("SWARMPATH_DEVICE", "cpu")
# Profiles: "cpu" is the full recipe sized for about an hour on 2 CPU cores; "fast" a smoke run of a few
# minutes; "gpu" a larger run (more data, more and larger steps) for one GPU, same code and seeds.
CONFIG = {
    "profile": PROFILE,
    "seed": 1234,
    "d_model": 128,
    "n_heads": 4,
    "max_context": 1024,
    "vocab": 256,
    "levels": 2,
    "experts_per_level": 4,
    "layers_per_expert": 2,
    "featurizer": {"type": "hashed-ngrams/1", "prefix_bytes": 128, "orders": [1, 2, 3], "buckets": 512},
    "corpus_caps": {"python": 3_200_000, "javascript": 3_200_000},
    # A step is `batch_short` sequences of 512 bytes, or (every 4th step) half as many of 1024 bytes.
    "batch_short": 8,
    "base_steps": 300,
    "base_lr": 2e-3,
    "warmup": 60,
    "inner_lr": 1e-3,
    "inner_warmup": 1,
    "outer_lr": 0.7,
    "outer_momentum": 0.9,
    "rounds": 3,
    "inner_steps": 14,
    "weight_decay": 0.1,
    "dropout": 0.0,
    "heldout_bytes_per_domain": 70000,
    "eval_limit": None,
    "threads": 2,
}
if PROFILE == "fast":
    CONFIG.update(base_steps=40, warmup=10, rounds=1, inner_steps=2, eval_limit=12)
elif PROFILE == "gpu":
    CONFIG.update(corpus_caps={"python": 20_000_000, "javascript": 20_000_000}, batch_short=32,
                  base_steps=6000, warmup=200, rounds=5, inner_steps=40, dropout=0.1, inner_lr=6e-4,
                  inner_warmup=20)
elif PROFILE != "cpu":
    raise SystemExit(f"unknown SWARMPATH_PROFILE {PROFILE}")
CONFIG.update(relabel_docs=48 if FAST else 3000, relabel_bytes=512)
if os.environ.get("SWARMPATH_OVERRIDE"):  # JSON object merged into CONFIG (smoke tests of a profile)
    CONFIG.update(json.loads(os.environ["SWARMPATH_OVERRIDE"]))

T_SHORT, T_LONG = 512, 1024


def log(*a):
    print(time.strftime("%H:%M:%S"), *a, file=sys.stderr, flush=True)


def config_hash(keys=None):
    sub = CONFIG if keys is None else {k: CONFIG[k] for k in keys}
    return hashlib.sha256(json.dumps(sub, sort_keys=True).encode()).hexdigest()[:12]


WORK = os.path.join(HERE, "work")
BASE_KEYS = ["corpus_caps", "batch_short", "seed", "d_model", "n_heads", "max_context", "vocab", "levels", "layers_per_expert",
             "base_steps", "base_lr", "warmup", "weight_decay", "dropout"]
DENSE_KEYS = BASE_KEYS + ["inner_lr", "inner_warmup", "rounds", "inner_steps"]
CLUSTER_KEYS = ["corpus_caps", "seed", "featurizer", "experts_per_level"]
DIPACO_KEYS = sorted(set(DENSE_KEYS + CLUSTER_KEYS + ["outer_lr", "outer_momentum"]))
EVAL_KEYS = DIPACO_KEYS + ["eval_limit", "heldout_bytes_per_domain"]
RELABEL_KEYS = DIPACO_KEYS + ["relabel_docs", "relabel_bytes"]


def ckpt(name, keys):
    """Checkpoint file of a phase, named by the hash of the settings the phase depends on."""
    return f"{name}-{config_hash(keys)}.pt"


# ---------------------------------------------------------------- data


class Batcher:
    """Draws batches of chunks (uniformly, with a seeded generator) as padded token tensors + loss masks."""

    def __init__(self, chunks, seed):
        self.b_short = CONFIG["batch_short"]
        self.chunks = [np.frombuffer(c.encode("utf-8"), dtype=np.uint8) for c in chunks]
        self.rng = np.random.default_rng(seed)
        self.step = 0

    def next(self):
        long = self.step % 4 == 3
        self.step += 1
        t, b = (T_LONG, self.b_short // 2) if long else (T_SHORT, self.b_short)
        idx = self.rng.integers(0, len(self.chunks), size=b)
        x = np.zeros((b, t), dtype=np.int64)
        m = np.zeros((b, t), dtype=np.float32)
        for r, i in enumerate(idx):
            c = self.chunks[i][:t]
            x[r, : len(c)] = c
            m[r, : len(c)] = 1
        return torch.from_numpy(x).to(DEVICE), torch.from_numpy(m).to(DEVICE)


def lm_loss(model, x, m):
    logits = model(x)[:, :-1]
    tgt = x[:, 1:]
    w = m[:, 1:]
    nll = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), tgt.reshape(-1), reduction="none")
    return (nll * w.reshape(-1)).sum() / w.sum()


def lr_at(step, total, peak, warmup):
    if step < warmup:
        return peak * (step + 1) / warmup
    p = (step - warmup) / max(1, total - warmup)
    return peak * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(1.0, p))))


def make_opt(params, lr):
    return torch.optim.AdamW(params, lr=lr, betas=(0.9, 0.95), weight_decay=CONFIG["weight_decay"])


# ---------------------------------------------------------------- clustering


def sqdist(x, c):
    """Squared Euclidean distances [N, K] (expanded form; clipped at 0)."""
    return np.maximum((x * x).sum(1)[:, None] - 2.0 * x @ c.T + (c * c).sum(1)[None, :], 0.0)


def kmeans(x, k, seed, iters=40, restarts=4):
    """Lloyd's k-means with k-means++ seeding; best of `restarts` by inertia. Returns (centroids, labels)."""
    best = None
    for r in range(restarts):
        rng = np.random.default_rng(seed + r)
        c = [x[rng.integers(len(x))]]
        for _ in range(1, k):
            d = sqdist(x, np.array(c)).min(1)
            c.append(x[rng.choice(len(x), p=d / d.sum())])
        c = np.array(c)
        for _ in range(iters):
            d = sqdist(x, c)
            lab = d.argmin(1)
            newc = np.array([x[lab == j].mean(0) if (lab == j).any() else c[j] for j in range(k)])
            if np.allclose(newc, c):
                break
            c = newc
        d = sqdist(x, c)
        lab = d.argmin(1)
        inertia = d.min(1).sum()
        if best is None or inertia < best[0]:
            best = (inertia, c, lab)
    return best[1], best[2]


def cluster(features):
    """Hierarchical k-means: 4 groups, then 4 clusters inside each group; cluster (g, j) runs path
    (L0.g, L1.j), so clusters of one group share their level-0 expert. A few flat Lloyd iterations
    over the 16 centroids then make every training label its nearest centroid (what the router does)."""
    k0, k1 = CONFIG["experts_per_level"], CONFIG["experts_per_level"]
    c0, lab0 = kmeans(features, k0, CONFIG["seed"])
    cents = np.zeros((k0 * k1, features.shape[1]))
    for g in range(k0):
        sub = features[lab0 == g]
        if len(sub) < k1:
            raise RuntimeError(f"group {g} has only {len(sub)} chunks")
        cs, _ = kmeans(sub, k1, CONFIG["seed"] + 100 * (g + 1))
        cents[g * k1 : (g + 1) * k1] = cs
    for _ in range(10):
        d = sqdist(features, cents)
        lab = d.argmin(1)
        for j in range(len(cents)):
            if (lab == j).any():
                cents[j] = features[lab == j].mean(0)
    d = sqdist(features, cents)
    return cents, d.argmin(1)


def _feat_one(args):
    return featurize(args[0], args[1].encode("utf-8"))


def featurize_all(spec, texts):
    """Features of every text, in order (a process pool where there are more than 2 cores)."""
    procs = min(16, os.cpu_count() or 1)
    if procs <= 2:
        return np.stack([featurize(spec, t.encode("utf-8")) for t in texts])
    import multiprocessing
    with multiprocessing.get_context("fork").Pool(procs) as pool:
        return np.stack(pool.map(_feat_one, [(spec, t) for t in texts], chunksize=64))


def relabel(mods, paths, texts, feats, cents, prefix):
    """Discriminative routing: a sample of training chunks is scored on every path; each chunk's label is
    its lowest-loss path. Candidates: the k-means centroids, centroids recomputed from those labels, and
    a softmax-regression classifier on the features. The one with the lowest loss on a validation fifth
    of the sample (never the held-out set) is kept. Returns (choice, centroids, classifier or None, stats)."""
    rng = np.random.default_rng(CONFIG["seed"] + 99)
    n_bytes = CONFIG["relabel_bytes"]
    cand = [i for i in range(len(texts)) if len(texts[i].encode("utf-8")) >= prefix + 128]
    idx = rng.choice(cand, size=min(CONFIG["relabel_docs"], len(cand)), replace=False)
    docs = [texts[i].encode("utf-8")[:n_bytes] for i in idx]
    loss = np.zeros((len(docs), len(paths)))
    for p, (a, b) in enumerate(paths):
        res = doc_losses(PathModel(mods["stem"], [mods[a], mods[b]], mods["head"]), docs, prefix)
        loss[:, p] = [r[0] / r[1] for r in res]
    labels = loss.argmin(1)
    X = feats[idx]
    n_fit = int(0.8 * len(docs))
    fit, val = np.arange(n_fit), np.arange(n_fit, len(docs))
    C = len(paths)
    # Recomputed centroids (a class with no chunk keeps its k-means centroid).
    cents2 = cents.copy()
    for c in range(C):
        sel = fit[labels[fit] == c]
        if len(sel):
            cents2[c] = X[sel].mean(0)
    # Softmax regression, full batch, Adam, small L2.
    g = torch.Generator().manual_seed(CONFIG["seed"])
    Xt = torch.tensor(X, dtype=torch.float32)
    W = (torch.randn(C, X.shape[1], generator=g) * 0.01).requires_grad_()
    bias = torch.zeros(C, requires_grad=True)
    opt = torch.optim.Adam([W, bias], lr=0.05)
    yt = torch.tensor(labels[fit], dtype=torch.int64)
    for _ in range(600):
        logits = Xt[fit] @ W.T + bias
        obj = F.cross_entropy(logits, yt) + 1e-4 * (W * W).sum()
        opt.zero_grad()
        obj.backward()
        opt.step()
    Wn, bn = W.detach().numpy().astype(np.float64), bias.detach().numpy().astype(np.float64)

    def route_centroids(c, rows):
        return sqdist(X[rows], c).argmin(1)

    choices = {
        "kmeans": route_centroids(cents, val),
        "relabelled_centroids": route_centroids(cents2, val),
        "classifier": (X[val] @ Wn.T + bn).argmax(1),
    }
    stats = {"sample": len(docs), "validation": len(val),
             "oracle_val_nats_per_byte": float(loss[val].min(1).mean()),
             "label_counts": np.bincount(labels, minlength=C).tolist()}
    for k, r in choices.items():
        stats[f"{k}_val_nats_per_byte"] = float(loss[val, r].mean())
        stats[f"{k}_val_accuracy"] = float((r == labels[val]).mean())
    best = min(choices, key=lambda k: stats[f"{k}_val_nats_per_byte"])
    stats["chosen"] = best
    log("relabel", json.dumps(stats))
    if best == "classifier":
        return best, cents, (Wn, bn), stats
    if best == "relabelled_centroids":
        return best, cents2, None, stats
    return best, cents, None, stats


# ---------------------------------------------------------------- modules


def new_modules():
    D, H, L = CONFIG["d_model"], CONFIG["n_heads"], CONFIG["layers_per_expert"]
    total = CONFIG["levels"] * L
    stem = Stem(CONFIG["vocab"], D, CONFIG["max_context"])
    experts = [Expert(D, H, L, total, CONFIG["dropout"]) for _ in range(CONFIG["levels"])]
    head = Head(D, CONFIG["vocab"])
    return stem, experts, head


def train_steps(model, opt, batcher, steps, peak, warmup, tag, start=0, total=None):
    total = total or steps
    model.train()
    t0 = time.time()
    for s in range(steps):
        lr = lr_at(start + s, total, peak, warmup)
        for g in opt.param_groups:
            g["lr"] = lr
        x, m = batcher.next()
        loss = lm_loss(model, x, m)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        if (s + 1) % 20 == 0 or s == steps - 1:
            log(f"{tag} step {start + s + 1}/{total} loss {loss.item():.4f} ({(time.time() - t0) / (s + 1):.2f}s/step)")
    return loss.item()


def flat(module):
    return torch.cat([p.detach().reshape(-1) for p in module.parameters()])


def set_flat(module, vec):
    i = 0
    with torch.no_grad():
        for p in module.parameters():
            n = p.numel()
            p.copy_(vec[i : i + n].view_as(p))
            i += n


def inner_steps_per_path(labels):
    K2 = CONFIG["experts_per_level"] ** 2
    Hs = CONFIG["inner_steps"]
    sizes = np.bincount(labels, minlength=K2).astype(np.float64)
    return [int(max(max(1, Hs // 4), min(Hs, round(Hs * sizes[p] / sizes.mean())))) for p in range(K2)]


def dipaco(base, chunk_texts, labels):
    """DiPaCo with DiLoCo synchronisation. Modules: stem, head (on every path), L0.g and L1.j.

    Each round: every path p = (g, j) copies its modules, runs `inner_steps` AdamW steps on its cluster's
    chunks (its AdamW state persists across rounds), and reports delta = before - after per module.
    Each module's pseudo-gradient is the mean delta over the paths that contain it; an outer Nesterov
    SGD step (lr outer_lr, momentum outer_momentum) applies it.
    """
    stem, (e0, e1), head = base
    K = CONFIG["experts_per_level"]
    mods = {"stem": stem, "head": head}
    for g in range(K):
        mods[f"L0.{g}"] = copy.deepcopy(e0)
    for j in range(K):
        mods[f"L1.{j}"] = copy.deepcopy(e1)
    momentum = {k: torch.zeros_like(flat(m)) for k, m in mods.items()}
    paths = [(f"L0.{p // K}", f"L1.{p % K}") for p in range(K * K)]
    batchers = []
    for p in range(K * K):
        texts = [chunk_texts[i] for i in np.nonzero(labels == p)[0]]
        batchers.append(Batcher(texts, CONFIG["seed"] + 1000 + p))
    workers = []
    for p, (a, b) in enumerate(paths):
        model = PathModel(copy.deepcopy(stem), [copy.deepcopy(mods[a]), copy.deepcopy(mods[b])], copy.deepcopy(head))
        workers.append((model, make_opt(model.parameters(), CONFIG["inner_lr"])))
    R, Hs = CONFIG["rounds"], CONFIG["inner_steps"]
    # Inner steps per round scale with the cluster's size (at most inner_steps, at least a quarter of it),
    # so that small clusters are not repeated many more times than large ones.
    h_path = inner_steps_per_path(labels)
    log("inner steps per path and round", h_path)
    for r in range(R):
        deltas = {k: [] for k in mods}
        before = {k: flat(m) for k, m in mods.items()}
        for p, (a, b) in enumerate(paths):
            model, opt = workers[p]
            set_flat(model.stem, before["stem"])
            set_flat(model.experts[0], before[a])
            set_flat(model.experts[1], before[b])
            set_flat(model.head, before["head"])
            hp = h_path[p]
            train_steps(model, opt, batchers[p], hp, CONFIG["inner_lr"], CONFIG["inner_warmup"], f"round {r + 1}/{R} path {p:2d}",
                        start=r * hp, total=R * hp)
            deltas["stem"].append(before["stem"] - flat(model.stem))
            deltas[a].append(before[a] - flat(model.experts[0]))
            deltas[b].append(before[b] - flat(model.experts[1]))
            deltas["head"].append(before["head"] - flat(model.head))
        for k, m in mods.items():
            g = torch.stack(deltas[k]).mean(0)
            momentum[k] = CONFIG["outer_momentum"] * momentum[k] + g
            upd = g + CONFIG["outer_momentum"] * momentum[k]
            set_flat(m, before[k] - CONFIG["outer_lr"] * upd)
        log(f"round {r + 1}/{R} synced")
    return mods, paths


# ---------------------------------------------------------------- evaluation


@torch.no_grad()
def doc_losses(model, docs, prefix):
    """Per document: (sum of nats over bytes after the routing prefix, number of such bytes)."""
    model.eval()
    out = []
    order = sorted(range(len(docs)), key=lambda i: len(docs[i]))
    res = [None] * len(docs)
    bs = 8
    for s in range(0, len(order), bs):
        ids = order[s : s + bs]
        t = max(len(docs[i]) for i in ids)
        x = torch.zeros((len(ids), t), dtype=torch.int64, device=DEVICE)
        for r, i in enumerate(ids):
            x[r, : len(docs[i])] = torch.from_numpy(np.frombuffer(docs[i], dtype=np.uint8).astype(np.int64)).to(DEVICE)
        logp = torch.log_softmax(model(x).double(), -1)
        for r, i in enumerate(ids):
            n = len(docs[i])
            tgt = x[r, prefix:n]
            nll = -logp[r, prefix - 1 : n - 1].gather(1, tgt[:, None]).sum().item()
            res[i] = (nll, n - prefix)
    return res


def bpb(pairs):
    return sum(p[0] for p in pairs) / math.log(2) / sum(p[1] for p in pairs)


# ---------------------------------------------------------------- main


def _portable(obj):
    """numpy arrays -> tagged torch tensors, so that a file saved with numpy 2 loads with numpy 1."""
    if isinstance(obj, np.ndarray):
        return {"__ndarray__": torch.from_numpy(np.ascontiguousarray(obj))}
    if isinstance(obj, (list, tuple)):
        return type(obj)(_portable(x) for x in obj)
    if isinstance(obj, dict):
        return {k: _portable(v) for k, v in obj.items()}
    if isinstance(obj, np.generic):
        return obj.item()
    return obj


def _unportable(obj):
    if isinstance(obj, dict):
        if set(obj) == {"__ndarray__"}:
            return obj["__ndarray__"].numpy()
        return {k: _unportable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(_unportable(x) for x in obj)
    return obj


def save(obj, name):
    """Saves a phase result (tensors, numpy arrays, plain data) atomically; copies it to
    $SWARMPATH_COPY_TO too when set (used to bring checkpoints back from a GPU machine)."""
    os.makedirs(WORK, exist_ok=True)
    torch.save(_portable(obj), os.path.join(WORK, name + ".tmp"))
    os.replace(os.path.join(WORK, name + ".tmp"), os.path.join(WORK, name))
    dest = os.environ.get("SWARMPATH_COPY_TO")
    if dest and not name.startswith("features"):
        import shutil
        shutil.copy(os.path.join(WORK, name), os.path.join(dest, name))


def load(name):
    p = os.path.join(WORK, name)
    return _unportable(torch.load(p, map_location="cpu", weights_only=False)) if os.path.exists(p) else None


def sd(module):
    return {k: v.detach().cpu().clone() for k, v in module.state_dict().items()}


def phase_meta(seconds):
    """Where and how long a phase ran (kept in its checkpoint, reported in the manifest's training)."""
    dev = torch.cuda.get_device_name(0) if DEVICE.startswith("cuda") else "cpu"
    return {"device": dev, "torch": torch.__version__, "seconds": round(seconds, 1),
            "finished": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}


PHASES = {}


def pack_path_model(stem, experts, head, seconds=0.0):
    return {"stem": sd(stem), "experts": [sd(e) for e in experts], "head": sd(head), "meta": phase_meta(seconds)}


def unpack_path_model(d):
    stem, experts, head = new_modules()
    stem.load_state_dict(d["stem"])
    for e, s in zip(experts, d["experts"]):
        e.load_state_dict(s)
    head.load_state_dict(d["head"])
    return stem.to(DEVICE), [e.to(DEVICE) for e in experts], head.to(DEVICE)


def pack_dipaco(mods, paths, seconds=0.0):
    return {"mods": {k: sd(m) for k, m in mods.items()}, "paths": paths, "meta": phase_meta(seconds)}


def unpack_dipaco(d):
    stem, experts, head = new_modules()
    mods = {}
    for k, s in d["mods"].items():
        m = stem if k == "stem" else head if k == "head" else copy.deepcopy(experts[0])
        m.load_state_dict(s)
        mods[k] = m.to(DEVICE)
    return mods, [tuple(p) for p in d["paths"]]


def load_corpus():
    """The corpus, built from this machine's files, or read from $SWARMPATH_CORPUS (a pickle written
    by `train.py --write-corpus FILE`, for a machine that lacks the source files)."""
    import gzip
    import pickle
    src = os.environ.get("SWARMPATH_CORPUS")
    if src:
        with gzip.open(src, "rb") as f:
            got = pickle.load(f)
        if got["caps"] != CONFIG["corpus_caps"]:
            raise SystemExit(f"{src} was built with caps {got['caps']}, this profile needs {CONFIG['corpus_caps']}")
        return got["train"], got["heldout"], got["files"]
    return corpus.build_corpus(CONFIG["corpus_caps"])


def main():
    torch.set_num_threads(CONFIG["threads"])
    if DEVICE.startswith("cuda"):
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    torch.manual_seed(CONFIG["seed"])
    t_start = time.time()
    log("config", json.dumps(CONFIG), "work", WORK)
    spec = CONFIG["featurizer"]
    prefix = spec["prefix_bytes"]

    train_chunks, heldout_docs, files = load_corpus()
    if len(sys.argv) == 3 and sys.argv[1] == "--write-corpus":
        import gzip
        import pickle
        with gzip.open(sys.argv[2], "wb") as f:
            pickle.dump({"caps": CONFIG["corpus_caps"], "train": train_chunks, "heldout": heldout_docs,
                         "files": files}, f)
        log(f"wrote {sys.argv[2]}")
        return
    texts = [c["text"] for c in train_chunks]
    domains = [c["domain"] for c in train_chunks]
    log(f"corpus: {len(train_chunks)} train chunks, {sum(len(t.encode()) for t in texts)} bytes, {len(files)} files")
    windows = corpus.heldout_windows(heldout_docs, CONFIG["heldout_bytes_per_domain"])
    corpus_manifest = {
        "description": "Files the swarmpath-tiny corpus was assembled from (models/build/corpus.py).",
        "debian_packages": ["libpython3.11-stdlib", "fortunes", "fortunes-min", "base-files"],
        "npm_sources": corpus.JS_ROOTS,
        "files": files,
    }
    cm_path = CORPUS_MANIFEST
    os.makedirs(os.path.dirname(cm_path), exist_ok=True)
    with open(cm_path, "w") as f:
        json.dump(corpus_manifest, f, indent=1)

    # Router features and clusters.
    feats_cache = []

    def features():
        """Router features of every training chunk (computed only when a phase needs them)."""
        if not feats_cache:
            f = load(ckpt("features", CLUSTER_KEYS))
            if f is None:
                f = featurize_all(spec, texts)
                save(f, ckpt("features", CLUSTER_KEYS))
            feats_cache.append(f)
        return feats_cache[0]

    clus = load(ckpt("clusters", CLUSTER_KEYS))
    if clus is None:
        clus = cluster(features())
        save(clus, ckpt("clusters", CLUSTER_KEYS))
    cents, labels = clus
    for p in range(len(cents)):
        sel = [domains[i] for i in np.nonzero(labels == p)[0]]
        log(f"cluster {p:2d}: {len(sel):5d} chunks " + " ".join(f"{d}={sel.count(d)}" for d in ("python", "javascript", "prose")))

    # Phase 1: shared base model on all data.
    base = load(ckpt("base", BASE_KEYS))
    t0 = time.time()
    if base is not None:
        PHASES["base"] = base.get("meta")
        base = unpack_path_model(base)
    else:
        stem, experts, head = new_modules()
        model = PathModel(stem, experts, head).to(DEVICE)
        opt = make_opt(model.parameters(), CONFIG["base_lr"])
        train_steps(model, opt, Batcher(texts, CONFIG["seed"]), CONFIG["base_steps"], CONFIG["base_lr"],
                    CONFIG["warmup"], "base")
        base = (stem, experts, head)
        packed = pack_path_model(*base, seconds=time.time() - t0)
        PHASES["base"] = packed["meta"]
        save(packed, ckpt("base", BASE_KEYS))

    # Phase 2: dense baseline = the base model trained further on all data for as many steps as one path.
    dense = load(ckpt("dense", DENSE_KEYS))
    t0 = time.time()
    if dense is not None:
        PHASES["dense"] = dense.get("meta")
        dense = unpack_path_model(dense)
    else:
        stem, experts, head = copy.deepcopy(base)
        model = PathModel(stem, experts, head).to(DEVICE)
        opt = make_opt(model.parameters(), CONFIG["inner_lr"])
        n = CONFIG["rounds"] * CONFIG["inner_steps"]
        train_steps(model, opt, Batcher(texts, CONFIG["seed"] + 7), n, CONFIG["inner_lr"], CONFIG["inner_warmup"], "dense")
        dense = (stem, experts, head)
        packed = pack_path_model(*dense, seconds=time.time() - t0)
        PHASES["dense"] = packed["meta"]
        save(packed, ckpt("dense", DENSE_KEYS))

    # Phase 3: DiPaCo.
    dip = load(ckpt("dipaco", DIPACO_KEYS))
    t0 = time.time()
    if dip is not None:
        PHASES["dipaco"] = dip.get("meta")
        mods, paths = unpack_dipaco(dip)
    else:
        mods, paths = dipaco(copy.deepcopy(base), texts, labels)
        packed = pack_dipaco(mods, paths, seconds=time.time() - t0)
        PHASES["dipaco"] = packed["meta"]
        save(packed, ckpt("dipaco", DIPACO_KEYS))

    # Evaluation on held-out windows.
    docs = [w["text"].encode("utf-8") for w in windows]
    if CONFIG["eval_limit"]:
        docs = docs[:: max(1, len(docs) // CONFIG["eval_limit"])]
    ev = load(ckpt("eval", EVAL_KEYS))
    if ev is None:
        per_path = []
        for p, (a, b) in enumerate(paths):
            per_path.append(doc_losses(PathModel(mods["stem"], [mods[a], mods[b]], mods["head"]), docs, prefix))
            log(f"eval path {p} bpb {bpb(per_path[-1]):.4f}")
        dense_l = doc_losses(PathModel(dense[0], dense[1], dense[2]), docs, prefix)
        base_l = doc_losses(PathModel(base[0], base[1], base[2]), docs, prefix)
        ev = (per_path, dense_l, base_l)
        save(ev, ckpt("eval", EVAL_KEYS))
    per_path, dense_l, base_l = ev
    rel = load(ckpt("relabel", RELABEL_KEYS))
    if rel is None:
        rel = relabel(mods, paths, texts, features(), cents, prefix)
        save(rel, ckpt("relabel", RELABEL_KEYS))
    choice, route_cents, classifier, rel_stats = rel
    doc_feats = [featurize(spec, d) for d in docs]

    def route_of(f):
        if classifier is not None:
            return int((classifier[0] @ f + classifier[1]).argmax())
        return nearest(route_cents, f)

    route = [route_of(f) for f in doc_feats]
    route_kmeans = [nearest(cents, f) for f in doc_feats]
    win_domains = [w["domain"] for w in windows]
    if CONFIG["eval_limit"]:
        win_domains = win_domains[:: max(1, len(windows) // CONFIG["eval_limit"])]
    n_docs = len(docs)
    routed = [per_path[route[i]][i] for i in range(n_docs)]
    oracle = [min((per_path[p][i] for p in range(len(paths))), key=lambda x: x[0]) for i in range(n_docs)]
    random_bpb = float(np.mean([bpb(per_path[p]) for p in range(len(paths))]))
    quality = {
        "docs": n_docs,
        "scored_bytes": sum(r[1] for r in routed),
        "routed_bpb": bpb(routed),
        "random_path_bpb": random_bpb,
        "oracle_bpb": bpb(oracle),
        "dense_bpb": bpb(dense_l),
        "base_bpb": bpb(base_l),
        "per_path_bpb": [bpb(x) for x in per_path],
        "per_domain": {},
    }
    quality["routing"] = choice
    quality["routed_kmeans_bpb"] = bpb([per_path[route_kmeans[i]][i] for i in range(n_docs)])
    quality["routed_over_random"] = quality["routed_bpb"] / random_bpb
    quality["routed_over_oracle"] = quality["routed_bpb"] / quality["oracle_bpb"]
    for dname in sorted(set(win_domains)):
        ix = [i for i in range(n_docs) if win_domains[i] == dname]
        quality["per_domain"][dname] = {
            "routed_bpb": bpb([routed[i] for i in ix]),
            "oracle_bpb": bpb([oracle[i] for i in ix]),
            "dense_bpb": bpb([dense_l[i] for i in ix]),
            "random_path_bpb": float(np.mean([bpb([per_path[p][i] for i in ix]) for p in range(len(paths))])),
        }
    log("quality", json.dumps(quality, indent=1))

    training = {
        "recipe": "DiPaCo (shared base, hierarchical k-means routing on hashed-ngrams/1, DiLoCo sync of shared modules)",
        "config": CONFIG,
        "config_hash": config_hash(),
        "corpus": {
            "manifest": os.path.relpath(cm_path, REPO),
            "manifest_sha256": hashlib.sha256(open(cm_path, "rb").read()).hexdigest(),
            "train_chunks": len(texts),
            "train_bytes": sum(len(t.encode()) for t in texts),
            "domains": {d: domains.count(d) for d in sorted(set(domains))},
            "heldout_windows": len(windows),
            "chunk_bytes": corpus.CHUNK_BYTES,
            "heldout_split": f"sha256(document id) mod 100 < {corpus.HELDOUT_PERCENT}",
        },
        "tokens": {
            "per_step_max": CONFIG["batch_short"] * T_SHORT,
            "base": CONFIG["base_steps"] * CONFIG["batch_short"] * T_SHORT,
            "per_path_after_base": CONFIG["rounds"] * CONFIG["inner_steps"] * CONFIG["batch_short"] * T_SHORT,
            "dense_total": (CONFIG["base_steps"] + CONFIG["rounds"] * CONFIG["inner_steps"]) * CONFIG["batch_short"] * T_SHORT,
            "note": "sequences shorter than the step's length are padded; padding is not trained on",
        },
        "cluster_sizes": [int((labels == p).sum()) for p in range(len(cents))],
        "relabel": rel_stats,
        "inner_steps_per_path_and_round": inner_steps_per_path(labels),
        "quality": quality,
        "phases": PHASES,
        "exported_with": {"torch": torch.__version__, "opset": 17, "device": "cpu"},
    }
    if os.environ.get("SWARMPATH_STOP_BEFORE_EXPORT") == "1":
        log("stopping before export (SWARMPATH_STOP_BEFORE_EXPORT=1)")
        return
    import export  # noqa: E402

    to_cpu = lambda m: m.cpu().float()  # noqa: E731
    mods = {k: to_cpu(m) for k, m in mods.items()}
    dense = (to_cpu(dense[0]), [to_cpu(e) for e in dense[1]], to_cpu(dense[2]))
    export.export_all(CONFIG, mods, paths, route_cents, classifier, dense, windows, training, OUT, FIXTURES)
    log(f"done in {time.time() - t_start:.0f}s")


if __name__ == "__main__":
    main()
