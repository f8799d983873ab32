#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# soak.py: the visit, thousands of times, under faults (issue #15, point 6).
#
# Starts the real vestibuled (the build's core/daemon/vestibuled) in a
# temporary directory with the simulated store (several doors: sim-reader,
# sim-lock, sim-keypad, console; sim-payment for the holds) and the twilio
# plugin pointed at fake_twilio.py, a stateful fake of Twilio that cycles
# through time-outs, 5xx, refused connections and 429 and answers the
# plugin's lookups honestly from what it recorded. Then it plays visits, one
# worker per door: a card tap (a pool of Luhn-valid test PANs; new cards type
# a phone number and the one-time code read from the fake's SMS, most cards
# return), the door opened and closed, and the order posted to the order API.
# Meanwhile it SIGKILLs the daemon at random moments and restarts it.
#
# At the end, with the faults stopped and the outbox drained (with a
# deadline), it checks and prints:
#   - every promised SMS reached the fake: each visit's notice (the door
#     closed), each receipt (the order settled), each one-time code a live
#     visit waited for;
#   - no duplicate the provider could tell: one message per (to, body) for
#     receipts and codes (their text is unique), and, for notices, whose text
#     is the same for every visit of a phone, exactly as many per phone as
#     visits of that phone that closed the door;
#   - every hold captured or cancelled, once: none left authorized, never both
#     captured and cancelled, at most one approved capture, and the captured
#     amount is the order's total (from the sim-payment's own records);
#   - RSS and open descriptors of the daemon flat after warm-up: sampled from
#     /proc/PID over the last daemon process (the kills stop after
#     --kill-until of the visits, so the last one serves the rest); the last
#     quarter's highest RSS at most --rss-tolerance % above the second
#     quarter's highest (plus 1 MiB), and its highest descriptor count at most
#     --fd-slack above (not asserted for RSS under AddressSanitizer, whose
#     quarantine grows by design);
#   - no PAN, full phone number or one-time code (nor the auth token or a
#     key) in the daemon's log or in the state directory's files, scanned as
#     `strings` would;
#   - the daemon stopped cleanly at the end (exit status 0: under ASan, no
#     leak).
# It prints the figures as a table and exits non-zero on any failure.
#
#   tests/soak/soak.py --visits 20000            the long soak, by hand (about 45 min)
#   tests/soak/soak.py --quick                   what meson runs (suite soak)
#   tests/soak/soak.py --help
#
# Python 3 standard library only. Everything binds 127.0.0.1; the daemon and
# the fake are stopped at exit, on failure too (and die with this process:
# setpriv --pdeathsig, and the fake watches its standard input).

import argparse
import collections
import http.client
import json
import os
import random
import re
import secrets
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))
ACCOUNT = "AC" + "5a" * 16
FROM = "+15005550006"
HOLD = 5000
# the test cards' BIN (Visa)
BIN = "497010"
CURRENCY = "EUR"
PRODUCTS = [("W-330", "Sparkling water", 150), ("CF-200", "Cream", 420),
            ("BR-500", "Sourdough bread", 380), ("CH-120", "Comté 12 months", 690),
            ("AP-1", "Apple", 45), ("CO-250", "Coffee beans", 1190),
            ("WN-750", "Red wine", 2450), ("CK-6", "Cookies", 275)]
# visit states after which the door closed: the notice is owed
CLOSED_STATES = ("awaiting-order", "settling", "settled", "payment-failed",
                 "capture-declined", "cancel-declined", "expired-cancelled",
                 "expired-captured")
# states in which a visit goes on by itself, or by the shopper, on this daemon
LIVE_STATES = ("identified", "enter-phone", "enter-code", "linked", "authorizing",
               "unlocked", "open")


# progress and errors; on standard error when standard output is TAP
LOG = sys.stdout


def log(*args):
    print(time.strftime("%H:%M:%S"), *args, file=LOG, flush=True)


def luhn_complete(digits):
    """digits + the Luhn check digit"""
    total = 0
    for i, d in enumerate(reversed(digits)):
        n = int(d)
        if i % 2 == 0:
            n *= 2
            if n > 9:
                n -= 9
        total += n
    return digits + str((10 - total % 10) % 10)


def luhn_valid(pan):
    return luhn_complete(pan[:-1]) == pan


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class DaemonDown(Exception):
    """the daemon is not answering: killed, or restarting"""


class Restarted(Exception):
    """the daemon was restarted during a visit"""


class UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path, timeout):
        super().__init__("localhost", timeout=timeout)
        self.unix_path = path

    def connect(self):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(self.timeout)
        s.connect(self.unix_path)
        self.sock = s


def http_json(conn, method, path, body=None, headers=None):
    """(status, parsed JSON or None); raises DaemonDown if it cannot be reached"""
    data = json.dumps(body).encode() if body is not None else None
    hdrs = {"Content-Type": "application/json"} if data is not None else {}
    hdrs.update(headers or {})
    try:
        conn.request(method, path, body=data, headers=hdrs)
        resp = conn.getresponse()
        raw = resp.read()
    except (OSError, http.client.HTTPException) as e:
        raise DaemonDown(f"{method} {path}: {e}") from None
    finally:
        conn.close()
    try:
        parsed = json.loads(raw) if raw else None
    except ValueError:
        parsed = None
    return resp.status, parsed


# ---------------------------------------------------------------------------
# the daemon


class Daemon:
    def __init__(self, args, tmp):
        self.args = args
        self.tmp = tmp
        self.socket_path = os.path.join(tmp, "control.sock")
        self.log_path = os.path.join(tmp, "daemon.log")
        self.public_port = free_port()
        self.proc = None
        self.generation = 0
        self.up = threading.Event()
        self.starts = 0
        self.kills = 0
        self.kill_log = []

    @property
    def pid(self):
        return self.proc.pid if self.proc is not None else None

    def ctl(self, method, path, body=None, timeout=10):
        return http_json(UnixHTTPConnection(self.socket_path, timeout), method, path, body)

    def public(self, method, path, body=None, headers=None, timeout=10):
        return http_json(http.client.HTTPConnection("127.0.0.1", self.public_port,
                                                    timeout=timeout),
                         method, path, body, headers)

    def start(self):
        cmd = [self.args.vestibuled, "--config", os.path.join(self.tmp, "vestibule.conf"),
               "--secrets", os.path.join(self.tmp, "secrets.conf"),
               "--plugin-dir", self.args.plugin_dir]
        if shutil.which("setpriv"):
            # the daemon dies with this process, whatever kills it
            cmd = ["setpriv", "--pdeathsig", "KILL", "--"] + cmd
        logf = open(self.log_path, "ab")
        env = dict(os.environ)
        env.pop("NOTIFY_SOCKET", None)
        env["LC_ALL"] = "C.UTF-8"
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=logf,
                                     stderr=subprocess.STDOUT, env=env)
        logf.close()
        deadline = time.time() + 60
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"vestibuled exited with status {self.proc.returncode} "
                                   f"at start; see {self.log_path}")
            try:
                status, _ = self.ctl("GET", "/v1/status", timeout=2)
                if status == 200:
                    break
            except DaemonDown:
                pass
            time.sleep(0.05)
        else:
            raise RuntimeError(f"vestibuled did not answer within 60 s; see {self.log_path}")
        self.starts += 1
        self.generation += 1
        self.up.set()

    def kill(self):
        self.up.clear()
        self.proc.kill()
        self.proc.wait()
        self.kills += 1

    def stop(self, timeout=60):
        """SIGTERM, then the exit status (None if it had to be killed)"""
        self.up.clear()
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc is not None else None
        self.proc.terminate()
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            return None

    def wait_up(self, timeout=120):
        if not self.up.wait(timeout):
            raise RuntimeError("the daemon did not come back")


