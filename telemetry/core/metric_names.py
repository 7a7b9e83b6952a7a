"""Every Prometheus name the proxy exports, in one place.

Dashboards and alert rules import these so that the three never drift. GenAI-convention metrics
use the OpenTelemetry → Prometheus translation (dots to underscores, unit suffix, `_total` on
counters); sidecar-specific ones carry the `ollama_sidecar_` prefix. GPU names live in
`exporters.metric_names`, receipt names in `receipts.metric_names`.
"""

from typing import Final

PROVIDER_NAME: Final = "ollama"

# Labels. GenAI metrics use the translated attribute names; every request metric shares them so
# that rules can join on (gen_ai_request_model, tier).
LABEL_OPERATION: Final = "gen_ai_operation_name"
LABEL_PROVIDER: Final = "gen_ai_provider_name"
LABEL_MODEL: Final = "gen_ai_request_model"
LABEL_TOKEN_TYPE: Final = "gen_ai_token_type"
LABEL_ERROR_TYPE: Final = "error_type"
LABEL_TIER: Final = "tier"
LABEL_ENDPOINT: Final = "endpoint"
LABEL_OUTCOME: Final = "outcome"
LABEL_KIND: Final = "kind"
LABEL_SINK: Final = "sink"
LABEL_QUANTILE: Final = "quantile"
LABEL_LISTENER: Final = "listener"
LABEL_REASON: Final = "reason"

# GenAI semantic-convention histograms (seconds / tokens).
REQUEST_DURATION: Final = "gen_ai_server_request_duration_seconds"
TIME_TO_FIRST_TOKEN: Final = "gen_ai_server_time_to_first_token_seconds"
TIME_PER_OUTPUT_TOKEN: Final = "gen_ai_server_time_per_output_token_seconds"
TOKEN_USAGE: Final = "gen_ai_client_token_usage"

# Sidecar metrics.
REQUESTS: Final = "ollama_sidecar_requests_total"
TOKENS: Final = "ollama_sidecar_tokens_total"
OUTPUT_TOKENS_PER_SECOND: Final = "ollama_sidecar_output_tokens_per_second"
IN_FLIGHT: Final = "ollama_sidecar_requests_in_flight"
UPSTREAM_ERRORS: Final = "ollama_sidecar_upstream_errors_total"
TIMEOUTS: Final = "ollama_sidecar_timeouts_total"
TELEMETRY_ERRORS: Final = "ollama_sidecar_telemetry_errors_total"
MODEL_MISMATCHES: Final = "ollama_sidecar_model_mismatches_total"
UPSTREAM_UP: Final = "ollama_sidecar_upstream_up"
TIER_BUDGET: Final = "ollama_sidecar_tier_budget_seconds"
TIER_INFO: Final = "ollama_sidecar_tier_info"
BUILD_INFO: Final = "ollama_sidecar_build_info"
# The client-facing listeners' guards, and aiohttp's log lines the rate limit dropped.
CONNECTIONS_REFUSED: Final = "ollama_sidecar_connections_refused_total"
FOREIGN_HOST_REFUSALS: Final = "ollama_sidecar_foreign_host_refusals_total"
LOG_LINES_SUPPRESSED: Final = "ollama_sidecar_log_lines_suppressed_total"


# The prometheus_client counter objects are declared without `_total`; it appends it.
def counter_base(name: str) -> str:
    return name.removesuffix("_total")
