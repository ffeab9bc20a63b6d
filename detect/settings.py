"""Detection knobs, env `LEASH_DETECT__<FIELD>` (response and gate settings: ingest.settings)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["DetectSettings"]


class DetectSettings(BaseSettings):
    """Detection knobs; env `LEASH_DETECT__<FIELD>` (e.g. LEASH_DETECT__QUIET_GAP_S=900)."""

    model_config = SettingsConfigDict(env_prefix="LEASH_DETECT__", env_file=".env", extra="ignore")

    quiet_gap_s: float = Field(default=1800.0, gt=0)  # event time without findings ends an incident
    threshold_quantile: float = Field(default=0.999, gt=0, lt=1)  # forest threshold on train scores
    baseline_quantile: float = Field(default=0.99, gt=0, le=1)  # per-principal "high" values
    train_days: float = Field(default=14.0, gt=0)  # history used for training
    n_estimators: int = Field(default=100, ge=1)
    min_train_rows: int = Field(default=200, ge=1)
    retrain_interval_s: float = Field(default=86_400.0, gt=0)  # wall clock between trainings
    retrain_min_events: int = Field(default=100_000, ge=1)  # or after this many new events
    # ... but no sooner than this after the last training began: at 5,000 events/s the count
    # alone retrained every 20 s, a fit's core busy a third of the time (bench.decide_latency)
    retrain_min_interval_s: float = Field(default=600.0, ge=0)
    stale_after_s: float = Field(default=3 * 86_400.0, gt=0)  # model age that counts as stale
    explain_top: int = Field(default=5, ge=1)
    poll_max_records: int = Field(default=2000, ge=1)
    # on Kafka, a partition this detector takes over (a rebalance as detectors join or leave,
    # a restart) first replays up to this many messages before the group's commit, those
    # published within warm_s, through the engine without paging: the windows, held findings
    # and open incidents its former owner had (ingest.bus.Bus.subscriber); 0 = start cold
    warm_messages: int = Field(default=5_000, ge=0)
    warm_s: float = Field(default=1800.0, ge=0)  # 0 = no age limit
    auto_retrain: bool = True
    # fit the model in a child process: the API and the gate share this process, and a fit holds
    # the GIL for seconds (bench/retrain_stall.py); off only where no child process may start
    train_in_child: bool = True
    # niceness of that child: a fit is background work, and on a busy machine its core went to
    # the API, the sink and the detector first (bench.decide_latency --retrain); 0 = not lowered
    train_nice: int = Field(default=19, ge=0, le=19)
    # a human's Sigma finding below this level opens no alert on its own: it waits for
    # corroboration (an anomaly, or another rule on another event) within the window below
    human_sigma_solo_level: Literal["low", "medium", "high", "critical"] = "high"
    corroboration_window_s: float = Field(default=1800.0, gt=0)
    # principals whose windows the engine keeps in memory; beyond it the least recently active
    # tenth is forgotten (their windows, incidents and held findings; they start over as new)
    max_principals: int = Field(default=200_000, ge=1)
    # open incidents the engine holds (each remembers up to 20,000 event ids); beyond it the
    # least recently active are let go: their alerts stay open, a later finding opens another
    max_incidents: int = Field(default=10_000, ge=1)

    def engine_options(self) -> dict[str, Any]:
        """The DetectionEngine keyword arguments these settings decide."""
        return {
            "quiet_gap_ms": int(self.quiet_gap_s * 1000),
            "explain_top": self.explain_top,
            "human_sigma_solo_level": self.human_sigma_solo_level,
            "corroboration_window_ms": int(self.corroboration_window_s * 1000),
            "max_states": self.max_principals,
            "max_incidents": self.max_incidents,
        }
