"""Every setting comes from the environment; the defaults run on one machine with no service.

See README.md for the table of variables.
"""

import os
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

import dj_database_url
import dj_email_url
from csp.constants import NONE, SELF

from webchat import logs
from webchat.env import (
    ImproperlyConfiguredEnv,
    env_bool,
    env_float,
    env_int,
    env_list,
    env_str,
    require_extra,
    secret_key,
)

BASE_DIR = Path(__file__).resolve().parent.parent

DEBUG = env_bool("DEBUG", False)
SECRET_KEY = secret_key(BASE_DIR, DEBUG)
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "127.0.0.1,localhost,[::1]")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")

INSTALLED_APPS = [
    "daphne",
    "webchat.apps.AdminConfig",  # django.contrib.admin, the site's own apps first
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "channels",
    "axes",
    "django_ratelimit",
    "allauth",
    "allauth.account",
    "allauth.socialaccount",
    "allauth.socialaccount.providers.openid_connect",
    "webchat",
    "conversations",
    "api",
]

MIDDLEWARE = [
    "webchat.middleware.RequestIdMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "webchat.middleware.ClientAddressMiddleware",
    "webchat.middleware.StaticFilesMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "webchat.middleware.PrivateMiddleware",
    # After the person is known: theirs is the language.
    "webchat.middleware.LanguageMiddleware",
    "webchat.middleware.TimeZoneMiddleware",
    "allauth.account.middleware.AccountMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    # Inside CSP and the frame options: the 401 it answers with carries their headers.
    "webchat.middleware.ScriptLoginMiddleware",
    "webchat.throttle.ThrottleMiddleware",
    "webchat.middleware.ChatErrorMiddleware",
    # Last, as django-axes asks: it turns a locked-out login into the lock-out page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "webchat.urls"
ASGI_APPLICATION = "webchat.asgi.application"
AUTH_USER_MODEL = "webchat.User"
LOGIN_URL = "login"
CSRF_FAILURE_VIEW = "webchat.views.csrf_failure"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "webchat.context_processors.site",
            ],
        },
    },
]

# --- Database -------------------------------------------------------------------------------
DATABASES = {
    "default": dj_database_url.parse(
        env_str("DATABASE_URL", f"sqlite:///{BASE_DIR / 'db.sqlite3'}"),
        # Kept open: every database call of a socket or a reply runs in the one database
        # thread, and reconnecting each time cost more than the queries.
        conn_max_age=env_int("DATABASE_CONN_MAX_AGE", 600),
        conn_health_checks=True,
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # IMMEDIATE takes the write lock when a transaction starts, so two writers queue on the
    # busy timeout instead of failing half-way with "database is locked". WAL lets readers
    # (page loads) go on while a reply is checkpointed.
    DATABASES["default"]["OPTIONS"] = {
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Channel layer --------------------------------------------------------------------------
REDIS_URL = env_str("REDIS_URL")
require_extra("redis", "channels_redis", REDIS_URL)
require_extra("postgres", "psycopg", DATABASES["default"]["ENGINE"].endswith("postgresql"))
if REDIS_URL:
    # Pub/sub rather than the core layer: for our frames it is ~8x faster and ~5x cheaper
    # in CPU (bench/channel_layers.py), and what it does not keep for a disconnected
    # socket, resume + snapshot recovers.
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "webchat.pubsub.RedisPubSubLayer",
            "CONFIG": {"hosts": [REDIS_URL], "prefix": env_str("REDIS_PREFIX", "webchat")},
        }
    }
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "webchat.layers.InMemoryLayer"}}

# The cache holds short-lived counters (the rate limits): in Redis when there is one, so
# every process counts together; in the process's memory otherwise.
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": env_str("REDIS_PREFIX", "webchat"),
            # A Redis that stops answering fails a request in seconds (the rate limits count
            # within a signup's transaction) rather than holding it, and a lock, forever.
            # One pool for the process, not one for each socket (webchat/cache.py).
            "OPTIONS": {
                "socket_connect_timeout": 2,
                "socket_timeout": 2,
                "pool_class": "webchat.cache.SharedConnectionPool",
            },
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# The embedded setup (SQLite on a local file, no Redis) runs a send's transaction on the
# event loop's thread rather than in the one database thread (webchat/inline.py). Not over
# a network: a round trip must not hold up the loop.
DATABASE_ON_EVENT_LOOP = env_bool(
    "DATABASE_ON_EVENT_LOOP",
    DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3" and not REDIS_URL,
)
# Elsewhere (PostgreSQL) sends and the API's calls run in a pool of threads, each keeping a
# connection open: the process holds up to this many, and its database thread's one.
DATABASE_THREADS = env_int("DATABASE_THREADS", min(32, (os.cpu_count() or 1) + 4))
if DATABASE_THREADS < 1:
    raise ImproperlyConfiguredEnv("DATABASE_THREADS must be at least 1.")

