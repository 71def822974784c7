"""Demo data: a few hundred customers with Chinese names, three groups, levels, and webhooks of each kind
pointing at the demo receiver (manage.py demo_receiver, on DEMO_RECEIVER_PORT). Idempotent: when data
exists it loads nothing, but points the demo webhooks at the receiver again (its port may have changed)."""

import os
import random
from urllib.parse import urlsplit

from django.core.management.base import BaseCommand
from django.db import transaction

from customers.groups import group_customers_add
from customers.models import Customer, Group, MembershipLevel
from demo.receiver import DEMO_BASIC, DEMO_OAUTH, DEMO_SECRET
from webhooks.content.events import FixedEvent
from webhooks.models import DEFAULT_BODY_TEMPLATE, Webhook
from webhooks.services.webhook_config import webhook_save

SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈"
GIVEN = "伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超秀兰霞平刚桂英华建国建华玉兰萍红梅鑫宇浩然子轩欣怡梓涵思远雨萱"
NICK_WORDS = ["小", "阿", "快乐的", "爱喝茶的", "晴天", "星空", "奔跑的", "安静的", "微笑", "追风"]
NICK_TAILS = ["猫", "鱼", "兔", "熊", "少年", "姑娘", "旅人", "咖啡", "月亮", "向日葵"]
CITIES = ["上海", "北京", "广州", "深圳", "杭州", "成都", "南京", "武汉"]
NAMES = ["CRM(秘钥签名)", "工单系统(Basic 认证, TEXT)", "商城(OAuth2)", "通知(无鉴权)"]
EVENT_NAME = "会员事件:{label}"
LOOPBACK = {"127.0.0.1", "localhost", "::1"}


def receiver_url() -> str:
    """Where the demo receiver listens: DEMO_RECEIVER_URL, else 127.0.0.1 on DEMO_RECEIVER_PORT (as
    manage.py demo_receiver reads it)."""
    url = os.environ.get("DEMO_RECEIVER_URL")
    return url or f"http://127.0.0.1:{os.environ.get('DEMO_RECEIVER_PORT') or 8099}"


def demo_webhooks_point(*, url: str) -> int:
    """Point the demo webhooks still aimed at a local receiver at `url` (same paths); returns how many
    changed. A demo webhook someone pointed elsewhere (not a loopback host) is left alone."""
    names = NAMES + [EVENT_NAME.format(label=event.label) for event in FixedEvent]
    changed = 0
    for webhook in Webhook.objects.filter(name__in=names).order_by("pk"):
        fields = {"url": _moved(webhook.url, url), "oauth_token_url": _moved(webhook.oauth_token_url, url)}
        fields = {name: value for name, value in fields.items() if value and value != getattr(webhook, name)}
        if not fields:
            continue
        for name, value in fields.items():
            setattr(webhook, name, value)
        webhook_save(webhook=webhook, actor="demo_data")
        changed += 1
    return changed


def _moved(old: str, base: str) -> str:
    if not old or urlsplit(old).hostname not in LOOPBACK:
        return ""
    return base.rstrip("/") + urlsplit(old).path


class Command(BaseCommand):
    help = "Load demo customers, groups, membership levels and webhooks (skipped when customers exist)."

    def add_arguments(self, parser):
        parser.add_argument("--customers", type=int, default=300)
        parser.add_argument("--receiver", default=receiver_url(), help="the demo receiver's base URL")

    @transaction.atomic
    def handle(self, *args, **options):
        if Customer.objects.exists():
            changed = demo_webhooks_point(url=options["receiver"].rstrip("/"))
            self.stdout.write(
                f"demo data: customers exist, nothing loaded; {changed} demo webhooks now → {options['receiver']}"
                if changed
                else "demo data: customers exist, nothing loaded"
            )
            return
        rng = random.Random(2026)  # demo data: the same on every load
        levels = [
            MembershipLevel.objects.create(name=name, rank=rank)
            for rank, name in enumerate(["普通会员", "银卡会员", "金卡会员", "钻石会员"], start=1)
        ]
        customers = []
        for i in range(options["customers"]):
            member = i % 3 != 0
            customers.append(
                Customer(
                    name=rng.choice(SURNAMES) + "".join(rng.choice(GIVEN) for _ in range(rng.choice((1, 2)))),
                    wechat_nickname=rng.choice(NICK_WORDS) + rng.choice(NICK_TAILS) + (str(i) if i % 4 == 0 else ""),
                    mobile=f"1{rng.choice('3456789')}{i:09d}",
                    email=f"demo{i}@example.com" if i % 2 else "",
                    activity_score=rng.randint(0, 600),
                    attributes={"city": rng.choice(CITIES), "vip": i % 10 == 0},
                    membership_id=f"M{100000 + i}" if member else "",
                    level=rng.choice(levels) if member else None,
                    points=rng.randint(0, 5000) if member else 0,
                )
            )
        customers = Customer.objects.bulk_create(customers)
        groups = {
            "高价值客户": [c for c in customers if c.activity_score >= 400],
            "上海客户": [c for c in customers if c.attributes["city"] == "上海"],
            "全部会员": [c for c in customers if c.membership_id],
        }
        for name, members in groups.items():
            group = Group.objects.create(name=name, description=f"演示群组:{name}")
            group_customers_add(group=group, customers=members)

        url = options["receiver"].rstrip("/")
        common = {"is_active": True}
        Webhook.objects.create(
            name=NAMES[0],
            url=f"{url}/crm",
            auth_type="secret",
            secret_key=DEMO_SECRET,
            body_template='{"customerId":${customerId},"name":"${customer.name}",'
            '"mobile":"${customer.mobile}","score":${customer.activityScore},'
            '"level":"${member.level}","sendId":"${sendId}"}',
            empty_text="",
            auto_retry=True,
            **common,
        )
        Webhook.objects.create(
            name=NAMES[1],
            url=f"{url}/tickets",
            auth_type="basic",
            basic_username=DEMO_BASIC[0],
            basic_password=DEMO_BASIC[1],
            message_type="text",
            body_template="客户 ${customer.name} (${customer.mobile}) 需要跟进",
            **common,
        )
        Webhook.objects.create(
            name=NAMES[2],
            url=f"{url}/shop",
            auth_type="oauth2",
            oauth_token_url=f"{url}/oauth/token",
            oauth_app_id=DEMO_OAUTH[0],
            oauth_app_secret=DEMO_OAUTH[1],
            body_template=DEFAULT_BODY_TEMPLATE,
            **common,
        )
        Webhook.objects.create(
            name=NAMES[3],
            url=f"{url}/notify",
            auth_type="none",
            body_template='{"customerId":"${customerId}","city":"${customer.city!"未知"}"}',
            **common,
        )
        for event in FixedEvent:
            Webhook.objects.create(
                name=EVENT_NAME.format(label=event.label),
                url=f"{url}/loyalty",
                auth_type="secret",
                secret_key=DEMO_SECRET,
                trigger_type="fixed",
                event=event.value,
                body_template="",
                **common,
            )
        self.stdout.write(
            self.style.SUCCESS(
                f"demo data: {len(customers)} customers, {len(groups)} groups, {len(levels)} levels, "
                f"{Webhook.objects.count()} webhooks → {url}"
            )
        )
