"""The ``sm`` crypto suite: SM2 signatures (standard user id), SM3 hashing, SM4-GCM, checked against the
published standard examples and the independent pure-Python ``gmssl`` implementation.

Vectors and their sources:

- SM2 signature: GM/T 0003.5-2012 / GB/T 32918.5-2016 Annex C (the example on the *recommended* curve with
  user id ``1234567812345678``): private key ``d``, public key ``(x_A, y_A)``, ``Z_A``, ``e``, ``k`` and
  ``(r, s)`` for the message ``"message digest"``. The same values appear in OpenSSL's
  ``test/sm2_internal_test.c`` and GmSSL's SM2 tests.
- SM3: GB/T 32905-2016 Annex A, examples 1 (``"abc"``) and 2 (``"abcd"`` * 16).
- SM4-GCM: RFC 8998 Appendix A.1.
"""

from __future__ import annotations

import hashlib

import pytest
from gmssl import sm2 as gm_sm2
from gmssl import sm3 as gm_sm3

from trellis.core.crypto.aead import AeadError, aead_key_size, aead_open, aead_seal
from trellis.core.crypto.sm import (
    SM2_USER_ID,
    Sm2PrivateKey,
    sm2_digest,
    sm2_keypair_from_secret,
    sm2_sign,
    sm2_verify,
    sm2_za,
    sm3,
)
from trellis.core.crypto.suite import ED25519, SM, address_of, ed25519_keypair_from_seed, suite_by_name

STD_D = bytes.fromhex("3945208F7B2144B13F36E38AC6D39F95889393692860B51A42FB81EF4DF7C5B8")
STD_PUB = bytes.fromhex(
    "04"
    "09F9DF311E5421A150DD7D161E4BC5C672179FAD1833FC076BB08FF356F35020"
    "CCEA490CE26775A52DC6EA718CC1AA600AED05FBF35E084A6632F6072DA9AD13"
)
STD_ZA = bytes.fromhex("B2E14C5C79C6DF5B85F4FE7ED8DB7A262B9DA7E07CCB0EA9F4747B8CCDA8A4F3")
STD_MSG = b"message digest"
STD_E = bytes.fromhex("F0B43E94BA45ACCAACE692ED534382EB17E6AB5A19CE7B31F4486FDFC0D28640")
STD_SIG = bytes.fromhex(
    "F5A03B0648D2C4630EEAC513E1BB81A15944DA3827D5B74143AC7EACEEE720B3"
    "B1B6AA29DF212FD8763182BC0D421CA1BB9038FD1F7F42D4840B69C485BBC1AA"
)
N = 0xFFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFF7203DF6B21C6052B53BBF40939D54123


def _gmssl(secret: bytes, public: bytes) -> gm_sm2.CryptSM2:
    # gmssl takes hex keys and the public key without the 04 prefix; sign_with_sm3/verify_with_sm3 hash
    # Z_A || M with the default user id 1234567812345678.
    return gm_sm2.CryptSM2(private_key=secret.hex(), public_key=public[1:].hex())


# --- SM3 ---------------------------------------------------------------------------------------------------


def test_sm3_of_abc_is_the_gbt_32905_example_1() -> None:
    assert sm3(b"abc").hex() == "66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0"


def test_sm3_of_abcd_sixteen_times_is_the_gbt_32905_example_2() -> None:
    assert sm3(b"abcd" * 16).hex() == "debe9ff92275b8a138604889c18e5a4d6fdb70e5387e5765293dcba39c0c5732"


def test_both_sm3_backends_give_the_gbt_32905_digests() -> None:
    from trellis.core.crypto.sm import _cryptography_sm3, _hashlib_sm3

    for backend in (_hashlib_sm3, _cryptography_sm3):
        assert backend(b"abc").hex() == "66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0"
        assert backend(b"abcd" * 16).hex() == "debe9ff92275b8a138604889c18e5a4d6fdb70e5387e5765293dcba39c0c5732"


def test_sm3_agrees_with_gmssl() -> None:
    for msg in (b"", b"abc", bytes(range(256)) * 3):
        assert sm3(msg).hex() == gm_sm3.sm3_hash(list(msg))


def test_the_sm_suite_hashes_with_sm3() -> None:
    assert SM.hash(b"abc") == sm3(b"abc")
    assert SM.tagged_hash(b"t", b"x") == sm3(b"\x01tx")


# --- SM2: the standard example ----------------------------------------------------------------------------


