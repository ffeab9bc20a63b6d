"""Runtime settings from LEASH_* environment variables (and .env); import get_settings()."""

from __future__ import annotations

from dataclasses import replace
from functools import cache
from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from ingest.keys import SCOPES, KeyEntry, load_keys_file


class KafkaSettings(BaseModel):
    """Kafka adapter knobs (kafka-python names keep their `_ms` units)."""

    topic: str = "leash.events"
    dlq_topic: str = "leash.events.dlq"
    partitions: int = Field(default=6, ge=1)
    replication_factor: int = Field(default=1, ge=1)
    group_id: str = "leash-sink"
    detect_group_id: str = "leash-detect"
    linger_ms: int = 5
    compression_type: str | None = "gzip"
    pack_events: bool = True  # one Kafka message per principal per publish (~3x produce rate)
    session_timeout_ms: int = 10000
    heartbeat_interval_ms: int = 1000
    max_poll_interval_ms: int = 60000
    request_timeout_ms: int = 15000


class SinkSettings(BaseModel):
    """Batching of the bus -> store writer."""

    max_rows: int = Field(default=5000, ge=1)
    max_age_s: float = Field(default=1.0, gt=0)
    # while the sink is behind (its polls come back full) a batch grows to max_rows times this
    backlog_growth: int = Field(default=4, ge=1)
    commit_interval_s: float = Field(default=1.0, ge=0)


class SqsSettings(BaseModel):
    """The S3 + SQS puller (`leash pull sqs`, and inside `leash up` when `queue_url` is set).

    AWS credentials, region and endpoint come from the standard chain (AWS_PROFILE,
    AWS_DEFAULT_REGION, AWS_ENDPOINT_URL, instance roles...), as for every boto3 tool."""

    queue_url: str = ""
    concurrency: int = Field(default=4, ge=1, le=64)  # messages handled at once
    wait_s: int = Field(default=20, ge=0, le=20)  # long-poll wait per ReceiveMessage
    visibility_s: int = Field(default=300, ge=10, le=43200)  # kept alive while a file is read
    batch_records: int = Field(default=5000, ge=1)  # records published per bus write
    max_object_bytes: int = Field(default=512 * 1024 * 1024, ge=1024)  # compressed, per file


class IdentitySettings(BaseModel):
    """How a full ARN maps to a stable principal key and an actor kind.

    Session names that match `per_run_session_patterns` are per-run ids, so the key is the role
    alone; other session names (an SSO user's e-mail) are stable and stay in the key. Kinds are
    decided in this order: `service_agent_patterns` (amazon-ssm-agent, the ECS and CloudWatch
    agents: software, not AI) -> service; the agent patterns -> agent; then by identity type:
    people (IAM users, root, Identity Center and SSO sessions, sessions that authenticated
    with MFA, or that name a person and come from a browser, the console or a CLI, matched by
    `human_user_agent_patterns`) -> human; everything else -- AWS services, workload roles
    (Lambda, ECS, EC2, CI) -> service.
    """

    per_run_session_patterns: list[str] = [
        r"^(agent|run|ci|job|task|session|build|deploy|gha|github|botocore-session|aws-go-sdk)"
        r"[-_.]?[0-9a-zA-Z-]*[0-9][0-9a-zA-Z-]*$",
        r"[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}",  # a UUID anywhere
        r"(^|[-_.])(?=[0-9a-f]*[0-9])(?=[0-9a-f]*[a-f])[0-9a-f]{8,}($|[-_.])",  # a hex run id
        r"(^|[-_.])[0-9]{6,}($|[-_.])",  # a numeric run or timestamp id
        r"^i-[0-9a-f]{8,17}$",
    ]
    service_agent_patterns: list[str] = [
        r"(?i)(amazon-ssm-agent|ssm-?agent|ecs-?agent|amazon-ecs|cloudwatch-?agent|"
        r"aws-otel|kubelet|fluent-?bit|datadog-agent|newrelic|inspector-?agent)"
    ]
    agent_session_patterns: list[str] = [
        r"(?i)(agent|llm|copilot|claude|gpt|assistant|autopilot|mcp|devin|codex|cursor|aider)"
    ]
    agent_role_patterns: list[str] = [
        r"(?i)(agent|llm|copilot|claude|gpt|assistant|autopilot|mcp|devin|codex)"
    ]
    agent_user_agent_patterns: list[str] = [
        r"(?i)(langchain|llamaindex|llama-index|autogen|crewai|openai|anthropic|claude|\bmcp\b|"
        r"mcp-server|bedrock-agent|strands-agents|devin|codex|cursor|aider|copilot|openhands)"
    ]
    human_user_agent_patterns: list[str] = [
        r"(?i)(mozilla/|console\.amazonaws\.com|signin\.amazonaws\.com|aws internal|"
        r"s3console|aws-cli/|aws-shell|awspowershell|aws-toolkit|kubectl/|k9s)"
    ]
    service_user_agent_patterns: list[str] = [
        r"(?i)^(?!console\.|signin\.)[a-z0-9-]+\.amazonaws\.com$"
    ]


