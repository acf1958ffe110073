"""A real SMTP server (aiosmtpd) in a thread, recording what it accepts: for the channel tests and bench_channels."""

import asyncio
import email
import email.policy
import logging
import os
import signal
import sys
import time

from aiosmtpd.controller import Controller


class RecordingHandler:
    """Keeps every accepted message; `answer` makes it refuse DATA with that SMTP reply instead;
    `delay` seconds of thought before each answer make a batch slow enough to strike in the middle of."""

    def __init__(self):
        self.messages = []
        self.answer = None
        self.delay = 0.0

    async def handle_DATA(self, server, session, envelope):
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.answer:
            return self.answer
        self.messages.append(email.message_from_bytes(envelope.content, policy=email.policy.default))
        return "250 OK queued"


class SmtpServer:
    def __init__(self, port: int):
        self.port = port
        self.handler = RecordingHandler()
        self.controller = None

    def start(self):
        logging.getLogger("mail.log").setLevel(logging.WARNING)  # a line per SMTP command otherwise
        self.controller = Controller(self.handler, hostname="127.0.0.1", port=self.port)
        self.controller.start()

    def stop(self):
        if self.controller:
            self.controller.stop()
            self.controller = None

    @property
    def messages(self):
        return self.handler.messages


class CountingHandler:
    """In a process of its own: one line per accepted message on stdout (its log), nothing kept."""

    async def handle_DATA(self, server, session, envelope):
        print(f"accepted {len(envelope.content)} bytes for {','.join(envelope.rcpt_tos)}", flush=True)
        return "250 OK queued"


def start_smtp_process(log_dir, *, port: int | None = None):
    """A real SMTP server in a child process (no GIL shared with the sender): (Process, port).

    Count what it accepted with `accepted_count(process)`.
    """
    from devtools.processes import Process, free_port

    port = port or free_port()
    process = Process("smtp", [sys.executable, "-m", "devtools.smtp_server", str(port)], dict(os.environ), log_dir)
    process.wait_for_output("SMTP ready", timeout=30)
    return process, port


def accepted_count(process) -> int:
    return process.output().count("\naccepted ")


if __name__ == "__main__":
    controller = Controller(CountingHandler(), hostname="127.0.0.1", port=int(sys.argv[1]))
    logging.getLogger("mail.log").setLevel(logging.WARNING)
    controller.start()
    print("SMTP ready", flush=True)
    signal.signal(signal.SIGTERM, lambda *args: (controller.stop(), sys.exit(0)))
    while True:
        time.sleep(3600)
