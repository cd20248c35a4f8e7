# A real SMTP server for the e-mail tests (tests/it/mail.rs): aiosmtpd (PyPI, pinned and
# installed by .ci/run) on 127.0.0.1:PORT (with CERT and KEY: implicit TLS with that
# certificate). Each message it accepts is parsed with Python's own
# MIME parser (an implementation independent of lettre's) and written to DIR as NNNN.json:
# envelope, headers, content type, and the decoded text and HTML parts. Runs until its standard
# input closes (the test drops it) or it is killed.
import email
import email.policy
import json
import os
import ssl
import sys

from aiosmtpd.controller import Controller

port, directory = int(sys.argv[1]), sys.argv[2]


class Sink:
    def __init__(self):
        self.count = len([n for n in os.listdir(directory) if n.endswith(".json")])

    async def handle_DATA(self, server, session, envelope):
        message = email.message_from_bytes(envelope.original_content or envelope.content, policy=email.policy.default)
        text, html = message.get_body(("plain",)), message.get_body(("html",))
        record = {
            "mail_from": envelope.mail_from,
            "rcpt_tos": envelope.rcpt_tos,
            "headers": {name: str(value) for name, value in message.items()},
            "content_type": message.get_content_type(),
            "text": text.get_content() if text is not None else None,
            "html": html.get_content() if html is not None else None,
        }
        self.count += 1
        name = os.path.join(directory, "%04d.json" % self.count)
        with open(name + ".tmp", "w") as out:
            json.dump(record, out)
        os.rename(name + ".tmp", name)
        return "250 OK"


tls = None
if len(sys.argv) > 4:
    tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    tls.load_cert_chain(sys.argv[3], sys.argv[4])
controller = Controller(Sink(), hostname="127.0.0.1", port=port, ssl_context=tls)
controller.start()
print("ready", flush=True)
sys.stdin.read()
controller.stop()
