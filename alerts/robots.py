"""The three group robots' wire formats: where the key sits, how each signs, what its answer means.

From the vendors' public documentation:
- WeCom (企业微信群机器人): POST JSON to https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=<key>; the key
  in the URL is the only credential. Answers {"errcode": 0, "errmsg": "ok"}; any other errcode failed.
- DingTalk (钉钉自定义机器人): POST JSON to https://oapi.dingtalk.com/robot/send?access_token=<token>. With
  加签, `timestamp` (milliseconds) and `sign` go in the query: sign = urlEncode(base64(HmacSHA256(key=secret,
  message=timestamp + "\\n" + secret))); the timestamp may be at most one hour off. Answers HTTP 200 with
  {"errcode": 0, "errmsg": "ok"}, or e.g. {"errcode": 310000, "errmsg": "sign not match…"}.
- Feishu (飞书自定义机器人): POST JSON to https://open.feishu.cn/open-apis/bot/v2/hook/<token>. With
  签名校验, `timestamp` (seconds, a string) and `sign` go in the JSON body: sign = base64(HmacSHA256(key=
  timestamp + "\\n" + secret, message="")). Answers {"code": 0, "msg": "success"}, or e.g. {"code": 19021}.
"""

import base64
import hashlib
import hmac
import json
import re
import time
from dataclasses import dataclass
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from webhooks.engine.redact import SECRET_PARAMS
from webhooks.secrets import MASK

# Feishu (and Lark) put the bot's token in the path: /open-apis/bot/v2/hook/<token>.
_HOOK_PATH = re.compile(r"(/hook/)[^/?#]+")


def masked_url(url: str) -> str:
    """The URL as people may see it: no user:password, no key or token in the query or a hook path."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = parts.port
    except ValueError:
        return MASK
    netloc = f"[{host}]" if ":" in host else host
    if port:
        netloc += f":{port}"
    placeholder = "MASKEDVALUE"
    query = [
        (k, placeholder if k.lower() in SECRET_PARAMS else v) for k, v in parse_qsl(parts.query, keep_blank_values=True)
    ]
    path = _HOOK_PATH.sub(lambda m: m.group(1) + placeholder, parts.path)
    # The mask goes in after encoding, so it reads key=•••••• rather than %E2%80%A2….
    return urlunsplit(parts._replace(netloc=netloc, path=path, query=urlencode(query), fragment="")).replace(
        placeholder, MASK
    )


def url_secrets(url: str) -> list[str]:
    """The credentials a robot's URL carries, to scrub them from whatever is recorded."""
    parts = urlsplit(url)
    found = [v for k, v in parse_qsl(parts.query) if k.lower() in SECRET_PARAMS and v]
    found += [m.group(0)[len("/hook/") :] for m in _HOOK_PATH.finditer(parts.path)]
    if parts.password:
        found.append(parts.password)
    return found


def dingtalk_sign(secret: str, timestamp_ms: str) -> str:
    """DingTalk's 加签 before URL encoding: base64(HmacSHA256(secret, timestamp + "\\n" + secret))."""
    digest = hmac.new(secret.encode(), f"{timestamp_ms}\n{secret}".encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def feishu_sign(secret: str, timestamp_s: str) -> str:
    """Feishu's 签名校验: base64(HmacSHA256(key=timestamp + "\\n" + secret, message=""))."""
    digest = hmac.new(f"{timestamp_s}\n{secret}".encode(), b"", hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def with_query(url: str, **params: str) -> str:
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True) + list(params.items())
    return urlunsplit(parts._replace(query=urlencode(query)))


@dataclass
class RobotRequest:
    url: str
    body: dict
    # What must never be recorded: the URL's key, the secret, the signature.
    secrets: list[str]


def robot_request(*, kind: str, url: str, secret: str, payload: dict, now: float | None = None) -> RobotRequest:
    """The request for one message: `payload` is the vendor's msgtype body; signs it when a secret is set."""
    now = time.time() if now is None else now
    body = dict(payload)
    secrets = [*url_secrets(url), secret]
    if kind == "dingtalk" and secret:
        timestamp = str(round(now * 1000))
        sign = dingtalk_sign(secret, timestamp)
        url = with_query(url, timestamp=timestamp, sign=sign)
        secrets.append(sign)
    elif kind == "feishu" and secret:
        timestamp = str(int(now))
        sign = feishu_sign(secret, timestamp)
        body = {"timestamp": timestamp, "sign": sign, **body}
        secrets.append(sign)
    return RobotRequest(url=url, body=body, secrets=[s for s in secrets if s])


def robot_answer_error(kind: str, body: str) -> str:
    """'' when the robot's HTTP 200 answer says the message was taken, else its error (robots answer 200 anyway)."""
    try:
        data = json.loads(body)
    except ValueError:
        return "not JSON"
    if not isinstance(data, dict):
        return "not a JSON object"
    if kind == "feishu":
        code = data.get("code", data.get("StatusCode"))
        message = data.get("msg", data.get("StatusMessage", ""))
    else:
        code = data.get("errcode")
        message = data.get("errmsg", "")
    if code == 0:
        return ""
    return f"{code}: {message}" if message else str(code)
