"""Router featurizer `hashed-ngrams/1`, bit-exact with docs/model-format.md."""
import numpy as np

FNV_OFFSET = 0x811C9DC5
FNV_PRIME = 0x01000193


def fnv1a32(data: bytes) -> int:
    h = FNV_OFFSET
    for b in data:
        h ^= b
        h = (h * FNV_PRIME) & 0xFFFFFFFF
    return h


def featurize(spec: dict, data: bytes) -> np.ndarray:
    """Features of the first spec['prefix_bytes'] bytes: log1p of hashed n-gram counts, L2-normalised.

    Computed in float64; the runtime computes in float32, so compare with a small tolerance.
    """
    x = data[: spec["prefix_bytes"]]
    n = len(x)
    buckets = spec["buckets"]
    counts = np.zeros(buckets, dtype=np.float64)
    for k in spec["orders"]:
        for i in range(0, n - k + 1):
            h = fnv1a32(bytes([k]) + x[i : i + k])
            counts[h % buckets] += 1
    f = np.log1p(counts)
    norm = np.sqrt((f * f).sum())
    if norm > 0:
        f = f / norm
    return f


def nearest(centroids: np.ndarray, f: np.ndarray) -> int:
    """Index of the nearest centroid by squared Euclidean distance, the first on ties."""
    d = ((centroids - f[None, :]) ** 2).sum(axis=1)
    return int(np.argmin(d))  # argmin returns the first minimum
