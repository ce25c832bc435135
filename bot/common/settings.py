"""One typed settings object, read from the environment (see README, "Settings")."""
from __future__ import annotations

import sys
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parents[2]
MIN_SECRET_LENGTH = 32
# Values that ship in this repository (defaults, docs, tests): known to everyone, so never a secret.
PLACEHOLDER_SECRETS = frozenset({
    "dev-twilio-auth-token", "sk_test_dev", "whsec_dev", "dev-link-signing-secret", "acuerdo-dev-token",
    "AC00000000000000000000000000000000", "changeme", "change-me", "secret", "password",
})
SECRETS = ("twilio_auth_token", "stripe_api_key", "stripe_webhook_secret", "link_signing_secret", "rasa_token")


class Settings(BaseSettings):
    """Every knob of Acuerdo. Defaults give the embedded demo: SQLite, no Redis, local servers."""

    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    acuerdo_env: Literal["development", "production"] = Field(
        default="development", description="production refuses to start with demo settings or placeholder "
        "secrets (see README, \"Security\"); the Dockerfile and docker-compose set it.")

    database_url: str = Field(
        default=f"sqlite:///{PROJECT_ROOT / 'var' / 'acuerdo.db'}",
        description="SQLAlchemy URL; PostgreSQL in production (postgresql+psycopg://…).",
    )
    redis_url: str | None = Field(default=None, description="Unset in the demo: in-process locks.")
    db_pool_size: int = Field(default=20, ge=1, le=200, description="PostgreSQL connections each process keeps "
                              "open (half as many more at a peak; the app as many again for REST mode's webhook, "
                              "api.intake); mind PostgreSQL's max_connections.")
    training_data_dir: Path = Field(default=PROJECT_ROOT / "data" / "nlu", description="The NLU training files "
                                    "the admin pages edit (what `rasa train` reads).")
    domain_file: Path = Field(default=PROJECT_ROOT / "domain.yml", description="The Rasa domain the admin pages "
                              "edit (intents, replies).")
    review_stories_file: Path = Field(default=PROJECT_ROOT / "tests" / "rasa" / "review" / "test_review_stories.yml",
                                      description="Where conversation review writes its test stories (for `rasa "
                                      "test`); never read by training.")
    config_dir: Path = Field(default=PROJECT_ROOT / "config", description="countries.yml, creditors.yml, policy.yml.")

    rasa_url: str = Field(default="http://127.0.0.1:5005", description="The Rasa server debtors talk to until an "
                          "admin first activates a model; from then on the dialogue route in the database says which. "
                          "Several replicas (same tracker and lock stores) separated by commas: each debtor stays on "
                          "one, a model loads on all.")
    rasa_standby_url: str | None = Field(default=None, description="A second Rasa server (same tracker store) that "
                                         "loads a new model while the live one keeps answering; unset: models can be "
                                         "trained here, but not evaluated or activated without a restart. Replicas "
                                         "as for RASA_URL.")
    models_dir: Path = Field(default=PROJECT_ROOT / "models", description="Trained models (acuerdo-<inputs hash>"
                             ".tar.gz) and ACTIVE, the one a restart runs.")
    rasa_models_dir: str | None = Field(default=None, description="models_dir as the Rasa servers see it (compose: "
                                        "/app/models); unset: the same path.")
    rasa_command: str = Field(default=str(PROJECT_ROOT / ".venv-rasa" / "bin" / "rasa"),
                              description="How the model worker runs Rasa's CLI (`rasa train`, `rasa test core`).")
    rasa_cache_directory: Path = Field(default=PROJECT_ROOT / ".rasa" / "cache",
                                       description="Rasa's training cache: a retrain reuses the components whose "
                                                   "inputs did not change (`make model` fills the same one).")
    model_gate_margin: float = Field(default=0.02, ge=0, le=1, description="A new model may be at most this much "
                                     "worse than the live one on held-out macro-F1, test-story accuracy and "
                                     "accuracy on the examples admins labelled, or activation needs an admin's "
                                     "recorded override.")
    model_gate_intent_margin: float = Field(default=0.10, ge=0, le=1, description="The same for each intent's "
                                            "held-out F1 (a few utterances move it: more room).")
    model_jobs_in_app: bool = Field(default=True, description="The app runs model jobs (train, evaluate, activate) "
                                    "on a thread of its own; false: `python -m api.model_worker` does.")
    rasa_token: str = Field(default="acuerdo-dev-token", description="Rasa HTTP API --auth-token.")
    action_server_url: str = "http://127.0.0.1:5055/webhook"
    public_base_url: str = "http://127.0.0.1:8000"

    twilio_account_sid: str = "AC00000000000000000000000000000000"
    twilio_auth_token: str = "dev-twilio-auth-token"
    twilio_api_base: str | None = Field(default=None, description="Override Twilio's API host (tests: a local fake).")
    stripe_api_key: str = "sk_test_dev"
    stripe_webhook_secret: str = Field(default="whsec_dev", description="Signs and verifies payment events "
                                       "(Stripe's, and the sandbox's, which are signed the same way).")
    stripe_api_base: str | None = Field(default=None, description="Override Stripe's API host (tests: a local fake).")
    stripe_webhook_tolerance_seconds: int = Field(default=300, ge=1, description="Older signed events are refused.")
    payment_provider: str = Field(default="sandbox", pattern="^(sandbox|stripe)$",
                                  description="sandbox: a local page pays or fails links (the demo); stripe: Checkout.")
    payment_link_minutes: int = Field(default=24 * 60, ge=30, le=24 * 60,
                                      description="How long a Checkout link stays open (Stripe allows 30 min–24 h).")
    cash_voucher_days: int = Field(default=3, ge=1, le=7, description="How long an OXXO voucher can be paid.")
    link_base_url: str | None = Field(default=None, description="Serve debtor links from here instead of each "
                                      "creditor's link_domain (the demo: the local app).")
    document_link_days: int = Field(default=7, ge=1, description="How long a signed PDF link (letter, "
                                    "agreement, receipt) can be opened.")
    link_signing_secret: str = Field(default="dev-link-signing-secret", min_length=8,
                                     description="HMAC key for signed document links; set a long random one.")

    demo_enabled: bool = Field(default=False, description="Serve /demo (lists the demo debtors and their "
                               "verification digits): `make demo` turns it on; refused in production.")
    reply_mode: str = Field(default="rest", pattern="^(twiml|rest)$",
                            description="rest: the webhook answers Twilio at once (never waiting for Rasa) and the "
                            "replies leave through the outbox; twiml: replies in the webhook's answer (Twilio gives "
                            "up after 15 s).")
    reply_threads: int = Field(default=8, ge=1, le=256, description="REST mode: threads (per app process, or per "
                               "reply worker) that run the dialogue and send the replies: conversations answered "
                               "at once.")
    replies_in_app: bool = Field(default=True, description="REST mode: the app's own threads answer; false: it "
                                 "queues conversations in Redis for `python -m api.replies` workers (production: "
                                 "the webhook then never shares its interpreter with them).")
    twilio_whatsapp_from: str = Field(default="whatsapp:+15550001111",
                                      description="Sender when a conversation has none.")
    twilio_sms_from: str = "+15550001111"
    rasa_timeout_seconds: float = Field(default=10.0, gt=0, description="Past this the debtor gets a holding reply.")
    retry_interval_seconds: float = Field(default=5.0, gt=0, description="How often waiting messages are retried.")
    bot_handoff_after_seconds: int = Field(default=300, ge=1, description="A message waiting this long for the "
                                           "bot sends its conversation to a human (reason bot_error).")
    campaign_rate_per_sender: float = Field(default=10.0, gt=0, description="Reminders per second each sender "
                                            "number may send, across all campaign workers (Twilio queues beyond it).")
    nlu_inbox_refresh_minutes: int = Field(default=10, ge=0, description="How often the app asks the model about "
                                           "new inbound messages for the admins' NLU inbox; 0: never.")
    campaigns_in_app_minutes: int = Field(default=0, ge=0, description="The app itself schedules and sends "
                                          "campaign reminders every this many minutes, with an in-process worker "
                                          "(`make demo` sets 5); 0: the separate worker and scheduler services do.")
    campaign_worker_threads: int = Field(default=4, ge=1, le=64, description="Threads per campaign worker process.")
    campaign_redelivery_seconds: int = Field(default=60, ge=2, description="A job a dead worker held is handed to "
                                             "another after this long without its heartbeat.")
    max_text_chars: int = Field(default=1000, ge=100, description="Longer bodies are stored whole, read up to this.")

    verification_max_attempts: int = Field(default=3, ge=1, description="Failed identity checks before a lock.")
    verification_lock_minutes: int = Field(default=30, ge=1, description="How long a lock lasts.")
    verification_daily_failure_cap: int = Field(default=6, ge=1, description="Failed identity checks a debtor "
                                                 "may have in one (UTC) day, across all numbers and channels; "
                                                 "then verification is locked until the day ends.")
    verification_review_after_locks: int = Field(default=2, ge=1, description="At this many locks since the "
                                                  "last success, verification stays locked until a person "
                                                  "clears it, and the conversation goes to a person.")
    verification_valid_hours: int = Field(default=24, ge=1, description="A verified identity holds this long "
                                          "(WhatsApp and SMS of the same number; never the demo).")
    tracker_retention_days: int = Field(default=7, ge=1, description="Rasa's Redis tracker store forgets a "
                                        "conversation's events this long after its last turn.")

    auth_token_minutes: int = Field(default=480, ge=1, description="An agent API token or console session "
                                    "expires this long after sign-in (revocable before).")
    console_idle_minutes: int = Field(default=30, ge=1, description="A console session (the agent console's "
                                      "cookie) ends after this long unused, and in any case at AUTH_TOKEN_MINUTES.")
    login_max_failures: int = Field(default=5, ge=1, description="Failed sign-ins per e-mail (and 4x this per "
                                    "client address) within LOGIN_WINDOW_MINUTES before sign-in answers 429.")
    login_window_minutes: int = Field(default=15, ge=1, description="The window failed sign-ins are counted in.")
    queue_overdue_minutes: int = Field(default=15, ge=1, description="A handed-off conversation unclaimed this "
                                       "long is flagged overdue in the agent queue.")

    @property
    def is_production(self) -> bool:
        return self.acuerdo_env == "production"

    def production_problems(self) -> list[str]:
        """Why this configuration must not serve real debtors: one line per problem (empty: none)."""
        problems = []
        if self.demo_enabled:
            problems.append("DEMO_ENABLED is true: the demo lists debtors and lets anyone write as them")
        if self.payment_provider == "sandbox":
            problems.append("PAYMENT_PROVIDER is sandbox: its page marks any link as paid")
        for name in SECRETS:
            value = getattr(self, name)
            if not value:
                problems.append(f"{name.upper()} is empty")
            elif value in PLACEHOLDER_SECRETS:
                problems.append(f"{name.upper()} is a placeholder from the repository")
            elif len(value) < MIN_SECRET_LENGTH:
                problems.append(f"{name.upper()} is shorter than {MIN_SECRET_LENGTH} characters")
        if self.twilio_account_sid in PLACEHOLDER_SECRETS:
            problems.append("TWILIO_ACCOUNT_SID is a placeholder from the repository")
        if not self.public_base_url.startswith("https://"):
            problems.append("PUBLIC_BASE_URL is not https (Twilio signs the public URL it calls)")
        if self.link_base_url is not None and not self.link_base_url.startswith("https://"):
            problems.append("LINK_BASE_URL is not https")
        return problems

    def production_warnings(self) -> list[str]:
        """Legitimate for one small process, but worth a line in the log."""
        warnings = []
        if self.database_url.startswith("sqlite"):
            warnings.append("DATABASE_URL is SQLite: one process only, no concurrent workers")
        if not self.redis_url:
            warnings.append("REDIS_URL is unset: locks and de-duplication stay inside one process")
        return warnings


class UnsafeSettings(RuntimeError):
    """Production was asked to start with settings that would put debtors' data or money at risk."""

    def __init__(self, component: str, problems: list[str]) -> None:
        self.problems = problems
        super().__init__(f"{component} refuses to start in production:\n" + "\n".join(f"  - {p}" for p in problems))


def check_settings(component: str, settings: Settings | None = None) -> Settings:
    """Every entry point calls this first: in production, unsafe settings stop it before it serves anyone."""
    settings = settings or get_settings()
    if settings.is_production:
        problems = settings.production_problems()
        if problems:
            raise UnsafeSettings(component, problems)
        for warning in settings.production_warnings():
            print(f"warning: {warning}", file=sys.stderr)
    return settings


def exit_if_unsafe(component: str) -> Settings:
    """`check_settings` for a process entry point: the problems on stderr, then exit code 2."""
    try:
        return check_settings(component)
    except UnsafeSettings as unsafe:
        print(unsafe, file=sys.stderr)
        raise SystemExit(2) from None


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings; tests call `get_settings.cache_clear()` after changing the environment."""
    return Settings()
