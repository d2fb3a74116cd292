#!/usr/bin/env python3
"""A tiny fault-injecting HTTP proxy for ethstack's tests, in front of a real server (moto).

    fault_proxy.py PORT UPSTREAM_URL FAULTS [REWRITE]

FAULTS is a comma-separated list of answers given to the first requests, in order, before every
later request is forwarded unchanged: a status (503, 500, 429), a status with an AWS error code
(400:Throttling, 400:RequestLimitExceeded), `drop` (close the connection without answering), or
`forward-drop` (forward the request, let the server process it, then close the connection without
answering: the client cannot know whether it was processed). A fault written `OPERATION@FAULT`
(e.g. `CreateVpc@forward-drop`) is not positional: it answers the first request for that operation
(the Query API's `Action=OPERATION`, or a path containing OPERATION).
The proxy listens on 127.0.0.1:PORT (0: a free port, printed as `PORT <n>` on the first line).
REWRITE is `FROM|TO|N`: in the first N forwarded responses whose body contains FROM, FROM is
replaced by TO (e.g. `<state>available</state>|<state>pending</state>|3` makes a NAT gateway look
pending, so that waiters poll).
GET /__proxy/stats answers {"requests": N, "faults": F} without forwarding.
With FAULT_PROXY_LOG=FILE in the environment, every request is appended to FILE as one line:
`METHOD PATH BODY` (the body, form-encoded for EC2/IAM Query calls, with newlines removed).
"""
import http.client
import http.server
import json
import os
import sys
import threading
import urllib.parse

port = int(sys.argv[1])
upstream = urllib.parse.urlsplit(sys.argv[2])
all_faults = [f for f in (sys.argv[3] if len(sys.argv) > 3 else "").split(",") if f]
faults = [f for f in all_faults if "@" not in f]
targeted = [tuple(f.split("@", 1)) for f in all_faults if "@" in f]
rewrite = (sys.argv[4].split("|") if len(sys.argv) > 4 and sys.argv[4] else None)
rewrites_left = int(rewrite[2]) if rewrite else 0
lock = threading.Lock()
log_path = os.environ.get("FAULT_PROXY_LOG")
stats = {"requests": 0, "faults": 0, "rewrites": 0}


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def handle_any(self):
        if self.path == "/__proxy/stats":
            body = json.dumps(stats).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        with lock:
            stats["requests"] += 1
            if log_path:
                with open(log_path, "a") as log:
                    log.write("%s %s %s\n" % (self.command, self.path, body.decode("utf-8", "replace").replace("\n", " ")))
            fault = None
            text = body.decode("utf-8", "replace")
            for i, (operation, what) in enumerate(targeted):
                if ("Action=%s&" % operation) in text + "&" or operation in self.path:
                    fault = what
                    del targeted[i]
                    break
            if fault is None:
                fault = faults.pop(0) if faults else None
            if fault:
                stats["faults"] += 1
        if fault == "drop":
            self.close_connection = True
            self.connection.shutdown(2)
            return
        if fault and fault != "forward-drop":
            status, _, code = fault.partition(":")
            if code:
                payload = ('<?xml version="1.0" encoding="UTF-8"?><Response><Errors><Error><Code>%s</Code>'
                           '<Message>injected by fault_proxy</Message></Error></Errors><RequestID>x</RequestID></Response>' % code).encode()
            else:
                payload = b""
            self.send_response(int(status))
            self.send_header("Content-Type", "text/xml")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)
            return
        conn = http.client.HTTPConnection(upstream.hostname, upstream.port, timeout=60)
        headers = {k: v for k, v in self.headers.items() if k.lower() not in ("connection",)}
        conn.request(self.command, self.path, body=body, headers=headers)
        response = conn.getresponse()
        data = response.read()
        if fault == "forward-drop":
            conn.close()
            self.close_connection = True
            self.connection.shutdown(2)
            return
        global rewrites_left
        if rewrite:
            with lock:
                if rewrites_left > 0 and rewrite[0].encode() in data:
                    rewrites_left -= 1
                    stats["rewrites"] += 1
                    data = data.replace(rewrite[0].encode(), rewrite[1].encode())
        self.send_response(response.status)
        for k, v in response.getheaders():
            if k.lower() not in ("transfer-encoding", "connection", "content-length", "server", "date"):
                self.send_header(k, v)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)
        conn.close()

    do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = do_PATCH = handle_any


class Server(http.server.ThreadingHTTPServer):
    # socketserver's default listen backlog is 5: a client opening ten connections at once (as
    # ethstack does) would see some SYNs dropped and retried a second later.
    request_queue_size = 128


server = Server(("127.0.0.1", port), Handler)
print("PORT %d" % server.server_address[1], flush=True)
server.serve_forever()
