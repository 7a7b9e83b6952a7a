"""GPU dashboard: device health and load, and where Ollama placed each request and model."""

from __future__ import annotations

from typing import Any

from dashboards._dashboard import INSTANCE, MODEL, RATE, TIER, dashboard, layout, sel
from dashboards._panels import Query, bar_gauge, stat, state_timeline, timeseries
from exporters import metric_names as gpu

HOST = sel(INSTANCE)
DEVICE = "{{instance}} gpu{{gpu}} {{name}}"


def _device(title: str, description: str, unit: str, metric: str) -> dict[str, Any]:
    return timeseries(title, description, unit, Query(f"{metric}{HOST}", DEVICE))


def gpus_dashboard() -> dict[str, Any]:
    devices = stat(
        "GPUs found",
        "Devices the sidecar's GPU backend sees on each host.",
        "short",
        Query(f"sum({gpu.GPU_DEVICES}{HOST})", instant=True),
    )
    backend = stat(
        "GPU backend up",
        "1 per backend that initialised (NVML, AMD SMI, ROCm SMI, Apple); 0 with the reason "
        "it is unavailable.",
        "short",
        Query(
            f"max by ({gpu.LABEL_BACKEND}) ({gpu.GPU_BACKEND_UP}{HOST})",
            "{{backend}}",
            instant=True,
        ),
    )
    device_up = stat(
        "Devices up",
        "Per-GPU health: 1 answers its driver, 0 lost or unhealthy.",
        "short",
        Query(f"{gpu.GPU_UP}{HOST}", DEVICE, instant=True),
        thresholds=(("red", None), ("green", 1)),
    )
    utilization = _device(
        "Utilization", "Share of time the GPU was busy.", "percentunit", gpu.GPU_UTILIZATION
    )
    memory = timeseries(
        "Memory used and total",
        "Device memory in use against the device's total.",
        "bytes",
        Query(f"{gpu.GPU_MEMORY_USAGE}{HOST}", f"{DEVICE} used"),
        Query(f"{gpu.GPU_MEMORY_LIMIT}{HOST}", f"{DEVICE} total"),
    )
    temperature = _device("Temperature", "GPU temperature.", "celsius", gpu.GPU_TEMPERATURE)
    power = timeseries(
        "Power against limit",
        "Power draw and the enforced power limit.",
        "watt",
        Query(f"{gpu.GPU_POWER}{HOST}", f"{DEVICE} draw"),
        Query(f"{gpu.GPU_POWER_LIMIT}{HOST}", f"{DEVICE} limit"),
    )
    clocks = _device("Clocks", "SM and memory clocks.", "hertz", gpu.GPU_CLOCK)
    throttling = timeseries(
        "Clock events (throttling)",
        "Active clock-event reasons per GPU: thermal or hardware slowdown reduce throughput; "
        "idle and power cap are normal.",
        "short",
        Query(
            f"max by (instance, gpu, {gpu.LABEL_REASON}) ({gpu.GPU_CLOCK_EVENT}{HOST}) > 0",
            "gpu{{gpu}} {{reason}}",
        ),
    )
    errors = timeseries(
        "Hardware errors",
        "GPU error counts (ECC and similar) per second.",
        "short",
        Query(f"sum by (instance, gpu, name) (rate({gpu.GPU_ERRORS}{HOST}[{RATE}]))", DEVICE),
    )
    processor = timeseries(
        "Requests by processor",
        "Where each request ran: gpu (model fully in VRAM), partial, cpu, remote (a cloud "
        "model Ollama forwards to another host; no local GPU or CPU) or unknown.",
        "reqps",
        Query(
            f"sum by ({gpu.LABEL_PROCESSOR}) "
            f"(rate({gpu.REQUESTS_BY_PROCESSOR}{sel(INSTANCE, TIER)}[{RATE}]))",
            "{{processor}}",
        ),
        stack=True,
    )
    loaded = stat(
        "Models loaded",
        "Models Ollama holds in memory right now.",
        "short",
        Query(f"sum({gpu.MODELS_LOADED}{HOST})", instant=True),
    )
    residency = bar_gauge(
        "Model residency in VRAM",
        "Share of each loaded model held in GPU memory (1 = fully on the GPU).",
        "percentunit",
        Query(
            f"max by ({gpu.LABEL_MODEL}) ({gpu.MODEL_VRAM}{sel(INSTANCE, MODEL)})\n/\n"
            f"max by ({gpu.LABEL_MODEL}) ({gpu.MODEL_SIZE}{sel(INSTANCE, MODEL)})",
            "{{gen_ai_request_model}}",
            instant=True,
        ),
    )
    resident = state_timeline(
        "Models resident",
        "Which models Ollama held loaded, when (from its /api/ps and load/unload replies).",
        ((0, "unloaded", "transparent"), (1, "resident", "green")),
        Query(
            f"max by ({gpu.LABEL_MODEL}) ({gpu.MODEL_RESIDENT}{sel(INSTANCE, MODEL)})",
            "{{gen_ai_request_model}}",
        ),
    )
    residency_events = timeseries(
        "Residency events",
        "Model loads, unloads and evictions per interval; evictions that keep coming mean "
        "models compete for GPU memory (alert: model thrashing).",
        "short",
        Query(
            f"sum by (event, {gpu.LABEL_MODEL}) "
            f"(increase({gpu.RESIDENCY_EVENTS}{sel(INSTANCE, MODEL)}[$__rate_interval]))",
            "{{event}} {{gen_ai_request_model}}",
        ),
    )
    energy = timeseries(
        "GPU energy by model",
        "GPU energy attributed to requests (each request's share of its GPUs' energy counters).",
        "watt",
        Query(
            f"sum by ({gpu.LABEL_MODEL}) "
            f"(rate({gpu.REQUEST_ENERGY}{sel(INSTANCE, MODEL, TIER)}[{RATE}]))",
            "{{gen_ai_request_model}}",
        ),
        stack=True,
    )
    per_token = timeseries(
        "Energy per output token",
        "GPU joules per generated token, mean over the rate window.",
        "joule",
        Query(
            f"sum by ({gpu.LABEL_MODEL}) "
            f"(rate({gpu.ENERGY_PER_OUTPUT_TOKEN}_sum{sel(INSTANCE, MODEL)}[{RATE}]))\n/\n"
            f"sum by ({gpu.LABEL_MODEL}) "
            f"(rate({gpu.ENERGY_PER_OUTPUT_TOKEN}_count{sel(INSTANCE, MODEL)}[{RATE}]))",
            "{{gen_ai_request_model}}",
        ),
    )
    panels = layout(
        [
            [(devices, 6), (backend, 6), (device_up, 6), (loaded, 6)],
            [(utilization, 12), (memory, 12)],
            [(temperature, 8), (power, 8), (clocks, 8)],
            [(throttling, 12), (errors, 12)],
            [(processor, 12), (residency, 12)],
            [(resident, 12), (residency_events, 12)],
            [(energy, 12), (per_token, 12)],
        ]
    )
    return dashboard(
        "ollama-sidecar-gpus",
        "Ollama sidecar / GPUs",
        "GPU health, load and Ollama's model placement on each host.",
        panels,
    )
