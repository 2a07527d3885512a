"""Keys: the ``Signer`` port, an in-memory signer, and the file keystore (PKCS#8 PEM, encrypted with a
passphrase when one is given).

May import: ``trellis.core``. Secret key bytes never leave this package except inside a ``Signer``.
"""

from trellis.keys.signer import KeyStore, KeyStoreError, MemorySigner, Signer

__all__ = ["KeyStore", "KeyStoreError", "MemorySigner", "Signer"]
