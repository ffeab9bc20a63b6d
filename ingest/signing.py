"""Ed25519 signatures over the ingest hash chain's batch hashes.

A hash chain shows that rows changed after they were stored -- unless whoever changed them also
rewrote the chain from that batch on. Signing each batch's hash with a key that lives with the
sink (`DATA_DIR/signing.key`, mode 0600, or LEASH_SIGNING_KEY_FILE), not in the store, closes
that gap: a rewritten chain needs the private key, and a chain re-signed with another key fails
`leash verify --public-key` against the public key exported beforehand (`leash verify
--print-public-key`, `GET /v1/integrity/key`).
"""

from __future__ import annotations

import base64
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

__all__ = [
    "ChainSigner",
    "SigningKeyError",
    "key_id_of",
    "load_public_key",
    "signature_valid",
]


class SigningKeyError(ValueError):
    """A key file that cannot be used; the message names the file and the fix."""


def key_id_of(public: Ed25519PublicKey) -> str:
    """A short, stable name of a public key: `ed25519:` + 16 hex digits of its SHA-256."""
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return "ed25519:" + hashlib.sha256(raw).hexdigest()[:16]


@dataclass(frozen=True)
class ChainSigner:
    """The sink's private key: signs batch hashes; its public half is what verifiers hold."""

    private: Ed25519PrivateKey

    @property
    def public(self) -> Ed25519PublicKey:
        return self.private.public_key()

    @property
    def key_id(self) -> str:
        return key_id_of(self.public)

    def sign(self, digest: str) -> str:
        return base64.b64encode(self.private.sign(digest.encode())).decode()

    def public_pem(self) -> str:
        return self.public.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        ).decode()

    @classmethod
    def load_or_create(cls, path: Path) -> ChainSigner:
        """The key in `path` (PKCS#8 PEM); created once, mode 0600, when the file is missing."""
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            key = Ed25519PrivateKey.generate()
            pem = key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
            try:
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            except FileExistsError:
                pass  # another process of this data dir made it first: use theirs
            else:
                with os.fdopen(fd, "wb") as out:
                    out.write(pem)
                return cls(key)
        try:
            loaded = serialization.load_pem_private_key(path.read_bytes(), password=None)
        except (OSError, ValueError, TypeError) as exc:
            raise SigningKeyError(
                f"signing key {path}: {exc}; give an unencrypted Ed25519 key in PKCS#8 PEM "
                "(openssl genpkey -algorithm ed25519), or remove the file to have one made"
            ) from None
        if not isinstance(loaded, Ed25519PrivateKey):
            raise SigningKeyError(f"signing key {path}: not an Ed25519 key")
        return cls(loaded)


def load_public_key(path: Path) -> Ed25519PublicKey:
    """An exported public key (SubjectPublicKeyInfo PEM, what --print-public-key prints)."""
    try:
        key = serialization.load_pem_public_key(path.read_bytes())
    except (OSError, ValueError) as exc:
        raise SigningKeyError(
            f"public key {path}: {exc}; give the PEM `leash verify --print-public-key` printed"
        ) from None
    if not isinstance(key, Ed25519PublicKey):
        raise SigningKeyError(f"public key {path}: not an Ed25519 public key")
    return key


def signature_valid(public: Ed25519PublicKey, digest: str, signature: str) -> bool:
    try:
        public.verify(base64.b64decode(signature, validate=True), digest.encode())
    except (InvalidSignature, ValueError):
        return False
    return True
