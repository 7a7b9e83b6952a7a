"""Prometheus names of the GPU and Ollama-residency metrics.

OpenTelemetry hardware-convention names (`hw.*`) in their Prometheus form where one exists,
`ollama_sidecar_` names otherwise. Dashboards and alert rules import these.
"""

from typing import Final

LABEL_GPU: Final = "gpu"
LABEL_UUID: Final = "uuid"
LABEL_NAME: Final = "name"
LABEL_VENDOR: Final = "vendor"
LABEL_BACKEND: Final = "backend"
LABEL_REASON: Final = "reason"
LABEL_PROCESSOR: Final = "processor"
LABEL_MODEL: Final = "gen_ai_request_model"

GPU_UP: Final = "hw_gpu_up"
GPU_DEVICES: Final = "ollama_sidecar_gpu_devices"
GPU_BACKEND_UP: Final = "ollama_sidecar_gpu_backend_up"
GPU_UTILIZATION: Final = "hw_gpu_utilization_ratio"
GPU_MEMORY_USAGE: Final = "hw_gpu_memory_usage_bytes"
GPU_MEMORY_LIMIT: Final = "hw_gpu_memory_limit_bytes"
GPU_TEMPERATURE: Final = "hw_temperature_celsius"
GPU_POWER: Final = "hw_power_watts"
GPU_POWER_LIMIT: Final = "ollama_sidecar_gpu_power_limit_watts"
GPU_ENERGY: Final = "hw_energy_joules_total"
GPU_CLOCK: Final = "ollama_sidecar_gpu_clock_hertz"
GPU_CLOCK_EVENT: Final = "ollama_sidecar_gpu_clock_event_active"
GPU_ERRORS: Final = "hw_errors_total"
GPU_PROCESSES: Final = "ollama_sidecar_gpu_processes"
GPU_XID_ERRORS: Final = "ollama_sidecar_gpu_xid_errors_total"
GPU_REMAPPED_ROWS: Final = "ollama_sidecar_gpu_remapped_rows"
GPU_ROW_REMAP_PENDING: Final = "ollama_sidecar_gpu_row_remap_pending"
GPU_ROW_REMAP_FAILURE: Final = "ollama_sidecar_gpu_row_remap_failure"
GPU_RETIRED_PAGES: Final = "ollama_sidecar_gpu_retired_pages"
GPU_SAMPLE_ERRORS: Final = "ollama_sidecar_gpu_sample_errors_total"
GPU_SAMPLE_DURATION: Final = "ollama_sidecar_gpu_sample_duration_seconds"

OLLAMA_UP: Final = "ollama_sidecar_ollama_up"
OLLAMA_INFO: Final = "ollama_sidecar_ollama_info"
MODELS_LOADED: Final = "ollama_sidecar_models_loaded"
MODEL_SIZE: Final = "ollama_sidecar_model_size_bytes"
MODEL_VRAM: Final = "ollama_sidecar_model_vram_bytes"
REQUESTS_BY_PROCESSOR: Final = "ollama_sidecar_requests_by_processor_total"
GPU_PROCESS_MEMORY: Final = "ollama_sidecar_gpu_process_memory_bytes"
GPU_OLLAMA_MEMORY: Final = "ollama_sidecar_gpu_ollama_memory_bytes"

REQUEST_ENERGY: Final = "ollama_sidecar_gpu_request_energy_joules_total"
REQUEST_GPU_SECONDS: Final = "ollama_sidecar_gpu_request_seconds_total"
ENERGY_PER_OUTPUT_TOKEN: Final = "ollama_sidecar_gpu_energy_per_output_token_joules"
REQUESTS_UNMETERED: Final = "ollama_sidecar_gpu_requests_unmetered_total"
RESIDENCY_EVENTS: Final = "ollama_sidecar_model_residency_events_total"
MODEL_RESIDENT: Final = "ollama_sidecar_model_resident"