# ---------------------------------------------------------------------------
# the fake Twilio


class FakeTwilio:
    def __init__(self, args, token, tmp):
        cmd = [sys.executable, os.path.join(HERE, "fake_twilio.py"), "--account", ACCOUNT,
               "--token", token, "--scale", str(args.fault_scale),
               "--hang-s", str(args.hang_s)]
        if args.fault_schedule:
            cmd += ["--schedule", args.fault_schedule]
        if args.no_faults:
            cmd += ["--no-schedule"]
        self.log_path = os.path.join(tmp, "fake-twilio.log")
        errf = open(self.log_path, "ab")
        # its standard input is our pipe: it stops when we are gone
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=errf)
        errf.close()
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"fake_twilio.py did not start; see {self.log_path}")
        ports = json.loads(line)
        self.port = ports["port"]
        self.control_port = ports["control-port"]
        self.base_url = f"http://127.0.0.1:{self.port}"

    def call(self, method, path, body=None, timeout=30):
        conn = http.client.HTTPConnection("127.0.0.1", self.control_port, timeout=timeout)
        status, obj = http_json(conn, method, path, body)
        if status != 200:
            raise RuntimeError(f"fake {method} {path}: HTTP {status}")
        return obj

    def messages(self, to=None, after=0):
        q = {"after": after}
        if to is not None:
            q["to"] = to
        return self.call("GET", "/_fake/messages?" + urllib.parse.urlencode(q))["messages"]

    def stop(self):
        if self.proc.poll() is None:
            try:
                self.call("POST", "/_fake/quit", {}, timeout=5)
            except Exception:
                pass
            try:
                self.proc.stdin.close()
            except OSError:
                pass
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


# ---------------------------------------------------------------------------
# cards, phones, visits


class Card:
    def __init__(self, pan, phone):
        self.pan = pan
        self.phone = phone  # E.164
        self.state = "new"  # new, linked, abandoned
        self.busy = False


class Phone:
    def __init__(self, e164, national):
        self.e164 = e164
        self.national = national
        self.cards = []
        self.typed = 0  # times the number was typed
        self.typed_at = []  # when, to keep to the code's throttle (30 s, 5 an hour)
        self.codes_needed = 0  # codes a live visit waited for and got
        self.codes_missing = 0  # codes a live visit waited for in vain


class Visit:
    def __init__(self, n, door, card, order):
        self.n = n
        self.door = door
        self.card = card
        self.phone = card.phone
        self.new = card.state == "new"
        self.id = None
        self.order = order
        self.total = sum(line["quantity"] * line["unit_price"] for line in order["lines"])
        self.order_status = None
        self.states = []
        self.restarts = 0
        self.outcome = None
        self.error = None


class Pool:
    """the cards and phones, shared by the workers"""

    def __init__(self, rng):
        self.rng = rng
        self.lock = threading.Lock()
        self.cards = []
        self.phones = {}
        self.pans = set()

    def new_phone(self):
        while True:
            national = "06" + "".join(self.rng.choice("0123456789") for _ in range(8))
            e164 = "+33" + national[1:]
            if e164 not in self.phones:
                p = Phone(e164, national)
                self.phones[e164] = p
                return p

    def new_pan(self):
        while True:
            pan = luhn_complete(BIN + "".join(self.rng.choice("0123456789")
                                                   for _ in range(9)))
            if pan not in self.pans:
                self.pans.add(pan)
                return pan

    def take(self, new_fraction, share_fraction):
        with self.lock:
            linked = [c for c in self.cards if c.state == "linked" and not c.busy]
            if not linked or self.rng.random() < new_fraction:
                phone = None
                if self.rng.random() < share_fraction:
                    # a second card on a phone that is already verified
                    now = time.time()
                    shared = [c.phone for c in linked
                              if not any(now - t < 60 for t in self.phones[c.phone].typed_at)
                              and sum(1 for t in self.phones[c.phone].typed_at
                                      if now - t < 3600) < 4]
                    if shared:
                        phone = self.phones[self.rng.choice(shared)]
                if phone is None:
                    phone = self.new_phone()
                card = Card(self.new_pan(), phone.e164)
                phone.cards.append(card)
                self.cards.append(card)
            else:
                card = self.rng.choice(linked)
            card.busy = True
            return card

    def give_back(self, card):
        with self.lock:
            card.busy = False


def random_order(rng):
    r = rng.random()
    if r < 0.07:
        lines = []  # nothing taken: the hold is cancelled
    else:
        lines = []
        for sku, name, price in rng.sample(PRODUCTS, rng.randint(1, 4)):
            lines.append({"sku": sku, "name": name, "quantity": rng.randint(1, 3),
                          "unit_price": price})
        total = sum(line["quantity"] * line["unit_price"] for line in lines)
        if r < 0.13 and total <= HOLD:
            # more than the hold: raised first, then captured
            lines.append({"sku": "WN-1500", "name": "Champagne", "quantity": 1,
                          "unit_price": HOLD - total + rng.randint(100, 3000)})
        elif r >= 0.13:
            while lines and sum(x["quantity"] * x["unit_price"] for x in lines) > HOLD:
                lines.pop()
            if not lines:
                lines = [{"sku": "AP-1", "name": "Apple", "quantity": 1, "unit_price": 45}]
    return {"currency": CURRENCY, "lines": lines}


# ---------------------------------------------------------------------------
# the workers: one per door, visits one after the other


class Run:
    def __init__(self, args, daemon, fake, pool, order_token):
        self.args = args
        self.daemon = daemon
        self.fake = fake
        self.pool = pool
        self.order_token = order_token
        self.lock = threading.Lock()
        self.next_n = 0
        self.visits = []
        self.done = 0
        self.errors = []
        self.stop = threading.Event()
        self.started = time.time()
        self.active = 0  # workers in the middle of a visit

    def claim(self):
        with self.lock:
            if self.next_n >= self.args.visits or self.stop.is_set():
                return None
            self.next_n += 1
            n = self.next_n
        if self.args.rate > 0:
            # paced: visit n starts n / rate seconds after the first
            wait = self.started + (n - 1) / self.args.rate - time.time()
            if wait > 0:
                time.sleep(wait)
        return n

    def error(self, text):
        with self.lock:
            self.errors.append(text)
        log("ERROR", text)