# --- Upstream -------------------------------------------------------------------------------
GROK_API_TOKEN = env_str("GROK_API_TOKEN")
GROK_API_BASE = env_str("GROK_API_BASE", "https://api.acedata.cloud/grok").rstrip("/")
# With no token the app talks to the built-in simulator and says so on every page.
GROK_SIMULATED = not GROK_API_TOKEN
# "auto": the ASGI app starts the simulator in-process on a free loopback port.
# "off": it doesn't (GROK_API_BASE must then point at a running simulator).
GROK_SIMULATOR = env_str("GROK_SIMULATOR", "auto")
# The built-in simulator's pace, as keyword arguments of webchat.simulator.Simulator (a word
# every 35 ms after 300 ms, 80 words a reply, unless set); the browser tests quicken it.
GROK_SIMULATOR_PACE: dict[str, float] = {}
GROK_CONNECT_TIMEOUT = env_float("GROK_CONNECT_TIMEOUT", 10.0)
# Reasoning models may think for minutes before the first byte; the same bound applies to
# any silence between two chunks.
GROK_READ_TIMEOUT = env_float("GROK_READ_TIMEOUT", 300.0)
GROK_TOTAL_TIMEOUT = env_float("GROK_TOTAL_TIMEOUT", 1800.0)
GROK_MAX_RETRIES = env_int("GROK_MAX_RETRIES", 2)
GROK_RETRY_BASE = env_float("GROK_RETRY_BASE", 1.0)
GROK_RETRY_MAX_WAIT = env_float("GROK_RETRY_MAX_WAIT", 20.0)

# On SIGTERM (webchat/serve.py) a process lets its replies in flight finish for this long
# before it exits; the systemd unit's TimeoutStopSec must be longer.
SHUTDOWN_GRACE_SECONDS = env_float("SHUTDOWN_GRACE_SECONDS", 60.0)

# --- Generation -----------------------------------------------------------------------------
# Deltas after the first are sent at most this often: invisible to a reader, ~10x fewer frames.
CHAT_COALESCE_SECONDS = env_float("CHAT_COALESCE_SECONDS", 0.04)
# Partial text reaches the database this often while a reply streams.
CHAT_CHECKPOINT_SECONDS = env_float("CHAT_CHECKPOINT_SECONDS", 2.0)
# A streaming message whose lease is older than this belongs to a dead process.
CHAT_LEASE_SECONDS = env_float("CHAT_LEASE_SECONDS", 15.0)
# How often each process ends the replies and calls of processes that died (killed).
CHAT_SWEEP_SECONDS = env_float("CHAT_SWEEP_SECONDS", 60.0)
# How long the end of a reply is tried again while the database refuses it.
CHAT_SAVE_RETRY_SECONDS = env_float("CHAT_SAVE_RETRY_SECONDS", 300.0)
# A temporary chat left is deleted after this long, unless its page is opened again (a reload).
TEMPORARY_CHAT_GRACE_SECONDS = env_float("TEMPORARY_CHAT_GRACE_SECONDS", 5.0)
CHAT_MAX_MESSAGE_CHARS = env_int("CHAT_MAX_MESSAGE_CHARS", 100_000)
CHAT_MAX_CANDIDATES = env_int("CHAT_MAX_CANDIDATES", 4)
# The largest request body the API (/v1/) reads: images come inline, as data URLs.
API_MAX_REQUEST_MB = env_int("API_MAX_REQUEST_MB", 20)
# Keys one person may hold (revoked ones included), and how often they may make one.
API_MAX_KEYS = env_int("API_MAX_KEYS", 50)
# Open chat sockets one person, and one conversation, may hold on one process (a tab
# holds one). Past them a socket is closed with 4429.
CHAT_MAX_SOCKETS_PER_PERSON = env_int("CHAT_MAX_SOCKETS_PER_PERSON", 24)
CHAT_MAX_SOCKETS_PER_CONVERSATION = env_int("CHAT_MAX_SOCKETS_PER_CONVERSATION", 8)
# Readers following one share link live (anyone with the link may).
CHAT_MAX_SOCKETS_PER_SHARE = env_int("CHAT_MAX_SOCKETS_PER_SHARE", 200)
# The frames one person may send over all their sockets on a process: a burst of this many
# (24 tabs reopened, each asking for 4 replies), then this many a second. Past them a frame
# is answered `rate_limited` and not read (a `resume` costs the database a read).
CHAT_FRAME_BURST = env_int("CHAT_FRAME_BURST", 100)
CHAT_FRAMES_PER_SECOND = env_float("CHAT_FRAMES_PER_SECOND", 5.0)
if CHAT_FRAMES_PER_SECOND <= 0:
    raise ImproperlyConfiguredEnv("CHAT_FRAMES_PER_SECOND must be more than 0.")

