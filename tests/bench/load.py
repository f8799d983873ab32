#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# load.py: the real vestibuled under a busy store's load, from outside
# (issue #16, point 6).
#
# Starts the build's vestibuled in a temporary directory with a simulated
# store of 16 doors (sim-reader, sim-lock, sim-keypad and a silent console
# each), sim-payment for the holds and log-sms for the SMS (a zero-latency
# local provider: the benchmark measures the daemon, not a fake). One event
# follower (GET /v1/events?follow=1) stays connected throughout.
#
# Open loop: the taps are scheduled at a fixed rate, tap i at t0 + i / rate,
# handed round-robin to the doors, and each tap's latency is measured from
# its scheduled time, so that a tap waiting for its door (the shopper before
# still inside the doorway) counts the wait: queueing is not hidden
# (coordinated omission). Each visit is a tap, the unlock, the door opened
# and the door closed; the next tap at that door may follow.
#
# tap-to-unlock is from the scheduled time to the unlock: the door-unlocked
# event's own monotonic time (the daemon stamps it with CLOCK_MONOTONIC, the
# clock this script reads). The time the follower received it is printed too.
#
# Cards: a pool of returning cards, each enrolled once before the runs (a
# tap, its phone number typed, the one-time code read from the log-sms file
# and typed). During the runs a share of the taps (--new-fraction) are new
# cards with a new phone, which wait for their code: their latency is not a
# tap-to-unlock (it includes the typing), so it is left out of the
# percentiles, and their CPU is in the CPU per visit.
#
# Per rate: p50, p99, p99.9 and max of tap-to-unlock; the daemon's CPU per
# visit (utime + stime of /proc/PID/stat over the run, all threads, divided
# by the visits); its RSS before and after the run (each read after a rest);
# the CPU per thread. Targets (PASS/MISS): p99 under 10 ms at 200 taps a
# second, CPU per visit under 2 ms, RSS flat (at most 256 KiB gained over the
# run). A missed target is not a failure; an error (a tap refused, an unlock
# that never came) is.
#
#   tests/bench/load.py                       both rates, 30 s each
#   tests/bench/load.py --rates 200 --duration 60 --perf /tmp/perf.data
#   tests/bench/load.py --help
#
# Python 3 standard library only; one thread, asyncio. Everything is on the
# control socket (a Unix socket) and 127.0.0.1; the daemon is stopped at exit
# and dies with this process (setpriv --pdeathsig).

import argparse
import asyncio
import hashlib
import json
import os
import random
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

BIN = "497010"
CURRENCY = "EUR"
HOLD = 5000
TICK = os.sysconf("SC_CLK_TCK")
PAGE_KIB = os.sysconf("SC_PAGE_SIZE") // 1024
P99_TARGET_MS = 10.0
CPU_TARGET_MS = 2.0
RSS_SLACK_KIB = 256


def log(*args):
    print(time.strftime("%H:%M:%S"), *args, file=sys.stderr, flush=True)


def luhn_complete(digits):
    total = 0
    for i, d in enumerate(reversed(digits)):
        n = int(d)
        if i % 2 == 0:
            n *= 2
            if n > 9:
                n -= 9
        total += n
    return digits + str((10 - total % 10) % 10)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def percentile(sorted_values, p):
    if not sorted_values:
        return float("nan")
    k = min(len(sorted_values) - 1, max(0, int(round(p / 100.0 * len(sorted_values) + 0.5)) - 1))
    return sorted_values[k]


# ---------------------------------------------------------------------------
# HTTP/1.1 over the control socket, kept alive


class HttpError(Exception):
    pass


