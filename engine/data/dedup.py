"""Duplicates: exact (hash of the turns) and near (MinHash over character 5-grams, banded LSH).

The MinHash is vectorised with numpy over many records at once, so 100 k conversations take seconds:

1. each conversation's text is normalised (NFKC, so full-width and half-width punctuation agree; lower case;
   whitespace and punctuation removed) — exactly the noise that makes copies look different;
2. the code points of a batch of texts are concatenated; a polynomial rolling hash gives every 5-gram a 64-bit
   value, mixed with the splitmix64 finaliser;
3. each of ``num_perm`` hash functions is a multiply-add-shift ``(a·x + b) mod 2⁶⁴ >> 32``; ``minimum.reduceat``
   takes each record's minimum.  Work is split over threads (numpy releases the GIL);
4. LSH: the signature is cut into ``bands`` of ``rows``; records that agree on a whole band are candidates, and a
   candidate pair counts when the share of equal signature values (the Jaccard estimate) reaches the threshold.

numpy is imported inside the functions (it is light, but the data step must not slow down ``danlu --help``).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import unicodedata

NUM_PERM = 128
SHINGLE = 5
DEFAULT_THRESHOLD = 0.9  # templated answers in real SFT sets reach ~0.8 without being copies
_SEED = 0x5EED_DA1
_STRIP = re.compile(r"[\W_]+", re.UNICODE)


def conversation_key(msgs: list[dict]) -> str:
    """Identity of a conversation's turns (roles and contents; record fields such as ids do not count)."""
    return hashlib.sha1(json.dumps([[m.get("role"), m.get("content")] for m in msgs], ensure_ascii=False)
                        .encode("utf-8", "surrogatepass")).hexdigest()


def dedup_text(msgs: list[dict]) -> str:
    """The normalised text that near-duplicate detection compares."""
    text = "\x1f".join(m["content"] for m in msgs if isinstance(m.get("content"), str))
    return _STRIP.sub("", unicodedata.normalize("NFKC", text).lower())


def _params(num_perm: int):
    import numpy as np

    rng = np.random.default_rng(_SEED)
    a = rng.integers(1, 2**63, size=num_perm, dtype=np.uint64) | np.uint64(1)
    b = rng.integers(0, 2**63, size=num_perm, dtype=np.uint64)
    return a, b


def _shingle_hashes(texts: list[str]):
    """(hashes of every 5-gram, start offset of each text's run) for a batch of texts."""
    import numpy as np

    padded = [t if len(t) >= SHINGLE else t + "\x00" * (SHINGLE - len(t)) for t in texts]
    lens = np.fromiter((len(t) for t in padded), dtype=np.int64, count=len(padded))
    cps = np.frombuffer("".join(padded).encode("utf-32-le", "surrogatepass"), dtype=np.uint32).astype(np.uint64)
    n = len(cps) - SHINGLE + 1
    h = np.zeros(max(n, 0), dtype=np.uint64)
    mult = np.uint64(0x100000001B3)
    with np.errstate(over="ignore"):
        for k in range(SHINGLE):
            h = h * mult + cps[k: k + n]
        # splitmix64 finaliser: spread the bits
        h ^= h >> np.uint64(30)
        h *= np.uint64(0xBF58476D1CE4E5B9)
        h ^= h >> np.uint64(27)
        h *= np.uint64(0x94D049BB133111EB)
        h ^= h >> np.uint64(31)
    starts = np.concatenate(([0], np.cumsum(lens)[:-1]))
    counts = lens - SHINGLE + 1
    # keep only the 5-grams that lie inside one text
    idx = np.repeat(starts, counts) + (np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts))
    offsets = np.concatenate(([0], np.cumsum(counts)[:-1]))
    return h[idx], offsets


