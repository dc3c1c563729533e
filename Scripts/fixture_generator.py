"""The deterministic weight/input generator shared by the network fixture scripts and
Tests/KallimaEvalTests/InceptionTests.swift (`InceptionGenerator`): splitmix64 of
(FNV-1a of the tensor name XOR seed, element index), so Swift reproduces every value bit for
bit without storing it."""

import numpy as np

MASK = (1 << 64) - 1
GOLDEN = 0x9E3779B97F4A7C15


def fnv1a64(name):
    h = 0xCBF29CE484222325
    for b in name.encode("utf-8"):
        h ^= b
        h = (h * 0x100000001B3) & MASK
    return h


def mix(z):
    z &= MASK
    z ^= z >> 30
    z = (z * 0xBF58476D1CE4E5B9) & MASK
    z ^= z >> 27
    z = (z * 0x94D049BB133111EB) & MASK
    return z ^ (z >> 31)


def mix_np(z):
    """mix() on a uint64 array (numpy wraps uint64 multiplication modulo 2^64)."""
    z = z ^ (z >> np.uint64(30))
    z = z * np.uint64(0xBF58476D1CE4E5B9)
    z = z ^ (z >> np.uint64(27))
    z = z * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


def uniform(seed, name, count, low, high):
    """float32 values of the generator for tensor `name`, returned as float64."""
    key = np.uint64(mix(fnv1a64(name) ^ seed))
    with np.errstate(over="ignore"):
        i = np.arange(1, count + 1, dtype=np.uint64)
        z = mix_np(key + i * np.uint64(GOLDEN))
    u = (z >> np.uint64(11)).astype(np.float64) * 2.0 ** -53
    return (low + (high - low) * u).astype(np.float32).astype(np.float64)
