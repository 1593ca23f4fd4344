"""ONNX export, probes, held-out file, manifest.json and test fixtures of the swarmpath-tiny package."""
import copy
import hashlib
import json
import os
import shutil

import numpy as np
import torch

from featurizer import featurize, nearest
from model import PathModel

M32 = 0xFFFFFFFF
OPSET = 17


def mulberry32(seed):
    """The probe PRNG of docs/model-format.md; yields floats in [0, 1)."""
    a = seed & M32
    while True:
        a = (a + 0x6D2B79F5) & M32
        t = a
        t = ((t ^ (t >> 15)) * (t | 1)) & M32
        t = (t ^ ((t + (((t ^ (t >> 7)) * (t | 61)) & M32)) & M32)) & M32
        yield ((t ^ (t >> 14)) & M32) / 4294967296.0


def uniform_pm1(seed, n):
    g = mulberry32(seed)
    return np.array([2.0 * next(g) - 1.0 for _ in range(n)], dtype=np.float64)


@torch.no_grad()
def probe(expert, d_model, seed, tokens):
    """Fingerprint of `expert` on the probe input, computed in float64."""
    e = copy.deepcopy(expert).double().eval()
    x = uniform_pm1(seed, tokens * d_model).astype(np.float32).astype(np.float64)
    hidden = torch.from_numpy(x).view(1, tokens, d_model)
    mask = torch.ones((1, tokens), dtype=torch.float64)
    out, _ = e(hidden, mask, *e.empty_past(1, torch.float64))
    out = out.reshape(-1).numpy()
    return [float(np.dot(out, uniform_pm1(seed + 1 + k, tokens * d_model))) for k in range(8)]


def file_ref(root, rel):
    b = open(os.path.join(root, rel), "rb").read()
    return {"file": rel, "sha256": hashlib.sha256(b).hexdigest(), "bytes": len(b)}


def export_stem(stem, path):
    tokens = torch.randint(0, 256, (2, 5))
    positions = torch.arange(5)[None].expand(2, 5).contiguous() + 3
    torch.onnx.export(stem.eval(), (tokens, positions), path, input_names=["tokens", "positions"],
                      output_names=["hidden"], dynamic_axes={"tokens": {0: "B", 1: "T"},
                                                             "positions": {0: "B", 1: "T"},
                                                             "hidden": {0: "B", 1: "T"}},
                      opset_version=OPSET, do_constant_folding=True)


def past_names(layers):
    """The expert's cache inputs in docs/model-format.md: past_key_l, past_value_l for each layer."""
    return [f"past_{kind}_{l}" for l in range(layers) for kind in ("key", "value")]


def export_expert(expert, d_model, path):
    e = expert.eval()
    hidden = torch.randn(2, 3, d_model)
    past = [torch.randn(2, e.h, 4, e.dh) for _ in range(2 * e.layers)]
    mask = torch.ones(2, 7)
    names = past_names(e.layers)
    axes = {"hidden": {0: "B", 1: "T"}, "mask": {0: "B", 1: "CT"}, "hidden_out": {0: "B", 1: "T"},
            "new_kv": {0: "B", 4: "T"}}
    axes.update({n: {0: "B", 2: "C"} for n in names})
    torch.onnx.export(e, (hidden, mask, *past), path, input_names=["hidden", "mask", *names],
                      output_names=["hidden_out", "new_kv"], dynamic_axes=axes,
                      opset_version=OPSET, do_constant_folding=True)


def export_head(head, d_model, path):
    torch.onnx.export(head.eval(), (torch.randn(2, 3, d_model),), path, input_names=["hidden"],
                      output_names=["logits"], dynamic_axes={"hidden": {0: "B", 1: "T"}, "logits": {0: "B", 1: "T"}},
                      opset_version=OPSET, do_constant_folding=True)


@torch.no_grad()
def contract_logits(stem, experts, head, tokens):
    """Runs the ONNX contract forward (P = 0, mask of ones) in torch float32: logits [T, V]."""
    x = torch.tensor([tokens], dtype=torch.int64)
    pos = torch.arange(len(tokens))[None]
    h = stem.eval()(x, pos)
    for e in experts:
        e.eval()
        h, _ = e(h, torch.ones((1, len(tokens))), *e.empty_past(1))
    return head.eval()(h)[0]


