"""Print a new VAPID key pair as environment lines (VAPID_PUBLIC_KEY, VAPID_PRIVATE_KEY)."""

from django.core.management.base import BaseCommand

from webpush.vapid import vapid_keys_generate


class Command(BaseCommand):
    help = "Generate a VAPID (RFC 8292) P-256 key pair for Web Push and print it as environment lines."

    def handle(self, *args, **options):
        public, private = vapid_keys_generate()
        self.stdout.write(f"VAPID_PUBLIC_KEY={public}")
        self.stdout.write(f"VAPID_PRIVATE_KEY={private}")
        self.stderr.write(
            "Keep the private key secret and keep the pair: browsers' subscriptions are bound to the public key, "
            "so a new pair makes every stored subscription useless."
        )
