"""Django settings for the gatepass community server, all from the environment.

GATEPASS_HOME       data directory (default ./var): SQLite file, generated secret key
DATABASE_URL        postgresql://user:pass@host:port/name[?host=/socket/dir&sslmode=...]
                    or sqlite:///relative/path, sqlite:////absolute/path
                    (default: sqlite in GATEPASS_HOME/gatepass.sqlite3)
GATEPASS_SECRET_KEY Django secret key (default: generated once into GATEPASS_HOME)
GATEPASS_DEBUG      1 for Django debug pages (never on a reachable server)
GATEPASS_ALLOWED_HOSTS  comma-separated host names the server answers to (default: loopback
                    only; GATEPASS_PUBLIC_URL's host is always added)
GATEPASS_PUBLIC_URL the URL gates use (https://gate.example.org): put into the config
                    fragments the staff API answers; https:// turns on Secure cookies + HSTS
GATEPASS_HTTPS      1: staff reach the server over https (default: GATEPASS_PUBLIC_URL is https)
GATEPASS_HSTS_SECONDS   Strict-Transport-Security max-age when https (default 31536000; 0 = off)
GATEPASS_PROXY_HOPS N: behind N reverse proxies of your own: trust X-Forwarded-Proto (https)
                    and take the client address from X-Forwarded-For (default 0: never)
GATEPASS_LOGIN_FAILURES  failed logins (per user name and address) before the lockout (default 10)
GATEPASS_LOCKOUT_MINUTES how long a lockout lasts (default 15)
GATEPASS_TIME_ZONE  IANA name of the community's clock, e.g. Asia/Shanghai: "today" on the
                    staff pages and every time shown there (default UTC; the pages
                    always name the zone they show)
GATEPASS_LANGUAGE   staff pages' language when neither the account's saved choice nor the
                    browser's Accept-Language picks one: zh-hans (default) or en
GATEPASS_CONN_MAX_AGE  seconds a database connection is kept (default 0; gunicorn sets 60)
"""
from __future__ import annotations

import os
import secrets
from datetime import timedelta
from pathlib import Path
from urllib.parse import parse_qsl, unquote, urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

HOME = Path(os.environ.get("GATEPASS_HOME") or (Path.cwd() / "var")).resolve()


def parse_database_url(url: str, conn_max_age: int = 0) -> dict:
    """Django DATABASES entry from a URL (postgres/postgresql/pgsql or sqlite)."""
    u = urlsplit(url)
    scheme = u.scheme.lower()
    if scheme == "sqlite":
        path = u.path
        name = path[1:] if path.startswith("/") else path
        if not name:
            raise ValueError("sqlite URL needs a file: sqlite:///relative or sqlite:////absolute")
        return sqlite_database(Path(name) if name == ":memory:" else Path(name).resolve())
    if scheme in ("postgres", "postgresql", "pgsql"):
        opts = dict(parse_qsl(u.query))
        host = unquote(u.hostname or "") or opts.pop("host", "")
        opts.pop("host", None)
        return {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": unquote(u.path.lstrip("/")) or "gatepass",
            "USER": unquote(u.username or ""),
            "PASSWORD": unquote(u.password or ""),
            "HOST": host,
            "PORT": str(u.port or ""),
            "OPTIONS": opts,
            "CONN_MAX_AGE": conn_max_age,
            "CONN_HEALTH_CHECKS": conn_max_age > 0,
        }
    raise ValueError("DATABASE_URL: unsupported scheme %r (use postgresql:// or sqlite://)" % scheme)


def sqlite_database(path: Path) -> dict:
    return {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": str(path),
        "OPTIONS": {
            # WAL: readers never block the writer (dashboard while gates upload);
            # IMMEDIATE: a writing transaction takes the lock up front instead of failing
            # with "database is locked" when two workers upgrade at once
            "init_command": "PRAGMA journal_mode=WAL;PRAGMA synchronous=FULL;PRAGMA busy_timeout=20000",
            "transaction_mode": "IMMEDIATE",
            "timeout": 20,
        },
    }