@torch.no_grad()
def greedy(model, prompt, n):
    model.eval()
    seq = list(prompt.encode("utf-8"))
    for _ in range(n):
        logits = model(torch.tensor([seq], dtype=torch.int64))[0, -1]
        seq.append(int(logits.argmax()))
    return bytes(seq[len(prompt.encode("utf-8")):]).decode("utf-8", errors="replace")


SAMPLE_PROMPTS = [
    ("python", "import os\nimport sys\n\n\ndef read_config(path):\n    \"\"\"Read the configuration file.\"\"\"\n"),
    ("javascript", "'use strict';\n\nconst fs = require('fs');\n\nfunction readConfig(file) {\n"),
    ("prose", "The best way to predict the future is"),
]

FEATURIZER_STRINGS = [
    "",
    "a",
    "def main():\n    print('hello world')\n",
    "import numpy as np\nfrom typing import List, Optional\n\nclass Foo(object):\n    pass\n",
    "const express = require('express');\nconst app = express();\napp.get('/', (req, res) => res.send('ok'));\n",
    "export async function load(url) { const r = await fetch(url); return r.json(); }",
    "It was the best of times, it was the worst of times, it was the age of wisdom, it was the age of foolishness.",
    "Q: What do you call a fish with no eyes?\nA: A fsh.\n%\n",
    "Ünïcödé: naïve café, façade — “quotes” and emoji 🚀🐝 in the prefix",
    "日本語のテキストとEnglish words mixed 中文 한국어",
    "\t\t  \n\n\n    \r\n",
    "x" * 300,
    "GNU GENERAL PUBLIC LICENSE\n Version 3, 29 June 2007\n\n Copyright (C) 2007 Free Software Foundation",
]


def route(cents, classifier, f):
    """The router's cluster for features f: classifier argmax when present, else the nearest centroid."""
    if classifier is not None:
        return int(np.argmax(classifier[0] @ f + classifier[1]))
    return nearest(cents, f)


