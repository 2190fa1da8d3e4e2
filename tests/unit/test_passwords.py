"""Console password hashes: scrypt with its parameters in the hash, never the password."""

from dz_assets.security.passwords import hash_password, verify_password


def test_hash_verifies_and_hides_the_password():
    h = hash_password("门牌-secret-1")
    assert h.startswith("scrypt$16384$8$1$") and "门牌-secret-1" not in h
    assert verify_password("门牌-secret-1", h)
    assert not verify_password("门牌-secret-2", h)
    assert hash_password("门牌-secret-1") != h  # a fresh salt each time


def test_missing_or_foreign_hash_is_no_match():
    assert not verify_password("x", None)
    assert not verify_password("x", "md5$abc")
    assert not verify_password("x", "scrypt$bad")
