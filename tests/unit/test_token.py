"""Redirect tokens (spec/ecode-redirect.md): layout, round trips, rotation and every refusal."""

from __future__ import annotations

import base64
import json
import os

import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from gmssl import func, sm3, sm4

from dz_assets.settings import RedirectSettings
from redirect_api.keys import KeyConfigError, KeyRing, load_keyring, parse_keys
from redirect_api.tokens import (
    ExpiredToken,
    MalformedToken,
    ReplayedToken,
    TamperedToken,
    TokenError,
    UnknownKeyId,
    decrypt_token,
    issue_token,
    read_token,
    seal,
    unseal,
)

K1, K2 = bytes.fromhex("00112233445566778899aabbccddeeff"), bytes.fromhex("ffeeddccbbaa99887766554433221100")
MAC = bytes.fromhex("0f" * 32)
ADDRESS = {"dzbm": "5117020010010001", "dzmc": "四川省达州市通川区朝阳东路1号", "xzqh": "511702",
           "gajg": "511702010000", "gajgmc": "朝阳派出所", "xzqhmc": "通川区", "status": "active"}
NOW = 1_763_604_930


def gmssl_hmac_sm3(key: bytes, data: bytes) -> bytes:
    """HMAC (RFC 2104, 64-byte blocks) over gmssl's SM3, independent of OpenSSL."""
    def h(b: bytes) -> bytes:
        return bytes.fromhex(sm3.sm3_hash(func.bytes_to_list(b)))

    key = key.ljust(64, b"\0")
    return h(bytes(k ^ 0x5C for k in key) + h(bytes(k ^ 0x36 for k in key) + data))


def ring(mode: str = "gcm", **kw) -> KeyRing:
    return KeyRing(keys=kw.pop("keys", {1: K1, 2: K2}), mac_key=kw.pop("mac_key", MAC), mode=mode)


def raw(token: str) -> bytes:
    return base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))


class MemoryReplay:
    def __init__(self):
        self.seen = set()

    def claim(self, jti, expires_at):
        if jti in self.seen:
            return False
        self.seen.add(jti)
        return True


@pytest.mark.parametrize("mode", ["gcm", "cbc"])
def test_round_trip_carries_exactly_the_contract_claims(mode):
    token = issue_token(ADDRESS, ring(mode), now=NOW)
    assert "=" not in token and "+" not in token and "/" not in token
    claims = read_token(token, ring(mode), now=NOW + 10)
    assert list(claims) == ["dzbm", "dzmc", "xzqh", "gajg", "gajgmc", "iat", "jti"]
    assert claims["dzmc"] == ADDRESS["dzmc"] and claims["iat"] == NOW
    assert len(claims["jti"]) == 16 and int(claims["jti"], 16) >= 0


def test_gcm_layout_aad_and_newest_key():
    token = issue_token(ADDRESS, ring("gcm"), now=NOW)
    b = raw(token)
    assert b[0] == 0x01 and b[1] == 2  # the highest live id encrypts
    iv, body, tag = b[2:14], b[14:-16], b[-16:]
    dec = Cipher(algorithms.SM4(K2), modes.GCM(iv, tag)).decryptor()
    dec.authenticate_additional_data(b[:2])
    claims = json.loads(dec.update(body) + dec.finalize())
    assert claims["dzbm"] == ADDRESS["dzbm"]


def test_gcm_plaintext_is_compact_utf8():
    b = raw(seal(b"x", ring("gcm"), key_id=1, iv=bytes(12)))
    assert len(b) == 2 + 12 + 1 + 16
    token = issue_token(ADDRESS, ring("gcm"), now=NOW)
    b = raw(token)
    dec = Cipher(algorithms.SM4(K2), modes.GCM(b[2:14], b[-16:])).decryptor()
    dec.authenticate_additional_data(b[:2])
    text = (dec.update(b[14:-16]) + dec.finalize()).decode("utf-8")
    assert ", " not in text and ": " not in text and "朝阳" in text


