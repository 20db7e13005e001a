"""A tiny SMTP sink for the notifier's tests: aiosmtpd on 127.0.0.1:PORT, each message saved as
DIR/<n>.eml with its envelope recipients in DIR/<n>.rcpt. Prints READY when listening and stops
when its standard input is closed.

usage: python smtp_sink.py DIR PORT
"""
import os
import sys

try:
    from aiosmtpd.controller import Controller
except ImportError:
    sys.stderr.write(
        "aiosmtpd is not importable by %s; install it with "
        "`pip install -r scripts/requirements-test.txt` and point PINTA_PYTHON at that interpreter\n"
        % sys.executable
    )
    sys.exit(3)


class Sink:
    def __init__(self, folder):
        self.folder = folder
        self.count = 0

    async def handle_DATA(self, server, session, envelope):
        self.count += 1
        base = os.path.join(self.folder, "%04d" % self.count)
        with open(base + ".rcpt", "w") as f:
            f.write("\n".join(envelope.rcpt_tos))
        data = envelope.original_content or envelope.content
        if isinstance(data, str):
            data = data.encode("utf-8")
        with open(base + ".tmp", "wb") as f:
            f.write(data)
        os.rename(base + ".tmp", base + ".eml")
        return "250 Message accepted"


def main():
    folder, port = sys.argv[1], int(sys.argv[2])
    os.makedirs(folder, exist_ok=True)
    controller = Controller(Sink(folder), hostname="127.0.0.1", port=port)
    controller.start()
    print("READY", flush=True)
    try:
        sys.stdin.read()
    finally:
        controller.stop()


if __name__ == "__main__":
    main()