class Worker(threading.Thread):
    def __init__(self, run, door, seed):
        super().__init__(name=f"door-{door}", daemon=True)
        self.run_ = run
        self.door = door
        self.rng = random.Random(seed)
        self.reader = f"{door}-reader"
        self.lock_i = f"{door}-lock"
        self.keypad = f"{door}-keypad"
        self.last_created = 0
        self.gen = 0

    # one request to the daemon, with the restart noticed
    def ctl(self, method, path, body=None):
        d = self.run_.daemon
        if d.generation != self.gen or not d.up.is_set():
            raise Restarted()
        status, obj = d.ctl(method, path, body)
        if d.generation != self.gen:
            raise Restarted()
        return status, obj

    def nap(self, s=0.02):
        time.sleep(s)

    def run(self):
        run = self.run_
        while not run.stop.is_set():
            n = run.claim()
            if n is None:
                return
            card = run.pool.take(run.args.new_fraction, run.args.share_fraction)
            v = Visit(n, self.door, card, random_order(self.rng))
            with run.lock:
                run.active += 1
            try:
                self.visit(v)
            except Exception as e:  # a bug of the soak or of the daemon: keep going
                v.outcome = "error"
                v.error = f"{type(e).__name__}: {e}"
                run.error(f"visit {n} at {self.door} ({v.id}): {v.error}")
            finally:
                if v.new:
                    if card.state == "new":
                        # never linked (interrupted): a new card is not tried again
                        card.state = "abandoned"
                run.pool.give_back(card)
                with run.lock:
                    run.visits.append(v)
                    run.done += 1
                    run.active -= 1

    def visit(self, v):
        d = self.run_.daemon
        d.wait_up()
        self.gen = d.generation
        t0 = time.time()
        try:
            status, obj = self.ctl("POST", f"/v1/sim/{self.reader}/tap", {"pan": v.card.pan})
            if status != 202:
                raise RuntimeError(f"tap: HTTP {status} {obj}")
            v.id = self.find_visit(deadline=time.time() + 10)
        except (DaemonDown, Restarted):
            v.restarts += 1
            while True:
                d.wait_up()
                self.gen = d.generation
                try:
                    v.id = self.find_visit(deadline=time.time() + 2)
                    break
                except (DaemonDown, Restarted):
                    v.restarts += 1
        if v.id is None:
            v.outcome = "tap-lost" if v.restarts else "tap-ignored"
            if not v.restarts:
                raise RuntimeError("the tap made no visit")
            return
        self.drive(v, t0)

    def find_visit(self, deadline):
        """the newest visit at this door since the last one this worker saw"""
        while True:
            status, obj = self.ctl("GET", "/v1/visits?limit=32")
            if status == 200:
                mine = [x for x in obj.get("visits", [])
                        if x.get("door") == self.door and x.get("created", 0) > self.last_created]
                if mine:
                    newest = max(mine, key=lambda x: x["created"])
                    self.last_created = newest["created"]
                    return newest["id"]
            if time.time() > deadline:
                return None
            self.nap(0.02)

    def state(self, v):
        status, obj = self.ctl("GET", f"/v1/visits/{v.id}")
        if status != 200:
            raise RuntimeError(f"visit {v.id}: HTTP {status} {obj}")
        st = obj.get("state")
        if not v.states or v.states[-1] != st:
            v.states.append(st)
        return st

    def drive(self, v, t0):
        """takes the visit from whatever state it is in to its end, by the
        daemon's own view of it; a restart is noticed and the visit resumed"""
        run = self.run_
        d = run.daemon
        typed_phone = typed_code = opened = closed = False
        code_after = 0
        code_wait_since = None
        deadline = time.time() + run.args.visit_timeout
        while True:
            if time.time() > deadline:
                raise RuntimeError(f"visit {v.id} stuck in {v.states[-1:]} "
                                   f"for {run.args.visit_timeout} s")
            try:
                st = self.state(v)
                if st == "identified" or st in ("linked", "authorizing"):
                    self.nap()
                elif st == "enter-phone":
                    if not typed_phone:
                        code_after = self.fake_seq(v.phone)
                        phone = run.pool.phones[v.phone]
                        phone.typed += 1
                        phone.typed_at.append(time.time())
                        self.keys(list(phone.national) + ["enter"])
                        typed_phone = True
                    else:
                        self.nap()
                elif st == "enter-code":
                    if typed_code:
                        self.nap()
                        continue
                    if code_wait_since is None:
                        code_wait_since = time.time()
                    code = self.code_for(v.phone, code_after)
                    if code is None:
                        if time.time() - code_wait_since > run.args.code_timeout:
                            run.pool.phones[v.phone].codes_missing += 1
                            raise RuntimeError(f"visit {v.id}: no one-time code reached "
                                               f"the phone in {run.args.code_timeout} s")
                        self.nap(0.05)
                        continue
                    run.pool.phones[v.phone].codes_needed += 1
                    self.keys(list(code) + ["enter"])
                    typed_code = True
                elif st == "unlocked":
                    if opened:
                        self.nap()
                        continue
                    status, lock = self.ctl("GET", f"/v1/sim/{self.lock_i}/state")
                    if status == 200 and lock.get("locked") is False:
                        status, obj = self.ctl("POST", f"/v1/sim/{self.lock_i}/door",
                                               {"action": "open"})
                        if status != 200:
                            raise RuntimeError(f"door open: HTTP {status} {obj}")
                        opened = True
                        if v.new:
                            v.card.state = "linked"
                    else:
                        self.nap()
                elif st == "open":
                    if v.new:
                        v.card.state = "linked"
                    if not closed:
                        status, obj = self.ctl("POST", f"/v1/sim/{self.lock_i}/door",
                                               {"action": "close"})
                        # 409: closed already (the sim restarted with the daemon)
                        if status not in (200, 409):
                            raise RuntimeError(f"door close: HTTP {status} {obj}")
                        closed = True
                    else:
                        self.nap()
                elif st in CLOSED_STATES:
                    if v.new:
                        v.card.state = "linked"
                    self.post_order(v)
                    v.outcome = "ordered" if v.order_status == 200 else "order-refused"
                    if v.order_status != 200:
                        raise RuntimeError(f"visit {v.id}: the order got HTTP "
                                           f"{v.order_status}")
                    return
                else:
                    # over: interrupted, abandoned, timed-out, declined...
                    v.outcome = st
                    if not v.restarts:
                        raise RuntimeError(f"visit {v.id} ended in {st} with no restart")
                    return
            except (DaemonDown, Restarted):
                v.restarts += 1
                d.wait_up()
                self.gen = d.generation
                # the door's session died with the daemon: the sim's lock
                # and keypad start over; the visit's state tells the rest
                opened = closed = False

    def keys(self, keys):
        status, obj = self.ctl("POST", f"/v1/sim/{self.keypad}/keys", {"keys": keys})
        if status != 200:
            raise RuntimeError(f"keys: HTTP {status} {obj}")

    def fake_seq(self, phone):
        msgs = self.run_.fake.messages(to=phone)
        return msgs[-1]["seq"] if msgs else 0

    def code_for(self, phone, after):
        for m in reversed(self.run_.fake.messages(to=phone, after=after)):
            found = re.search(r"your code is (\d{6})\b", m["body"])
            if found:
                return found.group(1)
        return None

    def post_order(self, v):
        d = self.run_.daemon
        headers = {"Authorization": f"Bearer {self.run_.order_token}"}
        while True:
            try:
                d.wait_up()
                status, obj = d.public("POST", f"/api/v1/visits/{v.id}/order", v.order,
                                       headers)
                v.order_status = status
                if status == 200 and obj.get("total") != v.total:
                    raise RuntimeError(f"visit {v.id}: the order's total is {obj.get('total')}"
                                       f", not {v.total}")
                return
            except DaemonDown:
                v.restarts += 1
                time.sleep(0.1)


