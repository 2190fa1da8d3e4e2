"""SM4 and SM3 as the tokens use them (cryptography/OpenSSL), proven against the standards'
vectors and against gmssl, an independent pure-Python implementation."""

from __future__ import annotations

import os

import pytest
from cryptography.hazmat.primitives import hashes, hmac, padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from gmssl import func, sm3, sm4
from hypothesis import given, settings
from hypothesis import strategies as st

# GB/T 32907-2016, Appendix A: key = plaintext = 0123456789abcdeffedcba9876543210.
GBT_KEY = bytes.fromhex("0123456789abcdeffedcba9876543210")
GBT_ONCE = "681edf34d206965e86b3e94f536e4246"
GBT_MILLION = "595298c7c6fd271f0402f804c33d3f66"

# RFC 8998, Appendix A.1 (SM4-GCM).
RFC_KEY = bytes.fromhex("0123456789ABCDEFFEDCBA9876543210")
RFC_IV = bytes.fromhex("00001234567800000000ABCD")
RFC_AAD = bytes.fromhex("FEEDFACEDEADBEEFFEEDFACEDEADBEEFABADDAD2")
RFC_PT = bytes.fromhex(
    "AAAAAAAAAAAAAAAABBBBBBBBBBBBBBBBCCCCCCCCCCCCCCCCDDDDDDDDDDDDDDDD"
    "EEEEEEEEEEEEEEEEFFFFFFFFFFFFFFFFEEEEEEEEEEEEEEEEAAAAAAAAAAAAAAAA")
RFC_CT = bytes.fromhex(
    "17F399F08C67D5EE19D0DC9969C4BB7D5FD46FD3756489069157B282BB200735"
    "D82710CA5C22F0CCFA7CBF93D496AC15A56834CBCF98C397B4024A2691233B8D")
RFC_TAG = bytes.fromhex("83DE3541E4C2B58177E065A9BF7B62EC")


def ecb(key: bytes) -> Cipher:
    return Cipher(algorithms.SM4(key), modes.ECB())


def test_sm4_block_gbt32907_example_1():
    enc = ecb(GBT_KEY).encryptor()
    assert (enc.update(GBT_KEY) + enc.finalize()).hex() == GBT_ONCE
    dec = ecb(GBT_KEY).decryptor()
    assert dec.update(bytes.fromhex(GBT_ONCE)) + dec.finalize() == GBT_KEY


def test_sm4_block_gbt32907_example_2_million_iterations():
    # 1 000 000 encryptions with one key: ~0.35 s through OpenSSL, cheap enough to run always.
    enc = ecb(GBT_KEY).encryptor()
    block = GBT_KEY
    for _ in range(1_000_000):
        block = enc.update(block)
    assert block.hex() == GBT_MILLION


def test_gmssl_agrees_on_the_gbt32907_block():
    c = sm4.CryptSM4()
    c.set_key(GBT_KEY, sm4.SM4_ENCRYPT)
    assert c.one_round(c.sk, func.bytes_to_list(GBT_KEY)) == list(bytes.fromhex(GBT_ONCE))


def test_sm4_gcm_rfc8998_appendix_a1():
    enc = Cipher(algorithms.SM4(RFC_KEY), modes.GCM(RFC_IV)).encryptor()
    enc.authenticate_additional_data(RFC_AAD)
    assert enc.update(RFC_PT) + enc.finalize() == RFC_CT
    assert enc.tag == RFC_TAG
    dec = Cipher(algorithms.SM4(RFC_KEY), modes.GCM(RFC_IV, RFC_TAG)).decryptor()
    dec.authenticate_additional_data(RFC_AAD)
    assert dec.update(RFC_CT) + dec.finalize() == RFC_PT


def test_sm3_gbt32905_abc():
    # GB/T 32905-2016, Appendix A, example 1.
    h = hashes.Hash(hashes.SM3())
    h.update(b"abc")
    assert h.finalize().hex() == "66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0"


def test_sm3_gbt32905_512_bit_message():
    msg = bytes.fromhex("61626364" * 16)
    h = hashes.Hash(hashes.SM3())
    h.update(msg)
    assert h.finalize().hex() == "debe9ff92275b8a138604889c18e5a4d6fdb70e5387e5765293dcba39c0c5732"


def gmssl_cbc_encrypt(key: bytes, iv: bytes, data: bytes) -> bytes:
    c = sm4.CryptSM4(padding_mode=sm4.PKCS7)
    c.set_key(key, sm4.SM4_ENCRYPT)
    return c.crypt_cbc(iv, data)


def gmssl_hmac_sm3(key: bytes, data: bytes) -> bytes:
    """HMAC (RFC 2104, block 64 bytes) over gmssl's SM3: an independent construction."""
    def h(b: bytes) -> bytes:
        return bytes.fromhex(sm3.sm3_hash(func.bytes_to_list(b)))

    if len(key) > 64:
        key = h(key)
    key = key.ljust(64, b"\0")
    inner = h(bytes(k ^ 0x36 for k in key) + data)
    return h(bytes(k ^ 0x5C for k in key) + inner)


