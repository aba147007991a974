"""What talks to people and machines: the broker link and the guard's touchscreen."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from edge.config.base import Section, ed25519_keys, is_loopback


class MqttTlsConfig(Section):
    """TLS to the broker: server verification and, optionally, a client certificate."""

    enabled: bool = Field(False, description="Connect over TLS.")
    ca_file: str = Field("", description="CA certificate that signed the broker's certificate.")
    cert_file: str = Field("", description="This gate's client certificate (PEM), if the broker asks for one.")
    key_file: str = Field("", description="The client certificate's private key (PEM).")

    @model_validator(mode="after")
    def _files(self) -> "MqttTlsConfig":
        if self.enabled and not self.ca_file:
            raise ValueError("tls.enabled needs tls.ca_file (the broker's certificate is always verified)")
        if bool(self.cert_file) != bool(self.key_file):
            raise ValueError("tls.cert_file and tls.key_file go together")
        return self


class HomeAssistantConfig(Section):
    """Home Assistant MQTT discovery."""

    enabled: bool = Field(False, description="Publish discovery records so the gate appears in Home Assistant.")
    discovery_prefix: str = Field("homeassistant", description="Home Assistant's discovery topic prefix.")


class MqttConfig(Section):
    """Link to the operator's broker: events, alarms, status, telemetry and the admin console."""

    enabled: bool = Field(True, description="Publish to the broker (events wait in the outbox while it is away).")
    host: str = Field("127.0.0.1", description="Broker host name or address.")
    port: int = Field(1883, ge=1, le=65535, description="Broker port (8883 is usual for TLS).")
    protocol: Literal["5", "3.1.1"] = Field("5", description="MQTT protocol version.")
    client_id: str = Field("", description="Client id (empty: gatepost-<site>-<gate>).")
    username: str = Field("", description="Broker user name (empty: none).")
    password_env: str = Field("GATEPOST_MQTT_PASSWORD", description="Environment variable holding the password.")
    keepalive_s: int = Field(15, ge=5, le=600, description="MQTT keep-alive.")
    tls: MqttTlsConfig = Field(default_factory=MqttTlsConfig)
    confirm: Literal["collector", "broker"] = Field(
        "collector", description="An event leaves the outbox when a collector confirms it stored it, "
                                 "or (broker) as soon as the broker acknowledges it.")
    redeliver_after_s: float = Field(30.0, gt=0, le=3600,
                                     description="Publish again what no collector confirmed within this time.")
    max_inflight: int = Field(100, ge=1, le=65535, description="Unacknowledged publishes at once.")
    outbox_max_mb: float = Field(200.0, gt=0, le=100_000, description="Outbox size bound on disk; telemetry is dropped first.")
    telemetry_interval_s: float = Field(10.0, gt=0, le=3600, description="How often telemetry is published.")
    admin_keys: dict[str, str] = Field(default_factory=dict,
                                       description="Administrators' Ed25519 public keys (base64), by key id.")

    @field_validator("admin_keys")
    @classmethod
    def _admin_keys(cls, keys: dict[str, str]) -> dict[str, str]:
        return ed25519_keys(keys)
    command_max_age_s: float = Field(30.0, gt=0, le=300, description="Older (or future) commands are refused.")
    home_assistant: HomeAssistantConfig = Field(default_factory=HomeAssistantConfig)


def remote_needs_tls(host: str, cert: str, key: str, what: str) -> None:
    """A server off loopback speaks TLS: `what` crosses the LAN otherwise."""
    if not is_loopback(host) and not (cert and key):
        raise ValueError(f"host: {host} is reachable from the network; set tls_cert and tls_key ({what} must not "
                         "cross the LAN in clear text) or bind 127.0.0.1")
    if bool(cert) != bool(key):
        raise ValueError("tls_cert and tls_key: give both or neither")


