"""Alerts on the parts the SLOs depend on: the sidecar, Ollama, the GPUs and the receipt log."""

from __future__ import annotations

from alerts._model import ALERT_PREFIX, AlertRule
from alerts._promql import duration
from alerts._settings import RuleSettings
from exporters import metric_names as gpu
from receipts import metric_names as receipts
from telemetry.core import Config
from telemetry.core import metric_names as proxy

SIDECAR_DOWN = f"{ALERT_PREFIX}Down"
OLLAMA_UNREACHABLE = f"{ALERT_PREFIX}OllamaUnreachable"
CONNECTIONS_REFUSED = f"{ALERT_PREFIX}ConnectionsRefused"
GPU_MISSING = f"{ALERT_PREFIX}GpuMissing"
GPU_LOST = f"{ALERT_PREFIX}GpuLost"
GPU_UNHEALTHY = f"{ALERT_PREFIX}GpuUnhealthy"
GPU_ERRORS = f"{ALERT_PREFIX}GpuErrors"
GPU_HOT = f"{ALERT_PREFIX}GpuHot"
GPU_THROTTLING = f"{ALERT_PREFIX}GpuThrottling"
GPU_MEMORY_FULL = f"{ALERT_PREFIX}GpuMemoryNearlyFull"
MODEL_THRASHING = f"{ALERT_PREFIX}ModelThrashing"
CPU_FALLBACK = f"{ALERT_PREFIX}CpuFallback"
RECEIPT_FAILURES = f"{ALERT_PREFIX}ReceiptFailures"
CHECKPOINT_STALE = f"{ALERT_PREFIX}CheckpointStale"
WITNESS_QUORUM_STALE = f"{ALERT_PREFIX}WitnessQuorumStale"

# Clock-event reasons that mean the GPU is slowed against the work's will (thermal, hardware
# slowdown, power brake); idle, application clocks and the software power cap are normal.
THROTTLE_REASONS = "(?i).*(thermal|slowdown|brake).*"
GPU_KEY = "instance, gpu, uuid, name"


def sidecar_alerts(config: Config, settings: RuleSettings) -> tuple[AlertRule, ...]:
    up = f'up{{job="{settings.job}"}}'
    at_cap = f'{proxy.CONNECTIONS_REFUSED}{{{proxy.LABEL_REASON}="max_connections"}}'
    return (
        AlertRule(
            alert=SIDECAR_DOWN,
            expr=f"{up} == 0\nor\nabsent({up})",
            severity="critical",
            for_seconds=settings.down_for_seconds,
            summary="The sidecar's metrics endpoint cannot be scraped.",
            description=(
                "Prometheus cannot scrape job {{ $labels.job }}"
                "{{ if $labels.instance }} on {{ $labels.instance }}{{ end }}: the proxy or its "
                "admin listener is down, and no request on that host is observed."
            ),
        ),
        AlertRule(
            alert=OLLAMA_UNREACHABLE,
            expr=f"{proxy.UPSTREAM_UP} == 0",
            severity="critical",
            for_seconds=settings.upstream_for_seconds,
            summary="The sidecar cannot reach Ollama.",
            description=(
                "The sidecar on {{ $labels.instance }} reports its Ollama upstream down: "
                "requests fail with 502/504."
            ),
        ),
        AlertRule(
            alert=CONNECTIONS_REFUSED,
            expr=f"sum by (instance, {proxy.LABEL_LISTENER}) (increase({at_cap}[10m])) > 0",
            severity="warning",
            summary="The sidecar turns clients away at its connection cap.",
            description=(
                "The {{ $labels.listener }} listener on {{ $labels.instance }} refused "
                "connections with 503 in the last 10m: proxy.max_client_connections open "
                "connections were reached."
            ),
        ),
    )


