import os

from django.core.management.base import BaseCommand

from demo.receiver import DEMO_BASIC, DEMO_OAUTH, DEMO_SECRET, ReceiverConfig, serve_forever


class Command(BaseCommand):
    help = "A demo receiver on 127.0.0.1 that verifies signatures and Basic auth and prints each message."

    def add_arguments(self, parser):
        parser.add_argument("--port", type=int, default=int(os.environ.get("DEMO_RECEIVER_PORT", 8099)))
        parser.add_argument("--secret", default=DEMO_SECRET)
        parser.add_argument("--basic", default=":".join(DEMO_BASIC), help="username:password expected in Basic auth")
        parser.add_argument("--oauth", default=":".join(DEMO_OAUTH), help="appid:secret accepted by /oauth/token")
        parser.add_argument("--delay-ms", type=int, default=0)
        parser.add_argument("--quiet", action="store_true", help="do not print messages (benchmarks)")

    def handle(self, *args, **options):
        username, _, password = options["basic"].partition(":")
        app_id, _, app_secret = options["oauth"].partition(":")
        config = ReceiverConfig(
            secret=options["secret"],
            basic_username=username,
            basic_password=password,
            oauth_app_id=app_id,
            oauth_app_secret=app_secret,
            delay_ms=options["delay_ms"],
            record=False,
            quiet=options["quiet"],
        )
        self.stdout.write(f"demo receiver listening on http://127.0.0.1:{options['port']}/", ending="\n")
        self.stdout.flush()
        serve_forever(config, port=options["port"])
