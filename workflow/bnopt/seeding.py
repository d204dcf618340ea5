"""Derive independent RNG seeds from (run seed, purpose, indices).

Everything random in a run (initial weights, the minibatch of step t, the noise
of noisy BN at step t in layer l, the DLN's data) draws from a generator seeded by
one of these values. Nothing depends on a stateful global RNG, so any step can be
replayed from the checkpoint before it and a resumed run equals an unbroken one.
"""

from __future__ import annotations

import hashlib

import torch


def derive_seed(seed: int, purpose: str, *indices: int) -> int:
    """A 63-bit seed that is a pure function of its arguments.

    A cryptographic hash keeps streams for neighbouring (seed, step) pairs
    unrelated, which `seed + step` arithmetic would not.
    """
    key = ":".join([str(int(seed)), purpose, *(str(int(i)) for i in indices)])
    digest = hashlib.blake2b(key.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") & ((1 << 63) - 1)


def generator(seed: int, purpose: str, *indices: int, device: torch.device | str = "cpu") -> torch.Generator:
    """A fresh torch.Generator on `device`, seeded by :func:`derive_seed`."""
    gen = torch.Generator(device=device)
    gen.manual_seed(derive_seed(seed, purpose, *indices))
    return gen