def export_all(cfg, mods, paths, cents, classifier, dense, windows, training, out, fixtures):
    D, H = cfg["d_model"], cfg["n_heads"]
    K, L = cfg["experts_per_level"], cfg["layers_per_expert"]
    spec = cfg["featurizer"]
    tmp = out + ".tmp"
    if os.path.exists(tmp):
        shutil.rmtree(tmp)
    os.makedirs(os.path.join(tmp, "experts"))
    os.makedirs(os.path.join(tmp, "eval"))
    os.makedirs(os.path.join(tmp, "dense"))
    export_stem(mods["stem"], os.path.join(tmp, "stem.onnx"))
    export_head(mods["head"], D, os.path.join(tmp, "head.onnx"))
    levels = []
    seed = 1000
    for lv in range(cfg["levels"]):
        experts = []
        for i in range(K):
            eid = f"L{lv}.{i}"
            rel = f"experts/{eid}.onnx"
            export_expert(mods[eid], D, os.path.join(tmp, rel))
            ref = file_ref(tmp, rel)
            experts.append({"id": eid, **ref, "layers": L,
                            "probe": {"seed": seed, "tokens": 4, "fingerprint": probe(mods[eid], D, seed, 4)}})
            seed += 1
        levels.append({"name": f"L{lv}", "experts": experts})
    dstem, dexperts, dhead = dense
    # The dense model's blocks as one expert of layers 4: merge the two 2-block experts.
    dblocks = copy.deepcopy(dexperts[0])
    for b in dexperts[1].blocks:
        dblocks.blocks.append(copy.deepcopy(b))
    dblocks.layers = len(dblocks.blocks)
    export_stem(dstem, os.path.join(tmp, "dense/stem.onnx"))
    export_expert(dblocks, D, os.path.join(tmp, "dense/blocks.onnx"))
    export_head(dhead, D, os.path.join(tmp, "dense/head.onnx"))
    with open(os.path.join(tmp, "eval/heldout.jsonl"), "w", encoding="utf-8") as f:
        for w in windows:
            f.write(json.dumps({"domain": w["domain"], "text": w["text"]}, ensure_ascii=False) + "\n")

    samples = []
    for domain, prompt in SAMPLE_PROMPTS:
        c = route(cents, classifier, featurize(spec, prompt.encode("utf-8")))
        a, b = paths[c]
        text = greedy(PathModel(mods["stem"], [mods[a], mods[b]], mods["head"]), prompt, 150)
        samples.append({"domain": domain, "cluster": c, "path": [a, b], "prompt": prompt, "completion": text})
    training = dict(training, samples=samples)

    manifest = {
        "format": "swarmpath-model/1",
        "name": "swarmpath-tiny",
        "description": "A tiny byte-level DiPaCo model (16 paths over 2 levels x 4 experts of 2 blocks, d_model 128) "
                       "trained offline on Python, JavaScript and English prose; see models/build/README.md.",
        "tokenizer": {"type": "bytes/1", "vocab_size": cfg["vocab"]},
        "dims": {"d_model": D, "n_heads": H, "head_dim": D // H, "vocab_size": cfg["vocab"],
                 "max_context": cfg["max_context"]},
        "stem": file_ref(tmp, "stem.onnx"),
        "head": file_ref(tmp, "head.onnx"),
        "levels": levels,
        "router": {
            "featurizer": spec,
            "centroids": [[round(float(v), 7) for v in row] for row in cents],
            "paths": [list(p) for p in paths],
        },
        "eval": {
            "heldout": file_ref(tmp, "eval/heldout.jsonl"),
            "dense": {"stem": file_ref(tmp, "dense/stem.onnx"), "blocks": file_ref(tmp, "dense/blocks.onnx"),
                      "head": file_ref(tmp, "dense/head.onnx"), "layers": dblocks.layers},
        },
        "training": training,
    }
    if classifier is not None:
        manifest["router"]["classifier"] = {
            "weights": [[round(float(v), 7) for v in row] for row in classifier[0]],
            "bias": [round(float(v), 7) for v in classifier[1]],
        }
    with open(os.path.join(tmp, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1)
        f.write("\n")
    if os.path.exists(out):
        shutil.rmtree(out)
    os.replace(tmp, out)

    # Fixtures. Centroids as written to the manifest (rounded), so the cluster matches what a loader sees.
    os.makedirs(fixtures, exist_ok=True)
    cents_m = np.array(manifest["router"]["centroids"], dtype=np.float64)
    cls_m = None
    if "classifier" in manifest["router"]:
        c = manifest["router"]["classifier"]
        cls_m = (np.array(c["weights"], dtype=np.float64), np.array(c["bias"], dtype=np.float64))
    cases = []
    for s in FEATURIZER_STRINGS:
        f = featurize(spec, s.encode("utf-8"))
        # "cluster": nearest centroid; "routed_cluster": what the full router (classifier when present) picks.
        cases.append({"text": s, "features": [float(v) for v in f], "cluster": nearest(cents_m, f),
                      "routed_cluster": route(cents_m, cls_m, f)})
    with open(os.path.join(fixtures, "featurizer.json"), "w", encoding="utf-8") as fh:
        json.dump({"featurizer": spec, "model": "models/swarmpath-tiny", "cases": cases}, fh, ensure_ascii=False)
        fh.write("\n")
    parity_tokens = list("def swarm(path):\n  re".encode("utf-8"))
    ppath = 5
    a, b = paths[ppath]
    logits = contract_logits(mods["stem"], [mods[a], mods[b]], mods["head"], parity_tokens)
    dlogits = contract_logits(dstem, [dblocks], dhead, parity_tokens)
    with open(os.path.join(fixtures, "parity.json"), "w") as fh:
        json.dump({
            "model": "models/swarmpath-tiny",
            "manifest_sha256": hashlib.sha256(open(os.path.join(out, "manifest.json"), "rb").read()).hexdigest(),
            "tokens": parity_tokens,
            "path_index": ppath,
            "path": [a, b],
            "last_positions": 3,
            "logits": [[float(v) for v in row] for row in logits[-3:]],
            "dense_logits": [[float(v) for v in row] for row in dlogits[-3:]],
            "rule": "|onnx - torch| <= 1e-4 * max(1, max|torch|) elementwise over each position's V logits",
        }, fh)
        fh.write("\n")
    return manifest