def gpu_alerts(config: Config, settings: RuleSettings) -> tuple[AlertRule, ...]:
    wait = settings.gpu_for_seconds
    lookback = duration(settings.gpu_lost_lookback_seconds)
    fallback_window = duration(settings.cpu_fallback_window_seconds)
    # Of the requests served here: a cloud model's (remote) ran on no local processor at all.
    by_processor = (
        f"sum by (instance) (rate({gpu.REQUESTS_BY_PROCESSOR}"
        f'{{{gpu.LABEL_PROCESSOR}!="remote"}}[{fallback_window}]))'
    )
    off_gpu = (
        f"sum by (instance) (rate({gpu.REQUESTS_BY_PROCESSOR}"
        f'{{{gpu.LABEL_PROCESSOR}=~"cpu|partial"}}[{fallback_window}]))'
    )
    return (
        AlertRule(
            alert=GPU_MISSING,
            expr=f"sum by (instance) ({gpu.GPU_DEVICES}) == 0",
            # Only a page where the config says this host must have a GPU.
            severity="critical" if config.gpu.require_gpu else "info",
            for_seconds=wait,
            summary="The sidecar finds no usable GPU on this host.",
            description=(
                "No GPU device is visible to the sidecar on {{ $labels.instance }}: Ollama runs "
                "every model on the CPU."
            ),
        ),
        AlertRule(
            alert=GPU_LOST,
            expr=(
                f"sum by (instance) ({gpu.GPU_DEVICES})\n<\n"
                f"sum by (instance) (max_over_time({gpu.GPU_DEVICES}[{lookback}]))"
            ),
            severity="critical",
            summary="A GPU disappeared from the host.",
            description=(
                "The sidecar on {{ $labels.instance }} sees fewer GPUs than it did during the "
                f"last {lookback}: a device fell off the bus or its driver failed."
            ),
        ),
        AlertRule(
            alert=GPU_UNHEALTHY,
            expr=f"{gpu.GPU_UP} == 0",
            severity="critical",
            for_seconds=wait,
            summary="A GPU stopped answering its driver.",
            description=(
                "GPU {{ $labels.gpu }} ({{ $labels.name }}, {{ $labels.uuid }}) on "
                "{{ $labels.instance }} is down: its driver calls fail."
            ),
        ),
        AlertRule(
            alert=GPU_ERRORS,
            expr=f"sum by ({GPU_KEY}) (increase({gpu.GPU_ERRORS}[10m])) > 0",
            severity="warning",
            summary="A GPU reports hardware errors.",
            description=(
                "GPU {{ $labels.gpu }} ({{ $labels.name }}, {{ $labels.uuid }}) on "
                "{{ $labels.instance }} counted hardware errors in the last 10m."
            ),
        ),
        AlertRule(
            alert=GPU_HOT,
            expr=f"max by ({GPU_KEY}) ({gpu.GPU_TEMPERATURE}) > {settings.gpu_hot_celsius:g}",
            severity="warning",
            for_seconds=wait,
            summary="A GPU runs hot.",
            description=(
                "GPU {{ $labels.gpu }} ({{ $labels.name }}) on {{ $labels.instance }} is above "
                f"{settings.gpu_hot_celsius:g} °C."
            ),
        ),
        AlertRule(
            alert=GPU_THROTTLING,
            expr=(
                f"max by ({GPU_KEY}, {gpu.LABEL_REASON}) "
                f'({gpu.GPU_CLOCK_EVENT}{{{gpu.LABEL_REASON}=~"{THROTTLE_REASONS}"}}) > 0'
            ),
            severity="warning",
            for_seconds=wait,
            summary="A GPU is throttling its clocks.",
            description=(
                "GPU {{ $labels.gpu }} ({{ $labels.name }}) on {{ $labels.instance }} slows its "
                "clocks: {{ $labels.reason }}."
            ),
        ),
        AlertRule(
            alert=GPU_MEMORY_FULL,
            expr=(
                f"max by ({GPU_KEY}) ({gpu.GPU_MEMORY_USAGE})\n/\n"
                f"max by ({GPU_KEY}) ({gpu.GPU_MEMORY_LIMIT})\n"
                f"> {settings.gpu_memory_full_ratio:g}"
            ),
            severity="warning",
            for_seconds=3 * wait,
            summary="A GPU's memory is nearly full.",
            description=(
                "GPU {{ $labels.gpu }} ({{ $labels.name }}) on {{ $labels.instance }} uses more "
                f"than {settings.gpu_memory_full_ratio:.0%} of its memory: the next model will "
                "be split onto the CPU."
            ),
        ),
        AlertRule(
            alert=CPU_FALLBACK,
            expr=(
                f"{off_gpu}\n/\n{by_processor}\n> {settings.cpu_fallback_ratio:g}\n"
                f"and on (instance)\nsum by (instance) ({gpu.GPU_DEVICES}) > 0"
            ),
            severity="warning",
            for_seconds=wait,
            summary="Requests run on the CPU although the host has a GPU.",
            description=(
                f"More than {settings.cpu_fallback_ratio:.0%} of the locally served requests "
                "on {{ $labels.instance }} ran fully or partly on the CPU over the last "
                f"{fallback_window}, while GPUs are present."
            ),
        ),
        AlertRule(
            alert=MODEL_THRASHING,
            expr=(
                f"sum by (instance, {gpu.LABEL_MODEL}) "
                f'(increase({gpu.RESIDENCY_EVENTS}{{event="evict"}}[1h]))\n'
                f"> {config.gpu.thrash_evictions_per_hour:g}"
            ),
            severity="warning",
            for_seconds=wait,
            summary="A model is evicted and reloaded over and over.",
            description=(
                "Ollama on {{ $labels.instance }} evicted {{ $labels.gen_ai_request_model }} "
                f"more than {config.gpu.thrash_evictions_per_hour:g} times in the last hour: "
                "models compete for GPU memory and each reload costs its load time."
            ),
        ),
    )