def test_cbc_token_opens_with_gmssl_alone():
    """A partner with only gmssl (SM4-CBC + SM3) can verify and read a 0x02 token."""
    token = issue_token(ADDRESS, ring("cbc"), now=NOW)
    b = raw(token)
    assert b[0] == 0x02 and b[1] == 2 and (len(b) - 2 - 16 - 32) % 16 == 0
    assert gmssl_hmac_sm3(MAC, b[:-32]) == b[-32:]
    c = sm4.CryptSM4(padding_mode=sm4.PKCS7)
    c.set_key(K2, sm4.SM4_DECRYPT)
    claims = json.loads(c.crypt_cbc(b[2:18], b[18:-32]).decode("utf-8"))
    assert claims["dzbm"] == ADDRESS["dzbm"] and claims["iat"] == NOW


def test_gcm_token_opens_with_gmssl_built_gcm():
    """SM4-GCM written out over gmssl's block cipher (no OpenSSL) reads a 0x01 token."""
    import importlib.util
    from pathlib import Path

    spec = importlib.util.spec_from_file_location("_sm4_reference", Path(__file__).with_name("test_sm4_vectors.py"))
    ref = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(ref)
    gmssl_gcm, gmssl_gcm_tag = ref.gmssl_gcm, ref.gmssl_gcm_tag
    b = raw(issue_token(ADDRESS, ring("gcm"), now=NOW))
    header, iv, body, tag = b[:2], b[2:14], b[14:-16], b[-16:]
    assert gmssl_gcm_tag(K2, iv, header, body) == tag
    plain, _ = gmssl_gcm(K2, iv, header, body)  # CTR mode: decrypting is encrypting
    assert json.loads(plain.decode("utf-8"))["dzmc"] == ADDRESS["dzmc"]


def test_gmssl_made_cbc_token_reads_here():
    body = json.dumps({"dzbm": "X1", "dzmc": "甲", "xzqh": "511702", "gajg": None, "gajgmc": None,
                       "iat": NOW, "jti": "0123456789abcdef"}, ensure_ascii=False, separators=(",", ":"))
    iv = os.urandom(16)
    c = sm4.CryptSM4(padding_mode=sm4.PKCS7)
    c.set_key(K1, sm4.SM4_ENCRYPT)
    signed = bytes((0x02, 1)) + iv + c.crypt_cbc(iv, body.encode())
    token = base64.urlsafe_b64encode(signed + gmssl_hmac_sm3(MAC, signed)).rstrip(b"=").decode()
    assert read_token(token, ring("cbc"), now=NOW)["dzmc"] == "甲"


@pytest.mark.parametrize("mode", ["gcm", "cbc"])
def test_tampering_with_any_byte_is_refused(mode):
    token = issue_token(ADDRESS, ring(mode), now=NOW)
    b = bytearray(raw(token))
    for i in range(len(b)):
        for flip in (0x01, 0x80):
            t = bytearray(b)
            t[i] ^= flip
            forged = base64.urlsafe_b64encode(bytes(t)).rstrip(b"=").decode()
            with pytest.raises(TokenError) as exc:
                read_token(forged, ring(mode), now=NOW)
            assert exc.value.status == 400, (i, flip, exc.value)


@pytest.mark.parametrize("mode", ["gcm", "cbc"])
def test_distinct_errors(mode):
    r = ring(mode)
    token = issue_token(ADDRESS, r, now=NOW)
    b = bytearray(raw(token))
    b[-1] ^= 1
    with pytest.raises(TamperedToken):
        read_token(base64.urlsafe_b64encode(bytes(b)).rstrip(b"=").decode(), r, now=NOW)
    with pytest.raises(UnknownKeyId):  # issued under key 2, receiver knows only key 1
        read_token(token, ring(mode, keys={1: K1}), now=NOW)
    with pytest.raises(ExpiredToken) as exp:
        read_token(token, r, lifetime_s=300, now=NOW + 301)
    assert exp.value.status == 401
    read_token(token, r, lifetime_s=300, now=NOW + 300)  # the boundary is still valid
    replay = MemoryReplay()
    decrypt_token(token, r, replay=replay, now=NOW + 1)
    with pytest.raises(ReplayedToken) as rep:
        decrypt_token(token, r, replay=replay, now=NOW + 2)
    assert rep.value.status == 409
    assert len({TamperedToken, UnknownKeyId, ExpiredToken, ReplayedToken, MalformedToken}) == 5


