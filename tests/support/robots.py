"""Fake group robots on 127.0.0.1: WeCom, DingTalk and Feishu, each checking a request the way its vendor's
public documentation says and answering the way the vendor does (HTTP 200 with an error code in the body).

- WeCom:    POST /cgi-bin/webhook/send?key=<key>; the key is the credential. {"errcode": 0, "errmsg": "ok"}.
- DingTalk: POST /robot/send?access_token=<token>[&timestamp=<ms>&sign=<urlencoded base64>]; with 加签 the
            sign is recomputed from the timestamp and the secret and compared with the URL-decoded value; a
            timestamp more than an hour away is refused. Errors: 300001 (token), 310000 (sign/timestamp).
- Feishu:   POST /open-apis/bot/v2/hook/<token> with "timestamp" (seconds) and "sign" in the JSON body when
            签名校验 is on: sign = base64(HmacSHA256(key=timestamp + "\\n" + secret, message="")).
            {"code": 0, "msg": "success"}; 19021 for a bad signature, 19001 for a bad token.

Each accepted message is kept in `.messages` (the JSON body); `.refused` keeps the refusals' codes.
"""

import base64
import hashlib
import hmac
import html
import json
import re
import time

from .receivers import Hit, ScriptedServer

HOUR = 3600
ROBOT_KEY = "robot-key-0123"


def _ok(data: dict) -> tuple[int, dict, bytes]:
    return 200, {"Content-Type": "application/json"}, json.dumps(data).encode()


class FakeRobot:
    kind = ""

    def __init__(self, *, token: str = ROBOT_KEY, secret: str = "", delay: float = 0.0):
        self.token = token
        self.secret = secret
        self.messages: list[dict] = []
        self.refused: list[int] = []
        self.signature_checked = 0
        self.server = ScriptedServer(self._answer, delay=delay)

    def __enter__(self):
        self.server.__enter__()
        return self

    def __exit__(self, *exc):
        self.server.__exit__(*exc)

    @property
    def url(self) -> str:
        raise NotImplementedError

    def _answer(self, hit: Hit):
        try:
            body = json.loads(hit.body)
        except ValueError:
            body = None
        code, answer = self.check(hit, body)
        if code:
            self.refused.append(code)
        else:
            self.messages.append(body)
        return _ok(answer)

    def check(self, hit: Hit, body) -> tuple[int, dict]:
        raise NotImplementedError


class FakeWeCom(FakeRobot):
    kind = "wecom"

    @property
    def url(self) -> str:
        return self.server.url(f"/cgi-bin/webhook/send?key={self.token}")

    def check(self, hit, body):
        if hit.path != "/cgi-bin/webhook/send" or hit.query.get("key") != self.token:
            return 93000, {"errcode": 93000, "errmsg": "invalid webhook url"}
        if not isinstance(body, dict) or body.get("msgtype") not in {"text", "markdown"}:
            return 40008, {"errcode": 40008, "errmsg": "invalid message type"}
        content = (body.get(body["msgtype"]) or {}).get("content", "")
        limit = 4096 if body["msgtype"] == "markdown" else 2048
        if not content or len(content.encode()) > limit:
            return 40058, {"errcode": 40058, "errmsg": "content exceed max length or empty"}
        return 0, {"errcode": 0, "errmsg": "ok"}


class FakeDingTalk(FakeRobot):
    kind = "dingtalk"

    @property
    def url(self) -> str:
        return self.server.url(f"/robot/send?access_token={self.token}")

    def check(self, hit, body):
        if hit.path != "/robot/send" or hit.query.get("access_token") != self.token:
            return 300001, {"errcode": 300001, "errmsg": "token is not exist"}
        if self.secret:
            # The query arrives URL-decoded (aiohttp's request.query): the base64 value itself.
            timestamp, sign = hit.query.get("timestamp", ""), hit.query.get("sign", "")
            if not timestamp.isdigit() or abs(time.time() * 1000 - int(timestamp)) > HOUR * 1000:
                return 310000, {"errcode": 310000, "errmsg": "invalid timestamp"}
            digest = hmac.new(self.secret.encode(), f"{timestamp}\n{self.secret}".encode(), hashlib.sha256).digest()
            if not hmac.compare_digest(base64.b64encode(digest).decode(), sign):
                return 310000, {"errcode": 310000, "errmsg": "sign not match"}
            self.signature_checked += 1
        if not isinstance(body, dict) or body.get("msgtype") not in {"text", "markdown"}:
            return 40035, {"errcode": 40035, "errmsg": "缺少参数 json"}
        if body["msgtype"] == "markdown" and not (body["markdown"].get("title") and body["markdown"].get("text")):
            return 40035, {"errcode": 40035, "errmsg": "缺少参数 markdown"}
        return 0, {"errcode": 0, "errmsg": "ok"}


