#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# vb-bench-year.py: "a year in a store" (issue #16, point 6).
#
# The real vestibuled, run as an operator runs it, on a database holding a
# year of a store doing 500 visits a day with 100,000 customers. Prints:
#   - start to READY=1 on the daemon's NOTIFY_SOCKET (as systemd sees it);
#   - tap to unlock for known cards, and tap to the phone prompt for new
#     ones: through the control socket (the sim reader's tap, then the event
#     on a follower of /v1/events), and inside the daemon (from its own
#     card-presented event to door-unlocked or the prompt);
#   - settling an order: POST /api/v1/visits/ID/order to the visit settled;
#   - the visits' listing (GET /v1/visits): its first page and a page half a
#     year deep, and the other operator listings;
#   - the database's size, and what each table takes.
#
# How the year is made. The rows must be those the daemon writes, so the
# benchmark first plays a few hundred real visits against the real daemon
# (tests/soak/soak.py's shoppers: the simulated store, the twilio plugin
# against a fake Twilio, sim-payment; new cards typing a phone and the
# one-time code, returning cards, orders posted). Those visits are the
# templates: each visit of the year is a copy of one, with every row it left
# (visits, visit_timeline, outbox, sms_messages, audit, the twilio plugin's
# messages; customers, cards and consent for a new customer), its times
# moved, and its ids, tokens, references and hashes made new and unique.
# Each customer has a phone of its own, indexed and sealed with the store's
# keys as the daemon does it (HMAC-SHA256, XChaCha20-Poly1305 through
# libsodium), so that the daemon can text it; no PAN or phone number is
# written in clear. What the daemon prunes is generated
# only as far back as it keeps it: delivered outbox items and the twilio
# plugin's records 30 days, the audit log 90 (the default). Almost every
# visit is settled; the last few are awaiting their order.
#
# The templates and the year are cached in the build directory
# (tests/bench/year-cache/, keyed by this script and the schema): a rerun
# only copies the file. The first run takes a minute or two.
#
#   tests/bench/vb-bench-year.py [--build build] [--taps 400] [--regenerate]
#
# Targets print PASS or MISS; a miss is not a failure. Python 3 standard
# library only. Everything binds 127.0.0.1 and stops at exit.

import argparse
import ctypes
import ctypes.util
import hashlib
import hmac
import http.client
import importlib.util
import json
import os
import queue
import random
import re
import secrets
import shutil
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
SOAK_PATH = os.path.join(HERE, "..", "soak", "soak.py")

# the year
DAYS = 365
VISITS_PER_DAY = 500
CUSTOMERS = 100_000
SECOND_CARD = 0.10  # customers who come back once with another card
OPEN_VISITS = 3  # the newest visits, still awaiting their order
FEEDBACK = 0.005  # visits a shopper replied to
# what the daemon keeps (core/daemon/vb-daemon.c, plugins/twilio/vb-twilio.c)
OUTBOX_DONE_DAYS = 30
TWILIO_DAYS = 30
AUDIT_DAYS = 90
# the templates: real visits played once
SEED_VISITS = 240
GENERATOR_VERSION = "3"  # bump when the year changes

READY_TARGET_MS = 100.0
TAP_DAEMON_TARGET_MS = 2.0  # README, Performance: the in-process tap's p99
TAP_SOCKET_TARGET_MS = 10.0  # issue 16: black-box p99 through the control socket

US = 1_000_000
DAY_US = 86400 * US


def load_soak():
    spec = importlib.util.spec_from_file_location("soak", SOAK_PATH)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


soak = load_soak()


def log(*args):
    print(time.strftime("%H:%M:%S"), *args, flush=True)