# ---------------------------------------------------------------------------
# sampling RSS and descriptors


class Sampler:
    def __init__(self):
        self.samples = []  # (time, generation, rss_kib, fds, visits_done)

    def sample(self, daemon, done):
        pid = daemon.pid
        if pid is None or not daemon.up.is_set():
            return
        try:
            with open(f"/proc/{pid}/status") as f:
                rss = next(int(line.split()[1]) for line in f if line.startswith("VmRSS:"))
            fds = len(os.listdir(f"/proc/{pid}/fd"))
        except (OSError, StopIteration):
            return
        self.samples.append((time.time(), daemon.generation, rss, fds, done))


def asan_daemon(pid):
    try:
        with open(f"/proc/{pid}/maps") as f:
            return any("asan" in line for line in f)
    except OSError:
        return False


# ---------------------------------------------------------------------------
# the secrets scan


STRINGS = re.compile(rb"[\x20-\x7e]{4,}")
DIGITS = re.compile(rb"(?<![0-9A-Za-z.])[0-9]+(?![0-9A-Za-z])")
PANS = re.compile(BIN.encode() + rb"[0-9]{10}")


def scan_secrets(paths, digit_secrets, text_secrets):
    """[(file, what, context)], once per secret and file, for each secret found
    in a printable run of a file (as `strings` prints them)"""
    found = {}

    def add(path, what, secret, data, start, end):
        found.setdefault((path, what, secret), data[max(0, start - 30):end + 30])

    for path in paths:
        try:
            with open(path, "rb") as f:
                data = f.read()
        except OSError:
            continue
        for needle, what in text_secrets.items():
            i = data.find(needle)
            if i >= 0:
                add(path, what, needle, data, i, i + len(needle))
        # a PAN of the soak's BIN, even inside a longer run of digits
        for m in PANS.finditer(data):
            if digit_secrets.get(m.group(0)) == "PAN":
                add(path, "PAN", m.group(0), data, m.start(), m.end())
        for run_ in STRINGS.finditer(data):
            text = run_.group(0)
            # a number written with spaces, dots or dashes between its groups
            squeezed = re.sub(rb"(?<=\d)[ .-](?=\d)", b"", text)
            for candidate in (text, squeezed) if squeezed != text else (text,):
                for m in DIGITS.finditer(candidate):
                    what = digit_secrets.get(m.group(0))
                    if what is not None:
                        add(path, what, m.group(0), candidate, m.start(), m.end())
    return [(path, what, context) for (path, what, _), context in found.items()]


# ---------------------------------------------------------------------------
# main


