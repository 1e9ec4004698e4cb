"""WeChat's push protocol crypto: SHA-1 signatures and AES-256-CBC message encryption.

The algorithm is the one of the official message-push documentation (fact sheet §1.1, §1.3):
`signature = sha1(sorted(token, timestamp, nonce))`, `msg_signature` adds the Encrypt field;
AESKey = base64(EncodingAESKey + "="), IV = AESKey[:16], PKCS#7 padding to 32-byte blocks,
plaintext = random(16) ‖ len(msg) as 4 big-endian bytes ‖ msg ‖ appid.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import struct
from collections.abc import Sequence
from dataclasses import dataclass

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

BLOCK = 32  # WeChat pads to 32 bytes, not AES's 16 (fact sheet §1.3)


class PushCryptoError(Exception):
    """A push that cannot be authenticated or opened."""


class BadSignature(PushCryptoError):
    pass


class BadCiphertext(PushCryptoError):
    pass


class AppIdMismatch(PushCryptoError):
    """The message opened, but names another app: it was not meant for this endpoint."""


def sha1_signature(*parts: str) -> str:
    return hashlib.sha1("".join(sorted(parts)).encode("utf-8")).hexdigest()  # noqa: S324


def signature_matches(expected: str, token: str, timestamp: str, nonce: str) -> bool:
    return hmac.compare_digest(expected.lower(), sha1_signature(token, timestamp, nonce))


def aes_key_bytes(encoding_aes_key: str) -> bytes:
    try:
        key = base64.b64decode(encoding_aes_key + "=", validate=True)
    except binascii.Error as exc:
        raise ValueError("EncodingAESKey is not base64 text") from exc
    if len(key) != 32:
        raise ValueError("EncodingAESKey must decode to 32 bytes (43 characters)")
    return key


def _pad(data: bytes) -> bytes:
    n = BLOCK - len(data) % BLOCK
    return data + bytes([n]) * n


def _unpad(data: bytes) -> bytes:
    n = data[-1] if data else 0
    if not 1 <= n <= BLOCK or data[-n:] != bytes([n]) * n:
        raise BadCiphertext("bad padding")
    return data[:-n]


@dataclass(frozen=True)
class Opened:
    """A decrypted push: the message, and which key opened it (0 = current, 1 = previous)."""

    message: bytes
    key_index: int


class PushCrypto:
    """Signs, verifies, encrypts and decrypts pushes for one app.

    `aes_keys` lists the current EncodingAESKey first and the previous one after it: during a
    key change WeChat may still use the old key, and the reply must use the key that worked.
    """

    def __init__(self, token: str, aes_keys: Sequence[str], appid: str) -> None:
        self.token = token
        self.appid = appid
        self._keys = [aes_key_bytes(k) for k in aes_keys if k]
        # Made once per key (IV = the key's first 16 bytes, so fixed too): each push then only
        # starts a context on it. An endpoint's PushCrypto is kept by the inbox for seconds.
        self._ciphers = [Cipher(algorithms.AES(key), modes.CBC(key[:16])) for key in self._keys]

    def signature(self, timestamp: str, nonce: str) -> str:
        return sha1_signature(self.token, timestamp, nonce)

    def check_signature(self, signature: str, timestamp: str, nonce: str) -> None:
        if not signature_matches(signature, self.token, timestamp, nonce):
            raise BadSignature("signature does not match the app's Token")

    def msg_signature(self, timestamp: str, nonce: str, encrypt: str) -> str:
        return sha1_signature(self.token, timestamp, nonce, encrypt)

    def check_msg_signature(self, signature: str, timestamp: str, nonce: str, encrypt: str) -> None:
        expected = self.msg_signature(timestamp, nonce, encrypt)
        if not hmac.compare_digest(signature.lower(), expected):
            raise BadSignature("msg_signature does not match")

    def encrypt(self, message: bytes, *, key_index: int = 0, random: bytes | None = None) -> str:
        if not self._keys:
            raise PushCryptoError("the app has no EncodingAESKey")
        prefix = random if random is not None else os.urandom(16)
        plain = prefix + struct.pack(">I", len(message)) + message + self.appid.encode()
        encryptor = self._ciphers[key_index].encryptor()
        sealed = encryptor.update(_pad(plain)) + encryptor.finalize()
        return base64.b64encode(sealed).decode("ascii")

    def decrypt(self, encrypt: str) -> Opened:
        if not self._keys:
            raise PushCryptoError("the app has no EncodingAESKey")
        try:
            sealed = base64.b64decode(encrypt, validate=True)
        except binascii.Error as exc:
            raise BadCiphertext("Encrypt is not base64") from exc
        if not sealed or len(sealed) % 16:
            raise BadCiphertext("Encrypt has a length AES cannot have")
        mismatch = False
        for index, cipher in enumerate(self._ciphers):
            decryptor = cipher.decryptor()
            try:
                plain = _unpad(decryptor.update(sealed) + decryptor.finalize())
            except BadCiphertext:
                continue
            if len(plain) < 20:
                continue
            (length,) = struct.unpack(">I", plain[16:20])
            message, appid = plain[20 : 20 + length], plain[20 + length :]
            if len(message) != length:
                continue
            if appid.decode("utf-8", "replace") != self.appid:
                mismatch = True
                continue
            return Opened(message, index)
        if mismatch:
            raise AppIdMismatch("the message is addressed to another appid")
        raise BadCiphertext("no configured EncodingAESKey opens this message")
