"""SM4 redirect tokens, both ends (spec/ecode-redirect.md, "Token").

``0x01``: ``version | key_id | iv(12) | ciphertext | tag(16)``, SM4-GCM (RFC 8998), AAD = the
version and key_id bytes. ``0x02`` (partners without GCM): ``version | key_id | iv(16) |
ciphertext | mac(32)``, SM4-CBC with PKCS#7 padding, mac = HMAC-SM3 over every byte before it.
Both are base64url without padding. SM4 and SM3 come from ``cryptography`` (OpenSSL); the tests
prove them against GB/T 32907, RFC 8998 and the independent ``gmssl``.

The receiver: :func:`read_token` authenticates and checks the lifetime; :func:`decrypt_token`
adds the replay check against a shared :class:`~redirect_api.replay.ReplayMemory`.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import re
import time
from collections.abc import Mapping
from typing import Any, Protocol

from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives import hashes, hmac, padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from redirect_api.keys import KeyRing

VERSION_GCM = 0x01
VERSION_CBC = 0x02
GCM_IV, GCM_TAG = 12, 16
CBC_IV, MAC_LEN, BLOCK = 16, 32, 16
# The longest address name is 200 characters (catalogue DZMC), i.e. ≤ 600 UTF-8 bytes; a claim
# set is under 1 KiB, so 4 096 base64 characters leave room and refuse anything absurd early.
MAX_TOKEN_CHARS = 4096
# Clocks of issuer and receiver may differ a little; an iat further ahead than this is invalid.
CLOCK_SKEW_S = 60
CLAIM_FIELDS = ("dzbm", "dzmc", "xzqh", "gajg", "gajgmc")
_B64URL = re.compile(r"^[A-Za-z0-9_-]+$")
_JTI = re.compile(r"^[0-9a-f]{16}$")


class TokenError(Exception):
    """A token the receiver refuses; ``status`` is the contract's HTTP status, ``reason`` a code."""

    status = 400
    reason = "invalid"


class MalformedToken(TokenError):
    reason = "malformed"


class TamperedToken(TokenError):
    reason = "tampered"


class UnknownKeyId(TokenError):
    reason = "unknown_key"


class ExpiredToken(TokenError):
    status = 401
    reason = "expired"


class ReplayedToken(TokenError):
    status = 409
    reason = "replayed"


class ReplayMemory(Protocol):
    def claim(self, jti: str, expires_at: float) -> bool:
        """Record ``jti`` until ``expires_at``; False when it was already there (a replay)."""


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def unb64url(text: str) -> bytes:
    """Strict base64url without padding: one token string per byte string, or MalformedToken."""
    if not text or len(text) > MAX_TOKEN_CHARS or not _B64URL.match(text) or len(text) % 4 == 1:
        raise MalformedToken("not a base64url token")
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        raise MalformedToken("not a base64url token") from None
    if b64url(raw) != text:  # non-zero spare bits: a second spelling of the same bytes
        raise MalformedToken("non-canonical base64url")
    return raw


# --- sealing --------------------------------------------------------------------------------------

def _sm4(key: bytes) -> algorithms.SM4:
    return algorithms.SM4(key)


def _hmac_sm3(key: bytes, data: bytes) -> bytes:
    mac = hmac.HMAC(key, hashes.SM3())
    mac.update(data)
    return mac.finalize()


def seal(plaintext: bytes, keyring: KeyRing, *, mode: str | None = None, key_id: int | None = None,
         iv: bytes | None = None) -> str:
    """Encrypt ``plaintext`` into a token with the newest key (or ``key_id``) in ``mode``."""
    mode = mode or keyring.mode
    kid = keyring.current_id if key_id is None else key_id
    key = keyring.keys[kid]
    if mode == "gcm":
        header = bytes((VERSION_GCM, kid))
        iv = iv or os.urandom(GCM_IV)
        enc = Cipher(_sm4(key), modes.GCM(iv)).encryptor()
        enc.authenticate_additional_data(header)
        body = enc.update(plaintext) + enc.finalize()
        return b64url(header + iv + body + enc.tag)
    if mode == "cbc":
        if keyring.mac_key is None:
            raise ValueError("CBC tokens need a MAC key (DZ_SM4_MAC_KEY)")
        header = bytes((VERSION_CBC, kid))
        iv = iv or os.urandom(CBC_IV)
        padder = padding.PKCS7(128).padder()
        padded = padder.update(plaintext) + padder.finalize()
        enc = Cipher(_sm4(key), modes.CBC(iv)).encryptor()
        signed = header + iv + enc.update(padded) + enc.finalize()
        return b64url(signed + _hmac_sm3(keyring.mac_key, signed))
    raise ValueError(f"unknown token mode {mode!r}")