def test_the_standard_private_key_gives_the_standard_public_key() -> None:
    assert sm2_keypair_from_secret(STD_D) == (STD_D, STD_PUB)


def test_za_of_the_standard_key_with_the_standard_user_id_is_the_standard_value() -> None:
    assert SM2_USER_ID == b"1234567812345678"
    assert sm2_za(STD_PUB) == STD_ZA


def test_the_signed_digest_of_the_standard_message_is_the_standard_e() -> None:
    assert sm2_digest(STD_PUB, STD_MSG) == STD_E


def test_the_standard_signature_verifies() -> None:
    assert sm2_verify(STD_PUB, STD_MSG, STD_SIG)
    assert SM.verify(STD_PUB, STD_MSG, STD_SIG)


def test_the_standard_signature_does_not_verify_another_message() -> None:
    assert not sm2_verify(STD_PUB, b"message digesT", STD_SIG)


def test_the_standard_signature_with_a_flipped_bit_does_not_verify() -> None:
    for i in (0, 31, 32, 63):
        sig = bytearray(STD_SIG)
        sig[i] ^= 0x01
        assert not sm2_verify(STD_PUB, STD_MSG, bytes(sig))


def test_the_standard_signature_under_another_key_does_not_verify() -> None:
    _, other = sm2_keypair_from_secret(b"\x01" * 32)
    assert not sm2_verify(other, STD_MSG, STD_SIG)


# --- SM2: our signatures ------------------------------------------------------------------------------------


def test_a_signature_made_here_verifies_here() -> None:
    sig = sm2_sign(STD_D, b"hello")
    assert len(sig) == 64
    assert sm2_verify(STD_PUB, b"hello", sig)


def test_signatures_are_randomised_but_all_verify() -> None:
    key = Sm2PrivateKey(STD_D)
    sigs = {key.sign(b"m") for _ in range(4)}
    assert len(sigs) == 4
    assert all(sm2_verify(STD_PUB, b"m", s) for s in sigs)


def test_signatures_made_here_verify_with_gmssl() -> None:
    secret, public = sm2_keypair_from_secret(hashlib.sha256(b"cross-check").digest())
    gm = _gmssl(secret, public)
    for msg in (b"", b"abc", bytes(range(200))):
        assert gm.verify_with_sm3(sm2_sign(secret, msg).hex(), msg)


def test_signatures_made_by_gmssl_verify_here() -> None:
    secret, public = sm2_keypair_from_secret(hashlib.sha256(b"cross-check-2").digest())
    gm = _gmssl(secret, public)
    for msg in (b"", b"abc", bytes(range(200))):
        assert sm2_verify(public, msg, bytes.fromhex(gm.sign_with_sm3(msg)))


def test_a_gmssl_signature_with_another_user_id_does_not_verify() -> None:
    secret, public = sm2_keypair_from_secret(hashlib.sha256(b"uid").digest())
    gm = _gmssl(secret, public)
    # Sign e = SM3(Z_A' || M) for user id "ALICE123@YAHOO.COM": a different Z_A.
    e = sm3(sm2_za(public, b"ALICE123@YAHOO.COM") + b"msg")
    sig = bytes.fromhex(gm.sign(e, "1" * 64))
    assert not sm2_verify(public, b"msg", sig)


def test_the_public_key_of_a_private_key_agrees_with_gmssl() -> None:
    secret = hashlib.sha256(b"pub").digest()
    gm = gm_sm2.CryptSM2(private_key=secret.hex(), public_key="")
    assert sm2_keypair_from_secret(secret)[1].hex() == "04" + gm._kg(int(secret.hex(), 16), gm.ecc_table["g"])


@pytest.mark.parametrize("d", [0, N - 1, N, 2**256 - 1])
def test_private_keys_outside_one_to_n_minus_two_are_refused(d: int) -> None:
    with pytest.raises(ValueError):
        sm2_keypair_from_secret(d.to_bytes(32, "big"))


def test_a_private_key_of_the_wrong_length_is_refused() -> None:
    with pytest.raises(ValueError):
        sm2_keypair_from_secret(b"\x01" * 31)


def test_the_private_key_repr_does_not_show_the_secret() -> None:
    assert STD_D.hex() not in repr(Sm2PrivateKey(STD_D)).lower()