def _secret_key() -> str:
    env = os.environ.get("GATEPASS_SECRET_KEY")
    if env:
        return env
    f = HOME / "secret_key"
    try:
        return f.read_text().strip()
    except FileNotFoundError:
        pass
    HOME.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(50)
    fd = os.open(f, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(key + "\n")
    return key


DEBUG = os.environ.get("GATEPASS_DEBUG", "") in ("1", "true", "yes")
SECRET_KEY = _secret_key()


def deployment(env) -> dict:
    """Host, cookie, HSTS and proxy settings from the environment (a mapping), safe by
    default: loopback hosts only, plain http allowed for the loopback demo and tests;
    https (GATEPASS_PUBLIC_URL https://... or GATEPASS_HTTPS=1) turns on Secure cookies
    and HSTS; X-Forwarded-* headers only with GATEPASS_PROXY_HOPS (never by default:
    anyone can send them)."""
    hosts = ["127.0.0.1", "localhost", "[::1]"]
    extra = [h.strip() for h in env.get("GATEPASS_ALLOWED_HOSTS", "").split(",") if h.strip()]
    public = env.get("GATEPASS_PUBLIC_URL", "").strip().rstrip("/")
    if public and not public.startswith(("https://", "http://")):
        raise ValueError("GATEPASS_PUBLIC_URL must start with https:// or http://: %r" % public)
    pub_host = urlsplit(public).hostname if public else None
    for h in extra + ([pub_host] if pub_host else []):
        if h not in hosts:
            hosts.append(h)
    https = env.get("GATEPASS_HTTPS", "").lower() in ("1", "true", "yes") or public.startswith("https://")
    hsts = int(env.get("GATEPASS_HSTS_SECONDS", "31536000")) if https else 0
    hops = int(env.get("GATEPASS_PROXY_HOPS", "0") or 0)
    return {
        "ALLOWED_HOSTS": hosts,
        "GATEPASS_PUBLIC_URL": public or None,
        "SESSION_COOKIE_SECURE": https,
        "CSRF_COOKIE_SECURE": https,
        "SECURE_HSTS_SECONDS": hsts,
        "SECURE_HSTS_INCLUDE_SUBDOMAINS": False,
        "SECURE_PROXY_SSL_HEADER": ("HTTP_X_FORWARDED_PROTO", "https") if hops else None,
        "GATEPASS_PROXY_HOPS": hops,
        "CSRF_TRUSTED_ORIGINS": [public] if public else [],
    }


globals().update(deployment(os.environ))
_CONN_MAX_AGE = int(os.environ.get("GATEPASS_CONN_MAX_AGE", "0"))

if os.environ.get("DATABASE_URL"):
    DATABASES = {"default": parse_database_url(os.environ["DATABASE_URL"], _CONN_MAX_AGE)}
else:
    HOME.mkdir(parents=True, exist_ok=True)
    DATABASES = {"default": sqlite_database(HOME / "gatepass.sqlite3")}

INSTALLED_APPS = [
    "gatepass.server.apps.GatepassAdminConfig",  # django.contrib.admin, superusers only
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "gatepass.server.apps.GatepassConfig",
    "axes",
]

MIDDLEWARE = [
    # device API: oversized or malformed requests get the documented JSON error at once
    "gatepass.server.deviceauth.DeviceApiGuardMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # the account's saved language, else Accept-Language, else LANGUAGE_CODE
    "gatepass.server.language.StaffLanguageMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # failed-login lockout on every login path (/login/, /admin/, staff API Basic auth)
    "axes.middleware.AxesMiddleware",
    # signs device API answers (X-Gatepass-Signature bound to the request's signature)
    "gatepass.server.deviceauth.ResponseSigningMiddleware",
]

ROOT_URLCONF = "gatepass.server.urls"
WSGI_APPLICATION = "gatepass.server.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.template.context_processors.tz",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 10}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]

# django-axes: every HTTP login path authenticates with the request, so every one is
# counted and locked (staffauth.py); the lockout is per (user name, address)
AUTHENTICATION_BACKENDS = ["gatepass.server.staffauth.LockoutBackend", "django.contrib.auth.backends.ModelBackend"]
AXES_FAILURE_LIMIT = int(os.environ.get("GATEPASS_LOGIN_FAILURES", "10"))
AXES_COOLOFF_TIME = timedelta(minutes=float(os.environ.get("GATEPASS_LOCKOUT_MINUTES", "15")))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_LOCKOUT_CALLABLE = "gatepass.server.staffauth.lockout_response"
AXES_CLIENT_IP_CALLABLE = "gatepass.server.audit.client_addr"
AXES_RESET_ON_SUCCESS = True
AXES_VERBOSE = False
AXES_ENABLE_ADMIN = False  # lockouts: `gatepass server unlock NAME`, and the gatepass.auth log

LANGUAGES = [("zh-hans", "简体中文"), ("en", "English")]
LANGUAGE_CODE = os.environ.get("GATEPASS_LANGUAGE", "zh-hans").strip().lower()
if LANGUAGE_CODE not in dict(LANGUAGES):
    raise ValueError("GATEPASS_LANGUAGE=%r: use one of %s" % (LANGUAGE_CODE, ", ".join(dict(LANGUAGES))))
TIME_ZONE = os.environ.get("GATEPASS_TIME_ZONE", "UTC").strip()
try:
    ZoneInfo(TIME_ZONE)
except (ZoneInfoNotFoundError, ValueError):
    raise ValueError("GATEPASS_TIME_ZONE=%r is not an IANA time zone (e.g. Asia/Shanghai)" % TIME_ZONE) from None
USE_I18N = True
USE_TZ = True
# our date/time formats (seconds in tables, the weekday on the board) before Django's
FORMAT_MODULE_PATH = ["gatepass.server.formats"]
# our catalogs first: the glossary's terms win, and texts Django's own Chinese catalog
# lacks (admin, its scripts) are filled in
LOCALE_PATHS = [Path(__file__).resolve().parent / "locale"]
LANGUAGE_COOKIE_NAME = "gatepass_language"

from gatepass.server import i18n as _i18n  # noqa: E402

_i18n.ensure_compiled()  # a .po newer than its .mo (fresh checkout, edited catalog) is compiled now

STATIC_URL = "/static/"
STATIC_ROOT = HOME / "static"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

LOGIN_URL = "/login/"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "/login/"
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True

# a batch of 4096 records is 128 KiB; leave room, refuse anything much larger
DATA_UPLOAD_MAX_MEMORY_SIZE = 512 * 1024

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "loggers": {
        "gatepass": {"handlers": ["console"], "level": os.environ.get("GATEPASS_LOG_LEVEL", "INFO")},
        "django.request": {"handlers": ["console"], "level": "ERROR"},
    },
}