class Settings(BaseSettings):
    """Every setting Leash reads; env `LEASH_<FIELD>`, nested groups with `__`."""

    model_config = SettingsConfigDict(
        env_prefix="LEASH_", env_nested_delimiter="__", env_file=".env", extra="ignore"
    )

    data_dir: Path = Path("leash-data")
    bus_url: str = "embedded://"  # or kafka://host:9092; memory:// is an alias of embedded://
    store_url: str = ""
    api_keys: Annotated[list[str], NoDecode] = []
    keys_file: Path | None = None  # YAML: named keys, SHA-256 of tokens, scopes, bindings
    rate_limit_per_s: float = Field(default=0.0, ge=0)  # requests per second per key; 0 = none
    # keys (names, or key_… fingerprints for LEASH_API_KEYS) whose pushes automatic response may
    # act on, besides admin keys and keys bound to principals; "*" trusts every key
    trusted_keys: Annotated[list[str], NoDecode] = []
    host: str = "127.0.0.1"
    port: int = 8000
    dashboard_port: int = 8501
    # `leash up`'s processes: 2 runs the detection engine in a child process, so its CPU never
    # holds the GIL of the process that answers decide; 1 runs everything in one process
    processes: int = Field(default=2, ge=1, le=2)
    # processes parsing and normalising large POST bodies (`leash up`, `leash serve`), so that
    # work never holds the GIL of the process that answers decide; 0 parses on a thread of it
    parse_processes: int = Field(default=1, ge=0, le=64)
    dashboard_api_key: SecretStr | None = None
    api_url: str = ""
    api_key: SecretStr | None = None  # client side: the key `leash ship` and `leash pull` send
    max_body_bytes: int = Field(default=10 * 1024 * 1024, ge=1024)
    max_decompressed_bytes: int = Field(default=100 * 1024 * 1024, ge=1024)
    max_records_per_request: int = Field(default=100_000, ge=1)
    dedupe_cache_size: int = Field(default=2_000_000, ge=0)
    # records dated further ahead than this are refused (a wrong clock, a forged year 9999 that
    # would become "now" for training and the dashboard); 0 turns the check off
    max_future_skew_s: float = Field(default=900.0, ge=0)
    # the embedded bus refuses events (503) while its disk has less free than this: room is
    # left for the store's merges and for what was already acknowledged to reach the store
    min_free_disk_mb: int = Field(default=256, ge=0)
    # MiB of records the embedded bus holds in memory for groups still to read them; a group
    # further behind (the detector under a burst) reads the rest back from the bus log
    bus_memory_mb: int = Field(default=64, ge=0)
    # seconds between hand-backs of the C heap's free pages to the OS (glibc malloc_trim: a
    # burst's freed buffers otherwise keep RSS at its peak); 0 turns it off
    heap_trim_interval_s: float = Field(default=10.0, ge=0)
    # niceness the API process's detector child takes: on a busy machine the kernel serves
    # decide's event loop first, and the detector still gets every idle cycle (a profile under
    # 5k events/s on 2 cores: decide p50 2-5x lower with the child at nice 19); 0 = not lowered
    detector_nice: int = Field(default=10, ge=0, le=19)
    # the header an EventBridge connection's API-key auth sends (besides Authorization: Bearer)
    eventbridge_key_header: str = Field(default="x-leash-key", min_length=1)
    webhook_urls: Annotated[list[str], NoDecode] = []
    webhook_routes_file: Path | None = None  # YAML: which endpoints hear which events
    webhook_secret: SecretStr | None = None
    log_level: str = "INFO"
    auto_quarantine: bool = True  # a critical alert quarantines the agent or service at once
    auto_revoke: bool = False  # opt-in: a critical alert also revokes it (and runs revokers)
    policy_file: Path | None = None
    webhook_max_attempts: int = Field(default=10, ge=1)
    webhook_backoff_s: float = Field(default=1.0, gt=0)  # first retry delay, doubled per try
    webhook_backoff_max_s: float = Field(default=600.0, gt=0)
    # deliveries held in memory for their next attempt; past it the oldest are dead-lettered
    webhook_max_pending: int = Field(default=10_000, ge=1)
    revokers: Annotated[list[str], NoDecode] = []  # webhook, aws-iam
    revoker_webhook_url: str = ""
    aws_endpoint_url: str = ""
    aws_region: str = ""
    gate_max_lag_messages: int = Field(default=10_000, ge=0)
    gate_max_lag_s: float = Field(default=30.0, ge=0)  # seconds the detector may trail the bus
    approval_ttl_s: float = Field(default=900.0, gt=0)  # seconds an approval request stays open
    bypass_unasked_agents: bool = True
    sink_id: str = ""  # hash-chain id of this sink process; empty = derived (runtime.sink_chain)
    # the sink's Ed25519 key that signs each batch hash (made once when missing); empty = under
    # data_dir. Keep a copy of its public half elsewhere: `leash verify --print-public-key`
    signing_key_file: Path | None = None
    kafka: KafkaSettings = KafkaSettings()
    sink: SinkSettings = SinkSettings()
    identity: IdentitySettings = IdentitySettings()
    sqs: SqsSettings = SqsSettings()

    @field_validator("api_keys", "trusted_keys", "webhook_urls", "revokers", mode="before")
    @classmethod
    def _split_comma_list(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("api_keys")
    @classmethod
    def _check_api_keys(cls, value: list[str]) -> list[str]:
        for entry in value:
            token, _, scopes = entry.partition(":")
            if not token or not scopes:
                raise ValueError("each LEASH_API_KEYS entry must look like token:scope+scope")
            unknown = set(scopes.split("+")) - set(SCOPES)
            if unknown:
                raise ValueError(f"unknown scope(s) {sorted(unknown)}; use {'+'.join(SCOPES)}")
        return value

    @property
    def resolved_store_url(self) -> str:
        """The store URL, defaulting to an embedded chDB under data_dir."""
        return self.store_url or f"chdb://{(self.data_dir / 'store').resolve()}"

    @property
    def public_url(self) -> str:
        """Where people and webhooks reach this API: LEASH_API_URL, else http://HOST:PORT."""
        return self.api_url or f"http://{self.host}:{self.port}"

    @property
    def embedded_bus(self) -> bool:
        """True for the in-process bus (`embedded://`, alias `memory://`), False for Kafka."""
        return self.bus_url.startswith(("embedded:", "memory:"))

    @property
    def signing_key_path(self) -> Path:
        return self.signing_key_file or self.data_dir / "signing.key"

    @property
    def journal_dir(self) -> Path:
        """Where journaled writers keep rows not yet inserted (one folder per process)."""
        return self.data_dir / "journal"

    @property
    def bus_dir(self) -> Path:
        return self.data_dir / "bus"

    def key_entries(self) -> list[KeyEntry]:
        """Every API key: LEASH_API_KEYS entries (unbound; `admin` implies every scope), then
        the keys file's (KeysFileError says what is wrong with it); LEASH_TRUSTED_KEYS marks
        keys trusted by name or fingerprint."""
        entries = []
        for entry in self.api_keys:
            token, _, scopes = entry.partition(":")
            entries.append(KeyEntry.from_token(token, frozenset(scopes.split("+"))))
        if self.keys_file is not None:
            entries.extend(load_keys_file(self.keys_file))
        trusted = set(self.trusted_keys)
        return [
            replace(e, trusted=True) if trusted & {"*", e.name, e.key_id} else e for e in entries
        ]


@cache
def get_settings() -> Settings:
    return Settings()
