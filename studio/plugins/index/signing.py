"""Ed25519 keys and signatures for plugin indexes and archives.

Why Ed25519: small keys that fit on one line (``ed25519:<base64>``), deterministic
signatures, and no parameters to get wrong. Keys are shown to people as a fingerprint (the
first 16 bytes of the SHA-256 of the raw public key, in groups of four hex digits), the same
way SSH shows host keys, so that two people can compare them over the phone.

What is signed is always bytes built here, never bytes as received: an index's ``signed``
object is serialised canonically (sorted keys, no spaces, UTF-8), and an archive's
signature covers a short statement naming the plugin id, version, size and SHA-256, so a
signature for one archive can never be replayed for another plugin or version.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from studio.plugins.index.errors import TrustError

KEY_PREFIX = "ed25519:"
ARCHIVE_STATEMENT = "studio-plugin-archive/v1"


class SignatureError(TrustError):
    """A key or signature is malformed, or a signature does not verify."""


@dataclass(frozen=True)
class PublicKey:
    """A publisher's or author's public key, as text (``ed25519:<base64 of 32 bytes>``)."""

    text: str

    @classmethod
    def parse(cls, text: str, *, what: str = "key") -> PublicKey:
        raw = _decode_key(text, what)
        return cls(KEY_PREFIX + base64.b64encode(raw).decode("ascii"))

    @property
    def raw(self) -> bytes:
        return _decode_key(self.text, "key")

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.text)

    def verify(self, signature: str, data: bytes, *, what: str) -> None:
        """Raise SignatureError naming ``what`` unless ``signature`` is this key's over ``data``."""
        try:
            sig = base64.b64decode(signature, validate=True)
        except (binascii.Error, ValueError, TypeError):
            raise SignatureError(f"{what}: the signature is not base64") from None
        try:
            Ed25519PublicKey.from_public_bytes(self.raw).verify(sig, data)
        except InvalidSignature:
            raise SignatureError(
                f"{what}: bad signature: it was not made by key {self.fingerprint} over this content (tampered with, or signed by someone else)"
            ) from None
        except ValueError as exc:
            raise SignatureError(f"{what}: unusable signature ({exc})") from None


def _decode_key(text: str, what: str) -> bytes:
    if not isinstance(text, str) or not text.startswith(KEY_PREFIX):
        raise SignatureError(f"{what}: {text!r} is not an Ed25519 public key; keys look like 'ed25519:<base64>'")
    try:
        raw = base64.b64decode(text[len(KEY_PREFIX) :], validate=True)
    except (binascii.Error, ValueError):
        raise SignatureError(f"{what}: {text!r} is not valid base64") from None
    if len(raw) != 32:
        raise SignatureError(f"{what}: an Ed25519 public key has 32 bytes, this one has {len(raw)}")
    return raw


def fingerprint(key_text: str) -> str:
    """A short, comparable name for a key: ``SHA256 1a2b 3c4d …`` (16 bytes of the digest)."""
    digest = hashlib.sha256(_decode_key(key_text, "key")).hexdigest()[:32]
    return " ".join(digest[i : i + 4] for i in range(0, 32, 4))


def canonical_json(value: Any) -> bytes:
    """The bytes a signature over a JSON value covers: sorted keys, no whitespace, UTF-8."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode("utf-8")


def archive_statement(plugin_id: str, version: str, sha256: str, size: int) -> bytes:
    """What an author signs for one archive: which plugin, which version, which bytes."""
    return f"{ARCHIVE_STATEMENT}\n{plugin_id}\n{version}\n{sha256.lower()}\n{int(size)}\n".encode()


# --------------------------------------------------------------------------- private keys


@dataclass(frozen=True)
class SigningKey:
    """A private key loaded from a PEM file (``plugins keygen`` writes one)."""

    private: Ed25519PrivateKey
    path: Path | None = None

    @property
    def public(self) -> PublicKey:
        raw = self.private.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        return PublicKey(KEY_PREFIX + base64.b64encode(raw).decode("ascii"))

    def sign(self, data: bytes) -> str:
        return base64.b64encode(self.private.sign(data)).decode("ascii")


def generate_key(path: Path, *, overwrite: bool = False) -> SigningKey:
    """Create a new key pair and write the private key (PEM, mode 0600) to ``path``."""
    path = Path(path)
    if path.exists() and not overwrite:
        raise SignatureError(
            f"{path} already exists; a signing key is never overwritten (choose another --out, or delete it if you really mean to)"
        )
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    path.parent.mkdir(parents=True, exist_ok=True)
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | (0 if overwrite else os.O_EXCL)
    fd = os.open(path, flags, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(pem)
    return SigningKey(key, path)


def load_key(path: Path) -> SigningKey:
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise SignatureError(f"{path}: cannot read the signing key ({exc.strerror or exc}); create one with `plugins keygen`") from None
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError) as exc:
        raise SignatureError(f"{path}: not an unencrypted PEM private key ({exc}); create one with `plugins keygen`") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise SignatureError(f"{path}: not an Ed25519 key; create one with `plugins keygen`")
    return SigningKey(key, path)