# --- Attachments ----------------------------------------------------------------------------
# What a person may attach to a message (README "Attachments"). Images are decoded,
# scaled down to ATTACHMENT_IMAGE_MAX_SIDE pixels on their longer side (a long screenshot
# keeps half of it across: conversations.files.kept_size) and re-encoded as
# JPEG or PNG (conversations/files.py), metadata stripped; text files and the text of PDFs
# go to the model as text.
ATTACHMENT_MAX_MB = env_float("ATTACHMENT_MAX_MB", 20.0)
ATTACHMENTS_PER_MESSAGE = env_int("ATTACHMENTS_PER_MESSAGE", 10)
ATTACHMENT_IMAGE_MAX_SIDE = env_int("ATTACHMENT_IMAGE_MAX_SIDE", 2048)
# An image with more pixels than this is refused unread (a decompression bomb).
ATTACHMENT_IMAGE_MAX_PIXELS = env_int("ATTACHMENT_IMAGE_MAX_PIXELS", 50_000_000)
ATTACHMENT_TEXT_MAX_CHARS = env_int("ATTACHMENT_TEXT_MAX_CHARS", 200_000)
ATTACHMENT_PDF_MAX_PAGES = env_int("ATTACHMENT_PDF_MAX_PAGES", 300)
# Each file is read in a process of its own, held to this much memory and killed (the file
# refused) past this many seconds.
ATTACHMENT_DECODE_MB = env_int("ATTACHMENT_DECODE_MB", 1536)
ATTACHMENT_DECODE_SECONDS = env_float("ATTACHMENT_DECODE_SECONDS", 20.0)
# Files read at once by one server process; past this many more waiting, an upload is
# refused for the moment (503) rather than held in memory.
ATTACHMENT_DECODERS = env_int("ATTACHMENT_DECODERS", 2)
ATTACHMENT_DECODE_QUEUE = env_int("ATTACHMENT_DECODE_QUEUE", 8)
# One person's files read (or waiting among everyone's) at once; their others wait apart,
# up to ATTACHMENTS_PER_MESSAGE in flight (past that, 429).
ATTACHMENT_DECODES_PER_PERSON = env_int("ATTACHMENT_DECODES_PER_PERSON", 2)
# What an image is reserved as in a prompt, in tokens, before the upstream says.
ATTACHMENT_IMAGE_TOKENS = env_int("ATTACHMENT_IMAGE_TOKENS", 1_792)
# Uploads never sent are deleted after this long by `manage.py cleanattachments`.
ATTACHMENT_UNSENT_HOURS = env_int("ATTACHMENT_UNSENT_HOURS", 24)

# --- A person's data in and out (/settings/#data) -------------------------------------------
# The largest file an import takes (a webchat archive, a ChatGPT export or its
# conversations.json), and the most it may hold; each attached file is read as an upload.
IMPORT_MAX_MB = env_int("IMPORT_MAX_MB", 200)
IMPORT_MAX_CONVERSATIONS = env_int("IMPORT_MAX_CONVERSATIONS", 20_000)
IMPORT_MAX_MESSAGES = env_int("IMPORT_MAX_MESSAGES", 500_000)
IMPORT_MAX_FILES = env_int("IMPORT_MAX_FILES", 2_000)

# --- Auth -----------------------------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
SIGNUP_OPEN = env_bool("SIGNUP_OPEN", True)
# The site's first account (signed up, or through a provider) is its administrator. Public
# deployments turn this off and run `manage.py createsuperuser` instead (README).
FIRST_SIGNUP_IS_ADMIN = env_bool("FIRST_SIGNUP_IS_ADMIN", True)
# A new account needs a confirmed email address (a link by mail) before it can log in.
SIGNUP_VERIFY_EMAIL = env_bool("SIGNUP_VERIFY_EMAIL", False)
PASSWORD_RESET_TIMEOUT = env_int("PASSWORD_RESET_DAYS", 3) * 86_400