@settings(max_examples=40, deadline=None)
@given(key=st.binary(min_size=16, max_size=16), iv=st.binary(min_size=16, max_size=16),
       data=st.binary(max_size=300))
def test_sm4_cbc_pkcs7_matches_gmssl(key, iv, data):
    padder = padding.PKCS7(128).padder()
    padded = padder.update(data) + padder.finalize()
    enc = Cipher(algorithms.SM4(key), modes.CBC(iv)).encryptor()
    ours = enc.update(padded) + enc.finalize()
    assert ours == gmssl_cbc_encrypt(key, iv, data)
    c = sm4.CryptSM4(padding_mode=sm4.PKCS7)
    c.set_key(key, sm4.SM4_DECRYPT)
    assert c.crypt_cbc(iv, ours) == data


@settings(max_examples=40, deadline=None)
@given(data=st.binary(max_size=400))
def test_sm3_matches_gmssl(data):
    h = hashes.Hash(hashes.SM3())
    h.update(data)
    assert h.finalize().hex() == sm3.sm3_hash(func.bytes_to_list(data))


@pytest.mark.parametrize("key_len", [16, 32, 100])
def test_hmac_sm3_matches_gmssl_construction(key_len):
    key, data = os.urandom(key_len), os.urandom(123)
    mac = hmac.HMAC(key, hashes.SM3())
    mac.update(data)
    assert mac.finalize() == gmssl_hmac_sm3(key, data)


# --- SM4-GCM built from gmssl's block cipher (NIST SP 800-38D, 96-bit IV): independent of OpenSSL ---

def _gf_mult(x: int, y: int) -> int:
    r = 0xE1 << 120
    z, v = 0, y
    for i in range(127, -1, -1):
        if (x >> i) & 1:
            z ^= v
        v = (v >> 1) ^ r if v & 1 else v >> 1
    return z


def _ghash(h: int, data: bytes) -> int:
    y = 0
    for i in range(0, len(data), 16):
        y = _gf_mult(y ^ int.from_bytes(data[i:i + 16], "big"), h)
    return y


def _pad16(b: bytes) -> bytes:
    return b + bytes(-len(b) % 16)


def gmssl_gcm(key: bytes, iv: bytes, aad: bytes, data: bytes) -> tuple[bytes, bytes]:
    """(ciphertext, tag) of SM4-GCM. To decrypt, pass the ciphertext (the CTR keystream XOR is
    its own inverse) and check the tag separately with :func:`gmssl_gcm_tag`."""
    c = sm4.CryptSM4()
    c.set_key(key, sm4.SM4_ENCRYPT)

    def block(b: bytes) -> bytes:
        return bytes(c.one_round(c.sk, list(b)))

    assert len(iv) == 12
    j0 = iv + b"\x00\x00\x00\x01"
    out = bytearray()
    for n, i in enumerate(range(0, len(data), 16), start=2):
        ks = block(iv + n.to_bytes(4, "big"))
        out += bytes(a ^ b for a, b in zip(data[i:i + 16], ks, strict=False))
    return bytes(out), gmssl_gcm_tag(key, iv, aad, bytes(out), block=block, j0=j0)


def gmssl_gcm_tag(key: bytes, iv: bytes, aad: bytes, ciphertext: bytes, *, block=None, j0=None) -> bytes:
    if block is None:
        c = sm4.CryptSM4()
        c.set_key(key, sm4.SM4_ENCRYPT)

        def block(b: bytes) -> bytes:
            return bytes(c.one_round(c.sk, list(b)))
    j0 = j0 or iv + b"\x00\x00\x00\x01"
    h = int.from_bytes(block(bytes(16)), "big")
    lengths = (len(aad) * 8).to_bytes(8, "big") + (len(ciphertext) * 8).to_bytes(8, "big")
    s = _ghash(h, _pad16(aad) + _pad16(ciphertext) + lengths)
    return (s ^ int.from_bytes(block(j0), "big")).to_bytes(16, "big")


def test_gmssl_built_gcm_reproduces_rfc8998_a1():
    ct, tag = gmssl_gcm(RFC_KEY, RFC_IV, RFC_AAD, RFC_PT)
    assert ct == RFC_CT and tag == RFC_TAG


@settings(max_examples=25, deadline=None)
@given(key=st.binary(min_size=16, max_size=16), iv=st.binary(min_size=12, max_size=12),
       aad=st.binary(max_size=40), data=st.binary(max_size=200))
def test_sm4_gcm_matches_gmssl_built_gcm(key, iv, aad, data):
    enc = Cipher(algorithms.SM4(key), modes.GCM(iv)).encryptor()
    enc.authenticate_additional_data(aad)
    ct = enc.update(data) + enc.finalize()
    assert (ct, enc.tag) == gmssl_gcm(key, iv, aad, data)
