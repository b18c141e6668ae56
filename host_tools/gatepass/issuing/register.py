"""Register issued passes with the community server (`gatepass pass batch --server URL`).

The server's staff API (POST /api/staff/v1/passes, server/staffapi.py) stores each pass
with its holder (name, phone: they stay on the server, never on a pass or card), so every
pass a gate logs maps to a person and a unit on the staff pages. HTTP Basic with a staff
account that is operator or admin of the community; over https check the server with
the CA file.

    reg = Registrar(url, user, password, ca_file)
    reg.check(community)                    # login, role, community: before issuing anything
    done = reg.register(community, items)   # in chunks; RegistrationFailed says what got in
"""
from __future__ import annotations

import base64
import json
import ssl
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from typing import Callable

PATH = "/api/staff/v1/passes"
CHUNK = 200  # passes per request: one transaction each on the server, well under its body limit
TIMEOUT_S = 30


class RegistrationError(Exception):
    """The server refused or could not be reached; the message is one line."""


@dataclass
class RegistrationFailed(RegistrationError):
    """Registration stopped part-way: `done` roster lines are on the server, `missing` not."""

    reason: str
    done: list = field(default_factory=list)
    missing: list = field(default_factory=list)

    def __str__(self):
        return self.reason


def item(line: int, issued, extra: dict | None = None) -> dict:
    """One pass for the staff API from an IssuedPass (issuing/passes.py) and its roster
    row's extra columns (name, phone, note)."""
    s = issued.spec
    extra = extra or {}
    return {
        "line": line, "cti": s.cti.hex(), "kid": issued.kid.hex(), "role": s.role,
        "unit": "%d-%d-%d" % tuple(s.unit) if tuple(s.unit) != (0, 0, 0) else "", "dirs": s.dirs,
        "label": s.label, "nbf": s.nbf, "exp": s.exp, "text": issued.text,
        "name": " ".join((extra.get("name") or "").split())[:100], "phone": (extra.get("phone") or "").strip()[:32],
        "note": (extra.get("note") or extra.get("notes") or "").strip()[:200],
    }


def _detail(e: urllib.error.HTTPError) -> str:
    try:
        raw = e.read()
    except OSError:
        raw = b""
    try:
        d = json.loads(raw)
        if isinstance(d, dict) and d.get("detail"):
            return " ".join(str(d["detail"]).split())
    except ValueError:
        pass
    return raw[:200].decode("utf-8", "replace").strip() or str(e.reason or "HTTP %d" % e.code)


class Registrar:
    def __init__(self, server_url: str, user: str, password: str, ca_file: str | None = None,
                 timeout: float = TIMEOUT_S):
        if not server_url.startswith(("https://", "http://")):
            raise RegistrationError("--server %s: expected an https:// (or http://) URL" % server_url)
        self.url = server_url.rstrip("/")
        self.user = user
        self.cred = base64.b64encode(("%s:%s" % (user, password)).encode()).decode()
        self.ctx = ssl.create_default_context(cafile=ca_file) if self.url.startswith("https://") else None
        self.timeout = timeout

    def _post(self, body: dict) -> dict:
        req = urllib.request.Request(self.url + PATH, data=json.dumps(body).encode(), method="POST", headers={
            "Content-Type": "application/json", "Accept": "application/json", "Authorization": "Basic " + self.cred})
        try:
            with urllib.request.urlopen(req, timeout=self.timeout, context=self.ctx) as resp:
                data = resp.read()
        except urllib.error.HTTPError as e:
            detail = _detail(e)
            if e.code == 401:
                raise RegistrationError("the server refused the staff login of %r (wrong password, or not an "
                                        "active staff account)" % self.user) from None
            if e.code == 403:
                raise RegistrationError("the server refused: %s (the account needs the operator or admin role)"
                                        % detail) from None
            if e.code == 404:
                raise RegistrationError("the server refused: %s (is %s the community server?)"
                                        % (detail, self.url)) from None
            if e.code == 429:
                raise RegistrationError("the server refused the staff login of %r: %s" % (self.user, detail)) from None
            raise RegistrationError("the server refused (%d): %s" % (e.code, detail)) from None
        except urllib.error.URLError as e:
            reason = e.reason
            if isinstance(reason, ssl.SSLCertVerificationError):
                raise RegistrationError("cannot verify the certificate of %s: %s (give the server's CA with --ca)"
                                        % (self.url, reason.verify_message)) from None
            raise RegistrationError("cannot reach the server at %s: %s" % (self.url, reason)) from None
        except (OSError, ValueError) as e:  # timeouts, resets
            raise RegistrationError("cannot reach the server at %s: %s" % (self.url, e)) from None
        try:
            answer = json.loads(data)
        except ValueError:
            answer = None
        if not isinstance(answer, dict) or not isinstance(answer.get("rows"), list):
            raise RegistrationError("the server answered with an unexpected body: %r" % data[:200])
        return answer

    def check(self, community: str) -> None:
        """Login, role and community checked (registers nothing): call before issuing."""
        self._post({"community": community, "source": "pass batch (check)", "passes": []})

    def register(self, community: str, items: list[dict], source: str = "pass batch",
                 progress: Callable[[int], None] | None = None) -> list[dict]:
        """Register every item, CHUNK at a time (each chunk all or nothing on the server).
        Returns the server's rows; RegistrationFailed lists the lines in and not in."""
        done_rows: list[dict] = []
        for i in range(0, len(items), CHUNK):
            chunk = items[i:i + CHUNK]
            try:
                answer = self._post({"community": community, "source": source[:200], "passes": chunk})
            except RegistrationError as e:
                raise RegistrationFailed(str(e), [it["line"] for it in items[:i]],
                                         [it["line"] for it in items[i:]]) from None
            done_rows += answer["rows"]
            if progress:
                progress(len(chunk))
        return done_rows


def lines_text(lines: list[int]) -> str:
    """[2, 3, 4, 7] -> '2-4, 7' (roster lines as people read them)."""
    out, start, prev = [], None, None
    for n in sorted(lines):
        if start is None:
            start = prev = n
        elif n == prev + 1:
            prev = n
        else:
            out.append(str(start) if start == prev else "%d-%d" % (start, prev))
            start = prev = n
    if start is not None:
        out.append(str(start) if start == prev else "%d-%d" % (start, prev))
    return ", ".join(out)
