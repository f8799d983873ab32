#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# fake_twilio.py: a stateful fake of Twilio's Messages API for the soak
# (tests/soak/soak.py), Python 3 standard library only, on 127.0.0.1.
#
# It speaks what the twilio plugin speaks (as tests/twilio/test-twilio.c's fake
# does): Basic authentication with the account SID and auth token,
#   POST /2010-04-01/Accounts/SID/Messages.json   (To, From, Body, StatusCallback)
#   GET  /2010-04-01/Accounts/SID/Messages.json?To=...&PageSize=N
# the recipient's messages newest first, a page at a time, next_page_uri
# carrying a PageToken (PA + the sid the next page starts after).
#
# It records every message it created and answers the lookup honestly from
# those records, whatever happened to the answer of the POST that created it.
# It cycles through fault modes on a schedule (seconds per phase, scaled):
#
#   normal      201 with the message
#   timeout     a POST creates the message, then the answer hangs past the
#               plugin's time-out (the outcome the daemon cannot know); a GET
#               hangs too, then answers
#   5xx-before  every request gets 500; nothing is created
#   5xx-after   a POST creates the message, then gets 502; a GET is answered
#   refused     the listening socket is closed: connections are refused
#   429         every request gets 429 with Retry-After; nothing is created
#
# A second listener, the control port, never goes down. It serves the test:
#   GET  /_fake/messages[?to=E164&after=SEQ]  {"messages": [{seq, sid, to, body,
#                                              created, mode}]}
#   GET  /_fake/stats                         counts per mode and outcome
#   POST /_fake/mode {"mode": "normal"|..., "schedule": true|false}
#                                             force a mode, stop or resume the cycle
#   POST /_fake/quit
#
# On start it prints one JSON line on standard output, {"port": P,
# "control-port": C}, then logs one line per phase change on standard error.
# It stops by itself when its standard input closes (the test that started it
# is gone), on SIGTERM, or on POST /_fake/quit.

import argparse
import base64
import json
import os
import signal
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

MODES = ("normal", "timeout", "5xx-before", "5xx-after", "refused", "429")
# normal in between each fault, so that every fault is followed by recovery
DEFAULT_SCHEDULE = ("normal:12,timeout:4,normal:8,5xx-before:3,normal:8,5xx-after:3,"
                    "normal:8,refused:4,normal:8,429:3")


def parse_schedule(text, scale):
    phases = []
    for part in text.split(","):
        mode, _, seconds = part.strip().partition(":")
        if mode not in MODES:
            raise SystemExit(f"fake_twilio: unknown mode {mode!r} in the schedule")
        phases.append((mode, max(0.2, float(seconds) * scale)))
    return phases


def rfc2822(seconds):
    # Twilio's dates: "Mon, 07 Dec 2026 10:54:46 +0000", English names
    days = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
    months = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct",
              "Nov", "Dec")
    t = time.gmtime(seconds)
    return "%s, %02d %s %04d %02d:%02d:%02d +0000" % (
        days[t.tm_wday], t.tm_mday, months[t.tm_mon - 1], t.tm_year, t.tm_hour, t.tm_min,
        t.tm_sec)


