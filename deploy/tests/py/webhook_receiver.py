"""A webhook receiver that verifies every request with the `standardwebhooks` library, for
deploy/tests/tools/webhook_verification.rs.

Usage: python3 webhook_receiver.py SECRETS_FILE

Listens on 127.0.0.1 at a free port, which it prints on the first line of stdout. For each
POST it reads the secrets in SECRETS_FILE (one `whsec_...` per line, re-read every time so
the test can rotate them) and checks the request with `Webhook(secret).verify(body, headers)`
for each one. It answers a JSON list with one boolean per secret: 200 when every secret
verified, 401 otherwise.
"""

import json
import sys
from http.server import BaseHTTPRequestHandler, HTTPServer

from standardwebhooks import Webhook


def secrets(path):
    with open(path, encoding="utf-8") as f:
        return [line.strip() for line in f if line.strip()]


class Receiver(BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("content-length", "0")))
        headers = {name.lower(): value for name, value in self.headers.items()}
        results = []
        for secret in secrets(sys.argv[1]):
            try:
                Webhook(secret).verify(body, headers)
                results.append(True)
            except Exception:  # any failure to verify is a `false` for that secret
                results.append(False)
        answer = json.dumps(results).encode()
        self.send_response(200 if results and all(results) else 401)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, *args):
        pass


def main():
    server = HTTPServer(("127.0.0.1", 0), Receiver)
    print(server.server_address[1], flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
