"""Messages of the ``accounts`` module; members of the ``Payload`` union (``trellis.core.modules.payload``). See docs/spec/encoding.md."""

from __future__ import annotations

from trellis.core.types import U64, Address, CoreStruct


class Transfer(CoreStruct, frozen=True, tag="accounts.transfer"):
    """Move ``amount`` units of the settlement currency from the sender to ``to``."""

    to: Address
    """Recipient address."""
    amount: U64
    """Units to move; must be positive."""


class Mint(CoreStruct, frozen=True, tag="accounts.mint"):
    """Create ``amount`` new units for ``to``. Only the mint authority named in genesis may send it."""

    to: Address
    """Recipient address."""
    amount: U64
    """Units to create; must be positive."""