def test_wrong_key_under_a_known_id_is_tampered():
    token = issue_token(ADDRESS, ring("gcm"), now=NOW)
    with pytest.raises(TamperedToken):
        read_token(token, ring("gcm", keys={1: K1, 2: K1}), now=NOW)


def test_rotation_old_tokens_still_read():
    old = issue_token(ADDRESS, ring("gcm", keys={1: K1}), now=NOW)
    assert raw(old)[1] == 1
    assert read_token(old, ring("gcm"), now=NOW)["dzbm"] == ADDRESS["dzbm"]


@pytest.mark.parametrize("bad", ["", "!!!!", "a", "AQ==", "A" * 5000, "AQE", "AgEAAAAA",
                                 "A" * 31 + "=", "AQ" + "A" * 40 + "B"])
def test_malformed_strings(bad):
    with pytest.raises(TokenError) as exc:
        unseal(bad, ring())
    assert exc.value.status == 400


def test_non_canonical_base64_is_refused():
    token = issue_token(ADDRESS, ring(), now=NOW)
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    if len(token) % 4:  # spare bits in the last character: a second spelling decodes the same
        last = alphabet.index(token[-1])
        spare = 4 if len(token) % 4 == 2 else 2
        twin = token[:-1] + alphabet[last | (1 << (spare - 1))]
        if twin != token:
            with pytest.raises(MalformedToken):
                read_token(twin, ring(), now=NOW)


def test_future_iat_and_bad_claims_are_malformed():
    with pytest.raises(MalformedToken):
        read_token(issue_token(ADDRESS, ring(), now=NOW + 3600), ring(), now=NOW)
    with pytest.raises(MalformedToken):
        read_token(seal(b'{"dzbm":"x"}', ring()), ring(), now=NOW)
    with pytest.raises(MalformedToken):
        read_token(seal(b"\xff\xfe", ring()), ring(), now=NOW)


def settings_with(**kw) -> RedirectSettings:
    base = dict(sm4_keys=None, sm4_keys_file=None, mac_key=None, token_mode="gcm", doorplate_url="/doorplate",
                fallback_url=None, token_lifetime_s=300, rate_limit=0, rate_burst=1, cache_ttl_s=0,
                cache_size=10, pool_size=1, mount_receiver=True, access_log=False,
                header_timeout_s=5.0, keep_alive_s=5.0, max_connections=2000)
    base.update(kw)
    return RedirectSettings(**base)


def test_key_configuration(tmp_path):
    assert parse_keys(f"1:{K1.hex()}, 7:{K2.hex()}") == {1: K1, 7: K2}
    for bad in ("1", f"0:{K1.hex()}", f"256:{K1.hex()}", "1:abcd", f"x:{K1.hex()}", f"1:{K1.hex()},1:{K2.hex()}",
                "1:" + "zz" * 16):
        with pytest.raises(KeyConfigError):
            parse_keys(bad)
    with pytest.raises(KeyConfigError, match="DZ_SM4_KEYS"):
        load_keyring(settings_with())
    f = tmp_path / "keys"
    f.write_text(f"# rotation\n3:{K1.hex()}\n4:{K2.hex()}\n")
    assert load_keyring(settings_with(sm4_keys_file=f)).current_id == 4
    both = load_keyring(settings_with(sm4_keys=f"9:{K1.hex()}", sm4_keys_file=f))
    assert both.ids() == [9]  # the variable wins
    with pytest.raises(KeyConfigError, match="MAC"):
        load_keyring(settings_with(sm4_keys=f"1:{K1.hex()}", token_mode="cbc"))
    with pytest.raises(KeyConfigError):
        load_keyring(settings_with(sm4_keys=f"1:{K1.hex()}", token_mode="ecb"))
    r = load_keyring(settings_with(sm4_keys=f"1:{K1.hex()}", mac_key=MAC.hex(), token_mode="cbc"))
    assert K1.hex() not in repr(r) and MAC.hex() not in repr(r)
