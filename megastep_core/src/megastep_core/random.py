"""Counter-based random numbers, drawn alike by CUDA kernels and by torch code, with no generator state.

A CUDA graph replays torch's random draws correctly only from generators
registered with it, and before every replay torch refills each registered
generator's seed and offset on the device: two small kernels per generator per
step, on the critical path of a step that lasts ~100 µs at small batches, plus
one kernel per draw. A counter-based generator needs neither. Number ``d`` of
env ``e`` at that env's ``c``-th use is a hash of ``(key, e, c, d)``; the code
that consumes it (a spawn or episode kernel, one thread per env) hashes it in
place and advances the env's counter itself. The torch functions here are the
reference and the CPU path: both give bit-identical numbers, since the hash is
integer arithmetic and the float is 24 random bits times an exact power of two.

The hash (``cuda/counter_random.cuh``) mixes with 32-bit shift-multiply
rounds. That is plenty for spawn points and episode lengths; it is not meant
for cryptography, nor to replace torch's generators for learning.
"""
from __future__ import annotations

import hashlib

import torch

MASK32 = 0xFFFFFFFF


def _mul32(x, c: int):
    """``x * c`` modulo 2**32, for ``x`` below 2**32 (int or int64 tensor), without overflowing 64 bits."""
    return (x * (c & 0xFFFF) + (((x * (c >> 16)) & 0xFFFF) << 16)) & MASK32


def mix32(x):
    """The 32-bit hash of ``counter_random.cuh``, on an int or an int64 tensor of values below 2**32."""
    x = x ^ (x >> 16)
    x = _mul32(x, 0x7FEB352D)
    x = x ^ (x >> 15)
    x = _mul32(x, 0x846CA68B)
    return x ^ (x >> 16)


def counter_key(seed: int, purpose: str) -> int:
    """The 32-bit key of the numbers drawn for ``purpose`` (a name, like ``"spawn"``) under ``seed``: distinct
    purposes draw unrelated numbers from one seed."""
    digest = hashlib.blake2b(f"{int(seed)}:{purpose}".encode(), digest_size=4).digest()
    return int.from_bytes(digest, "little")


def counter_uniforms(key: int, counters: torch.Tensor, draws: int) -> torch.Tensor:
    """``(E, draws)`` float32 in ``[0, 1)``: numbers ``0 .. draws - 1`` of each env at its counter.

    :param key: from :func:`counter_key`.
    :param counters: ``(E,)`` int64, how many times each env has drawn; not advanced here.
    """
    envs = torch.arange(len(counters), device=counters.device)
    h = mix32((key ^ (envs & MASK32))[:, None])
    h = mix32(h ^ (counters & MASK32)[:, None])
    h = mix32(h ^ torch.arange(draws, device=counters.device))
    return (h >> 8).float() * 2.0**-24


class CounterRandom:
    """Each env's counter of one purpose's draws, and its key; see the module docs.

    :param seed: the world's seed.
    :param purpose: what the numbers are for; each purpose draws its own numbers.
    :param n_envs: ``E``.
    :ivar counters: ``(E,)`` int64, the draws each env has made; a kernel may advance them in place.
    """

    def __init__(self, seed: int, purpose: str, n_envs: int, device="cpu"):
        self.key = counter_key(seed, purpose)
        self.counters = torch.zeros(n_envs, dtype=torch.int64, device=device)

    def uniforms(self, draws: int, mask: torch.Tensor | None = None) -> torch.Tensor:
        """``(E, draws)`` float32 in ``[0, 1)`` at each env's counter, then advances the counters of the envs
        where ``mask`` (``(E,)`` bool; every env if None) is True."""
        numbers = counter_uniforms(self.key, self.counters, draws)
        if mask is None:
            self.counters += 1
        else:
            self.counters += mask
        return numbers
