"""A browser without JavaScript for the demo and the end-to-end tests: cookies, CSRF
tokens, forms posted as the pages post them (urllib only, against a live server)."""
from __future__ import annotations

import html
import http.cookiejar
import re
import time
import urllib.error
import urllib.parse
import urllib.request


class Web:
    """One browser session on `base` (http://host:port) in `lang` (Accept-Language)."""

    def __init__(self, base: str, lang: str = "zh-hans"):
        self.base = base.rstrip("/")
        self.jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar))
        self.lang = lang
        self.last_url = ""

    def _req(self, path, data=None, headers=None):
        url = path if path.startswith("http") else self.base + path
        h = {"Accept-Language": self.lang, "Referer": self.base + "/"}
        h.update(headers or {})
        req = urllib.request.Request(url, data=data, headers=h)
        try:
            with self.opener.open(req, timeout=60) as r:
                self.last_url = r.geturl()
                return r.status, r.read(), r.headers
        except urllib.error.HTTPError as e:
            self.last_url = url
            return e.code, e.read(), e.headers

    def get(self, path) -> tuple[int, str]:
        status, body, _ = self._req(path)
        return status, body.decode("utf-8", "replace")

    def get_bytes(self, path):
        """(status, body bytes, headers)."""
        return self._req(path)

    def csrf(self) -> str:
        for c in self.jar:
            if c.name == "csrftoken":
                return c.value
        raise RuntimeError("no CSRF cookie: GET a page with a form first")

    def post(self, path, fields: dict, files: dict | None = None) -> tuple[int, str]:
        """POST a form (files: {field: (file name, bytes, content type)}); redirects are
        followed, the final address is in last_url."""
        fields = dict(fields)
        fields.setdefault("csrfmiddlewaretoken", self.csrf())
        if files:
            boundary = "----gatepass-web-%d" % time.time_ns()
            parts = []
            for k, v in fields.items():
                parts.append(("--%s\r\nContent-Disposition: form-data; name=\"%s\"\r\n\r\n%s\r\n"
                              % (boundary, k, v)).encode())
            for k, (name, data, ctype) in files.items():
                parts.append(("--%s\r\nContent-Disposition: form-data; name=\"%s\"; filename=\"%s\"\r\n"
                              "Content-Type: %s\r\n\r\n" % (boundary, k, name, ctype)).encode() + data + b"\r\n")
            parts.append(("--%s--\r\n" % boundary).encode())
            status, body, _ = self._req(path, b"".join(parts),
                                        {"Content-Type": "multipart/form-data; boundary=%s" % boundary})
        else:
            status, body, _ = self._req(path, urllib.parse.urlencode(fields).encode(),
                                        {"Content-Type": "application/x-www-form-urlencoded"})
        return status, body.decode("utf-8", "replace")

    def login(self, user: str, password: str) -> "Web":
        self.get("/login/")
        status, body = self.post("/login/", {"username": user, "password": password, "next": "/"})
        if status != 200 or "/login/" in self.last_url:
            raise RuntimeError("staff login as %s failed (%s)" % (user, status))
        return self


def text_of(page: str) -> str:
    """The visible text of a page, whitespace collapsed (what a reader sees)."""
    page = re.sub(r"(?s)<(script|style)\b.*?</\1>", " ", page)
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", page)).split())


def staff_api(base: str, user: str, password: str, path: str, body: dict | None = None) -> tuple[int, dict]:
    """A call of the staff API (/api/staff/v1/...) with HTTP Basic: (status, JSON answer)."""
    import base64
    import json

    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(base.rstrip("/") + "/api/staff/v1" + path, data=data, headers={
        "Authorization": "Basic " + base64.b64encode(("%s:%s" % (user, password)).encode()).decode(),
        "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=120) as r:
            return r.status, json.loads(r.read() or b"{}")
    except urllib.error.HTTPError as e:
        raw = e.read()
        try:
            return e.code, json.loads(raw)
        except ValueError:
            return e.code, {"detail": raw.decode("utf-8", "replace")}


def qr_text_from_svg(svg: str) -> str:
    """What a camera reads from a QR code a page shows as inline SVG (segno's path form:
    one stroked path of horizontal runs): the modules are drawn into an image and read by
    a real decoder (zxing-cpp), as the gate's scanner reads the phone's screen."""
    import zxingcpp
    from PIL import Image

    m = re.search(r'viewBox="0 0 (\d+) (\d+)"', svg)
    path = re.search(r'<path[^>]*class="qrline"[^>]*\sd="([^"]+)"', svg) or re.search(
        r'<path[^>]*stroke="[^"]+"[^>]*\sd="([^"]+)"', svg)
    if m is None or path is None:
        raise ValueError("not a QR code in segno's SVG form")
    w, h = int(m.group(1)), int(m.group(2))
    scale = 6
    img = Image.new("L", (w * scale, h * scale), 255)
    px = img.load()
    x = y = 0.0
    for cmd, a, b in re.findall(r"([MmHhVvZz])\s*(-?[\d.]+)?(?:[ ,](-?[\d.]+))?", path.group(1)):
        if cmd == "M":
            x, y = float(a), float(b)
        elif cmd == "m":
            x, y = x + float(a), y + float(b)
        elif cmd in "hH":
            x2 = x + float(a) if cmd == "h" else float(a)
            row = int(y)  # a run of modules on row y - 0.5 .. y + 0.5
            for xx in range(int(x) * scale, int(x2) * scale):
                for yy in range(row * scale, (row + 1) * scale):
                    px[xx, yy] = 0
            x = x2
    found = zxingcpp.read_barcodes(img)
    if len(found) != 1:
        raise ValueError("%d QR codes read" % len(found))
    return found[0].text