class Store:
    """every message created, and the counts; one lock for all"""

    def __init__(self, account, token, hang_s, retry_after):
        self.lock = threading.Lock()
        self.account = account
        self.path = f"/2010-04-01/Accounts/{account}/Messages.json"
        self.auth = "Basic " + base64.b64encode(f"{account}:{token}".encode()).decode()
        self.hang_s = hang_s
        self.retry_after = retry_after
        self.messages = []  # in creation order
        self.by_to = {}  # to -> [message], in creation order
        self.position = {}  # sid -> index in its by_to list
        self.counts = {}
        self.mode = "normal"

    def count(self, key, n=1):
        with self.lock:
            self.counts[key] = self.counts.get(key, 0) + n

    def create(self, form, mode):
        now = time.time()
        with self.lock:
            seq = len(self.messages) + 1
            m = {
                "seq": seq,
                "sid": "SM%032x" % seq,
                "to": form.get("To", ""),
                "from": form.get("From", ""),
                "messaging_service_sid": form.get("MessagingServiceSid"),
                "body": form.get("Body", ""),
                "status_callback": form.get("StatusCallback"),
                "created": now,
                "mode": mode,
            }
            self.messages.append(m)
            mine = self.by_to.setdefault(m["to"], [])
            self.position[m["sid"]] = len(mine)
            mine.append(m)
            self.counts["created"] = self.counts.get("created", 0) + 1
            self.counts["created/" + mode] = self.counts.get("created/" + mode, 0) + 1
            return m

    def message_json(self, m):
        # a message is queued when created, and delivered a second later
        delivered = time.time() - m["created"] >= 1.0
        uri = f"/2010-04-01/Accounts/{self.account}/Messages/{m['sid']}.json"
        return {
            "account_sid": self.account,
            "api_version": "2010-04-01",
            "body": m["body"],
            "date_created": rfc2822(m["created"]),
            "date_sent": rfc2822(m["created"] + 1) if delivered else None,
            "date_updated": rfc2822(m["created"] + (1 if delivered else 0)),
            "direction": "outbound-api",
            "error_code": None,
            "error_message": None,
            "from": m["from"],
            "messaging_service_sid": m["messaging_service_sid"],
            "num_media": "0",
            "num_segments": "1",
            "price": None,
            "price_unit": "USD",
            "sid": m["sid"],
            "status": "delivered" if delivered else "queued",
            "subresource_uris": {"media": uri.replace(".json", "/Media.json")},
            "to": m["to"],
            "uri": uri,
        }


def twilio_error(status, code, message):
    return status, {
        "code": code,
        "message": message,
        "more_info": f"https://www.twilio.com/docs/errors/{code}",
        "status": status,
    }


class ApiHandler(BaseHTTPRequestHandler):
    # one request per connection, as HTTP/1.0: a closed listener then refuses
    # every new request, with no kept-alive connection to slip through
    protocol_version = "HTTP/1.0"
    server_version = "fake-twilio"
    sys_version = ""

    def log_message(self, fmt, *args):
        pass

    @property
    def store(self):
        return self.server.store

    def reply(self, status, obj, headers=()):
        data = json.dumps(obj).encode()
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for name, value in headers:
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)
        except OSError:
            # the client gave up (a time-out): that is the point
            self.store.count("answer-lost")

    def hang(self):
        # past the plugin's time-out; the client closes its end meanwhile
        time.sleep(self.store.hang_s)

    def checked(self):
        """None when the request may go on, else the error to answer"""
        path = urllib.parse.urlsplit(self.path).path
        if path != self.store.path:
            return twilio_error(404, 20404, "The requested resource was not found")
        if self.headers.get("Authorization") != self.store.auth:
            return twilio_error(401, 20003, "Authenticate")
        return None

    def do_POST(self):
        store = self.store
        mode = store.mode
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length > 0 else b""
        store.count("post")
        store.count("post/" + mode)
        error = self.checked()
        if error is not None:
            store.count("refused-auth-or-path")
            self.reply(*error)
            return
        form = {k: v[0] for k, v in urllib.parse.parse_qs(raw.decode("utf-8", "replace"),
                                                            keep_blank_values=True).items()}
        to = form.get("To", "")
        if not (to.startswith("+") and to[1:].isdigit() and 8 <= len(to) - 1 <= 15):
            self.reply(*twilio_error(400, 21211, f"The 'To' number {to} is not a valid "
                                                 "phone number."))
            return
        if not form.get("Body"):
            self.reply(*twilio_error(400, 21602, "Message body is required."))
            return
        if not form.get("From") and not form.get("MessagingServiceSid"):
            self.reply(*twilio_error(400, 21603, "A 'From' phone number is required."))
            return
        if mode == "5xx-before":
            self.reply(*twilio_error(500, 20500, "Internal Server Error"))
            return
        if mode == "429":
            self.reply(*twilio_error(429, 20429, "Too Many Requests"),
                       headers=[("Retry-After", str(store.retry_after))])
            return
        m = store.create(form, mode)
        if mode == "timeout":
            self.hang()
            self.reply(201, store.message_json(m))
            return
        if mode == "5xx-after":
            self.reply(*twilio_error(502, 20502, "Bad Gateway"))
            return
        self.reply(201, store.message_json(m))

    def do_GET(self):
        store = self.store
        mode = store.mode
        store.count("get")
        store.count("get/" + mode)
        error = self.checked()
        if error is not None:
            store.count("refused-auth-or-path")
            self.reply(*error)
            return
        if mode == "5xx-before":
            self.reply(*twilio_error(500, 20500, "Internal Server Error"))
            return
        if mode == "429":
            self.reply(*twilio_error(429, 20429, "Too Many Requests"),
                       headers=[("Retry-After", str(store.retry_after))])
            return
        if mode == "timeout":
            self.hang()
        self.list_messages()

    def list_messages(self):
        store = self.store
        split = urllib.parse.urlsplit(self.path)
        query = {k: v[0] for k, v in urllib.parse.parse_qs(split.query,
                                                            keep_blank_values=True).items()}
        to = query.get("To")
        try:
            size = int(query.get("PageSize", "50"))
            page = int(query.get("Page", "0"))
            if not 1 <= size <= 1000 or page < 0:
                raise ValueError
        except ValueError:
            self.reply(*twilio_error(400, 20001, "Invalid paging parameter"))
            return
        token = query.get("PageToken")
        with store.lock:
            listed = store.by_to.get(to, []) if to is not None else store.messages
            n = len(listed)
            # newest first: index i of the page is listed[n - 1 - i]
            start = 0
            if token is not None:
                sid = token[2:] if token.startswith("PA") else None
                pos = store.position.get(sid) if to is not None else None
                if pos is None or pos >= n or listed[pos]["sid"] != sid:
                    self.reply(*twilio_error(400, 20001, "Invalid PageToken"))
                    return
                start = n - pos
            elif page > 0:
                self.reply(*twilio_error(400, 20001, "A page after the first needs the "
                                                     "PageToken of next_page_uri"))
                return
            end = min(start + size, n)
            page_items = [store.message_json(listed[n - 1 - i]) for i in range(start, end)]
            last_sid = listed[n - end]["sid"] if end > start else None
        store.count("listed-pages")
        filters = urllib.parse.urlencode({"To": to}) + "&" if to is not None else ""
        base = split.path
        next_uri = None
        if end < n and last_sid is not None:
            next_uri = f"{base}?{filters}PageSize={size}&Page={page + 1}&PageToken=PA{last_sid}"
        self.reply(200, {
            "messages": page_items,
            "uri": f"{base}?{filters}PageSize={size}&Page={page}",
            "first_page_uri": f"{base}?{filters}PageSize={size}&Page=0",
            "previous_page_uri": None,
            "next_page_uri": next_uri,
            "page": page,
            "page_size": size,
            "start": start,
            "end": max(end - 1, 0),
        })


class ControlHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.0"

    def log_message(self, fmt, *args):
        pass

    def reply(self, status, obj):
        data = json.dumps(obj).encode()
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        except OSError:
            pass

    def do_GET(self):
        fake = self.server.fake
        store = fake.store
        split = urllib.parse.urlsplit(self.path)
        query = {k: v[0] for k, v in urllib.parse.parse_qs(split.query).items()}
        if split.path == "/_fake/messages":
            after = int(query.get("after", "0"))
            to = query.get("to")
            with store.lock:
                source = store.by_to.get(to, []) if to is not None else store.messages
                out = [{k: m[k] for k in ("seq", "sid", "to", "body", "created", "mode")}
                       for m in source if m["seq"] > after]
            self.reply(200, {"messages": out})
        elif split.path == "/_fake/stats":
            with store.lock:
                counts = dict(store.counts)
                total = len(store.messages)
            self.reply(200, {"mode": store.mode, "scheduled": fake.scheduled.is_set(),
                             "phases": fake.phases_done, "messages": total,
                             "counts": counts})
        else:
            self.reply(404, {"message": "no such path"})

    def do_POST(self):
        fake = self.server.fake
        split = urllib.parse.urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        try:
            body = json.loads(self.rfile.read(length) or b"{}")
        except ValueError:
            self.reply(400, {"message": "not JSON"})
            return
        if split.path == "/_fake/mode":
            mode = body.get("mode")
            if mode is not None and mode not in MODES:
                self.reply(400, {"message": f"unknown mode {mode}"})
                return
            if "schedule" in body:
                if body["schedule"]:
                    fake.scheduled.set()
                else:
                    fake.scheduled.clear()
            if mode is not None:
                fake.set_mode(mode)
            fake.wake.set()
            self.reply(200, {"mode": fake.store.mode, "scheduled": fake.scheduled.is_set()})
        elif split.path == "/_fake/quit":
            self.reply(200, {})
            fake.quit.set()
        else:
            self.reply(404, {"message": "no such path"})


class ApiServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 64


class ControlServer(ThreadingHTTPServer):
    daemon_threads = True


class Fake:
    def __init__(self, args):
        self.store = Store(args.account, args.token, args.hang_s, args.retry_after)
        self.phases = parse_schedule(args.schedule, args.scale)
        self.phases_done = 0
        self.scheduled = threading.Event()
        if not args.no_schedule:
            self.scheduled.set()
        self.wake = threading.Event()
        self.quit = threading.Event()
        self.mode_lock = threading.Lock()
        self.api = None
        self.api_thread = None
        self.port = args.port
        self.open_api()
        self.control = ControlServer(("127.0.0.1", args.control_port), ControlHandler)
        self.control.fake = self
        threading.Thread(target=self.control.serve_forever, daemon=True).start()

    def open_api(self):
        # the port of a listener closed a moment ago: retry briefly if busy
        for _ in range(100):
            try:
                api = ApiServer(("127.0.0.1", self.port), ApiHandler)
                break
            except OSError:
                time.sleep(0.05)
        else:
            raise SystemExit(f"fake_twilio: cannot listen on 127.0.0.1:{self.port} again")
        api.store = self.store
        self.api = api
        self.port = api.server_address[1]
        self.api_thread = threading.Thread(target=api.serve_forever, daemon=True)
        self.api_thread.start()

    def close_api(self):
        self.api.shutdown()
        self.api.server_close()
        self.api = None

    def set_mode(self, mode):
        with self.mode_lock:
            old = self.store.mode
            if old == mode:
                return
            if mode == "refused" and self.api is not None:
                self.close_api()
            elif old == "refused" and self.api is None:
                self.open_api()
            self.store.mode = mode
            self.store.count("phase/" + mode)
        print(f"fake_twilio: {time.strftime('%H:%M:%S')} {old} -> {mode}", file=sys.stderr,
              flush=True)

    def run_schedule(self):
        i = 0
        while not self.quit.is_set():
            if not self.scheduled.is_set():
                self.wake.wait(0.5)
                self.wake.clear()
                continue
            mode, seconds = self.phases[i % len(self.phases)]
            self.set_mode(mode)
            self.wake.clear()
            self.wake.wait(seconds)
            if self.scheduled.is_set():
                self.phases_done += 1
                i += 1


def main():
    ap = argparse.ArgumentParser(description="a stateful fake of Twilio's Messages API, with faults")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--control-port", type=int, default=0)
    ap.add_argument("--account", default="AC0123456789abcdef0123456789abcdef")
    ap.add_argument("--token", default="5f1c0e2d9a8b7c6d5e4f30211a2b3c4d")
    ap.add_argument("--hang-s", type=float, default=2.5,
                    help="how long a time-out hangs: more than the plugin's timeout-s")
    ap.add_argument("--retry-after", type=int, default=1, help="Retry-After of a 429, s")
    ap.add_argument("--schedule", default=DEFAULT_SCHEDULE,
                    help="MODE:SECONDS,... cycled (default %(default)s)")
    ap.add_argument("--scale", type=float, default=1.0, help="multiplies every phase")
    ap.add_argument("--no-schedule", action="store_true", help="start in normal, no cycle")
    args = ap.parse_args()

    fake = Fake(args)
    signal.signal(signal.SIGTERM, lambda *_: fake.quit.set())

    def stdin_watch():
        # the test is gone when our standard input closes
        try:
            while os.read(0, 4096):
                pass
        except OSError:
            pass
        fake.quit.set()

    if not sys.stdin.isatty():
        threading.Thread(target=stdin_watch, daemon=True).start()
    threading.Thread(target=fake.run_schedule, daemon=True).start()
    print(json.dumps({"port": fake.port, "control-port": fake.control.server_address[1]}),
          flush=True)
    while not fake.quit.wait(1.0):
        pass
    if fake.api is not None:
        fake.api.server_close()
    fake.control.server_close()


if __name__ == "__main__":
    main()
