"""One typed settings object, read from the environment (see README, "Settings")."""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parent.parent


class Settings(BaseSettings):
    """Every knob of Acuerdo. Defaults give the embedded demo: SQLite, no Redis, local servers."""

    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    database_url: str = Field(
        default=f"sqlite:///{PROJECT_ROOT / 'var' / 'acuerdo.db'}",
        description="SQLAlchemy URL; PostgreSQL in production (postgresql+psycopg://…).",
    )
    redis_url: str | None = Field(default=None, description="Unset in the demo: in-process locks.")
    config_dir: Path = Field(default=PROJECT_ROOT / "config", description="countries.yml, creditors.yml, policy.yml.")

    rasa_url: str = "http://127.0.0.1:5005"
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
    document_link_days: int = Field(default=30, ge=1, description="How long a signed PDF link (letter, "
                                    "agreement, receipt) can be opened.")
    link_signing_secret: str = Field(default="dev-link-signing-secret", min_length=8,
                                     description="HMAC key for signed document links; set a long random one.")

    demo_enabled: bool = Field(default=True, description="Serve /demo (lists debtors and their verification "
                               "digits): never in production.")
    reply_mode: str = Field(default="twiml", pattern="^(twiml|rest)$",
                            description="twiml: replies in the webhook response; rest: 200 at once, replies via the outbox.")
    twilio_whatsapp_from: str = Field(default="whatsapp:+15550001111", description="Sender when a conversation has none.")
    twilio_sms_from: str = "+15550001111"
    rasa_timeout_seconds: float = Field(default=10.0, gt=0, description="Past this the debtor gets a holding reply.")
    retry_interval_seconds: float = Field(default=5.0, gt=0, description="How often waiting messages are retried.")
    bot_handoff_after_seconds: int = Field(default=300, ge=1, description="A message waiting this long for the "
                                           "bot sends its conversation to a human (reason bot_error).")
    max_text_chars: int = Field(default=1000, ge=100, description="Longer bodies are stored whole, read up to this.")

    verification_max_attempts: int = Field(default=3, ge=1, description="Failed identity checks before a lock.")
    verification_lock_minutes: int = Field(default=30, ge=1, description="How long a lock lasts.")
    verification_valid_hours: int = Field(default=24, ge=1, description="A verified identity holds this long, on any channel.")


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings; tests call `get_settings.cache_clear()` after changing the environment."""
    return Settings()
