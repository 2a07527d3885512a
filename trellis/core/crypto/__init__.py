"""Crypto suites (hash + signature scheme), domain-separated hashing and Merkle trees with proofs.

May import: ``trellis.core.types``, ``trellis.core.errors``, ``hashlib`` and native crypto libraries.
"""

from trellis.core.crypto.merkle import MerkleProof, merkle_proof, merkle_root, verify_merkle_proof
from trellis.core.crypto.suite import ED25519, SM, Suite, address_of, suite_by_name

__all__ = [
    "ED25519",
    "SM",
    "MerkleProof",
    "Suite",
    "address_of",
    "merkle_proof",
    "merkle_root",
    "suite_by_name",
    "verify_merkle_proof",
]