# --- SM2: malformed input never raises ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("public", "signature"),
    [
        (STD_PUB[:64], STD_SIG),  # short key
        (b"\x02" + STD_PUB[1:], STD_SIG),  # not the uncompressed form
        (b"\x06" + STD_PUB[1:], STD_SIG),  # hybrid form
        (STD_PUB[:64] + b"\x00", STD_SIG),  # not on the curve
        (b"\x04" + b"\x00" * 64, STD_SIG),  # (0, 0)
        (STD_PUB, STD_SIG[:63]),  # short signature
        (STD_PUB, b"\x00" * 64),  # r = s = 0
        (STD_PUB, N.to_bytes(32, "big") + STD_SIG[32:]),  # r = n
        (STD_PUB, STD_SIG[:32] + N.to_bytes(32, "big")),  # s = n
        (STD_PUB, b"\xff" * 64),  # above n
    ],
)
def test_malformed_keys_and_signatures_do_not_verify(public: bytes, signature: bytes) -> None:
    assert sm2_verify(public, STD_MSG, signature) is False
    assert SM.verify(public, STD_MSG, signature) is False


# --- the suite ----------------------------------------------------------------------------------------------


def test_suite_by_name_sm_is_sm2_with_sm3_and_65_byte_keys() -> None:
    suite = suite_by_name("sm")
    assert suite is SM
    assert (suite.name, suite.public_key_size) == ("sm", 65)


def test_addresses_follow_the_suite_hash() -> None:
    assert address_of(SM, STD_PUB) == sm3(b"\x0ftrellis/address" + STD_PUB)[:20]
    assert address_of(SM, STD_PUB) != address_of(ED25519, STD_PUB)


def test_an_ed25519_signature_does_not_verify_under_the_sm_suite() -> None:
    from trellis.core.crypto.suite import ed25519_sign

    secret, public = ed25519_keypair_from_seed(b"\x07" * 32)
    sig = ed25519_sign(secret, b"m")
    assert ED25519.verify(public, b"m", sig)
    assert not SM.verify(public, b"m", sig)


def test_an_sm2_signature_does_not_verify_under_the_ed25519_suite() -> None:
    assert not ED25519.verify(STD_PUB, STD_MSG, STD_SIG)
    assert not ED25519.verify(STD_PUB[1:33], STD_MSG, STD_SIG)


# --- AEAD ---------------------------------------------------------------------------------------------------


def test_sm4_gcm_matches_rfc_8998_appendix_a1() -> None:
    key = bytes.fromhex("0123456789ABCDEFFEDCBA9876543210")
    iv = bytes.fromhex("00001234567800000000ABCD")
    aad = bytes.fromhex("FEEDFACEDEADBEEFFEEDFACEDEADBEEFABADDAD2")
    pt = bytes.fromhex(
        "AAAAAAAAAAAAAAAABBBBBBBBBBBBBBBBCCCCCCCCCCCCCCCCDDDDDDDDDDDDDDDD"
        "EEEEEEEEEEEEEEEEFFFFFFFFFFFFFFFFEEEEEEEEEEEEEEEEAAAAAAAAAAAAAAAA"
    )
    sealed = aead_seal("sm", key, iv, pt, aad)
    assert sealed.hex().upper() == (
        "17F399F08C67D5EE19D0DC9969C4BB7D5FD46FD3756489069157B282BB200735"
        "D82710CA5C22F0CCFA7CBF93D496AC15A56834CBCF98C397B4024A2691233B8D"
        "83DE3541E4C2B58177E065A9BF7B62EC"
    )
    assert aead_open("sm", key, iv, sealed, aad) == pt


@pytest.mark.parametrize("suite", ["ed25519", "sm"])
def test_aead_round_trips_and_refuses_tampering(suite: str) -> None:
    key, nonce = b"k" * aead_key_size(suite), b"n" * 12
    sealed = aead_seal(suite, key, nonce, b"secret", b"aad")
    assert aead_open(suite, key, nonce, sealed, b"aad") == b"secret"
    with pytest.raises(AeadError):
        aead_open(suite, key, nonce, sealed, b"other aad")
    with pytest.raises(AeadError):
        aead_open(suite, key, nonce, bytes([sealed[0] ^ 1]) + sealed[1:], b"aad")


def test_aead_key_sizes_follow_the_suite() -> None:
    assert (aead_key_size("ed25519"), aead_key_size("sm")) == (32, 16)
    with pytest.raises(ValueError):
        aead_seal("sm", b"k" * 32, b"n" * 12, b"x")
