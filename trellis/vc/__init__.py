"""Verifiable credentials (W3C VC Data Model 2.0): Data Integrity proofs with JCS (``eddsa-jcs-2022``,
``sm2-jcs-2025``), salted-hash selective disclosure, Bitstring Status List encoding, issuing, presenting, and a
verifier that checks proofs, issuer authority, validity, status and schema against committed chain state.

Not consensus-critical, so outside ``trellis.core``; it imports the core's ``credentials`` and ``identity``
records to read them. See docs/spec/credentials.md.

May import: ``trellis.core`` only (committed state comes in as a ``ChainView``, a ``StateReader`` with the tip's
height and time); never the shell.
"""

from trellis.vc.errors import VcError
from trellis.vc.issue import issue_credential, make_presentation, status_entry
from trellis.vc.proofs import CRYPTOSUITES, add_proof, cryptosuite_for_chain, split_proof, verify_proof
from trellis.vc.resolver import ChainResolver, DidKeyResolver, DidResolver, ResolvedKey, StaticResolver
from trellis.vc.verifier import ChainView, Check, verify_credential, verify_presentation

__all__ = [
    "CRYPTOSUITES",
    "ChainResolver",
    "ChainView",
    "Check",
    "DidKeyResolver",
    "DidResolver",
    "ResolvedKey",
    "StaticResolver",
    "VcError",
    "add_proof",
    "cryptosuite_for_chain",
    "issue_credential",
    "make_presentation",
    "split_proof",
    "status_entry",
    "verify_credential",
    "verify_presentation",
    "verify_proof",
]