class UiConfig(Section):
    """The guard's touchscreen: a local web app shown full-screen by Chromium."""

    enabled: bool = Field(True, description="Serve the touchscreen app.")
    host: str = Field("127.0.0.1", description="Bind address (loopback unless the screen is on another machine).")
    port: int = Field(8080, ge=1, le=65535, description="HTTP port.")
    language: Literal["zh", "en"] = Field("zh", description="Default language of the screen.")
    open_reasons: list[str] = Field(
        default_factory=lambda: ["delivery", "elderly_or_disabled", "visitor_escorted", "emergency", "fault"],
        min_length=1, description="Reasons a guard picks from for a manual open.")
    max_pin_failures: int = Field(5, ge=1, le=20, description="Wrong PINs in a row before the guard is locked out.")
    lockout_s: float = Field(300.0, gt=0, le=86_400, description="How long a locked-out guard waits.")
    session_h: float = Field(12.0, gt=0, le=48, description="How long a guard stays logged in.")
    live_fps: float = Field(4.0, gt=0, le=25, description="Frame rate of the live view (CPU for the recogniser first).")
    voice_dir: str = Field("", description="Recorded prompts, <language>/<prompt code>.wav, spoken when the prompt "
                                           "changes (empty: silent).")
    voice_command: list[str] = Field(default_factory=lambda: ["aplay", "-q"], min_length=1,
                                     description="Player the prompt's file is handed to.")
    max_live_clients: int = Field(2, ge=1, le=16, description="Screens that may watch the live view at once.")
    allowed_hosts: list[str] = Field(default_factory=list, description="Host names the screen may use besides the bind address and loopback (DNS rebinding is refused).")
    tls_cert: str = Field("", description="Certificate (PEM) to serve HTTPS with; required when host is not loopback.")
    tls_key: str = Field("", description="Private key (PEM) of tls_cert.")

    @model_validator(mode="after")
    def _remote_needs_tls(self) -> "UiConfig":
        remote_needs_tls(self.host, self.tls_cert, self.tls_key, "guards' PINs and session cookies")
        return self


EventKindName = Literal["decision", "alarm", "passage", "action", "status"]
ALARMS_ONLY: tuple[EventKindName, ...] = ("alarm",)


class WebhookConfig(Section):
    """One receiver of events over HTTP: each POST signed with HMAC-SHA256, retried until taken."""

    name: str = Field(..., pattern=r"^[A-Za-z0-9_-]{1,32}$", description="This receiver's name (its queue's).")
    url: str = Field(..., max_length=2000, description="https:// URL to POST to (http:// only to this box).")
    secret_env: str = Field("GATEPOST_WEBHOOK_SECRET", description="Environment variable holding the signing secret.")
    kinds: list[EventKindName] = Field(default_factory=lambda: list(ALARMS_ONLY), description="Event kinds sent.")
    timeout_s: float = Field(5.0, gt=0, le=60, description="A receiver silent this long is tried again later.")
    max_waiting: int = Field(100_000, ge=100, le=10_000_000,
                             description="Events kept for a receiver that is away; beyond it the oldest are dropped.")

    @field_validator("url")
    @classmethod
    def _url(cls, url: str) -> str:
        from urllib.parse import urlsplit

        parts = urlsplit(url)
        if parts.scheme not in ("https", "http") or not parts.hostname:
            raise ValueError("an http(s):// URL with a host")
        if parts.scheme == "http" and not is_loopback(parts.hostname):
            raise ValueError("http:// only to this box (events carry names): use https://")
        return url


class ApiConfig(Section):
    """The integrators' HTTP API (OpenAPI 3.1 at /api/v1/openapi.json), tokens from `gatepost api tokens add`."""

    enabled: bool = Field(False, description="Serve the API.")
    host: str = Field("127.0.0.1", description="Bind address (loopback unless tls_cert and tls_key are set).")
    port: int = Field(8081, ge=1, le=65535, description="HTTP port.")
    requests_per_minute: int = Field(120, ge=1, le=100_000, description="Calls a token may make in a minute.")
    tls_cert: str = Field("", description="Certificate (PEM) to serve HTTPS with; required when host is not loopback.")
    tls_key: str = Field("", description="Private key (PEM) of tls_cert.")

    @model_validator(mode="after")
    def _remote_needs_tls(self) -> "ApiConfig":
        remote_needs_tls(self.host, self.tls_cert, self.tls_key, "tokens and residents' names")
        return self