class Client:
    """one keep-alive connection to the control socket; one request at a time"""

    def __init__(self, path, reconnect_each=False):
        self.path = path
        self.reconnect_each = reconnect_each
        self.reader = None
        self.writer = None

    async def close(self):
        if self.writer is not None:
            self.writer.close()
            try:
                await self.writer.wait_closed()
            except OSError:
                pass
        self.reader = self.writer = None

    async def request(self, method, path, body=None):
        for attempt in (0, 1):
            if self.writer is None:
                self.reader, self.writer = await asyncio.open_unix_connection(self.path)
            data = json.dumps(body).encode() if body is not None else b""
            head = (f"{method} {path} HTTP/1.1\r\nHost: localhost\r\n"
                    f"Content-Length: {len(data)}\r\n")
            if data:
                head += "Content-Type: application/json\r\n"
            if self.reconnect_each:
                head += "Connection: close\r\n"
            self.writer.write(head.encode() + b"\r\n" + data)
            try:
                status, headers, raw = await read_response(self.reader)
            except (ConnectionError, asyncio.IncompleteReadError, HttpError):
                # the server closed a kept-alive connection: once more, anew
                await self.close()
                if attempt == 1:
                    raise
                continue
            if self.reconnect_each or headers.get("connection", "").lower() == "close":
                await self.close()
            try:
                parsed = json.loads(raw) if raw else None
            except ValueError:
                parsed = None
            return status, parsed
        raise HttpError("unreachable")


async def read_headers(reader):
    line = await reader.readline()
    if not line:
        raise HttpError("connection closed")
    parts = line.decode("latin-1").split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/"):
        raise HttpError(f"bad status line {line!r}")
    status = int(parts[1])
    headers = {}
    while True:
        line = await reader.readline()
        if line in (b"\r\n", b"\n", b""):
            break
        k, _, v = line.decode("latin-1").partition(":")
        headers[k.strip().lower()] = v.strip()
    return status, headers


async def read_chunk(reader):
    """one chunk of a chunked body; b'' at its end"""
    size_line = await reader.readline()
    if not size_line:
        raise HttpError("connection closed")
    size = int(size_line.split(b";")[0].strip(), 16)
    if size == 0:
        await reader.readline()
        return b""
    data = await reader.readexactly(size)
    await reader.readexactly(2)
    return data


async def read_response(reader):
    status, headers = await read_headers(reader)
    if "content-length" in headers:
        raw = await reader.readexactly(int(headers["content-length"]))
    elif headers.get("transfer-encoding", "").lower() == "chunked":
        parts = []
        while True:
            chunk = await read_chunk(reader)
            if not chunk:
                break
            parts.append(chunk)
        raw = b"".join(parts)
    else:
        raw = b""
    return status, headers, raw


# ---------------------------------------------------------------------------
# the follower: the events, and who waits for which


class Follower:
    def __init__(self, socket_path):
        self.socket_path = socket_path
        self.waiters = {}  # (door, name) -> [future]
        self.events = 0
        self.bytes = 0
        self.task = None
        self.error = None
        self.writer = None

    def wait(self, door, name):
        fut = asyncio.get_running_loop().create_future()
        self.waiters.setdefault((door, name), []).append(fut)
        return fut

    def forget(self, door, name, fut):
        lst = self.waiters.get((door, name))
        if lst and fut in lst:
            lst.remove(fut)

    def handle(self, line, received):
        self.events += 1
        # only the unlocks wake anybody: the other lines are not parsed
        if b'"door-unlocked"' not in line:
            return
        ev = json.loads(line)
        lst = self.waiters.get((ev.get("door"), ev.get("name")))
        if lst:
            fut = lst.pop(0)
            if not fut.done():
                fut.set_result((ev, received))

    async def run(self, connected):
        try:
            reader, self.writer = await asyncio.open_unix_connection(self.socket_path,
                                                                     limit=1 << 20)
            # after=: only the events from now on
            self.writer.write(b"GET /v1/events?follow=1&after=" + str(1 << 62).encode()
                              + b" HTTP/1.1\r\nHost: localhost\r\n\r\n")
            await self.writer.drain()
            # the daemon writes the head with the first event: the request
            # is read and the follower registered well within this
            await asyncio.sleep(0.2)
            connected.set_result(True)
            status, headers = await read_headers(reader)
            if status != 200:
                raise HttpError(f"follow: HTTP {status}")
            chunked = headers.get("transfer-encoding", "").lower() == "chunked"
            pending = b""
            while True:
                if chunked:
                    data = await read_chunk(reader)
                    if not data:
                        raise HttpError("the event stream ended")
                else:
                    data = await reader.read(65536)
                    if not data:
                        raise HttpError("the event stream ended")
                received = time.monotonic()
                self.bytes += len(data)
                pending += data
                *lines, pending = pending.split(b"\n")
                for line in lines:
                    if line:
                        self.handle(line, received)
        except asyncio.CancelledError:
            raise
        except Exception as e:  # noqa: BLE001: reported at the end
            self.error = f"{type(e).__name__}: {e}"
            if not connected.done():
                connected.set_exception(e)
            for lst in self.waiters.values():
                for fut in lst:
                    if not fut.done():
                        fut.set_exception(HttpError(self.error))

    async def start(self):
        connected = asyncio.get_running_loop().create_future()
        self.task = asyncio.create_task(self.run(connected))
        await connected

    async def stop(self):
        if self.task is not None:
            self.task.cancel()
            try:
                await self.task
            except (asyncio.CancelledError, Exception):
                pass
        if self.writer is not None:
            self.writer.close()