# --- Sign-in with OpenID Connect (django-allauth) -------------------------------------------
# One provider from the environment (more can be added in the admin, as social applications
# of type "OpenID Connect"). OIDC_SERVER_URL is the issuer, or its discovery document.
OIDC_SERVER_URL = env_str("OIDC_SERVER_URL")
OIDC_SIGNUP_OPEN = env_bool("OIDC_SIGNUP_OPEN", True)
# Origins the sign-in form is sent on to: the provider's, and any its authorize endpoint
# lives on (OIDC_AUTHORIZE_ORIGINS, when that is another host than the issuer).
OIDC_FORM_ACTION = (
    [
        "{0.scheme}://{0.netloc}".format(urlsplit(OIDC_SERVER_URL)),
        *env_list("OIDC_AUTHORIZE_ORIGINS"),
    ]
    if OIDC_SERVER_URL
    else []
)
SOCIALACCOUNT_PROVIDERS = {
    "openid_connect": {
        "APPS": [
            {
                "provider_id": env_str("OIDC_PROVIDER_ID", "sso"),
                "name": env_str("OIDC_NAME", "single sign-on"),
                "client_id": env_str("OIDC_CLIENT_ID"),
                "secret": env_str("OIDC_CLIENT_SECRET"),
                "settings": {"server_url": OIDC_SERVER_URL},
            }
        ]
        if OIDC_SERVER_URL
        else []
    }
}
# allauth serves only the provider's round trip: passwords, signup and resets stay Django's.
SOCIALACCOUNT_ONLY = True
ACCOUNT_EMAIL_VERIFICATION = "none"
SOCIALACCOUNT_ADAPTER = "webchat.oidc.SocialAccountAdapter"
ACCOUNT_ADAPTER = "webchat.oidc.AccountAdapter"
SOCIALACCOUNT_AUTO_SIGNUP = True
SOCIALACCOUNT_STORE_TOKENS = False

# --- Email ----------------------------------------------------------------------------------
# EMAIL_URL: smtp://user:password@host:587/?tls=True, or console: (the default: mails are
# printed to the log, so password resets work offline).
globals().update(dj_email_url.parse(env_str("EMAIL_URL", "console:")))
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "webchat <webchat@localhost>")
SERVER_EMAIL = DEFAULT_FROM_EMAIL
AUTHENTICATION_BACKENDS = [
    # Refuses a locked-out login before any password is checked.
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
    "allauth.account.auth_backends.AuthenticationBackend",
]
# Failed logins (every login form, the admin's included) lock logging in for a while. By
# default a lock holds one name from one address ("pair"), so nobody can lock a person out
# from elsewhere; "name" locks the name from everywhere. docs/reliability.md weighs the two.
LOGIN_LOCKOUT = env_str("LOGIN_LOCKOUT", "pair")
AXES_LOCKOUT_PARAMETERS = {"pair": [["username", "ip_address"]], "name": ["username"]}[
    LOGIN_LOCKOUT
]
AXES_FAILURE_LIMIT = env_int("LOGIN_FAILURE_LIMIT", 5)
AXES_COOLOFF_TIME = timedelta(seconds=env_int("LOGIN_LOCKOUT_SECONDS", 900))
AXES_RESET_ON_SUCCESS = True
# A lock runs its course: tries while locked neither extend it nor are counted.
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False
AXES_USERNAME_CALLABLE = "webchat.auth.login_name"
AXES_CLIENT_IP_CALLABLE = "webchat.auth.login_address"
AXES_LOCKOUT_CALLABLE = "webchat.auth.locked_out"
AXES_VERBOSE = False
# Requests per address (anonymous) or per person, per window: "count/period", period in
# s, m, h or d with an optional multiple ("20/15m"). webchat/throttle.py applies them.
RATE_LIMITS = {
    "login": env_str("RATE_LIMIT_LOGIN", "30/15m"),
    "signup": env_str("RATE_LIMIT_SIGNUP", "5/h"),  # accounts made
    "signup_attempt": env_str("RATE_LIMIT_SIGNUP_ATTEMPTS", "20/h"),  # forms sent
    "password_reset": env_str("RATE_LIMIT_PASSWORD_RESET", "5/h"),
    # Search as you type asks once per pause in typing.
    "search": env_str("RATE_LIMIT_SEARCH", "120/m"),
    "share": env_str("RATE_LIMIT_SHARE", "30/h"),
    "share_view": env_str("RATE_LIMIT_SHARE_VIEW", "120/m"),
    "password_check": env_str("RATE_LIMIT_PASSWORD_CHECK", "10/15m"),
    "switch": env_str("RATE_LIMIT_SWITCH", "120/m"),
    "upload": env_str("RATE_LIMIT_UPLOAD", "300/h"),
    "summarize": env_str("RATE_LIMIT_SUMMARIZE", "30/h"),
    "api_key": env_str("RATE_LIMIT_API_KEY", "30/h"),
    "api": env_str("RATE_LIMIT_API", "600/m"),
    "import": env_str("RATE_LIMIT_IMPORT", "10/h"),
}
# The in-process cache counts correctly for the one process of the embedded default; with
# REDIS_URL the counts live in Redis, shared by every process.
SILENCED_SYSTEM_CHECKS = ["django_ratelimit.E003", "django_ratelimit.W001"]