def write_config(args, tmp, daemon, fake, auth_token):
    doors = []
    for i in range(1, args.doors + 1):
        name = f"d{i}"
        doors.append(f"""
[door:{name}]
reader = {name}-reader
lock = {name}-lock
keypad = {name}-keypad
display = {name}-display
unlock-pulse-ms = 10000

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
    conf = f"""# the soak's configuration (tests/soak/soak.py)
[vestibule]
name = Soak store
country = FR
currency = {CURRENCY}
language = en
state-dir = {tmp}/state
operator-contact = +33 1 23 45 67 89

[http]
address = 127.0.0.1
port = {daemon.public_port}
control-socket = {daemon.socket_path}

[services]
sms = twilio
payment = payment

[visit]
hold-amount = {HOLD}
verify-phone = true
keypad-timeout-s = 300
open-timeout-s = 120

[sms]
# no rate limit: the soak sends tens of thousands
rate-per-minute = 0
send-timeout-s = 10

[outbox]
# short delays, so that every fault is over in seconds
base-delay-ms = {args.base_delay_ms}
max-delay-ms = {args.max_delay_ms}

[instance:twilio]
plugin = twilio
account-sid = {ACCOUNT}
from = {FROM}
base-url = {fake.base_url}
timeout-s = {args.twilio_timeout_s}
unknown-outcome-wait-s = 1

[instance:payment]
plugin = sim-payment
{"".join(doors)}"""
    with open(os.path.join(tmp, "vestibule.conf"), "w") as f:
        f.write(conf)
    keys = {name: secrets.token_hex(32)
            for name in ("card-token-key", "phone-key", "phone-index-key", "otp-key")}
    fd = os.open(os.path.join(tmp, "secrets.conf"), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write("[vestibule]\n")
        for name, value in keys.items():
            f.write(f"{name} = {value}\n")
        f.write(f"[instance:twilio]\nauth-token = {auth_token}\n")
    return keys


class Checks:
    def __init__(self, tap):
        self.tap = tap
        self.results = []

    def check(self, ok, name, detail=""):
        self.results.append((bool(ok), name, detail))
        if self.tap:
            print(f"{'ok' if ok else 'not ok'} {len(self.results)} - {name}"
                  + (f" # {detail}" if detail and not ok else ""), flush=True)
        elif not ok:
            log("FAILED:", name, detail)
        return ok

    @property
    def failed(self):
        return [r for r in self.results if not r[0]]


def quarter_check(samples, tolerance_pct, fd_slack):
    """(ok_rss, ok_fd, figures) over the samples' time span, in quarters"""
    if len(samples) < 8:
        return None, None, {"samples": len(samples)}
    t0, t1 = samples[0][0], samples[-1][0]
    span = max(t1 - t0, 1e-6)
    quarters = [[], [], [], []]
    for s in samples:
        quarters[min(3, int((s[0] - t0) / span * 4))].append(s)
    if not quarters[1] or not quarters[3]:
        return None, None, {"samples": len(samples)}
    rss2 = max(s[2] for s in quarters[1])
    rss4 = max(s[2] for s in quarters[3])
    fd2 = max(s[3] for s in quarters[1])
    fd4 = max(s[3] for s in quarters[3])
    ok_rss = rss4 <= rss2 * (1 + tolerance_pct / 100.0) + 1024
    ok_fd = fd4 <= fd2 + fd_slack
    return ok_rss, ok_fd, {"samples": len(samples), "span_s": span, "rss_q2_kib": rss2,
                           "rss_q4_kib": rss4, "fd_q2": fd2, "fd_q4": fd4,
                           "rss_first_kib": samples[0][2],
                           "rss_max_kib": max(s[2] for s in samples),
                           "fd_min": min(s[3] for s in samples),
                           "fd_max": max(s[3] for s in samples)}


def main():
    build_default = os.environ.get("VB_BUILD_ROOT") or os.path.join(HERE, "..", "..", "build")
    ap = argparse.ArgumentParser(
        description="the visit, thousands of times, under SMS faults and kill -9",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    ap.add_argument("--visits", type=int, default=20000, help="visits to play")
    ap.add_argument("--quick", action="store_true",
                    help="the CI version: 400 visits at 10 a second, kills every 2 to 5 s, "
                         "the fault schedule scaled by 0.35")
    ap.add_argument("--doors", type=int, default=4, help="doors, one worker each")
    ap.add_argument("--rate", type=float, default=7.0,
                    help="visits a second at most, all doors together (0: as fast as "
                         "they go)")
    ap.add_argument("--build", default=build_default, help="the meson build directory")
    ap.add_argument("--new-fraction", type=float, default=0.1,
                    help="share of visits with a new card (phone and code)")
    ap.add_argument("--share-fraction", type=float, default=0.1,
                    help="share of new cards given a phone that another card has")
    ap.add_argument("--kill-every", default="60:240",
                    help="MIN:MAX seconds between two SIGKILLs of the daemon")
    ap.add_argument("--kill-until", type=float, default=0.6,
                    help="the kills stop after this share of the visits; the last daemon "
                         "process then serves the rest, for the RSS and descriptor figures")
    ap.add_argument("--fault-scale", type=float, default=1.0,
                    help="multiplies the fake's fault schedule (seconds per phase)")
    ap.add_argument("--fault-schedule", default=None, help="the fake's --schedule")
    ap.add_argument("--no-faults", action="store_true", help="the fake never misbehaves")
    ap.add_argument("--hang-s", type=float, default=2.5,
                    help="how long the fake's time-outs hang (> --twilio-timeout-s)")
    ap.add_argument("--twilio-timeout-s", type=int, default=1)
    ap.add_argument("--base-delay-ms", type=int, default=100)
    ap.add_argument("--max-delay-ms", type=int, default=2000)
    ap.add_argument("--drain-timeout", type=float, default=300,
                    help="seconds for the outbox to drain once the faults stop")
    ap.add_argument("--visit-timeout", type=float, default=240,
                    help="a visit stuck longer than this is an error")
    ap.add_argument("--code-timeout", type=float, default=120,
                    help="seconds a live visit waits for its one-time code")
    ap.add_argument("--rss-tolerance", type=float, default=10.0,
                    help="%% the last quarter's highest RSS may exceed the second's")
    ap.add_argument("--fd-slack", type=int, default=8,
                    help="descriptors the last quarter's highest count may exceed the "
                         "second's by (requests in flight)")
    ap.add_argument("--sample-every", type=float, default=None, help="seconds; default 1 or 5")
    ap.add_argument("--progress-every", type=float, default=60)
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--keep", action="store_true", help="keep the temporary directory")
    ap.add_argument("--tap", action="store_true", help="print the checks as TAP (for meson)")
    args = ap.parse_args()
    if args.tap:
        global LOG
        LOG = sys.stderr
    if args.quick:
        args.visits = args.visits if "--visits" in sys.argv else 400
        if "--kill-every" not in sys.argv:
            args.kill_every = "2:5"
        if "--rate" not in sys.argv:
            args.rate = 10.0
        if "--fault-scale" not in sys.argv:
            args.fault_scale = 0.35
        if "--drain-timeout" not in sys.argv:
            args.drain_timeout = 60
        if "--rss-tolerance" not in sys.argv:
            args.rss_tolerance = 15.0
        if "--new-fraction" not in sys.argv:
            args.new_fraction = 0.15
    if args.sample_every is None:
        args.sample_every = 0.25 if args.visits <= 2000 else 2.0
    kill_min, kill_max = (float(x) for x in args.kill_every.split(":"))
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(1 << 30)
    rng = random.Random(seed)
    args.build = os.path.abspath(args.build)
    args.vestibuled = os.path.join(args.build, "core", "daemon", "vestibuled")
    args.vestibulectl = os.path.join(args.build, "core", "ctl", "vestibulectl")
    args.plugin_dir = os.environ.get("VESTIBULE_PLUGIN_DIR") or os.path.join(args.build,
                                                                              "plugins")
    for exe in (args.vestibuled, args.vestibulectl):
        if not os.access(exe, os.X_OK):
            print(f"soak: {exe} is not built (ninja -C {args.build})", file=sys.stderr)
            return 2
    if not os.path.exists(os.path.join(args.plugin_dir, "vb-twilio.so")):
        # built without the twilio plugin (-Dplugin_twilio=disabled)
        print("1..0 # SKIP the twilio plugin is not built" if args.tap
              else "soak: the twilio plugin is not built", flush=True)
        return 0 if args.tap else 77

    tmp = tempfile.mkdtemp(prefix="vb-soak-")
    log(f"soak: {args.visits} visits at {args.doors} doors, seed {seed}, in {tmp}")
    checks = Checks(args.tap)
    daemon = fake = None
    started = time.time()
    success = False

    def on_signal(signum, frame):
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, on_signal)
    try:
        auth_token = secrets.token_hex(16)
        fake = FakeTwilio(args, auth_token, tmp)
        daemon = Daemon(args, tmp)
        keys = write_config(args, tmp, daemon, fake, auth_token)
        daemon.start()
        env = dict(os.environ, VESTIBULE_SOCKET=daemon.socket_path)
        out = subprocess.run([args.vestibulectl, "--json", "token", "add", "vision",
                              "--scope", "orders"], env=env, check=True,
                             capture_output=True, text=True).stdout
        order_token = json.loads(out)["token"]
        pool = Pool(rng)
        run = Run(args, daemon, fake, pool, order_token)
        workers = [Worker(run, f"d{i}", rng.randrange(1 << 30))
                   for i in range(1, args.doors + 1)]
        sampler = Sampler()
        for w in workers:
            w.start()

        # the main thread: kills, restarts, samples, progress
        next_kill = time.time() + rng.uniform(kill_min, kill_max)
        next_sample = next_progress = time.time()
        last_gen_start = time.time()
        while any(w.is_alive() for w in workers):
            now = time.time()
            if now >= next_sample:
                sampler.sample(daemon, run.done)
                next_sample = now + args.sample_every
            # a kill lands while a visit is under way (or a second late)
            if (now >= next_kill and kill_max > 0 and
                    run.done < args.kill_until * args.visits and
                    (run.active > 0 or now >= next_kill + 1)):
                time.sleep(rng.uniform(0, 0.05))
                daemon.kill()
                daemon.kill_log.append((now - started, run.done))
                time.sleep(rng.uniform(0, 0.5))
                daemon.start()
                last_gen_start = time.time()
                next_kill = time.time() + rng.uniform(kill_min, kill_max)
            if now >= next_progress:
                try:
                    st = fake.call("GET", "/_fake/stats")
                    mode = st["mode"]
                except Exception:
                    mode = "?"
                elapsed = now - started
                log(f"{run.done}/{args.visits} visits, {elapsed:.0f} s, "
                    f"{run.done / max(elapsed, 1):.2f}/s, {daemon.kills} kills, fake {mode}, "
                    f"{len(run.errors)} errors")
                next_progress = now + args.progress_every
            time.sleep(0.05)
        played_s = time.time() - started
        log(f"all {run.done} visits played in {played_s:.0f} s; the faults stop")

        # the faults stop; what is owed must now go out
        fake.call("POST", "/_fake/mode", {"mode": "normal", "schedule": False})
        drain_start = time.time()
        drained = False
        counts = {}
        settled_all = False
        while time.time() - drain_start < args.drain_timeout:
            if time.time() >= next_sample:
                sampler.sample(daemon, run.done)
                next_sample = time.time() + args.sample_every
            try:
                _, counts = daemon.ctl("GET", "/v1/outbox/counts")
                _, vs = daemon.ctl("GET", "/v1/visits?limit=64")
            except DaemonDown:
                time.sleep(0.5)
                continue
            busy = sum(v for k, v in (counts or {}).items() if k not in ("done", "dead"))
            settled_all = not any(x["state"] in ("awaiting-order", "settling")
                                  for x in (vs or {}).get("visits", []))
            if busy == 0 and settled_all:
                drained = True
                break
            time.sleep(0.25)
        drain_s = time.time() - drain_start
        log(f"outbox {'drained' if drained else 'NOT drained'} in {drain_s:.1f} s: {counts}")
        # a few idle samples after the drain
        for _ in range(3):
            sampler.sample(daemon, run.done)
            time.sleep(args.sample_every)

        final_pid = daemon.pid
        under_asan = asan_daemon(final_pid)
        st = subprocess.run([args.vestibulectl, "--json", "status"], env=env,
                            capture_output=True, text=True)
        twilio_status = {}
        if st.returncode == 0:
            for inst in json.loads(st.stdout).get("instances", []):
                if inst.get("name") == "twilio":
                    twilio_status = inst.get("status", {})
        holds_cli = subprocess.run([args.vestibulectl, "--json", "sim", "holds"], env=env,
                                   capture_output=True, text=True)
        holds_newest = (json.loads(holds_cli.stdout).get("holds", [])
                        if holds_cli.returncode == 0 else None)

        # every receipt link leads to its visit, with the order's total
        fake_msgs = fake.messages()
        visit_by_id = {v.id: v for v in run.visits if v.id}
        receipt_bad = []
        receipt_visit = {}
        receipts_checked = 0
        for m in fake_msgs:
            found = re.search(r"/r/([0-9a-f]+)$", m["body"])
            if not found:
                continue
            receipts_checked += 1
            try:
                status, rec = daemon.public("GET", f"/r/{found.group(1)}?format=json")
            except DaemonDown as e:
                receipt_bad.append(f"{m['sid']}: {e}")
                continue
            v = visit_by_id.get((rec or {}).get("visit"))
            receipt_visit[m["sid"]] = (rec or {}).get("visit")
            if status != 200 or v is None or v.phone != m["to"] or rec.get("total") != v.total:
                receipt_bad.append(f"{m['sid']}: HTTP {status}, visit "
                                   f"{(rec or {}).get('visit')}, total {(rec or {}).get('total')}"
                                   f" (ours {v.total if v else None})")

        exit_status = daemon.stop()
        fake_stats = fake.call("GET", "/_fake/stats")
        fake.stop()
        total_s = time.time() - started

        # ------------------------------------------------------------------
        # the checks
        db = sqlite3.connect(f"file:{tmp}/state/vestibule.db?mode=ro", uri=True)
        db_visits = {row[0]: row[1:] for row in db.execute(
            "SELECT id, state, door, total, captured, settlement, psp_reference FROM visits")}
        timeline = collections.defaultdict(list)
        for vid, state in db.execute("SELECT visit_id, state FROM visit_timeline ORDER BY id"):
            timeline[vid].append(state)
        holds = list(db.execute("SELECT psp_reference, reference, authorized, captured, state "
                                "FROM p_sim_payment_holds"))
        ops = list(db.execute("SELECT idempotency_key, status, psp_reference, amount "
                              "FROM p_sim_payment_idempotency"))
        outbox_left = list(db.execute("SELECT kind, state, idempotency_key, last_error "
                                      "FROM outbox WHERE state != 'done'"))
        sms_items = list(db.execute("SELECT idempotency_key, state, result FROM outbox "
                                    "WHERE kind = 'sms'"))
        db.close()

        # visits: what the driver saw against what the daemon recorded
        ours = [v for v in run.visits if v.id]
        unknown_visits = [vid for vid in db_visits if vid not in visit_by_id]
        closed = [v for v in ours if any(s == "awaiting-order" for s in timeline[v.id])]
        ordered = [v for v in ours if v.order_status == 200]
        left_open = [vid for vid, row in db_visits.items()
                     if row[0] in ("awaiting-order", "settling") + LIVE_STATES]

        # the SMS at the fake
        per_body = collections.Counter((m["to"], m["body"]) for m in fake_msgs)
        per_phone = collections.Counter(m["to"] for m in fake_msgs)
        kinds = collections.Counter()
        notices_at = collections.Counter()
        receipts_at = collections.Counter()
        codes_at = collections.Counter()
        other = []
        for m in fake_msgs:
            if "a purchase was made with your card" in m["body"]:
                kinds["notice"] += 1
                notices_at[m["to"]] += 1
            elif "your receipt is ready" in m["body"]:
                kinds["receipt"] += 1
                receipts_at[m["to"]] += 1
            elif "your code is" in m["body"]:
                kinds["code"] += 1
                codes_at[m["to"]] += 1
            else:
                other.append(m)
        notices_owed = collections.Counter(v.phone for v in closed)
        receipts_owed = collections.Counter(v.phone for v in ordered)
        notice_missing = sum(max(0, notices_owed[p] - notices_at[p]) for p in notices_owed)
        notice_extra = sum(max(0, notices_at[p] - notices_owed[p]) for p in notices_at)
        receipt_missing = sum(max(0, receipts_owed[p] - receipts_at[p]) for p in receipts_owed)
        receipt_extra = sum(max(0, receipts_at[p] - receipts_owed[p]) for p in receipts_at)
        dup_unique = [(to[-2:], body[:40], n) for (to, body), n in per_body.items()
                      if n > 1 and "a purchase was made" not in body]
        # each visit's own messages, by the message id the daemon recorded for
        # them: the provider cannot tell one visit's notice from another's, the
        # daemon's outbox can
        by_sid = {m["sid"]: m for m in fake_msgs}
        item_sid = {}
        for key, state, result in sms_items:
            try:
                sid = json.loads(result or "{}").get("message-id")
            except ValueError:
                sid = None
            item_sid[key] = (state, sid)
        claimed = collections.Counter(sid for _, sid in item_sid.values() if sid)
        own_bad = []
        for v in closed:
            state, sid = item_sid.get(f"{v.id}:notice", (None, None))
            m = by_sid.get(sid)
            if (state != "done" or m is None or m["to"] != v.phone or
                    "a purchase was made" not in m["body"]):
                own_bad.append(f"{v.id}:notice {state} {sid}")
        receipt_of = {}
        for v in ordered:
            state, sid = item_sid.get(f"{v.id}:receipt", (None, None))
            m = by_sid.get(sid)
            if (state != "done" or m is None or m["to"] != v.phone or
                    "your receipt is ready" not in m["body"]):
                own_bad.append(f"{v.id}:receipt {state} {sid}")
            else:
                receipt_of[sid] = v.id
        orphans = [m["sid"] for m in fake_msgs if claimed[m["sid"]] != 1 and
                   "your code is" not in m["body"]]
        orphan_codes = [m["sid"] for m in fake_msgs if claimed[m["sid"]] == 0 and
                        "your code is" in m["body"]]
        double_claimed = [sid for sid, n in claimed.items() if n > 1]
        codes_needed = sum(p.codes_needed for p in pool.phones.values())
        codes_missing = sum(p.codes_missing for p in pool.phones.values())
        codes_over = [p.e164[-2:] for p in pool.phones.values()
                      if codes_at[p.e164] > p.typed]
        strangers = [m for m in fake_msgs if m["to"] not in pool.phones]

        # holds, from the sim-payment's own records
        # every operation is keyed VISIT:OP (capture, cancel, void,
        # cancel-by-reference...), so a hold's operations are its reference's
        ops_by_ref = collections.defaultdict(list)
        for key, status, psp, amount in ops:
            ref, _, op = key.rpartition(":")
            ops_by_ref[ref].append((op, status, amount))
        hold_states = collections.Counter(h[4] for h in holds)
        holds_open = [h for h in holds if h[4] not in ("captured", "cancelled", "declined")]
        double = []
        recancelled = 0
        for psp, ref, authorized, captured, state in holds:
            approved = [(op, amount) for op, status, amount in ops_by_ref[ref] if status == 0]
            captures = [a for op, a in approved if op == "capture"]
            cancels = [op for op, a in approved if op in ("cancel", "void",
                                                          "cancel-by-reference")]
            if state == "captured" and (len(captures) != 1 or captures[0] != captured):
                double.append((psp, ref, state, approved))
            elif state == "cancelled" and (captures or not cancels):
                double.append((psp, ref, state, approved))
            if len(cancels) > 1:
                recancelled += 1
        holds_by_ref = collections.defaultdict(list)
        for h in holds:
            holds_by_ref[h[1]].append(h)
        amount_wrong = []
        for v in ordered:
            hs = [h for h in holds_by_ref[v.id] if h[4] in ("captured", "cancelled")]
            want = "cancelled" if v.total == 0 else "captured"
            if len(hs) != 1 or hs[0][4] != want or (want == "captured" and hs[0][3] != v.total):
                amount_wrong.append((v.id, v.total, hs))
        cli_mismatch = 0
        if holds_newest is not None:
            by_psp = {h[0]: h for h in holds}
            for h in holds_newest:
                row = by_psp.get(h.get("psp-reference"))
                if row is None or row[4] != h.get("state") or row[3] != h.get("captured"):
                    cli_mismatch += 1

        # dead letters: only codes whose visit a restart ended may be given up
        dead_codes = [x for x in outbox_left if x[1] == "dead" and ":otp:" in x[2]
                      and "lost in a restart" in (x[3] or "")]
        dead_other = [x for x in outbox_left if x not in dead_codes]

        # RSS and descriptors over the last daemon process
        last = [s for s in sampler.samples if s[1] == daemon.generation]
        ok_rss, ok_fd, figs = quarter_check(last, args.rss_tolerance, args.fd_slack)

        # secrets
        digit_secrets = {}
        for p in pool.phones.values():
            digit_secrets[p.e164[1:].encode()] = "phone"
            digit_secrets[p.national.encode()] = "phone"
        for c in pool.cards:
            digit_secrets[c.pan.encode()] = "PAN"
        for m in fake_msgs:
            found = re.search(r"your code is (\d{6})\b", m["body"])
            if found:
                digit_secrets[found.group(1).encode()] = "one-time code"
        text_secrets = {auth_token.encode(): "auth token"}
        for name, value in keys.items():
            text_secrets[value.encode()] = name
        state_files = [os.path.join(dp, f) for dp, _, fs in os.walk(os.path.join(tmp, "state"))
                       for f in fs]
        leaks = scan_secrets(state_files + [daemon.log_path], digit_secrets, text_secrets)
        scanned_bytes = sum(os.path.getsize(p) for p in state_files + [daemon.log_path]
                            if os.path.exists(p))

        outcomes = collections.Counter(v.outcome for v in run.visits)
        n_new = sum(1 for v in run.visits if v.new)
        checks.check(not run.errors, "every visit played to its end",
                     f"{len(run.errors)} errors, first: {run.errors[:3]}")
        checks.check(len(run.visits) == args.visits, "the number of visits played",
                     f"{len(run.visits)} of {args.visits}")
        checks.check(drained, "the outbox drained and every order settled after the faults",
                     f"{counts} after {drain_s:.0f} s")
        checks.check(not unknown_visits, "every visit in the store is one the soak played",
                     f"{len(unknown_visits)} unknown: {unknown_visits[:3]}")
        checks.check(not left_open, "no visit left open or unsettled",
                     f"{len(left_open)}: {left_open[:3]}")
        checks.check(notice_missing == 0, "every notice delivered",
                     f"{notice_missing} missing of {len(closed)}")
        checks.check(receipt_missing == 0, "every receipt delivered",
                     f"{receipt_missing} missing of {len(ordered)}")
        checks.check(codes_missing == 0, "every one-time code a live visit waited for",
                     f"{codes_missing} never came")
        checks.check(not own_bad, "each visit's notice and receipt is its own message at the "
                     "fake (by the message id the daemon recorded)",
                     f"{len(own_bad)}: {own_bad[:3]}")
        wrong_link = [sid for sid, vid in receipt_of.items() if receipt_visit.get(sid) != vid]
        checks.check(not receipt_bad and not wrong_link,
                     "every receipt link leads to its own visit and total",
                     f"{len(receipt_bad)} bad, {len(wrong_link)} of another visit: "
                     f"{receipt_bad[:3]} {wrong_link[:3]}")
        checks.check(not orphans and not double_claimed,
                     "no notice or receipt at the fake that no visit owns, none owned twice",
                     f"{len(orphans)} unowned: {orphans[:3]}; {len(double_claimed)} twice")
        checks.check(not dup_unique, "no receipt or code twice (per to and body)",
                     f"{len(dup_unique)}: {dup_unique[:3]}")
        checks.check(notice_extra == 0 and receipt_extra == 0,
                     "no notice or receipt beyond the visits of a phone",
                     f"{notice_extra} notices, {receipt_extra} receipts too many")
        checks.check(not codes_over, "no more codes than times a number was typed",
                     f"{len(codes_over)} phones")
        checks.check(not other and not strangers, "no other SMS, none to an unknown number",
                     f"{len(other)} other, {len(strangers)} to strangers")
        checks.check(not holds_open, "every hold captured or cancelled",
                     f"{len(holds_open)} open: {holds_open[:3]}")
        checks.check(not double, "each hold captured once or cancelled, never both", f"{len(double)}: {double[:3]}")
        checks.check(not amount_wrong, "each ordered visit's hold settled once, to its total",
                     f"{len(amount_wrong)}: {amount_wrong[:3]}")
        checks.check(holds_newest is not None and cli_mismatch == 0,
                     "vestibulectl sim holds agrees with the sim's records",
                     f"{cli_mismatch} differ")
        checks.check(not dead_other, "no dead letter but codes a restart made useless",
                     f"{len(dead_other)}: {dead_other[:3]}")
        if ok_fd is None:
            checks.check(False, "enough samples of the last daemon process", str(figs))
        else:
            if under_asan:
                checks.check(True, "RSS flat after warm-up (not asserted under ASan)")
            else:
                checks.check(ok_rss, "RSS flat after warm-up",
                             f"{figs['rss_q4_kib']} KiB > {figs['rss_q2_kib']} KiB "
                             f"+ {args.rss_tolerance}% + 1 MiB")
            checks.check(ok_fd, "open descriptors flat after warm-up",
                         f"{figs['fd_q4']} > {figs['fd_q2']} + {args.fd_slack}")
        checks.check(not leaks, "no PAN, phone number, code or key in the log or the store",
                     "; ".join(f"{os.path.basename(p)}: {w} in {ctx!r}"
                               for p, w, ctx in leaks[:3]))
        checks.check(exit_status == 0, "the daemon stopped cleanly at the end",
                     f"exit status {exit_status}")

        # the figures
        rows = [
            ("visits played", f"{len(run.visits)} in {played_s:.0f} s "
                              f"({len(run.visits) / max(played_s, 1):.1f}/s), {args.doors} doors"),
            ("  new cards / returning", f"{n_new} / {len(run.visits) - n_new}"),
            ("  outcomes", ", ".join(f"{k} {n}" for k, n in outcomes.most_common())),
            ("  hit by a restart", str(sum(1 for v in run.visits if v.restarts))),
            ("daemon SIGKILLs", f"{daemon.kills} (at visits "
                                f"{', '.join(str(d) for _, d in daemon.kill_log[:12])}"
                                f"{'...' if len(daemon.kill_log) > 12 else ''})"),
            ("fake phases", f"{fake_stats['phases']} (" + ", ".join(
                f"{k[6:]} {n}" for k, n in sorted(fake_stats["counts"].items())
                if k.startswith("phase/")) + ")"),
            ("fake requests", ", ".join(f"{k} {n}" for k, n in sorted(
                fake_stats["counts"].items()) if "/" in k and not k.startswith("phase/"))),
            ("  answers lost, pages listed", f"{fake_stats['counts'].get('answer-lost', 0)}, "
                                             f"{fake_stats['counts'].get('listed-pages', 0)}"),
            ("twilio plugin (last process)", ", ".join(
                f"{k} {twilio_status.get(k)}" for k in ("sent", "failed", "found-after-unknown")
                if k in twilio_status)),
            ("messages to one phone", f"at most {max(per_phone.values(), default=0)} "
                                      f"(the lookup reads up to 1000), "
                                      f"{len(per_phone)} phones"),
            ("SMS at the fake", f"{len(fake_msgs)}: notices {kinds['notice']}, receipts "
                                f"{kinds['receipt']}, codes {kinds['code']}, other {len(other)}"),
            ("notices owed / delivered", f"{len(closed)} / {sum(notices_at.values())}, "
                                         f"missing {notice_missing}, extra {notice_extra}"),
            ("receipts owed / delivered", f"{len(ordered)} / {sum(receipts_at.values())}, "
                                          f"missing {receipt_missing}, extra {receipt_extra}, "
                                          f"links checked {receipts_checked}"),
            ("codes waited for / sent", f"{codes_needed} / {kinds['code']}, never came "
                                        f"{codes_missing}, given up after a restart "
                                        f"{len(dead_codes)}"),
            ("duplicates (to, body)", f"{len(dup_unique)} among receipts and codes"),
            ("messages no item owns", f"{len(orphans)} notices and receipts, "
                                      f"{len(orphan_codes)} codes (sent before a restart "
                                      f"lost their visit)"),
            ("holds", f"{len(holds)}: " + ", ".join(f"{k} {n}" for k, n in
                                                    hold_states.most_common())
                      + f"; open {len(holds_open)}, settled twice {len(double)}, "
                        f"wrong amount {len(amount_wrong)}, cancelled again by another "
                        f"key (a no-op) {recancelled}"),
            ("outbox after the drain", f"{counts} in {drain_s:.1f} s; dead letters "
                                       f"{len(dead_codes) + len(dead_other)}"),
        ]
        if figs.get("rss_q2_kib") is not None:
            rows += [
                ("RSS, last process", f"{figs['rss_first_kib'] / 1024:.1f} MiB at start, "
                                      f"Q2 max {figs['rss_q2_kib'] / 1024:.1f}, Q4 max "
                                      f"{figs['rss_q4_kib'] / 1024:.1f} MiB "
                                      f"(+{100.0 * (figs['rss_q4_kib'] - figs['rss_q2_kib']) / figs['rss_q2_kib']:.1f}%; "
                                      f"limit +{args.rss_tolerance}% + 1 MiB"
                                      f"{', not asserted: ASan' if under_asan else ''})"),
                ("descriptors, last process", f"{figs['fd_min']}..{figs['fd_max']}, Q2 max "
                                              f"{figs['fd_q2']}, Q4 max {figs['fd_q4']} "
                                              f"(limit +{args.fd_slack})"),
                ("  sampled", f"{figs['samples']} samples over {figs['span_s']:.0f} s, "
                              f"visits {last[0][4]}..{last[-1][4]}"),
            ]
        rows += [
            ("secrets scan", f"{len(leaks)} found in {len(state_files) + 1} files, "
                             f"{scanned_bytes / 1e6:.1f} MB ({len(digit_secrets)} numbers, "
                             f"{len(text_secrets)} strings looked for)"),
            ("daemon exit status", str(exit_status)),
            ("wall time", f"{total_s:.0f} s, seed {seed}"),
        ]
        width = max(len(r[0]) for r in rows)
        prefix = "# " if args.tap else ""
        print(prefix + "-" * 72)
        for name, value in rows:
            print(f"{prefix}{name:<{width}}  {value}")
        print(prefix + "-" * 72)
        failed = checks.failed
        print(f"{prefix}{len(checks.results) - len(failed)} checks passed, {len(failed)} failed")
        if args.tap:
            print(f"1..{len(checks.results)}", flush=True)
        success = not failed
        return 0 if success else 1
    except KeyboardInterrupt as e:
        log(f"soak: interrupted ({e})")
        return 130
    finally:
        if daemon is not None and daemon.proc is not None and daemon.proc.poll() is None:
            daemon.proc.kill()
            daemon.proc.wait()
        if fake is not None:
            fake.stop()
        if success and not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            log(f"soak: the run's files are in {tmp}")


if __name__ == "__main__":
    sys.exit(main())
