"""A real SMTP server (aiosmtpd) in a thread, recording what it accepts: for the channel tests and bench_channels."""

import email
import email.policy
import logging

from aiosmtpd.controller import Controller


class RecordingHandler:
    """Keeps every accepted message; `answer` makes it refuse DATA with that SMTP reply instead."""

    def __init__(self):
        self.messages = []
        self.answer = None

    async def handle_DATA(self, server, session, envelope):
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
