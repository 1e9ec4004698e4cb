"""Push crypto against the official documentation's known-answer vectors (fact sheet §8.1)."""

from __future__ import annotations

import base64
import json

import pytest

from siyu.wechat.crypto import (
    AppIdMismatch,
    BadCiphertext,
    BadSignature,
    PushCrypto,
    sha1_signature,
)

TOKEN = "AAAAA"
AES_KEY = "A" * 43
APPID = "wxba5fad812f8e6fb9"
ENCRYPT = (
    "+qdx1OKCy+5JPCBFWw70tm0fJGb2Jmeia4FCB7kao+/Q5c/ohsOzQHi8khUOb05JCpj0JB4RvQMkUyus8TPxLKJGQ"
    "qcvZqzDpVzazhZv6JsXUnnR8XGT740XgXZUXQ7vJVnAG+tE8NUd4yFyjPy7GgiaviNrlCTj+l5kdfMuFUPpRSrfMZ"
    "uMcp3Fn2Pede2IuQrKEYwKSqFIZoNqJ4M8EajAsjLY2km32IIjdf8YL/P50F7mStwntrA2cPDrM1kb6mOcfBgRtWy"
    "gb3VIYnSeOBrebufAlr7F9mFUPAJGj04="
)
MESSAGE = (
    '{"ToUserName":"gh_97417a04a28d","FromUserName":"o9AgO5Kd5ggOC-bXrbNODIiE3bGY",'
    '"CreateTime":1714112445,"MsgType":"event","Event":"debug_demo","debug_str":"hello world"}'
)


def crypto(*keys: str, appid: str = APPID) -> PushCrypto:
    return PushCrypto(TOKEN, list(keys) or [AES_KEY], appid)


def test_url_verification_signature() -> None:
    assert sha1_signature(TOKEN, "1714036504", "1514711492") == (
        "f464b24fc39322e44b38aa78f5edd27bd1441696"
    )


def test_plaintext_push_signature() -> None:
    crypto().check_signature("899cf89e464efb63f54ddac96b0a0a235f53aa78", "1714037059", "486452656")


def test_secure_mode_push_opens_to_the_documented_message() -> None:
    c = crypto()
    c.check_signature("6c5c811b55cc85e0e1b54100749188c20beb3f5d", "1714112445", "415670741")
    c.check_msg_signature(
        "046e02f8204d34f8ba5fa3b1db94908f3df2e9b3", "1714112445", "415670741", ENCRYPT
    )
    opened = c.decrypt(ENCRYPT)
    assert opened.message.decode() == MESSAGE
    assert opened.key_index == 0


def test_encrypted_reply_matches_the_documented_bytes() -> None:
    c = crypto()
    encrypt = c.encrypt(b'{"demo_resp":"good luck"}', random=b"707722b803182950")
    assert encrypt == (
        "ELGduP2YcVatjqIS+eZbp80MNLoAUWvzzyJxgGzxZO/5sAvd070Bs6qrLARC9nVHm48Y4hyRbtzve1L32tmxSQ=="
    )
    assert c.msg_signature("1713424427", "415670741", encrypt) == (
        "1b9339964ed2e271e7c7b6ff2b0ef902fc94dea1"
    )


def test_previous_key_still_opens_and_is_reported() -> None:
    new_key = base64.b64encode(b"n" * 32).decode()[:43]
    rotated = crypto(new_key, AES_KEY)
    opened = rotated.decrypt(ENCRYPT)
    assert opened.key_index == 1
    reply = rotated.encrypt(b"{}", key_index=opened.key_index)
    assert crypto().decrypt(reply).message == b"{}"


def test_wrong_signature_is_refused() -> None:
    with pytest.raises(BadSignature):
        crypto().check_signature("0" * 40, "1714112445", "415670741")
    with pytest.raises(BadSignature):
        crypto().check_msg_signature("0" * 40, "1714112445", "415670741", ENCRYPT)


def test_message_for_another_appid_is_refused() -> None:
    with pytest.raises(AppIdMismatch):
        crypto(appid="wx0000000000000000").decrypt(ENCRYPT)


@pytest.mark.parametrize("encrypt", ["not base64!", "", "QUJD", ENCRYPT[:-8] + "AAAAAAA="])
def test_garbage_is_refused(encrypt: str) -> None:
    with pytest.raises((BadCiphertext, AppIdMismatch)):
        crypto().decrypt(encrypt)


def test_unknown_key_does_not_open() -> None:
    other = base64.b64encode(b"z" * 32).decode()[:43]
    with pytest.raises(BadCiphertext):
        crypto(other).decrypt(ENCRYPT)


def test_round_trip_of_json_push() -> None:
    c = crypto()
    body = json.dumps({"a": "中文"}, ensure_ascii=False).encode()
    assert c.decrypt(c.encrypt(body)).message == body