class FakeFeishu(FakeRobot):
    kind = "feishu"

    @property
    def url(self) -> str:
        return self.server.url(f"/open-apis/bot/v2/hook/{self.token}")

    def check(self, hit, body):
        if hit.path != f"/open-apis/bot/v2/hook/{self.token}":
            return 19001, {"code": 19001, "msg": "param invalid: incoming webhook access token invalid", "data": {}}
        if not isinstance(body, dict):
            return 9499, {"code": 9499, "msg": "Bad Request", "data": {}}
        if self.secret:
            timestamp, sign = str(body.get("timestamp", "")), str(body.get("sign", ""))
            if not timestamp.isdigit() or abs(time.time() - int(timestamp)) > HOUR:
                return 19021, {"code": 19021, "msg": "sign match fail or timestamp is not within one hour", "data": {}}
            digest = hmac.new(f"{timestamp}\n{self.secret}".encode(), b"", hashlib.sha256).digest()
            if not hmac.compare_digest(base64.b64encode(digest).decode(), sign):
                return 19021, {"code": 19021, "msg": "sign match fail or timestamp is not within one hour", "data": {}}
            self.signature_checked += 1
        if body.get("msg_type") not in {"text", "post", "interactive"}:
            return 9499, {"code": 9499, "msg": "Bad Request", "data": {}}
        return 0, {"code": 0, "msg": "success", "data": {}}


def message_text(kind: str, body: dict) -> str:
    """The text a group member reads (markdown where the robot shows markdown)."""
    if kind == "feishu":
        if body["msg_type"] == "interactive":
            card = body["card"]
            return card["header"]["title"]["content"] + "\n" + card["elements"][0]["content"]
        return body["content"]["text"]
    msgtype = body["msgtype"]
    part = body[msgtype]
    return part.get("content") or part.get("text", "")


def _inline(text: str) -> str:
    text = html.escape(text)
    text = re.sub(r"\*\*(.+?)\*\*", r"<b>\1</b>", text)
    return re.sub(r"\[(.+?)\]\((.+?)\)", r'<a href="\2">\1</a>', text)


APPS = {
    "wecom": ("企业微信", "#2a7ff3", "群机器人"),
    "dingtalk": ("钉钉", "#1677ff", "自定义机器人"),
    "feishu": ("飞书", "#3370ff", "自定义机器人"),
}


def chat_page(kind: str, body: dict) -> str:
    """A small page that shows a received message as the group chat would: for the screenshots."""
    app, colour, bot = APPS[kind]
    lines = [line for line in message_text(kind, body).split("\n") if line.strip()]
    rendered = []
    for line in lines:
        if line.startswith("### "):
            rendered.append(f"<h3>{_inline(line[4:])}</h3>")
        else:
            rendered.append(f"<p>{_inline(line)}</p>")
    if kind == "feishu" and body.get("msg_type") == "interactive":
        header = body["card"]["header"]
        tone = {"red": "#f54a45", "orange": "#ff8800", "green": "#34c724", "blue": "#3370ff"}.get(header["template"])
        rendered[0] = (
            f'<div class="card-head" style="background:{tone}">{html.escape(header["title"]["content"])}</div>'
        )
    return f"""<!doctype html><html><head><meta charset="utf-8"><style>
body {{ font-family: "Noto Sans CJK SC", "WenQuanYi Micro Hei", sans-serif; background: #f0f2f5; margin: 0; }}
.bar {{ background: {colour}; color: white; padding: 10px 16px; font-size: 15px; }}
.row {{ display: flex; gap: 10px; padding: 16px; }}
.avatar {{ width: 36px; height: 36px; border-radius: 6px; background: {colour}; color: white; text-align: center;
  line-height: 36px; font-size: 13px; flex: none; }}
.name {{ color: #888; font-size: 12px; margin-bottom: 4px; }}
.bubble {{ background: white; border-radius: 8px; padding: 10px 14px; max-width: 560px; font-size: 14px;
  box-shadow: 0 1px 2px rgba(0,0,0,.08); overflow: hidden; }}
.bubble h3 {{ font-size: 15px; margin: 0 0 8px; }} .bubble p {{ margin: 4px 0; word-break: break-all; }}
.card-head {{ color: white; margin: -10px -14px 8px; padding: 10px 14px; font-weight: bold; }}
a {{ color: {colour}; }}
</style></head><body><div class="bar">{app} · WebhookHub 告警群</div>
<div class="row"><div class="avatar">Hub</div><div><div class="name">WebhookHub {bot}</div>
<div class="bubble" data-robot="{kind}">{"".join(rendered)}</div></div></div></body></html>"""