def pct(values, p):
    """nearest-rank percentile"""
    if not values:
        return float("nan")
    s = sorted(values)
    rank = max(1, -(-p * len(s) // 100))
    return s[int(rank) - 1]


def summary(values):
    return (f"p50 {pct(values, 50):6.2f}  p90 {pct(values, 90):6.2f}  "
            f"p99 {pct(values, 99):6.2f}  max {max(values):6.2f} ms  (n={len(values)})")


def soak_args(build, **kw):
    a = argparse.Namespace(
        vestibuled=os.path.join(build, "core", "daemon", "vestibuled"),
        vestibulectl=os.path.join(build, "core", "ctl", "vestibulectl"),
        plugin_dir=os.environ.get("VESTIBULE_PLUGIN_DIR") or os.path.join(build, "plugins"),
        doors=4, base_delay_ms=100, max_delay_ms=2000, twilio_timeout_s=1,
        fault_scale=1.0, hang_s=2.5, fault_schedule=None, no_faults=True,
        visits=SEED_VISITS, rate=0.0, new_fraction=0.45, share_fraction=0.15,
        visit_timeout=60, code_timeout=30)
    for k, v in kw.items():
        setattr(a, k, v)
    return a


def add_token(args, socket_path, name, scope):
    env = dict(os.environ, VESTIBULE_SOCKET=socket_path)
    out = subprocess.run([args.vestibulectl, "--json", "token", "add", name, "--scope", scope],
                         env=env, check=True, capture_output=True, text=True).stdout
    return json.loads(out)["token"]


def wait_outbox_drained(daemon, timeout=60):
    deadline = time.time() + timeout
    while time.time() < deadline:
        status, counts = daemon.ctl("GET", "/v1/outbox/counts")
        if status == 200 and counts.get("pending", 0) + counts.get("sending", 0) == 0:
            return True
        time.sleep(0.1)
    return False


# ---------------------------------------------------------------------------
# the templates: real visits


def make_seed(args, cache):
    """plays SEED_VISITS real visits; keeps the database, the keys and the
    linked cards' numbers (test PANs) in the cache"""
    tmp = tempfile.mkdtemp(prefix="vb-year-seed-")
    sargs = soak_args(args.build)
    fake = daemon = None
    try:
        token = secrets.token_hex(16)
        fake = soak.FakeTwilio(sargs, token, tmp)
        daemon = soak.Daemon(sargs, tmp)
        keys = soak.write_config(sargs, tmp, daemon, fake, token)
        daemon.start()
        order_token = add_token(sargs, daemon.socket_path, "vision", "orders")
        rng = random.Random(16)
        pool = soak.Pool(rng)
        run = soak.Run(sargs, daemon, fake, pool, order_token)
        workers = [soak.Worker(run, f"d{i}", rng.randrange(1 << 30))
                   for i in range(1, sargs.doors + 1)]
        for w in workers:
            w.start()
        for w in workers:
            w.join()
        if run.errors:
            raise RuntimeError(f"the template visits failed: {run.errors[:3]}")
        if not wait_outbox_drained(daemon):
            raise RuntimeError("the templates' outbox did not drain")
        time.sleep(0.5)  # the audit buffer, written at idle
        if daemon.stop() != 0:
            raise RuntimeError(f"the daemon did not stop cleanly; see {daemon.log_path}")
        shutil.copy(os.path.join(tmp, "state", "vestibule.db"), os.path.join(cache, "seed.db"))
        with open(os.path.join(cache, "keys.json"), "w") as f:
            json.dump(keys, f)
        cards = [c.pan for c in pool.cards if c.state == "linked"]
        with open(os.path.join(cache, "cards.json"), "w") as f:
            json.dump(cards, f)
        log(f"templates: {len(run.visits)} real visits, {len(cards)} linked cards")
    finally:
        if daemon is not None:
            daemon.stop()
        if fake is not None:
            fake.stop()
        shutil.rmtree(tmp, ignore_errors=True)


# ---------------------------------------------------------------------------
# the year, from the templates


ID_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
PSP_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
FEEDBACK_BODIES = ["Thanks, quick and easy", "The door was slow to open",
                   "Please stock oat milk", "Great, see you tomorrow",
                   "I was charged but took nothing?", "Love the bread"]


def rows(conn, sql, *params):
    cur = conn.execute(sql, params)
    names = [d[0] for d in cur.description]
    return [dict(zip(names, r)) for r in cur.fetchall()]


class Template:
    pass


def read_templates(conn):
    visits = rows(conn, "SELECT * FROM visits WHERE state IN ('settled', 'cancelled') "
                        "ORDER BY created")
    customers = {c["id"]: c for c in rows(conn, "SELECT * FROM customers")}
    cards = {c["token"]: c for c in rows(conn, "SELECT * FROM cards")}
    consent = {c["phone_index"]: c for c in rows(conn, "SELECT * FROM consent")}
    outbox = rows(conn, "SELECT * FROM outbox ORDER BY id")
    sms = {s["outbox_id"]: s for s in rows(conn, "SELECT * FROM sms_messages")}
    twilio = {t["idempotency_key"]: t for t in rows(conn, "SELECT * FROM p_twilio_messages")}
    audit = rows(conn, "SELECT * FROM audit ORDER BY seq")
    timeline = rows(conn, "SELECT * FROM visit_timeline ORDER BY id")

    by_id = {}
    for v in visits:
        t = Template()
        t.visit = v
        t.timeline = []
        t.outbox = []
        t.audit = []
        t.new_card = False
        t.new_customer = False
        by_id[v["id"]] = t
    for r in timeline:
        if r["visit_id"] in by_id:
            by_id[r["visit_id"]].timeline.append(r)
    sid_visit = {}
    for o in outbox:
        t = by_id.get(o["visit_id"])
        if t is None:
            continue
        s = sms.get(o["id"])
        tw = twilio.get(o["idempotency_key"])
        t.outbox.append((o, s, tw))
        if s is not None and s["message_id"]:
            sid_visit[s["message_id"]] = t
    # the audit log: a visit's own events name it; a door's events belong
    # to the visit at that door (the shoppers play one visit at a time per
    # door); delivery reports to the visit of the message
    per_door = {}
    for t in by_id.values():
        per_door.setdefault(t.visit["door"], []).append(t)
    for lst in per_door.values():
        lst.sort(key=lambda t: t.visit["created"])
    for a in audit:
        owner = None
        payload = a["payload"] or ""
        m = re.search(r'"visit":"([^"]+)"', payload)
        if m:
            owner = by_id.get(m.group(1))
        elif a["name"] == "sms-status":
            m = re.search(r'"message-id":"([^"]+)"', payload)
            owner = sid_visit.get(m.group(1)) if m else None
        elif a["door"] in per_door and a["name"] != "reader-state" and \
                a["name"] != "plugin-state":
            # the tap's card-presented comes a moment before its visit
            for t in per_door[a["door"]]:
                if t.visit["created"] <= a["real"] + 50_000:
                    owner = t
                else:
                    break
        if owner is not None:
            owner.audit.append(a)
    for t in by_id.values():
        states = [r["state"] for r in t.timeline]
        t.new_card = "enter-phone" in states
        cust = customers.get(t.visit["customer_id"])
        t.customer = cust
        t.card = cards.get(t.visit["card_token"])
        t.new_customer = (t.new_card and cust is not None and
                          cust["created"] >= t.visit["created"])
        t.consent = consent.get(cust["phone_index"]) if t.new_customer else None
        # the order of a visit kept open: its rows up to awaiting-order
    out = [t for t in by_id.values() if t.customer is not None and t.card is not None]
    # the cards the benchmark taps again: their tokens are those the daemon
    # derives from their numbers, so they go into the year as they are
    linked = rows(conn, "SELECT token, first6, last4 FROM cards WHERE customer_id IS NOT NULL")
    return out, linked


class Phones:
    """phones as the daemon keeps them (core/daemon/vb-customers-phones.c):
    the blind index HMAC-SHA256(phone-index-key, "phone:" + E.164) in hex,
    the number sealed with XChaCha20-Poly1305 (phone-key; the index as
    associated data; the nonce first), and masked"""

    def __init__(self, keys):
        name = ctypes.util.find_library("sodium")
        if name is None:
            raise RuntimeError("libsodium is needed to seal the year's phones")
        self.sodium = ctypes.CDLL(name)
        if self.sodium.sodium_init() < 0:
            raise RuntimeError("libsodium does not initialize")
        self.index_key = bytes.fromhex(keys["phone-index-key"])
        self.key = bytes.fromhex(keys["phone-key"])

    def make(self, e164):
        index = hmac.new(self.index_key, b"phone:" + e164.encode(),
                         hashlib.sha256).hexdigest()
        nonce = secrets.token_bytes(24)
        plain = e164.encode()
        out = ctypes.create_string_buffer(len(plain) + 16)
        out_len = ctypes.c_ulonglong()
        ad = index.encode()
        if self.sodium.crypto_aead_xchacha20poly1305_ietf_encrypt(
                out, ctypes.byref(out_len), plain, ctypes.c_ulonglong(len(plain)), ad,
                ctypes.c_ulonglong(len(ad)), None, nonce, self.key) != 0:
            raise RuntimeError("cannot seal a phone")
        masked = f"+33 6•• •• •• {e164[-2:]}"
        return index, nonce + out.raw[:out_len.value], masked


def year_times(rng, now_us):
    """VISITS_PER_DAY visit times a day over DAYS days, ending an hour ago,
    in opening hours (7:00 to 22:00), busier at noon and after work"""
    times = []
    start_day = now_us - DAYS * DAY_US
    start_day -= start_day % DAY_US
    for d in range(DAYS):
        base = start_day + d * DAY_US
        for _ in range(VISITS_PER_DAY):
            h = rng.choice((7, 8, 8, 9, 10, 11, 12, 12, 12, 13, 13, 14, 15, 16, 17, 17,
                            18, 18, 18, 19, 19, 20, 21))
            times.append(base + h * 3600 * US + rng.randrange(3600 * US))
    times.sort()
    # the newest visit ends an hour before now
    shift = now_us - 3600 * US - times[-1]
    return [t + shift for t in times]


def visit_id(rng, created_us):
    stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime((created_us - rng.randrange(600 * US))
                                                      / US))
    return "v-" + stamp + "-" + "".join(rng.choice(ID_ALPHABET) for _ in range(8))


def generate_year(seed_db, year_db, keys, rng):
    t_start = time.time()
    src = sqlite3.connect(seed_db)
    templates, linked = read_templates(src)
    src.close()
    new_customer_t = [t for t in templates if t.new_customer]
    new_card_t = [t for t in templates if t.new_card and not t.new_customer]
    returning_t = [t for t in templates if not t.new_card]
    if not new_customer_t or not returning_t:
        raise RuntimeError("the templates lack a new customer's or a returning card's visit")
    if not new_card_t:
        new_card_t = new_customer_t
    log(f"templates: {len(new_customer_t)} new customers, {len(new_card_t)} new cards of "
        f"known phones, {len(returning_t)} returning cards")

    tmp_db = year_db + ".tmp"
    for p in (tmp_db, tmp_db + "-wal", tmp_db + "-shm"):
        if os.path.exists(p):
            os.unlink(p)
    shutil.copy(seed_db, tmp_db)
    db = sqlite3.connect(tmp_db, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=OFF")
    db.execute("PRAGMA cache_size=-200000")
    db.execute("BEGIN")
    # the consent log is append-only, by trigger: the templates' rows go
    triggers = db.execute("SELECT name, sql FROM sqlite_master WHERE type = 'trigger' "
                          "AND tbl_name = 'consent'").fetchall()
    for name, _ in triggers:
        db.execute(f"DROP TRIGGER {name}")
    # the templates go: the year replaces them (the sim payment's ledger, the
    # api token and the door's reservations stay)
    for table in ("visit_timeline", "sms_messages", "outbox", "p_twilio_messages", "audit",
                  "consent", "card_aliases", "cards", "otps", "feedback", "visits",
                  "customers"):
        db.execute(f"DELETE FROM {table}")
    for _, sql in triggers:
        db.execute(sql)

    phones = Phones(keys)
    used_phones = set()
    now_us = int(time.time() * US)
    times = year_times(rng, now_us)
    n = len(times)
    # which visits bring a new customer: the first, and 100,000 in all
    kinds = ["new"] * (CUSTOMERS - 1) + ["back"] * (n - CUSTOMERS)
    rng.shuffle(kinds)
    kinds.insert(0, "new")
    outbox_cutoff = now_us - OUTBOX_DONE_DAYS * DAY_US
    twilio_cutoff = now_us - TWILIO_DAYS * DAY_US
    audit_cutoff = now_us - AUDIT_DAYS * DAY_US

    customers = []  # [id, phone_index, sealed, masked, language, created, to_hash, cards]
    regulars = []  # customer ids, once per visit: who comes back comes back again
    cards = {}  # token -> [customer, first6, last4, scheme, visits, created, last_seen]
    outbox_id = 0
    timeline_id = 0
    seq = 0
    sid = 0
    ins = {k: [] for k in ("visits", "timeline", "outbox", "sms", "twilio", "audit",
                           "customers", "cards", "consent", "feedback")}
    used_index = set()

    def new_hex(nbytes):
        while True:
            h = secrets.token_hex(nbytes)
            if h not in used_index:
                used_index.add(h)
                return h

    # the real cards among the year's first cards (cards of a new customer
    # come ahead of second cards): customers who have a whole year of visits
    real_at = dict(zip(sorted(rng.sample(range(CUSTOMERS), len(linked))), linked))

    def new_card(cust_id, created):
        real = real_at.get(len(cards))
        if real is not None:
            token, first6, last4 = real["token"], real["first6"], real["last4"]
            used_index.add(token)
        else:
            token, first6, last4 = new_hex(32), "497010", "%04d" % rng.randrange(10000)
        cards[token] = [cust_id, first6, last4, "visa", 0, created, created]
        customers[cust_id - 1][7].append(token)
        return token

    for i, created in enumerate(times):
        kind = kinds[i]
        if kind == "new":
            t = rng.choice(new_customer_t)
            tc = t.customer
            cust_id = len(customers) + 1
            while True:
                e164 = "+336" + "%08d" % rng.randrange(10 ** 8)
                if e164 not in used_phones:
                    used_phones.add(e164)
                    break
            index, sealed, masked = phones.make(e164)
            customers.append([cust_id, index, sealed, masked, tc["language"], created,
                              new_hex(16), []])
            token = new_card(cust_id, created)
        else:
            cust_id = rng.choice(regulars)
            cust = customers[cust_id - 1]
            if len(cust[7]) == 1 and rng.random() < SECOND_CARD / 1.8:
                t = rng.choice(new_card_t)
                token = new_card(cust_id, created)
            else:
                t = rng.choice(returning_t)
                token = rng.choice(cust[7])
        regulars.append(cust_id)
        cust = customers[cust_id - 1]
        card = cards[token]
        card[4] += 1
        card[6] = created
        tv = t.visit
        delta = created - tv["created"]
        vid = visit_id(rng, created)
        old_vid = tv["id"]
        old_cust = tv["customer_id"]
        is_open = i >= n - OPEN_VISITS

        def sub(text):
            if not isinstance(text, str):
                return text
            text = text.replace(old_vid, vid)
            text = text.replace(f"customer:{old_cust}", f"customer:{cust_id}")
            text = text.replace(f'"customer":{old_cust}', f'"customer":{cust_id}')
            return text

        timeline = t.timeline
        if is_open:
            cut = [r["state"] for r in timeline].index("awaiting-order") + 1
            timeline = timeline[:cut]
        last = timeline[-1]["time"] + delta
        v = dict(tv)
        v.update(id=vid, card_token=token, first6=card[1], last4=card[2], created=created,
                 updated=last, customer_id=cust_id,
                 psp_reference="".join(rng.choice(PSP_ALPHABET) for _ in range(16)),
                 capture_deadline=tv["capture_deadline"] + delta)
        if is_open:
            v.update(state="awaiting-order", order_hash=None, order_json=None, total=None,
                     captured=None, settlement=None, receipt_hash=None, receipt_expires=None)
        else:
            v.update(receipt_hash=new_hex(32),
                     receipt_expires=tv["receipt_expires"] + delta
                     if tv["receipt_expires"] else None)
        ins["visits"].append(v)
        for r in timeline:
            timeline_id += 1
            ins["timeline"].append((timeline_id, vid, r["time"] + delta, r["state"],
                                    sub(r["detail"])))
        # outbox items: their ids run over the whole year (sms_messages keep
        # them), the delivered ones are kept a month
        sids = {}
        for o, s, tw in t.outbox:
            if is_open and o["idempotency_key"].endswith(":receipt"):
                continue
            if is_open and o["kind"] == "payment":
                continue
            outbox_id += 1
            key = sub(o["idempotency_key"])
            if o["created"] + delta >= outbox_cutoff:
                result = o["result"]
                if s is not None and s["message_id"]:
                    sid += 1
                    new_sid = "SM%032x" % sid
                    sids[s["message_id"]] = new_sid
                    result = result.replace(s["message_id"], new_sid) if result else result
                ins["outbox"].append((outbox_id, o["kind"], sub(o["recipient"]), key,
                                      sub(o["payload"]), o["state"], o["attempts"],
                                      o["next_attempt"] + delta, o["created"] + delta,
                                      o["updated"] + delta, o["last_error"], sub(result), vid,
                                      None, None, o["resends"]))
            if s is not None:
                if s["message_id"] and s["message_id"] not in sids:
                    sid += 1
                    sids[s["message_id"]] = "SM%032x" % sid
                new_sid = sids.get(s["message_id"])
                ins["sms"].append((outbox_id, key, vid, s["template"], masked_of(cust),
                                   s["provider"], s["sticky"], s["attempts"], new_sid,
                                   s["encoding"], s["segments"], s["shortened"], s["state"],
                                   s["last_error"], s["created"] + delta,
                                   s["updated"] + delta))
                if tw is not None and tw["updated"] + delta >= twilio_cutoff:
                    ins["twilio"].append((tw["instance"], key, str(uuid.UUID(
                        int=rng.getrandbits(128), version=4)), cust[6], tw["body_hash"],
                        tw["state"], new_sid, tw["status"], tw["first_attempt"] + delta,
                        tw["last_attempt"] + delta, tw["lookup_after"], tw["attempts"],
                        tw["updated"] + delta))
        if created >= audit_cutoff:
            for a in t.audit:
                payload = sub(a["payload"])
                if payload and '"message-id"' in payload:
                    m = re.search(r'"message-id":"([^"]+)"', payload)
                    if m and m.group(1) in sids:
                        payload = payload.replace(m.group(1), sids[m.group(1)])
                    elif m:
                        continue
                if payload and '"token"' in payload:
                    payload = re.sub(r'"token":"[0-9a-f]+"', f'"token":"{token}"', payload)
                    payload = re.sub(r'"last4":"\d+"', f'"last4":"{card[2]}"', payload)
                if is_open and a["real"] > timeline[-1]["time"] and \
                        (a["name"] in ("visit-state", "sms-status")):
                    continue
                seq += 1
                ins["audit"].append((seq, a["name"], a["source"], a["door"], a["mono"] + delta,
                                     a["real"] + delta, payload))
        if kind == "new" and t.consent is not None:
            c = t.consent
            ins["consent"].append((cust[1], c["time"] + delta, c["purpose"], c["given"],
                                   c["text"], c["version"], c["channel"]))
        if not is_open and rng.random() < FEEDBACK:
            received = last + rng.randrange(3600 * US)
            ins["feedback"].append((vid, cust_id, received, rng.choice(FEEDBACK_BODIES),
                                    1 if received < now_us - 3 * DAY_US else 0))

    for c in customers:
        ins["customers"].append((c[0], c[1], c[2], c[3], c[4], 0, c[5]))
    for token, c in cards.items():
        ins["cards"].append((token, c[0], "payment", c[1], c[2], None, c[3], None, c[4], c[5],
                             c[6]))

    log(f"generated {n} visits in memory in {time.time() - t_start:.1f} s; writing")
    db.executemany("INSERT INTO customers (id, phone_index, phone_sealed, phone_masked, "
                   "language, sms_opt_out, created) VALUES (?,?,?,?,?,?,?)", ins["customers"])
    db.executemany("INSERT INTO cards (token, customer_id, kind, first6, last4, expiry, "
                   "scheme, language, visits, created, last_seen) "
                   "VALUES (?,?,?,?,?,?,?,?,?,?,?)", ins["cards"])
    db.executemany("INSERT INTO consent (phone_index, time, purpose, given, text, version, "
                   "channel) VALUES (?,?,?,?,?,?,?)", ins["consent"])
    cols = list(ins["visits"][0].keys())
    db.executemany(f"INSERT INTO visits ({', '.join(cols)}) VALUES "
                   f"({', '.join('?' for _ in cols)})",
                   (tuple(v[c] for c in cols) for v in ins["visits"]))
    db.executemany("INSERT INTO visit_timeline (id, visit_id, time, state, detail) "
                   "VALUES (?,?,?,?,?)", ins["timeline"])
    db.executemany("INSERT INTO outbox (id, kind, recipient, idempotency_key, payload, state, "
                   "attempts, next_attempt, created, updated, last_error, result, visit_id, "
                   "unknown_since, passable_after, resends) "
                   "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)", ins["outbox"])
    db.executemany("INSERT INTO sms_messages (outbox_id, idempotency_key, visit_id, template, "
                   "to_masked, provider, sticky, attempts, message_id, encoding, segments, "
                   "shortened, state, last_error, created, updated) "
                   "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)", ins["sms"])
    db.executemany("INSERT INTO p_twilio_messages (instance, idempotency_key, tag, to_hash, "
                   "body_hash, state, sid, status, first_attempt, last_attempt, lookup_after, "
                   "attempts, updated) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)", ins["twilio"])
    # the audit log's seq goes on from a year of sequence numbers
    first_seq = n * 26 - len(ins["audit"])
    db.executemany("INSERT INTO audit (seq, name, source, door, mono, real, payload) "
                   "VALUES (?,?,?,?,?,?,?)",
                   ((a[0] + first_seq,) + a[1:] for a in ins["audit"]))
    db.executemany("INSERT INTO feedback (visit_id, customer_id, received, body, handled) "
                   "VALUES (?,?,?,?,?)", ins["feedback"])
    # the sequences as a year of work leaves them
    db.execute("UPDATE sqlite_sequence SET seq = ?1 WHERE name = 'outbox' AND seq < ?1",
               (outbox_id,))
    db.execute("COMMIT")
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.close()
    os.replace(tmp_db, year_db)
    for p in (tmp_db + "-wal", tmp_db + "-shm"):
        if os.path.exists(p):
            os.unlink(p)
    counts = {k: len(v) for k, v in ins.items()}
    log(f"the year: {n} visits, {len(customers)} customers, {len(cards)} cards in "
        f"{time.time() - t_start:.1f} s: {counts}")


def masked_of(cust):
    return cust[3]


def cache_key():
    # GENERATOR_VERSION changes with what the year is made of
    h = hashlib.sha256(GENERATOR_VERSION.encode())
    # the schema the templates were written with (a newer daemon migrates
    # the year at its first start, which the first start then shows)
    with open(os.path.join(HERE, "..", "..", "core", "libvestibule", "vb-store-schema.c"),
              "rb") as f:
        h.update(hashlib.sha256(f.read()).digest())
    return h.hexdigest()[:16]


def prepare(args):
    cache = args.cache
    os.makedirs(cache, exist_ok=True)
    key = cache_key()
    stamp = os.path.join(cache, "key")
    year_db = os.path.join(cache, "year.db")
    old = open(stamp).read().strip() if os.path.exists(stamp) else None
    if args.regenerate or old != key or not os.path.exists(year_db):
        for name in ("seed.db", "year.db", "keys.json", "cards.json", "key"):
            p = os.path.join(cache, name)
            if os.path.exists(p):
                os.unlink(p)
        t0 = time.time()
        log(f"making the year in {cache} (once; cached for the next runs)")
        make_seed(args, cache)
        with open(os.path.join(cache, "keys.json")) as f:
            keys = json.load(f)
        generate_year(os.path.join(cache, "seed.db"), year_db, keys, random.Random(2026))
        with open(stamp, "w") as f:
            f.write(key + "\n")
        log(f"made in {time.time() - t0:.0f} s")
    else:
        log(f"the year is cached in {cache}")
    with open(os.path.join(cache, "keys.json")) as f:
        keys = json.load(f)
    with open(os.path.join(cache, "cards.json")) as f:
        cards = json.load(f)
    return year_db, keys, cards


# ---------------------------------------------------------------------------
# the measured daemon


class Follower(threading.Thread):
    """GET /v1/events?follow=1 on the control socket: every event, with the
    time it arrived"""

    def __init__(self, socket_path, after):
        super().__init__(daemon=True)
        self.events = queue.Queue()
        self.conn = soak.UnixHTTPConnection(socket_path, None)
        self.conn.request("GET", f"/v1/events?follow=1&after={after}")
        self.sock = self.conn.sock
        self.resp = None

    def run(self):
        # the headers come with the first event
        self.resp = self.conn.getresponse()
        if self.resp.status != 200:
            self.events.put((time.perf_counter(), {"name": "follow-failed"}))
            return
        while True:
            try:
                line = self.resp.readline()
            except (OSError, http.client.HTTPException, ValueError):
                return
            if not line:
                return
            now = time.perf_counter()
            line = line.strip()
            if not line:
                continue
            try:
                ev = json.loads(line)
            except ValueError:
                continue
            payload = ev.get("payload")
            if isinstance(payload, str):
                try:
                    ev["payload"] = json.loads(payload)
                except ValueError:
                    pass
            self.events.put((now, ev))

    def wait(self, match, timeout=10.0):
        """(arrival, event) of the first event @match accepts; the others go"""
        deadline = time.perf_counter() + timeout
        while True:
            left = deadline - time.perf_counter()
            if left <= 0:
                raise RuntimeError("timed out waiting for an event")
            try:
                when, ev = self.events.get(timeout=left)
            except queue.Empty:
                continue
            if ev.get("name") == "follow-failed":
                raise RuntimeError("GET /v1/events?follow=1 failed")
            if match(ev):
                return when, ev

    def drain(self):
        while True:
            try:
                self.events.get_nowait()
            except queue.Empty:
                return

    def close(self):
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.conn.close()


def payload(ev):
    p = ev.get("payload")
    return p if isinstance(p, dict) else {}


class Store:
    """the daemon on a copy of the year, with its configuration"""

    def __init__(self, args, year_db, keys):
        self.args = args
        self.tmp = tempfile.mkdtemp(prefix="vb-year-")
        self.sargs = soak_args(args.build)
        self.token = secrets.token_hex(16)
        self.fake = soak.FakeTwilio(self.sargs, self.token, self.tmp)
        self.daemon = soak.Daemon(self.sargs, self.tmp)
        soak.write_config(self.sargs, self.tmp, self.daemon, self.fake, self.token)
        # the keys the year was sealed and tokenized with
        secrets_path = os.path.join(self.tmp, "secrets.conf")
        with open(secrets_path, "w") as f:
            f.write("[vestibule]\n")
            for name, value in keys.items():
                f.write(f"{name} = {value}\n")
            f.write(f"[instance:twilio]\nauth-token = {self.token}\n")
        self.state = os.path.join(self.tmp, "state")
        os.makedirs(self.state, mode=0o700)
        self.db = os.path.join(self.state, "vestibule.db")
        shutil.copy(year_db, self.db)
        self.notify_path = os.path.join(self.tmp, "notify.sock")
        self.notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.notify.bind(self.notify_path)
        self.proc = None

    def start(self):
        """spawn to READY=1, in ms"""
        while True:  # what the last run left (STOPPING=1)
            self.notify.setblocking(False)
            try:
                self.notify.recv(4096)
            except BlockingIOError:
                break
        self.notify.setblocking(True)
        cmd = [self.sargs.vestibuled, "--config", os.path.join(self.tmp, "vestibule.conf"),
               "--secrets", os.path.join(self.tmp, "secrets.conf"),
               "--plugin-dir", self.sargs.plugin_dir]
        if shutil.which("setpriv"):
            cmd = ["setpriv", "--pdeathsig", "KILL", "--"] + cmd
        env = dict(os.environ, NOTIFY_SOCKET=self.notify_path, LC_ALL="C.UTF-8")
        for k in ("WATCHDOG_USEC", "WATCHDOG_PID", "CREDENTIALS_DIRECTORY"):
            env.pop(k, None)
        logf = open(self.daemon.log_path, "ab")
        t0 = time.perf_counter()
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=logf,
                                     stderr=subprocess.STDOUT, env=env)
        logf.close()
        self.notify.settimeout(60)
        while True:
            try:
                data = self.notify.recv(4096).decode(errors="replace")
            except socket.timeout:
                raise RuntimeError(f"no READY=1 in 60 s; see {self.daemon.log_path}")
            if data.startswith("READY=1") or "\nREADY=1" in data:
                ready = (time.perf_counter() - t0) * 1000
                break
        self.daemon.proc = self.proc
        self.daemon.generation += 1
        self.daemon.up.set()
        # the first answer: what runs at the first turns of the main loop
        # delays it (and the daemon takes SIGTERM only from its main loop on)
        t1 = time.perf_counter()
        while True:
            try:
                status, _ = self.ctl("GET", "/v1/status")
                if status == 200:
                    break
            except soak.DaemonDown:
                pass
            if time.perf_counter() - t1 > 60:
                raise RuntimeError(f"no answer in 60 s; see {self.daemon.log_path}")
            time.sleep(0.001)
        return ready, (time.perf_counter() - t0) * 1000

    def stop(self):
        return self.daemon.stop()

    def close(self):
        self.daemon.stop()
        self.fake.stop()
        self.notify.close()
        if not self.args.keep:
            shutil.rmtree(self.tmp, ignore_errors=True)
        else:
            log(f"the run's files are in {self.tmp}")

    def ctl(self, method, path, body=None):
        return self.daemon.ctl(method, path, body, timeout=30)


def timed_get(store, path, n):
    times = []
    obj = None
    for _ in range(n):
        t0 = time.perf_counter()
        status, obj = store.ctl("GET", path)
        times.append((time.perf_counter() - t0) * 1000)
        if status != 200:
            raise RuntimeError(f"GET {path}: HTTP {status} {obj}")
    return times, obj


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmRSS:"))


def file_sizes(db):
    def size(p):
        return os.path.getsize(p) if os.path.exists(p) else 0
    return size(db), size(db + "-wal")


def table_sizes(db):
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        out = rows(conn, "SELECT name, SUM(pgsize) AS bytes FROM dbstat GROUP BY name "
                         "ORDER BY bytes DESC")
    except sqlite3.Error:
        out = []
    counts = {}
    for r in out:
        try:
            counts[r["name"]] = conn.execute(f'SELECT COUNT(*) FROM "{r["name"]}"').fetchone()[0]
        except sqlite3.Error:
            counts[r["name"]] = None
    info = {k: conn.execute(f"PRAGMA {k}").fetchone()[0]
            for k in ("page_size", "page_count", "freelist_count")}
    conn.close()
    return out, counts, info


def mib(n):
    return n / (1024 * 1024)


def verdict(ok):
    return "PASS" if ok else "MISS"


def main():
    build_default = os.environ.get("VB_BUILD_ROOT") or os.path.join(HERE, "..", "..", "build")
    ap = argparse.ArgumentParser(description="a year in a store: the real vestibuled on a "
                                             "year of data",
                                 formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    ap.add_argument("--build", default=build_default, help="the meson build directory")
    ap.add_argument("--cache", default=None,
                    help="where the year is kept (default BUILD/tests/bench/year-cache)")
    ap.add_argument("--regenerate", action="store_true", help="make the year again")
    ap.add_argument("--starts", type=int, default=5, help="starts to time")
    ap.add_argument("--taps", type=int, default=400,
                    help="taps to time, a quarter of them new cards")
    ap.add_argument("--pages", type=int, default=20, help="times each listing is read")
    ap.add_argument("--keep", action="store_true", help="keep the run's directory")
    ap.add_argument("--templates-only", action="store_true",
                    help="measure on the templates' database (a few hundred visits) instead "
                         "of the year, to compare")
    args = ap.parse_args()
    args.build = os.path.abspath(args.build)
    args.cache = args.cache or os.path.join(args.build, "tests", "bench", "year-cache")
    sargs = soak_args(args.build)
    for exe in (sargs.vestibuled, sargs.vestibulectl):
        if not os.access(exe, os.X_OK):
            print(f"{exe} is not built (ninja -C {args.build})", file=sys.stderr)
            return 2
    if not os.path.exists(os.path.join(sargs.plugin_dir, "vb-twilio.so")):
        print("the twilio plugin is not built: the year's SMS go through it")
        return 77

    year_db, keys, cards = prepare(args)
    if args.templates_only:
        year_db = os.path.join(args.cache, "seed.db")
    if not cards:
        raise RuntimeError("no linked card among the templates")
    gen_db, gen_wal = file_sizes(year_db)
    tables, counts, info = table_sizes(year_db)

    store = Store(args, year_db, keys)
    signal.signal(signal.SIGTERM, lambda s, f: (_ for _ in ()).throw(KeyboardInterrupt()))
    report = {}
    try:
        # start to ready: the first start on the copy, then warm ones
        ready, answer = [], []
        for i in range(args.starts):
            r, a = store.start()
            ready.append(r)
            answer.append(a)
            if i < args.starts - 1:
                rc = store.stop()
                if rc != 0:
                    raise RuntimeError(f"the daemon did not stop cleanly ({rc}); see "
                                       f"{store.daemon.log_path}")
        report["ready"] = ready
        pid = store.proc.pid
        rss = {"ready": rss_kib(pid)}
        status, last = store.ctl("GET", "/v1/events?limit=1")
        after = last["events"][-1]["seq"] if last.get("events") else 0
        follower = Follower(store.daemon.socket_path, after)
        follower.start()
        order_token = add_token(sargs, store.daemon.socket_path,
                                f"bench-{int(time.time())}", "orders")

        rng = random.Random(42)
        known_socket, known_daemon, new_socket, new_daemon = [], [], [], []
        post_ms, settle_ms = [], []
        n_new = args.taps // 4
        plan = ["new"] * n_new + ["known"] * (args.taps - n_new)
        rng.shuffle(plan)
        warm = []
        for i, kind in enumerate(plan):
            door = f"d{i % 4 + 1}"
            pan = rng.choice(cards) if kind == "known" else None
            if pan is None:
                pool = soak.Pool(rng)
                pan = pool.new_pan()
            follower.drain()
            t0 = time.perf_counter()
            status, obj = store.ctl("POST", f"/v1/sim/{door}-reader/tap", {"pan": pan})
            if status != 202:
                raise RuntimeError(f"tap: HTTP {status} {obj}")
            presented = {}
            visit = {}

            def seen(ev, door=door):
                if ev.get("name") == "card-presented" and ev.get("door") == door:
                    presented["mono"] = ev.get("mono-us")
                if ev.get("name") == "visit-state" and "id" not in visit:
                    visit["id"] = payload(ev).get("visit")
                return False

            if kind == "known":
                t1, ev = follower.wait(lambda e: seen(e) or (
                    e.get("name") == "door-unlocked" and e.get("door") == door))
            else:
                t1, ev = follower.wait(lambda e: seen(e) or (
                    e.get("name") == "visit-state" and
                    payload(e).get("state") == "enter-phone"))
            socket_ms = (t1 - t0) * 1000
            daemon_ms = ((ev["mono-us"] - presented["mono"]) / 1000
                         if presented.get("mono") and ev.get("mono-us") else float("nan"))
            vid = visit.get("id") or payload(ev).get("visit")
            if i == 0:
                warm = [kind, socket_ms, daemon_ms]
            elif kind == "known":
                known_socket.append(socket_ms)
                known_daemon.append(daemon_ms)
            else:
                new_socket.append(socket_ms)
                new_daemon.append(daemon_ms)

            if kind == "new":
                store.ctl("POST", f"/v1/sim/{door}-keypad/keys", {"keys": ["cancel"]})
                follower.wait(lambda e: e.get("name") == "visit-state" and
                              payload(e).get("visit") == vid and
                              payload(e).get("state") not in ("enter-phone", "identified"))
                continue
            for action in ("open", "close"):
                status, obj = store.ctl("POST", f"/v1/sim/{door}-lock/door", {"action": action})
                if status != 200:
                    raise RuntimeError(f"door {action}: HTTP {status} {obj}")
            follower.wait(lambda e: e.get("name") == "visit-state" and
                          payload(e).get("visit") == vid and
                          payload(e).get("state") == "awaiting-order")
            order = soak.random_order(rng)
            t2 = time.perf_counter()
            status, obj = store.daemon.public(
                "POST", f"/api/v1/visits/{vid}/order", order,
                {"Authorization": f"Bearer {order_token}"}, timeout=30)
            t3 = time.perf_counter()
            if status != 200:
                raise RuntimeError(f"order: HTTP {status} {obj}")
            end, _ = follower.wait(lambda e: e.get("name") == "visit-state" and
                                   payload(e).get("visit") == vid and
                                   payload(e).get("state") in ("settled", "cancelled"))
            post_ms.append((t3 - t2) * 1000)
            settle_ms.append((max(end, t3) - t2) * 1000)
            # the notice and the receipt go out before the next shopper
            wait_outbox_drained(store)

        rss["taps"] = rss_kib(pid)
        # the listings an operator reads
        conn = sqlite3.connect(f"file:{store.db}?mode=ro", uri=True)
        deep_id, deep_created = conn.execute(
            "SELECT id, created FROM visits ORDER BY created DESC LIMIT 1 OFFSET ?",
            (counts.get("visits", 0) // 2,)).fetchone()
        conn.close()
        listings = [
            ("GET /v1/visits (first page, 50)", "/v1/visits?limit=50"),
            ("GET /v1/visits, half a year deep (50)", f"/v1/visits?limit=50&before={deep_id}"),
            ("GET /v1/visits?limit=1000 (the most it gives)", "/v1/visits?limit=1000"),
            (f"GET /v1/visits/ID (one visit, timeline)", f"/v1/visits/{deep_id}"),
            ("GET /v1/status", "/v1/status"),
            ("GET /metrics", "/metrics"),
            ("GET /v1/outbox/counts", "/v1/outbox/counts"),
            ("GET /v1/outbox?limit=50", "/v1/outbox?limit=50"),
            ("GET /v1/sms?limit=50", "/v1/sms?limit=50"),
            ("GET /v1/feedback?all=1", "/v1/feedback?all=1"),
            ("GET /v1/events?limit=100", "/v1/events?limit=100"),
        ]
        list_results = []
        for name, path in listings:
            try:
                times, obj = timed_get(store, path, args.pages)
            except RuntimeError as e:
                list_results.append((name, None, str(e)))
                continue
            extra = ""
            if isinstance(obj, dict) and isinstance(obj.get("visits"), list):
                vs = obj["visits"]
                extra = f"{len(vs)} rows"
                if "before=" in path and vs:
                    ok = all(v.get("created", 0) < deep_created for v in vs)
                    extra += ", all older than the cursor" if ok else \
                        ", NOT older than the cursor (no paging)"
            list_results.append((name, times, extra))

        rss["listings"] = rss_kib(pid)
        follower.close()
        if store.stop() != 0:
            raise RuntimeError(f"the daemon did not stop cleanly; see {store.daemon.log_path}")
        run_db, run_wal = file_sizes(store.db)
    finally:
        store.close()

    # ------------------------------------------------------------------
    n_visits = counts.get("visits", 0)
    print()
    print("=" * 78)
    print(f"a year in a store: {DAYS} days of {VISITS_PER_DAY} visits, {CUSTOMERS:,} customers")
    print("=" * 78)
    print(f"daemon:   {sargs.vestibuled}")
    print(f"machine:  {os.cpu_count()} cores, load average "
          f"{' '.join('%.2f' % x for x in os.getloadavg())}")
    print(f"rows:     " + ", ".join(f"{k} {v:,}" for k, v in counts.items()
                                    if v and not k.startswith("sqlite_") and "autoindex" not in k
                                    and k in ("visits", "visit_timeline", "audit", "outbox",
                                              "sms_messages", "p_twilio_messages", "customers",
                                              "cards", "consent", "feedback")))
    print()
    print(f"the file: {mib(gen_db):.1f} MiB (-wal {mib(gen_wal):.1f} MiB), "
          f"{gen_db / max(n_visits, 1) / 1024:.2f} KiB a visit; page size {info['page_size']}, "
          f"{info['freelist_count']} free pages")
    print(f"  after the run and a clean stop: {mib(run_db):.1f} MiB (-wal {mib(run_wal):.1f} MiB)")
    for r in tables[:14]:
        print(f"  {r['name']:<36} {mib(r['bytes']):7.1f} MiB")
    print()
    ready = report["ready"]
    print(f"start to READY=1, {len(ready)} starts: first {ready[0]:.1f} ms, then "
          f"{', '.join('%.1f' % x for x in ready[1:])} ms")
    print(f"start to the first answer (GET /v1/status): "
          f"{', '.join('%.1f' % x for x in answer)} ms")
    print()
    print(f"first tap after the start ({warm[0]}): {warm[1]:.2f} ms through the socket, "
          f"{warm[2]:.2f} ms in the daemon")
    print(f"known card, tap to door-unlocked:")
    print(f"  through the control socket  {summary(known_socket)}")
    print(f"  in the daemon               {summary(known_daemon)}")
    print(f"new card, tap to the phone prompt:")
    print(f"  through the control socket  {summary(new_socket)}")
    print(f"  in the daemon               {summary(new_daemon)}")
    print(f"settling an order:")
    print(f"  POST .../order answered     {summary(post_ms)}")
    print(f"  POST to the visit settled   {summary(settle_ms)}")
    print()
    print(f"listings, each read {args.pages} times:")
    for name, times, extra in list_results:
        if times is None:
            print(f"  {name:<48} failed: {extra}")
        else:
            print(f"  {name:<48} median {statistics.median(times):8.2f}  max "
                  f"{max(times):8.2f} ms  {extra}")
    print()
    print(f"daemon RSS: {rss['ready']} KiB once ready, {rss['taps']} KiB after the taps, "
          f"{rss['listings']} KiB after the listings")
    print()
    worst_ready = max(ready)
    print(f"{verdict(worst_ready < READY_TARGET_MS)}  start to READY=1 < "
          f"{READY_TARGET_MS:.0f} ms (slowest of {len(ready)}): {worst_ready:.1f} ms")
    p99 = pct(known_daemon, 99)
    print(f"{verdict(p99 < TAP_DAEMON_TARGET_MS)}  known card's tap p99 in the daemon < "
          f"{TAP_DAEMON_TARGET_MS:.0f} ms: {p99:.2f} ms")
    p99 = pct(known_socket, 99)
    print(f"{verdict(p99 < TAP_SOCKET_TARGET_MS)}  known card's tap p99 through the control "
          f"socket < {TAP_SOCKET_TARGET_MS:.0f} ms: {p99:.2f} ms")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        sys.exit(130)
