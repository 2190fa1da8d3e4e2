"""SM4 key ring of the redirect tokens: keys by id, from configuration only (spec/ecode-redirect.md).

``DZ_SM4_KEYS`` holds comma-separated ``id:hex32`` pairs (ids 1–255); ``DZ_SM4_KEYS_FILE`` names a
file with the same content; the variable wins when both are set. Several ids may be live at once
for rotation; the encrypting side uses the highest id. Keys never appear in logs or reprs.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from pathlib import Path

from dz_assets.security.secrets import key_file_problem
from dz_assets.settings import RedirectSettings, is_production

MODES = ("gcm", "cbc")


class KeyConfigError(ValueError):
    """The key configuration is missing or malformed (says which setting, never the key)."""


@dataclass(frozen=True)
class KeyRing:
    keys: dict[int, bytes] = field(repr=False)
    mac_key: bytes | None = field(default=None, repr=False)
    mode: str = "gcm"

    def __post_init__(self) -> None:
        if not self.keys:
            raise KeyConfigError("no SM4 key configured (DZ_SM4_KEYS or DZ_SM4_KEYS_FILE)")
        for kid, key in self.keys.items():
            if not 1 <= kid <= 255:
                raise KeyConfigError(f"SM4 key id {kid} outside 1–255")
            if len(key) != 16:
                raise KeyConfigError(f"SM4 key id {kid}: {len(key)} bytes, expected 16")
        if self.mode not in MODES:
            raise KeyConfigError(f"DZ_TOKEN_MODE={self.mode!r}: expected one of {', '.join(MODES)}")
        if self.mac_key is not None and len(self.mac_key) not in (16, 32):
            raise KeyConfigError(f"DZ_SM4_MAC_KEY: {len(self.mac_key)} bytes, expected 16 or 32")
        if self.mode == "cbc" and self.mac_key is None:
            raise KeyConfigError("DZ_TOKEN_MODE=cbc needs DZ_SM4_MAC_KEY (hex, 16 or 32 bytes)")

    @property
    def current_id(self) -> int:
        """The id the encrypting side uses: the highest live one."""
        return max(self.keys)

    def ids(self) -> list[int]:
        return sorted(self.keys)

    def __repr__(self) -> str:  # never the key bytes
        return f"KeyRing(ids={self.ids()}, mode={self.mode!r}, mac_key={'set' if self.mac_key else 'unset'})"


def parse_keys(text: str, *, where: str = "DZ_SM4_KEYS") -> dict[int, bytes]:
    """``"1:hex32,2:hex32"`` (whitespace and newlines allowed between pairs) → {id: key}."""
    keys: dict[int, bytes] = {}
    for n, item in enumerate(text.replace("\n", ",").split(","), start=1):
        item = item.strip()
        if not item or item.startswith("#"):
            continue
        kid_text, sep, hex_key = item.partition(":")
        if not sep:
            raise KeyConfigError(f"{where}: item {n} is not 'id:hex32'")
        try:
            kid = int(kid_text.strip())
        except ValueError:
            raise KeyConfigError(f"{where}: item {n}: key id {kid_text.strip()!r} is not a number") from None
        if not 1 <= kid <= 255:
            raise KeyConfigError(f"{where}: item {n}: key id {kid} outside 1–255")
        hex_key = hex_key.strip()
        if len(hex_key) != 32:
            raise KeyConfigError(f"{where}: key id {kid}: expected 32 hex digits, got {len(hex_key)}")
        try:
            key = bytes.fromhex(hex_key)
        except ValueError:
            raise KeyConfigError(f"{where}: key id {kid}: not hexadecimal") from None
        if kid in keys:
            raise KeyConfigError(f"{where}: key id {kid} given twice")
        keys[kid] = key
    return keys


def parse_mac_key(text: str | None) -> bytes | None:
    if text is None:
        return None
    try:
        key = bytes.fromhex(text.strip())
    except ValueError:
        raise KeyConfigError("DZ_SM4_MAC_KEY: not hexadecimal") from None
    if len(key) not in (16, 32):
        raise KeyConfigError(f"DZ_SM4_MAC_KEY: {len(key)} bytes, expected 16 or 32")
    return key


def load_keyring(settings: RedirectSettings) -> KeyRing:
    """The key ring from ``DZ_SM4_KEYS`` (wins) or ``DZ_SM4_KEYS_FILE``; KeyConfigError if none."""
    if settings.sm4_keys:
        keys = parse_keys(settings.sm4_keys)
    elif settings.sm4_keys_file:
        path = Path(settings.sm4_keys_file)
        if is_production() and path.exists() and (problem := key_file_problem(path)):
            raise KeyConfigError(f"DZ_SM4_KEYS_FILE: DZ_ENV=production refuses it: {problem}")
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise KeyConfigError(f"DZ_SM4_KEYS_FILE={path}: cannot read ({exc.strerror})") from None
        keys = parse_keys(text, where=f"DZ_SM4_KEYS_FILE={path}")
    else:
        raise KeyConfigError("no SM4 keys: set DZ_SM4_KEYS (comma-separated id:hex32) or DZ_SM4_KEYS_FILE")
    return KeyRing(keys=keys, mac_key=parse_mac_key(settings.mac_key), mode=settings.token_mode)


def configured_key_variables(settings: RedirectSettings) -> list[str]:
    """The key variables that are set: real keys that ephemeral demo keys must never replace."""
    return [name for name, value in (("DZ_SM4_KEYS", settings.sm4_keys), ("DZ_SM4_KEYS_FILE", settings.sm4_keys_file),
                                     ("DZ_SM4_MAC_KEY", settings.mac_key)) if value]


def demo_keys(settings: RedirectSettings) -> tuple[str, str]:
    """Ephemeral keys (``DZ_SM4_KEYS``, ``DZ_SM4_MAC_KEY`` values) for ``--demo-keys``; refused
    when real keys are configured, which they would otherwise silently replace."""
    configured = configured_key_variables(settings)
    if configured:
        which = " and ".join(configured) + (" is" if len(configured) == 1 else " are")
        raise KeyConfigError(f"--demo-keys refused: {which} set (real keys are configured); "
                             "run without --demo-keys, or unset the variable for a demo")
    return generate_keys()


def generate_keys(ids: tuple[int, ...] = (1,)) -> tuple[str, str]:
    """Fresh random keys: (``DZ_SM4_KEYS`` value, ``DZ_SM4_MAC_KEY`` value)."""
    keys = ",".join(f"{kid}:{secrets.token_hex(16)}" for kid in ids)
    return keys, secrets.token_hex(32)