# ---------------------------------------------------------------------------
# the daemon and /proc


class Daemon:
    def __init__(self, args, tmp):
        self.args = args
        self.tmp = tmp
        self.socket_path = os.path.join(tmp, "control.sock")
        self.log_path = os.path.join(tmp, "daemon.log")
        self.sms_path = os.path.join(tmp, "sms.jsonl")
        self.port = free_port()
        self.proc = None

    def write_config(self):
        doors = []
        for i in range(1, self.args.doors + 1):
            name = f"d{i}"
            doors.append(f"""
[door:{name}]
reader = {name}-reader
lock = {name}-lock
keypad = {name}-keypad
display = {name}-display

[instance:{name}-reader]
plugin = sim-reader

[instance:{name}-lock]
plugin = sim-lock
held-open-s = 600

[instance:{name}-keypad]
plugin = sim-keypad

[instance:{name}-display]
plugin = console
output = none
""")
        conf = f"""# the load benchmark's configuration (tests/bench/load.py)
[vestibule]
name = Load store
country = FR
currency = {CURRENCY}
language = en
state-dir = {self.tmp}/state
operator-contact = +33 1 23 45 67 89

[http]
address = 127.0.0.1
port = {self.port}
control-socket = {self.socket_path}

[services]
sms = sms
payment = payment

[visit]
hold-amount = {HOLD}
verify-phone = true

[sms]
# no rate limit: every visit's notice goes out at once
rate-per-minute = 0

[instance:sms]
plugin = log-sms
path = {self.sms_path}

[instance:payment]
plugin = sim-payment
{"".join(doors)}"""
        with open(os.path.join(self.tmp, "vestibule.conf"), "w") as f:
            f.write(conf)
        fd = os.open(os.path.join(self.tmp, "secrets.conf"),
                     os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write("[vestibule]\n")
            for name in ("card-token-key", "phone-key", "phone-index-key", "otp-key"):
                f.write(f"{name} = {secrets.token_hex(32)}\n")

    def start(self):
        cmd = [self.args.vestibuled, "--config", os.path.join(self.tmp, "vestibule.conf"),
               "--secrets", os.path.join(self.tmp, "secrets.conf"),
               "--plugin-dir", self.args.plugin_dir]
        if self.args.callgrind:
            cmd = ["valgrind", "--tool=callgrind", "--quiet",
                   f"--callgrind-out-file={self.tmp}/callgrind.out.%p"] + cmd
        if shutil.which("setpriv"):
            cmd = ["setpriv", "--pdeathsig", "KILL", "--"] + cmd
        env = dict(os.environ)
        env.pop("NOTIFY_SOCKET", None)
        env.pop("G_DEBUG", None)  # the daemon as an operator runs it
        env["LC_ALL"] = "C.UTF-8"
        with open(self.log_path, "ab") as logf:
            self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=logf,
                                         stderr=subprocess.STDOUT, env=env)
        deadline = time.time() + (300 if self.args.callgrind else 60)
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"vestibuled exited with status {self.proc.returncode} "
                                   f"at start; see {self.log_path}")
            if os.path.exists(self.socket_path):
                try:
                    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                    s.settimeout(2)
                    s.connect(self.socket_path)
                    s.sendall(b"GET /v1/status HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                    if s.recv(64).startswith(b"HTTP/1.1 200"):
                        s.close()
                        return
                    s.close()
                except OSError:
                    pass
            time.sleep(0.05)
        raise RuntimeError(f"vestibuled did not answer within 60 s; see {self.log_path}")

    def stop(self):
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc is not None else None
        self.proc.terminate()
        try:
            return self.proc.wait(60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            return None

    @property
    def pid(self):
        return self.proc.pid

    def cpu_ticks(self):
        with open(f"/proc/{self.pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        # utime and stime are fields 14 and 15; fields[0] is field 3
        return int(fields[11]) + int(fields[12])

    def thread_ticks(self):
        out = {}
        for tid in os.listdir(f"/proc/{self.pid}/task"):
            try:
                with open(f"/proc/{self.pid}/task/{tid}/stat") as f:
                    head, tail = f.read().rsplit(")", 1)
                comm = head.split("(", 1)[1]
                fields = tail.split()
                out[(tid, comm)] = int(fields[11]) + int(fields[12])
            except OSError:
                pass
        return out

    def io(self):
        """(read syscalls, write syscalls, bytes written to storage)"""
        out = {}
        with open(f"/proc/{self.pid}/io") as f:
            for line in f:
                k, _, v = line.partition(":")
                out[k] = int(v)
        return out["syscr"], out["syscw"], out["write_bytes"]

    def callgrind(self, action):
        """zeroes the counts (z), or dumps them and returns the instructions since (d)"""
        subprocess.run(["callgrind_control", "-" + action, str(self.pid)], check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if action != "d":
            return None
        dumps = sorted((f for f in os.listdir(self.tmp) if f.startswith("callgrind.out.")),
                       key=lambda f: os.path.getmtime(os.path.join(self.tmp, f)))
        with open(os.path.join(self.tmp, dumps[-1])) as f:
            for line in f:
                if line.startswith(("summary:", "totals:")):
                    return int(line.split()[1])
        return None

    def rss_kib(self):
        with open(f"/proc/{self.pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        return 0


# ---------------------------------------------------------------------------
# cards and visits


class Card:
    def __init__(self, pan, phone_national, phone_e164):
        self.pan = pan
        self.national = phone_national
        self.e164 = phone_e164
        self.to_hash = hashlib.sha256(phone_e164.encode()).hexdigest()[:16]
        self.busy = False


class Cards:
    def __init__(self, rng):
        self.rng = rng
        self.pans = set()
        self.phones = set()
        self.returning = []

    def new(self):
        while True:
            pan = luhn_complete(BIN + "".join(self.rng.choice("0123456789") for _ in range(9)))
            if pan not in self.pans:
                self.pans.add(pan)
                break
        while True:
            national = "06" + "".join(self.rng.choice("0123456789") for _ in range(8))
            if national not in self.phones:
                self.phones.add(national)
                break
        return Card(pan, national, "+33" + national[1:])

    def take_returning(self):
        free = [c for c in self.returning if not c.busy]
        card = self.rng.choice(free)
        card.busy = True
        return card


class SmsFile:
    """the log-sms file: the handsets"""

    def __init__(self, path):
        self.path = path
        self.offset = 0
        self.codes = {}  # to-hash -> [code]

    def poll(self):
        try:
            with open(self.path, "rb") as f:
                f.seek(self.offset)
                data = f.read()
        except FileNotFoundError:
            return
        end = data.rfind(b"\n")
        if end < 0:
            return
        self.offset += end + 1
        for line in data[:end].split(b"\n"):
            if b"code" not in line:
                continue
            msg = json.loads(line)
            m = re.search(r"\b(\d{6})\b", msg.get("body", ""))
            if m:
                self.codes.setdefault(msg["to-hash"], []).append(m.group(1))

    async def code_for(self, card, timeout):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.poll()
            lst = self.codes.get(card.to_hash)
            if lst:
                return lst.pop(0)
            await asyncio.sleep(0.01)
        raise HttpError("no one-time code reached the phone")


class Stats:
    def __init__(self):
        self.latencies = []  # ms, returning cards: scheduled -> unlock (daemon's clock)
        self.seen = []  # ms, scheduled -> follower received it
        self.service = []  # ms, tap sent -> unlock (no queueing)
        self.new_visits = 0
        self.visits = 0
        self.errors = []


class Load:
    def __init__(self, args, daemon, follower, cards, sms, rng):
        self.args = args
        self.daemon = daemon
        self.follower = follower
        self.cards = cards
        self.sms = sms
        self.rng = rng
        self.clients = [Client(daemon.socket_path, args.connection_per_request)
                        for _ in range(args.doors)]

    async def expect(self, client, method, path, body, want):
        status, obj = await client.request(method, path, body)
        if status not in want:
            raise HttpError(f"{method} {path}: HTTP {status} {obj}")
        return obj

    async def prompt(self, client, door, prompt_id, timeout):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            obj = await self.expect(client, "GET", f"/v1/sim/{door}-display/screen", None,
                                    (200,))
            if obj.get("prompt-id") == prompt_id:
                return
            await asyncio.sleep(0.01)
        raise HttpError(f"the door {door} never showed {prompt_id}")

    async def visit(self, door_i, card, new, stats, scheduled):
        door = f"d{door_i + 1}"
        client = self.clients[door_i]
        fl = self.follower
        timeout = self.args.visit_timeout
        unlocked = fl.wait(door, "door-unlocked")
        try:
            sent = time.monotonic()
            await self.expect(client, "POST", f"/v1/sim/{door}-reader/tap", {"pan": card.pan},
                              (202,))
            if new:
                # the visit-state events do not name the door: its display does
                await self.prompt(client, door, "enter-phone", timeout)
                await self.expect(client, "POST", f"/v1/sim/{door}-keypad/keys",
                                  {"keys": list(card.national) + ["enter"]}, (200,))
                await self.prompt(client, door, "enter-code", timeout)
                code = await self.sms.code_for(card, max(timeout, 60.0))
                await self.expect(client, "POST", f"/v1/sim/{door}-keypad/keys",
                                  {"keys": list(code) + ["enter"]}, (200,))
            ev, received = await asyncio.wait_for(unlocked, timeout)
        except BaseException:
            fl.forget(door, "door-unlocked", unlocked)
            raise
        unlocked_at = ev["mono-us"] / 1e6
        if stats is not None:
            if new:
                stats.new_visits += 1
            else:
                stats.latencies.append((unlocked_at - scheduled) * 1e3)
                stats.seen.append((received - scheduled) * 1e3)
                stats.service.append((unlocked_at - sent) * 1e3)
        await self.expect(client, "POST", f"/v1/sim/{door}-lock/door", {"action": "open"},
                          (200,))
        await self.expect(client, "POST", f"/v1/sim/{door}-lock/door", {"action": "close"},
                          (200,))
        if stats is not None:
            stats.visits += 1

    async def door_worker(self, door_i, schedule, stats):
        for scheduled, new in schedule:
            wait = scheduled - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            card = self.cards.new() if new else self.cards.take_returning()
            try:
                await self.visit(door_i, card, new, stats, scheduled)
                if new:
                    self.cards.returning.append(card)
            except Exception as e:  # noqa: BLE001: counted, and the run goes on
                msg = f"d{door_i + 1}: {type(e).__name__}: {e}"
                if stats is not None:
                    stats.errors.append(msg)
                log("ERROR", msg)
                await self.reset_door(door_i)
            finally:
                card.busy = False

    async def reset_door(self, door_i):
        """ends whatever session the door is in, so that its next tap starts anew"""
        door = f"d{door_i + 1}"
        client = self.clients[door_i]
        try:
            await client.request("POST", f"/v1/sim/{door}-keypad/keys", {"keys": ["cancel"]})
            status, state = await client.request("GET", f"/v1/sim/{door}-lock/state")
            if status == 200 and state.get("door") == "open":
                await client.request("POST", f"/v1/sim/{door}-lock/door", {"action": "close"})
        except (OSError, HttpError, asyncio.IncompleteReadError) as e:
            log("cannot reset", door, e)
        await asyncio.sleep(0.5)

    async def play(self, rate, duration, new_fraction, stats):
        n = int(rate * duration)
        t0 = time.monotonic() + 0.05
        per_door = [[] for _ in range(self.args.doors)]
        for i in range(n):
            per_door[i % self.args.doors].append((t0 + i / rate,
                                                  self.rng.random() < new_fraction))
        await asyncio.gather(*(self.door_worker(d, per_door[d], stats)
                               for d in range(self.args.doors)))
        return time.monotonic() - t0

    async def enroll(self, count):
        """count cards, each visited once as a new card (phone and code)"""
        per_door = [[] for _ in range(self.args.doors)]
        cards = [self.cards.new() for _ in range(count)]
        for i, card in enumerate(cards):
            per_door[i % self.args.doors].append(card)

        async def worker(d):
            for card in per_door[d]:
                await self.visit(d, card, True, None, time.monotonic())
                self.cards.returning.append(card)

        await asyncio.gather(*(worker(d) for d in range(self.args.doors)))

    async def close(self):
        for c in self.clients:
            await c.close()


# ---------------------------------------------------------------------------
# main


def fmt_ms(v):
    return f"{v:.2f}"


async def outbox_queued(daemon):
    """the outbox's queued items, from the metrics"""
    try:
        reader, writer = await asyncio.open_unix_connection(daemon.socket_path)
        writer.write(b"GET /metrics HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        status, _, raw = await read_response(reader)
        writer.close()
    except (OSError, HttpError, asyncio.IncompleteReadError):
        return None
    total = 0
    for line in raw.decode(errors="replace").splitlines():
        if line.startswith("vestibule_outbox_queued"):
            total += int(float(line.split()[-1]))
    return total


async def settle(daemon, seconds):
    """a rest: the outbox drains, the audit buffer is written"""
    await asyncio.sleep(seconds)


async def run_all(args, daemon, rng):
    follower = Follower(daemon.socket_path)
    await follower.start()
    cards = Cards(rng)
    sms = SmsFile(daemon.sms_path)
    load = Load(args, daemon, follower, cards, sms, rng)
    results = []
    perf = None
    try:
        t = time.monotonic()
        await load.enroll(args.cards)
        log(f"enrolled {len(cards.returning)} cards in {time.monotonic() - t:.1f} s")
        if args.warmup > 0:
            log(f"warm-up: {args.warmup:.0f} s at {args.rates[0]:g} taps/s")
            await load.play(args.rates[0], args.warmup, args.new_fraction, Stats())
        for rate in args.rates:
            await settle(daemon, args.rest)
            stats = Stats()
            rss0 = daemon.rss_kib()
            threads0 = daemon.thread_ticks()
            io0 = daemon.io()
            if args.callgrind:
                daemon.callgrind("z")
            cpu0 = daemon.cpu_ticks()
            self0 = os.times()
            events0 = follower.events
            if args.perf and (args.perf_rate is None or args.perf_rate == rate):
                perf = subprocess.Popen(["perf", "record", "--call-graph", args.perf_call_graph,
                                         "-F", str(args.perf_freq),
                                         "-p", str(daemon.pid), "-o", args.perf],
                                        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                        stderr=subprocess.DEVNULL)
            log(f"{rate:g} taps/s for {args.duration:.0f} s")
            elapsed = await load.play(rate, args.duration, args.new_fraction, stats)
            cpu1 = daemon.cpu_ticks()
            self1 = os.times()
            instructions = daemon.callgrind("d") if args.callgrind else None
            io1 = daemon.io()
            threads1 = daemon.thread_ticks()
            if perf is not None:
                perf.send_signal(signal.SIGINT)
                perf.wait()
                perf = None
            events = follower.events - events0
            await settle(daemon, args.rest)
            rss1 = daemon.rss_kib()
            queued = await outbox_queued(daemon)
            cpu_s = (cpu1 - cpu0) / TICK
            threads = sorted(((threads1[k] - threads0.get(k, 0)) / TICK, k[1])
                             for k in threads1 if threads1[k] - threads0.get(k, 0) > 0)
            results.append({"rate": rate, "stats": stats, "elapsed": elapsed, "cpu_s": cpu_s,
                            "rss0": rss0, "rss1": rss1, "events": events, "queued": queued,
                            "instructions": instructions,
                            "gen_cpu_s": (self1.user + self1.system) - (self0.user + self0.system),
                            "io": [b - a for a, b in zip(io0, io1)],
                            "threads": threads[::-1]})
            s = stats
            lat = sorted(s.latencies)
            log(f"  {s.visits} visits, p50 {percentile(lat, 50):.2f} ms, "
                f"p99 {percentile(lat, 99):.2f} ms, CPU {cpu_s * 1e3 / max(1, s.visits):.2f} "
                f"ms/visit, RSS {rss0} -> {rss1} KiB, {len(s.errors)} errors")
    finally:
        if perf is not None:
            perf.send_signal(signal.SIGINT)
            perf.wait()
        await load.close()
        await follower.stop()
    return results, follower


def report(args, results, follower):
    print()
    print(f"black-box load: vestibuled, {args.doors} doors, one event follower, "
          f"{len(args.rates)} rate(s) of {args.duration:.0f} s, open loop")
    print(f"  visits: tap, unlock, door opened, door closed; returning cards, "
          f"{args.new_fraction * 100:.1f}% new cards (phone and code, left out of the "
          f"latencies); SMS to log-sms")
    print(f"  connections: {'one per request' if args.connection_per_request else 'one kept-alive per door'}")
    print()
    hdr = ("rate/s", "visits", "new", "p50 ms", "p99 ms", "p99.9 ms", "max ms",
           "svc p99", "seen p99", "CPU ms/visit", "RSS before", "RSS after", "errors")
    print("  " + "  ".join(f"{h:>11}" for h in hdr))
    ok = True
    for r in results:
        s = r["stats"]
        lat = sorted(s.latencies)
        seen = sorted(s.seen)
        svc = sorted(s.service)
        cpu = r["cpu_s"] * 1e3 / max(1, s.visits)
        row = (f"{r['rate']:g}", s.visits, s.new_visits, fmt_ms(percentile(lat, 50)),
               fmt_ms(percentile(lat, 99)), fmt_ms(percentile(lat, 99.9)),
               fmt_ms(lat[-1] if lat else float("nan")), fmt_ms(percentile(svc, 99)),
               fmt_ms(percentile(seen, 99)), f"{cpu:.3f}", r["rss0"], r["rss1"],
               len(s.errors))
        print("  " + "  ".join(f"{str(x):>11}" for x in row))
        if s.errors:
            ok = False
    print()
    for r in results:
        s = r["stats"]
        lat = sorted(s.latencies)
        cpu = r["cpu_s"] * 1e3 / max(1, s.visits)
        p99 = percentile(lat, 99)
        drss = r["rss1"] - r["rss0"]
        print(f"  {r['rate']:g} taps/s: achieved {s.visits / r['elapsed']:.1f} visits/s, "
              f"{r['events'] / max(1, s.visits):.1f} events/visit to the follower; "
              f"per visit {r['io'][0] / max(1, s.visits):.1f} read and "
              f"{r['io'][1] / max(1, s.visits):.1f} write syscalls, "
              f"{r['io'][2] / max(1, s.visits) / 1024:.1f} KiB written to storage; "
              f"outbox queued after the rest: {r['queued']}; "
              f"daemon CPU {r['cpu_s']:.2f} s = {r['cpu_s'] / r['elapsed'] * 100:.0f}% of a "
              f"core (this generator: {r['gen_cpu_s'] / r['elapsed'] * 100:.0f}%); by thread: "
              + ", ".join(f"{name} {t:.2f} s" for t, name in r["threads"][:4]))
        if r["rate"] >= 200:
            print(f"    p99 tap-to-unlock at {r['rate']:g}/s: {p99:.2f} ms "
                  f"(target < {P99_TARGET_MS:g} ms) "
                  f"{'PASS' if p99 < P99_TARGET_MS else 'MISS'}")
        if r["instructions"]:
            print(f"    instructions per visit (callgrind, the main loop and its threads): "
                  f"{r['instructions'] / max(1, s.visits) / 1e6:.3f} M")
        print(f"    CPU per visit: {cpu:.3f} ms (target < {CPU_TARGET_MS:g} ms) "
              f"{'PASS' if cpu < CPU_TARGET_MS else 'MISS'}")
        print(f"    RSS: {r['rss0']} -> {r['rss1']} KiB ({drss:+d}; target flat, "
              f"<= +{RSS_SLACK_KIB} KiB) {'PASS' if drss <= RSS_SLACK_KIB else 'MISS'}")
        for e in s.errors[:5]:
            print(f"    error: {e}")
    if follower.error:
        print(f"  the follower: {follower.error}")
        ok = False
    return ok


def main():
    build_default = os.environ.get("VB_BUILD_ROOT") or os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "..", "..", "build")
    ap = argparse.ArgumentParser(
        description="the real vestibuled at a fixed tap rate across 16 doors, from outside",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    ap.add_argument("--rates", default="100,200", help="taps a second, one run each")
    ap.add_argument("--duration", type=float, default=30.0, help="seconds per rate")
    ap.add_argument("--warmup", type=float, default=10.0,
                    help="seconds at the first rate before the runs")
    ap.add_argument("--rest", type=float, default=2.0,
                    help="seconds of rest before each run and before reading the RSS")
    ap.add_argument("--doors", type=int, default=16)
    ap.add_argument("--cards", type=int, default=64, help="returning cards, enrolled first")
    ap.add_argument("--new-fraction", type=float, default=0.0,
                    help="share of the runs' taps by a new card (a phone and a code to "
                         "type); the enrolled cards had theirs")
    ap.add_argument("--visit-timeout", type=float, default=10.0)
    ap.add_argument("--connection-per-request", action="store_true",
                    help="a new connection for each request, as vestibulectl does")
    ap.add_argument("--perf", default=None, metavar="FILE",
                    help="perf record -g the daemon during the run(s) into FILE")
    ap.add_argument("--perf-rate", type=float, default=None,
                    help="only during the run at this rate")
    ap.add_argument("--perf-freq", type=int, default=499)
    ap.add_argument("--perf-call-graph", default="dwarf,8192",
                    help="perf record's --call-graph (fp needs -fno-omit-frame-pointer)")
    ap.add_argument("--callgrind", action="store_true",
                    help="run the daemon under valgrind's callgrind and count its "
                         "instructions per visit (use a low rate, such as --rates 3)")
    ap.add_argument("--build", default=build_default, help="the meson build directory")
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--keep", action="store_true", help="keep the temporary directory")
    args = ap.parse_args()
    args.rates = [float(x) for x in args.rates.split(",")]
    args.build = os.path.abspath(args.build)
    args.vestibuled = os.path.join(args.build, "core", "daemon", "vestibuled")
    args.plugin_dir = os.environ.get("VESTIBULE_PLUGIN_DIR") or os.path.join(args.build,
                                                                              "plugins")
    if not os.access(args.vestibuled, os.X_OK):
        print(f"load: {args.vestibuled} is not built", file=sys.stderr)
        return 2
    if args.cards < args.doors * 2:
        print("load: --cards must be at least twice --doors", file=sys.stderr)
        return 2
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(1 << 30)
    rng = random.Random(seed)
    tmp = tempfile.mkdtemp(prefix="vb-load-")
    daemon = Daemon(args, tmp)
    ok = False
    try:
        daemon.write_config()
        daemon.start()
        log(f"vestibuled pid {daemon.pid} in {tmp} (seed {seed})")
        results, follower = asyncio.run(run_all(args, daemon, rng))
        ok = report(args, results, follower)
    finally:
        status = daemon.stop()
        if status not in (0, None) or status is None:
            print(f"  vestibuled stopped with status {status}; see {daemon.log_path}")
            ok = False
            args.keep = True
        if args.keep:
            print(f"  kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