def receipt_alerts(config: Config, settings: RuleSettings) -> tuple[AlertRule, ...]:
    window = duration(settings.receipt_failure_window_seconds)
    stale = settings.checkpoint_stale_seconds(config.receipts.checkpoint_interval_seconds)
    return (
        AlertRule(
            alert=RECEIPT_FAILURES,
            expr=(
                f"sum by (instance, {receipts.LABEL_STAGE}) "
                f"(increase({receipts.RECEIPT_FAILURES}[{window}])) > 0"
            ),
            severity="critical",
            summary="Receipts are failing to be signed or stored.",
            description=(
                "The sidecar on {{ $labels.instance }} failed at stage {{ $labels.stage }} in "
                f"the last {window}: those requests have no transparency receipt."
            ),
        ),
        AlertRule(
            alert=CHECKPOINT_STALE,
            expr=(
                f"time() - max by (instance) ({receipts.CHECKPOINT_TIMESTAMP}) > {stale}\n"
                f"and on (instance)\n"
                f"sum by (instance) (increase({receipts.RECEIPTS}[{duration(stale)}])) > 0"
            ),
            severity="warning",
            summary="The receipt log has not published a checkpoint recently.",
            description=(
                "The newest checkpoint on {{ $labels.instance }} is older than "
                f"{duration(stale)} while receipts keep arriving: new receipts cannot be "
                "proven included."
            ),
        ),
        AlertRule(
            alert=WITNESS_QUORUM_STALE,
            # The gauge exists only where witnesses are configured.
            expr=(
                f"max by (instance) ({receipts.WITNESS_QUORUM_AGE}) "
                f"> {settings.witness_quorum_stale_seconds}"
            ),
            severity="warning",
            summary="The witness quorum has not cosigned the receipt log recently.",
            description=(
                "No checkpoint of the log on {{ $labels.instance }} has been cosigned by "
                f"its witness quorum for {duration(settings.witness_quorum_stale_seconds)}: "
                "requestors that require the quorum cannot verify new receipts. Check "
                f"{receipts.WITNESS_SUBMISSIONS} by result (unreachable, unprocessable = "
                "a refused history)."
            ),
        ),
    )


def component_alerts(config: Config, settings: RuleSettings) -> tuple[AlertRule, ...]:
    return (
        *sidecar_alerts(config, settings),
        *gpu_alerts(config, settings),
        *receipt_alerts(config, settings),
    )
