"""WeChat Pay API v3 protocol crypto: RSA-SHA256 signatures, the Authorization header, AEAD.

Shared by siyu (notification checks) and the sandbox (request checks, signed answers, sealed
notifications); siyu's outbound calls are signed by `wechatpayv3`, so the two sides of every
call are independent implementations. Facts: fact sheet §5 and wechatpayv3 2.0.4
`utils.py::build_authorization/rsa_verify/aes_decrypt` (read, not copied).
"""

from __future__ import annotations

import base64
import binascii
import re
import secrets
import string
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

SCHEMA = "WECHATPAY2-SHA256-RSA2048"
APIV3_KEY_BYTES = 32  # the APIv3 key is 32 characters, used as the AES-256 key as is
AEAD_NONCE_CHARS = 12
_AUTH_FIELD = re.compile(r'(\w+)="([^"]*)"')
_NONCE_ALPHABET = string.ascii_letters + string.digits


class PayCryptoError(Exception):
    """A signature, header or sealed resource that does not check out."""


def generate_private_key() -> rsa.RSAPrivateKey:
    """A fresh RSA-2048 key (merchant key in tests, the sandbox's platform key)."""
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def private_pem(key: rsa.RSAPrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode("ascii")


def public_pem(key: rsa.RSAPrivateKey | rsa.RSAPublicKey) -> str:
    public = key.public_key() if isinstance(key, rsa.RSAPrivateKey) else key
    return public.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode("ascii")


def _pem(text: str, kind: str) -> bytes:
    # WeChat's consoles hand out keys with or without the PEM armour; accept both.
    body = text.strip()
    if not body.startswith("-----BEGIN"):
        body = f"-----BEGIN {kind}-----\n{body}\n-----END {kind}-----"
    return body.encode("ascii")


def load_private_key(text: str) -> rsa.RSAPrivateKey:
    try:
        key = serialization.load_pem_private_key(_pem(text, "PRIVATE KEY"), password=None)
    except (ValueError, TypeError, UnicodeEncodeError) as exc:
        raise PayCryptoError("not a PEM private key") from exc
    if not isinstance(key, rsa.RSAPrivateKey):
        raise PayCryptoError("WeChat Pay keys are RSA keys")
    return key


def load_public_key(text: str) -> rsa.RSAPublicKey:
    try:
        key = serialization.load_pem_public_key(_pem(text, "PUBLIC KEY"))
    except (ValueError, TypeError, UnicodeEncodeError) as exc:
        raise PayCryptoError("not a PEM public key") from exc
    if not isinstance(key, rsa.RSAPublicKey):
        raise PayCryptoError("WeChat Pay keys are RSA keys")
    return key


def nonce(length: int = 32) -> str:
    return "".join(secrets.choice(_NONCE_ALPHABET) for _ in range(length))


def sign(key: rsa.RSAPrivateKey, *lines: str) -> str:
    """base64(RSA-SHA256(key, line1\\nline2\\n…\\n)): every v3 signature has this shape."""
    message = "".join(f"{line}\n" for line in lines).encode("utf-8")
    return base64.b64encode(key.sign(message, padding.PKCS1v15(), hashes.SHA256())).decode()


def verify(key: rsa.RSAPublicKey, signature: str, *lines: str) -> bool:
    message = "".join(f"{line}\n" for line in lines).encode("utf-8")
    try:
        raw = base64.b64decode(signature, validate=True)
        key.verify(raw, message, padding.PKCS1v15(), hashes.SHA256())
    except (InvalidSignature, binascii.Error, ValueError):
        return False
    return True


@dataclass(frozen=True)
class Authorization:
    """The fields of `Authorization: WECHATPAY2-SHA256-RSA2048 mchid="…",nonce_str="…",…`."""

    mchid: str
    nonce_str: str
    signature: str
    timestamp: str
    serial_no: str

    def header(self) -> str:
        return (
            f'{SCHEMA} mchid="{self.mchid}",nonce_str="{self.nonce_str}",'
            f'signature="{self.signature}",timestamp="{self.timestamp}",'
            f'serial_no="{self.serial_no}"'
        )

    @classmethod
    def parse(cls, header: str | None) -> Authorization:
        scheme, _, rest = (header or "").partition(" ")
        if scheme != SCHEMA:
            raise PayCryptoError(f"the Authorization scheme must be {SCHEMA}")
        fields = dict(_AUTH_FIELD.findall(rest))
        try:
            return cls(
                mchid=fields["mchid"],
                nonce_str=fields["nonce_str"],
                signature=fields["signature"],
                timestamp=fields["timestamp"],
                serial_no=fields["serial_no"],
            )
        except KeyError as exc:
            raise PayCryptoError(f"the Authorization header lacks {exc.args[0]}") from None


def request_lines(
    method: str, path_with_query: str, timestamp: str, nonce_str: str, body: str
) -> tuple[str, str, str, str, str]:
    """What a merchant signs for a request: METHOD, PATH?QUERY, TIMESTAMP, NONCE, BODY."""
    return (method.upper(), path_with_query, timestamp, nonce_str, body)


def authorize(
    key: rsa.RSAPrivateKey,
    *,
    mchid: str,
    serial_no: str,
    method: str,
    path_with_query: str,
    body: str,
    timestamp: str,
    nonce_str: str | None = None,
) -> Authorization:
    nonce_str = nonce_str or nonce()
    signature = sign(key, *request_lines(method, path_with_query, timestamp, nonce_str, body))
    return Authorization(mchid, nonce_str, signature, timestamp, serial_no)


def check_request(
    key: rsa.RSAPublicKey, auth: Authorization, method: str, path_with_query: str, body: str
) -> bool:
    lines = request_lines(method, path_with_query, auth.timestamp, auth.nonce_str, body)
    return verify(key, auth.signature, *lines)


def sign_response(key: rsa.RSAPrivateKey, timestamp: str, nonce_str: str, body: str) -> str:
    """Answers and notifications are signed over `timestamp\\nnonce\\nbody\\n`."""
    return sign(key, timestamp, nonce_str, body)


def check_response(
    key: rsa.RSAPublicKey, signature: str, timestamp: str, nonce_str: str, body: str
) -> bool:
    return verify(key, signature, timestamp, nonce_str, body)


def pay_sign(
    key: rsa.RSAPrivateKey, appid: str, timestamp: str, nonce_str: str, package: str
) -> str:
    """wx.requestPayment's paySign over `appId\\ntimeStamp\\nnonceStr\\npackage\\n` (§5)."""
    return sign(key, appid, timestamp, nonce_str, package)


def _apiv3_key(apiv3_key: str) -> bytes:
    key = apiv3_key.encode("utf-8")
    if len(key) != APIV3_KEY_BYTES:
        raise PayCryptoError(f"the APIv3 key is {APIV3_KEY_BYTES} characters")
    return key


def seal(apiv3_key: str, plaintext: str, associated_data: str, nonce_str: str) -> str:
    """AEAD_AES_256_GCM: base64(ciphertext ‖ tag); the nonce is 12 characters used as bytes."""
    sealed = AESGCM(_apiv3_key(apiv3_key)).encrypt(
        nonce_str.encode("utf-8"), plaintext.encode("utf-8"), associated_data.encode("utf-8")
    )
    return base64.b64encode(sealed).decode("ascii")


def open_sealed(apiv3_key: str, ciphertext: str, associated_data: str, nonce_str: str) -> str:
    try:
        raw = base64.b64decode(ciphertext, validate=True)
        plain = AESGCM(_apiv3_key(apiv3_key)).decrypt(
            nonce_str.encode("utf-8"), raw, associated_data.encode("utf-8")
        )
        return plain.decode("utf-8")
    except (InvalidTag, binascii.Error, ValueError, UnicodeDecodeError) as exc:
        raise PayCryptoError("the resource does not open with the APIv3 key") from exc


def apiv3_key_ok(apiv3_key: str) -> bool:
    return len(apiv3_key.encode("utf-8")) == APIV3_KEY_BYTES