LANGUAGE_CODE = "en"
# The interface speaks these; the browser's language by default, or the person's choice
# (/settings/). Replies are what the model writes, in whatever language.
LANGUAGES = [
    ("en", "English"),
    ("zh-hans", "简体中文"),
    ("es", "Español"),
    ("ar", "العربية"),
]
LOCALE_PATHS = [BASE_DIR / "locale"]
FORMAT_MODULE_PATH = ["webchat.formats"]
TIME_ZONE = env_str("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

# --- Static files ---------------------------------------------------------------------------
STATIC_URL = "static/"
STATIC_ROOT = Path(env_str("STATIC_ROOT", str(BASE_DIR / "staticfiles")))
STATICFILES_DIRS = [BASE_DIR / "static"]
# Attachments' files: under MEDIA_ROOT, or in an S3-compatible bucket when one is named
# (the `s3` extra). Never served from MEDIA_URL: only through the views that check access.
MEDIA_ROOT = Path(env_str("MEDIA_ROOT", str(BASE_DIR / "media")))
S3_BUCKET = env_str("S3_BUCKET")
require_extra("s3", "storages", S3_BUCKET)
STORAGES = {
    "default": {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": S3_BUCKET,
            "endpoint_url": env_str("S3_ENDPOINT_URL") or None,
            "region_name": env_str("S3_REGION") or None,
            "access_key": env_str("S3_ACCESS_KEY_ID") or None,
            "secret_key": env_str("S3_SECRET_ACCESS_KEY") or None,
            "location": env_str("S3_PREFIX", "webchat"),
            "default_acl": "private",
            "querystring_auth": True,
            "file_overwrite": False,
        },
    }
    if S3_BUCKET
    else {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG
        else "webchat.storage.StaticStorage"
    },
}
WHITENOISE_USE_FINDERS = DEBUG

# --- Security -------------------------------------------------------------------------------
X_FRAME_OPTIONS = "DENY"
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CONTENT_TYPE_NOSNIFF = True
SESSION_COOKIE_HTTPONLY = True
# Django's database sessions, telling a session's sockets and replies when it is deleted.
SESSION_ENGINE = "webchat.sessions"
# A login lasts this long; then the person logs in again (their sockets too).
SESSION_COOKIE_AGE = env_int("SESSION_DAYS", 14) * 86_400
# Proxies whose X-Forwarded-For is believed (addresses or networks, e.g. 127.0.0.1 for the
# shipped nginx). Anyone else's header is ignored: the peer's address is the client's.
TRUSTED_PROXIES = env_list("TRUSTED_PROXIES")
# Behind a TLS-terminating proxy set HTTPS=1: secure cookies, HSTS, redirect to https.
HTTPS = env_bool("HTTPS", False)
if HTTPS:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", True)
    # Health checks come straight to the process, over plain http.
    SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31_536_000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", True)
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        # blob: the composer's thumbnails of files not yet uploaded.
        "img-src": [SELF, "data:", "blob:"],
        "connect-src": [SELF],
        "font-src": [SELF],
        "object-src": [NONE],
        "base-uri": [SELF],
        # The login button posts to webchat, which redirects the form to the provider: the
        # browser checks that redirect against form-action too.
        "form-action": [SELF, *OIDC_FORM_ACTION],
        "frame-ancestors": [NONE],
    }
}

# One log on stdout (webchat/logs.py): LOG_FORMAT=text, or json for a log collector;
# LOG_ACCESS=1 adds daphne's access log (a line per request and socket).
LOGGING = logs.config(
    env_str("LOG_LEVEL", "INFO"), env_str("LOG_FORMAT", "text"), env_bool("LOG_ACCESS")
)
