#!/usr/bin/env python3
"""A tiny stand-in for an Ethereum node's APIs, for `ethstack check` tests.

    eth_node_stub.py PORT|0 [--stuck] [--peers N] [--token T] [--lifetime SECONDS] [--parent PID]

Serves on 127.0.0.1:PORT:
  POST /            JSON-RPC: eth_blockNumber (rises by one every 200 ms, or stays put with
                    --stuck), net_peerCount (N, hex), eth_syncing (false), web3_clientVersion;
                    other methods answer a JSON-RPC error -32601.
  GET  /eth/v1/node/health       200 (206 with --stuck, as a syncing beacon node answers)
  GET  /eth/v1/node/syncing      {"data": {"head_slot": "<rises like the block number>", "is_syncing": false, ...}}
  GET  /eth/v1/node/peer_count   {"data": {"connected": "<N>", ...}}
  GET  /eth/v1/beacon/states/head/finality_checkpoints
                                 {"data": {"finalized": {"epoch": "<head slot / 32 - 2, at least 1>"}, ...}}
                                 (epoch "0" with --stuck: a chain that has not finalized)
  GET  /private/health           200 only with the header "Authorization: Bearer T", else 401
Exits by itself when its parent (the test process; or --parent PID, for a stub started by a
script that returns, such as scripts/local-testnet) goes away, and after --lifetime seconds
(default 120), so a test that dies leaves nothing behind.
"""
import argparse
import json
import os
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

parser = argparse.ArgumentParser()
parser.add_argument("port", type=int)
parser.add_argument("--stuck", action="store_true")
parser.add_argument("--peers", type=int, default=5)
parser.add_argument("--token", default="")
parser.add_argument("--lifetime", type=float, default=120)
parser.add_argument("--parent", type=int, default=0)
args = parser.parse_args()
started = time.monotonic()


def height():
    if args.stuck:
        return 0x10
    return 0x10 + int((time.monotonic() - started) / 0.2)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *_):
        pass

    def answer(self, status, payload):
        body = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self):
        length = int(self.headers.get("Content-Length") or 0)
        try:
            call = json.loads(self.rfile.read(length) or b"null")
            method, ident = call["method"], call.get("id")
        except Exception:
            return self.answer(400, {"jsonrpc": "2.0", "id": None, "error": {"code": -32700, "message": "parse error"}})
        results = {
            "eth_blockNumber": hex(height()),
            "net_peerCount": hex(args.peers),
            "eth_syncing": False,
            "web3_clientVersion": "stub/v1.0.0",
        }
        if method not in results:
            return self.answer(200, {"jsonrpc": "2.0", "id": ident,
                                     "error": {"code": -32601, "message": f"the method {method} does not exist/is not available"}})
        self.answer(200, {"jsonrpc": "2.0", "id": ident, "result": results[method]})

    def do_GET(self):
        if self.path == "/eth/v1/node/health":
            status = 206 if args.stuck else 200
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()
        elif self.path == "/eth/v1/node/syncing":
            self.answer(200, {"data": {"head_slot": str(height()), "sync_distance": "0", "is_syncing": args.stuck,
                                       "is_optimistic": False, "el_offline": False}})
        elif self.path == "/eth/v1/node/peer_count":
            self.answer(200, {"data": {"connected": str(args.peers), "disconnected": "0", "connecting": "0",
                                       "disconnecting": "0"}})
        elif self.path == "/eth/v1/beacon/states/head/finality_checkpoints":
            finalized = 0 if args.stuck else max(1, height() // 32 - 2)
            checkpoint = lambda epoch: {"epoch": str(epoch), "root": "0x" + "%064x" % epoch}
            self.answer(200, {"execution_optimistic": False, "finalized": True,
                              "data": {"previous_justified": checkpoint(finalized + 1), "current_justified": checkpoint(finalized + 2),
                                       "finalized": checkpoint(finalized)}})
        elif self.path == "/private/health":
            ok = args.token and self.headers.get("Authorization") == f"Bearer {args.token}"
            self.answer(200 if ok else 401, {"ok": bool(ok)})
        else:
            self.answer(404, {"code": 404, "message": "not found"})


def parent_alive(parent):
    if not args.parent:
        return os.getppid() == parent
    try:
        os.kill(args.parent, 0)
        return True
    except ProcessLookupError:
        return False
    except PermissionError:
        return True


def watch_parent(parent):
    while time.monotonic() - started < args.lifetime and parent_alive(parent):
        time.sleep(0.5)
    server.shutdown()


class Server(ThreadingHTTPServer):
    request_queue_size = 128  # not socketserver's 5: concurrent checks connect at once


server = Server(("127.0.0.1", args.port), Handler)
server.daemon_threads = True
# With port 0 the system picks one; the first line says which (no pre-picked port to race for).
print(f"listening on http://127.0.0.1:{server.server_address[1]}", flush=True)
threading.Thread(target=watch_parent, args=(os.getppid(),), daemon=True).start()
server.serve_forever()