def signatures(texts: list[str], num_perm: int = NUM_PERM, threads: int | None = None):
    """MinHash signatures, shape (len(texts), num_perm), uint32."""
    import numpy as np
    from concurrent.futures import ThreadPoolExecutor

    out = np.empty((len(texts), num_perm), dtype=np.uint32)
    if not texts:
        return out
    a, b = _params(num_perm)
    threads = threads or min(4, os.cpu_count() or 1)
    batch = 2000
    shift = np.uint64(32)

    def run(lo_hi, h, offsets, rows):
        lo, hi = lo_hi
        with np.errstate(over="ignore"):
            for p in range(lo, hi):
                v = (h * a[p] + b[p]) >> shift
                out[rows, p] = np.minimum.reduceat(v, offsets)

    parts = [(i * num_perm // threads, (i + 1) * num_perm // threads) for i in range(threads)]
    with ThreadPoolExecutor(threads) as pool:
        for s in range(0, len(texts), batch):
            h, offsets = _shingle_hashes(texts[s: s + batch])
            rows = slice(s, min(s + batch, len(texts)))
            list(pool.map(lambda part: run(part, h, offsets, rows), parts))
    return out


def lsh_params(threshold: float, num_perm: int = NUM_PERM) -> tuple[int, int]:
    """(bands, rows) minimising false positives + false negatives around ``threshold``."""
    import numpy as np

    xs = np.linspace(0, 1, 201)
    best, best_err = (1, num_perm), float("inf")
    for bands in range(1, num_perm + 1):
        rows = num_perm // bands
        p = 1 - (1 - xs ** rows) ** bands
        fp = np.trapezoid(np.where(xs < threshold, p, 0), xs)
        fn = np.trapezoid(np.where(xs >= threshold, 1 - p, 0), xs)
        if fp + fn < best_err:
            best, best_err = (bands, rows), fp + fn
    return best


def near_duplicates(sigs, threshold: float = DEFAULT_THRESHOLD, *, skip=None) -> list[tuple[int, int, float]]:
    """(later, earlier, similarity) for each record that nearly duplicates an earlier one (its cluster's first).

    ``skip`` is a boolean mask of records to leave out (e.g. exact duplicates already removed).
    """
    import numpy as np

    n, num_perm = sigs.shape
    if n < 2:
        return []
    bands, rows = lsh_params(threshold, num_perm)
    parent = np.arange(n)

    def find(i):
        root = i
        while parent[root] != root:
            root = parent[root]
        while parent[i] != root:
            parent[i], i = root, parent[i]
        return root

    alive = np.ones(n, dtype=bool) if skip is None else ~np.asarray(skip, dtype=bool)
    ids = np.nonzero(alive)[0]
    mix = np.random.default_rng(7).integers(1, 2**63, size=rows, dtype=np.uint64) | np.uint64(1)
    for band in range(bands):
        block = sigs[ids, band * rows:(band + 1) * rows].astype(np.uint64)
        with np.errstate(over="ignore"):
            key = (block * mix).sum(axis=1, dtype=np.uint64) ^ np.uint64(band)
        order = np.argsort(key, kind="stable")
        k = key[order]
        same = np.nonzero(k[1:] == k[:-1])[0]
        if not len(same):
            continue
        # the first member of each run of equal keys, for every later member of the run
        run_start = np.ones(len(k), dtype=bool)
        run_start[1:] = k[1:] != k[:-1]
        first = np.maximum.accumulate(np.where(run_start, np.arange(len(k)), 0))
        for j in same + 1:
            x, y = ids[order[first[j]]], ids[order[j]]
            rx, ry = find(x), find(y)
            if rx == ry:
                continue
            if np.mean(sigs[x] == sigs[y]) >= threshold:
                lo, hi = (rx, ry) if rx < ry else (ry, rx)
                parent[hi] = lo
    out = []
    for i in ids:
        r = find(i)
        if r != i:
            out.append((int(i), int(r), float(np.mean(sigs[i] == sigs[r]))))
    return out


def cross_pairs(sigs, side, threshold: float = DEFAULT_THRESHOLD, limit: int = 100000):
    """(i, j, similarity) pairs with ``side[i] != side[j]`` (e.g. train vs eval) that nearly match."""
    import numpy as np

    n, num_perm = sigs.shape
    side = np.asarray(side)
    bands, rows = lsh_params(threshold, num_perm)
    mix = np.random.default_rng(7).integers(1, 2**63, size=rows, dtype=np.uint64) | np.uint64(1)
    seen, out = set(), []
    for band in range(bands):
        with np.errstate(over="ignore"):
            key = (sigs[:, band * rows:(band + 1) * rows].astype(np.uint64) * mix).sum(axis=1, dtype=np.uint64)
        order = np.argsort(key, kind="stable")
        k = key[order]
        bounds = np.nonzero(np.concatenate(([True], k[1:] != k[:-1], [True])))[0]
        for s, e in zip(bounds[:-1], bounds[1:]):
            if e - s < 2:
                continue
            members = order[s:e]
            a = members[side[members] == 0]
            b = members[side[members] == 1]
            for i in a[:200]:
                for j in b[:200]:
                    if (i, j) in seen:
                        continue
                    seen.add((i, j))
                    sim = float(np.mean(sigs[i] == sigs[j]))
                    if sim >= threshold:
                        out.append((int(i), int(j), sim))
                        if len(out) >= limit:
                            return out
    return out