def unseal(token: str, keyring: KeyRing) -> bytes:
    """The authenticated plaintext of a token of either version, or a TokenError saying why."""
    raw = unb64url(token)
    version = raw[0]
    if version == VERSION_GCM:
        if len(raw) < 2 + GCM_IV + 1 + GCM_TAG:
            raise MalformedToken("GCM token too short")
        key = _key(keyring, raw[1])
        header, iv, body, tag = raw[:2], raw[2:14], raw[14:-GCM_TAG], raw[-GCM_TAG:]
        dec = Cipher(_sm4(key), modes.GCM(iv, tag)).decryptor()
        dec.authenticate_additional_data(header)
        try:
            return dec.update(body) + dec.finalize()
        except InvalidTag:
            raise TamperedToken("GCM tag does not verify") from None
    if version == VERSION_CBC:
        body_len = len(raw) - 2 - CBC_IV - MAC_LEN
        if body_len < BLOCK or body_len % BLOCK:
            raise MalformedToken("CBC token length is not header + iv + blocks + mac")
        if keyring.mac_key is None:
            raise UnknownKeyId("CBC token but no MAC key configured")
        key = _key(keyring, raw[1])
        signed, mac = raw[:-MAC_LEN], raw[-MAC_LEN:]
        verifier = hmac.HMAC(keyring.mac_key, hashes.SM3())
        verifier.update(signed)
        try:
            verifier.verify(mac)  # constant time; before any decryption (no padding oracle)
        except InvalidSignature:
            raise TamperedToken("HMAC-SM3 does not verify") from None
        dec = Cipher(_sm4(key), modes.CBC(raw[2:18])).decryptor()
        padded = dec.update(raw[18:-MAC_LEN]) + dec.finalize()
        unpadder = padding.PKCS7(128).unpadder()
        try:
            return unpadder.update(padded) + unpadder.finalize()
        except ValueError:
            raise TamperedToken("bad CBC padding") from None
    raise MalformedToken(f"unknown token version 0x{version:02x}")


def _key(keyring: KeyRing, kid: int) -> bytes:
    try:
        return keyring.keys[kid]
    except KeyError:
        raise UnknownKeyId(f"unknown key id {kid}") from None


# --- claims ---------------------------------------------------------------------------------------

def encode_claims(address: Mapping[str, Any], *, now: float | None = None, jti: str | None = None) -> bytes:
    """The contract's compact UTF-8 JSON: dzbm, dzmc, xzqh, gajg, gajgmc, iat, jti."""
    claims: dict[str, Any] = {f: address.get(f) for f in CLAIM_FIELDS}
    claims["iat"] = int(time.time() if now is None else now)
    claims["jti"] = jti or os.urandom(8).hex()
    return json.dumps(claims, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def issue_token(address: Mapping[str, Any], keyring: KeyRing, *, now: float | None = None,
                mode: str | None = None) -> str:
    """A fresh token for one address (new jti, iat = now), sealed with the newest key."""
    return seal(encode_claims(address, now=now), keyring, mode=mode)


def read_token(token: str, keyring: KeyRing, *, lifetime_s: int = 300, now: float | None = None) -> dict:
    """Authenticate, parse and check the lifetime (no replay check: see :func:`decrypt_token`)."""
    plaintext = unseal(token, keyring)
    try:
        claims = json.loads(plaintext.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise MalformedToken("authenticated plaintext is not UTF-8 JSON") from None
    if (not isinstance(claims, dict) or not isinstance(claims.get("dzbm"), str)
            or type(claims.get("iat")) is not int or not _JTI.match(str(claims.get("jti", "")))):
        raise MalformedToken("claims lack dzbm, iat or a 16-hex jti")
    now = time.time() if now is None else now
    if claims["iat"] > now + CLOCK_SKEW_S:
        raise MalformedToken("issued in the future")
    if now - claims["iat"] > lifetime_s:
        raise ExpiredToken(f"older than {lifetime_s} s")
    return claims


def decrypt_token(token: str, keyring: KeyRing, *, lifetime_s: int = 300, replay: ReplayMemory | None = None,
                  now: float | None = None) -> dict:
    """The receiver's check: authentic, not expired, and (with ``replay``) its jti not seen before."""
    claims = read_token(token, keyring, lifetime_s=lifetime_s, now=now)
    if replay is not None and not replay.claim(claims["jti"], claims["iat"] + lifetime_s):
        raise ReplayedToken("jti already used")
    return claims
