#!/usr/bin/env python3
"""A tiny stand-in for an Ethereum node's APIs, for `ethstack check` tests.

    eth_node_stub.py PORT|0 [--stuck] [--peers N] [--token T] [--lifetime SECONDS] [--parent PID]
                     [--funded ADDRESS] [--broken-genesis] [--unfunded] [--reject-transactions]

Serves on 127.0.0.1:PORT:
  POST /            JSON-RPC: eth_blockNumber (rises by one every 200 ms, or stays put with
                    --stuck), net_peerCount (N, hex), eth_syncing (false), web3_clientVersion;
                    eth_getBlockByNumber ("0x0": the genesis block, its timestamp the genesis time;
                    null with --broken-genesis, as a node without that block answers);
                    eth_getBalance (1000 ETH for --funded ADDRESS, 0 for others or with --unfunded);
                    eth_sendRawTransaction (a hash the first time; the same transaction again:
                    reth's -32000 "already known" while pending, then -32003 "nonce too low: next
                    nonce 1, tx nonce 0" once a block passed — the stub mines it after 1 s; with
                    --reject-transactions reth's "insufficient funds for gas * price + value");
                    other methods answer a JSON-RPC error -32601.
  GET  /eth/v1/node/health       200 (206 with --stuck, as a syncing beacon node answers)
  GET  /eth/v1/node/syncing      {"data": {"head_slot": "<rises like the block number>", "is_syncing": false, ...}}
  GET  /eth/v1/node/peer_count   {"data": {"connected": "<N>", ...}}
  GET  /eth/v1/beacon/states/head/finality_checkpoints
                                 {"data": {"finalized": {"epoch": "<head slot / 32 - 2, at least 1>"}, ...}}
                                 (epoch "0" with --stuck: a chain that has not finalized)
  GET  /eth/v1/beacon/genesis   {"data": {"genesis_time": "<decimal seconds>", "genesis_validators_root": …,
                                 "genesis_fork_version": "0x10000038"}} ("0" with --broken-genesis)
  GET  /private/health           200 only with the header "Authorization: Bearer T", else 401
Exits by itself when its parent (the test process; or --parent PID, for a stub started by a
script that returns, such as scripts/local-testnet) goes away, and after --lifetime seconds
(default 120), so a test that dies leaves nothing behind.
"""
import argparse
import hashlib
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
parser.add_argument("--funded", default="")
parser.add_argument("--broken-genesis", action="store_true")
parser.add_argument("--unfunded", action="store_true")
parser.add_argument("--reject-transactions", action="store_true")
args = parser.parse_args()
started = time.monotonic()
# The chain began 0x10 slots (12 s each) before the stub started: head slot 0x10 is "now".
genesis_time = int(time.time()) - 0x10 * 12
GENESIS_HASH = "0x" + hashlib.sha256(b"ethstack stub genesis").hexdigest()
sent = {}  # raw transaction -> monotonic time it was first received
sent_lock = threading.Lock()


class RPCError(Exception):
    def __init__(self, code, message):
        super().__init__(message)
        self.code, self.message = code, message


def block(number):
    if number == 0 and args.broken_genesis:
        return None
    if number > height():
        return None
    return {"number": hex(number), "hash": GENESIS_HASH if number == 0 else "0x" + hashlib.sha256(b"block %d" % number).hexdigest(),
            "parentHash": "0x" + "00" * 32 if number == 0 else "0x" + hashlib.sha256(b"block %d" % (number - 1)).hexdigest(),
            "timestamp": hex(genesis_time + 12 * number), "transactions": [], "gasLimit": hex(60_000_000)}


def get_block(params):
    tag = params[0] if params else "latest"
    number = height() if tag in ("latest", "safe", "finalized", "pending") else (0 if tag == "earliest" else int(tag, 16))
    return block(number)


def get_balance(params):
    address = (params[0] if params else "").lower()
    if args.funded and address == args.funded.lower() and not args.unfunded:
        return hex(1000 * 10**18)
    return "0x0"


def send_raw_transaction(params):
    raw = params[0] if params and isinstance(params[0], str) else ""
    if not raw.startswith("0x") or len(raw) < 4 or len(raw) % 2:
        raise RPCError(-32602, "failed to decode signed transaction")
    if args.reject_transactions:
        raise RPCError(-32003, "insufficient funds for gas * price + value")
    with sent_lock:
        first = sent.get(raw)
        if first is None:
            sent[raw] = time.monotonic()
            # The stand-in's hash (sha256; a node's is keccak-256 of the raw bytes).
            return "0x" + hashlib.sha256(bytes.fromhex(raw[2:])).hexdigest()
    if time.monotonic() - first < 1:
        raise RPCError(-32000, "already known")
    raise RPCError(-32003, "nonce too low: next nonce 1, tx nonce 0")


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
        params = call.get("params") or []
        results = {
            "eth_blockNumber": lambda: hex(height()),
            "net_peerCount": lambda: hex(args.peers),
            "eth_syncing": lambda: False,
            "web3_clientVersion": lambda: "stub/v1.0.0",
            "eth_getBlockByNumber": lambda: get_block(params),
            "eth_getBalance": lambda: get_balance(params),
            "eth_sendRawTransaction": lambda: send_raw_transaction(params),
        }
        if method not in results:
            return self.answer(200, {"jsonrpc": "2.0", "id": ident,
                                     "error": {"code": -32601, "message": f"the method {method} does not exist/is not available"}})
        try:
            result = results[method]()
        except (RPCError, ValueError, IndexError) as e:
            code, message = (e.code, e.message) if isinstance(e, RPCError) else (-32602, f"invalid params: {e}")
            return self.answer(200, {"jsonrpc": "2.0", "id": ident, "error": {"code": code, "message": message}})
        self.answer(200, {"jsonrpc": "2.0", "id": ident, "result": result})

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
        elif self.path == "/eth/v1/beacon/genesis":
            self.answer(200, {"data": {"genesis_time": "0" if args.broken_genesis else str(genesis_time),
                                       "genesis_validators_root": "0x" + hashlib.sha256(b"validators").hexdigest(),
                                       "genesis_fork_version": "0x10000038"}})
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
