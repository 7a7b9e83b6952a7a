"""Spans leave over OTLP, HTTP or gRPC, when the standard variables say where; a collector
on loopback receives them."""

from __future__ import annotations

import asyncio
from concurrent import futures
from pathlib import Path
from typing import Any

import aiohttp
import grpc
from aiohttp import web
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc

from telemetry import load_config
from telemetry.app._sidecar import Components, Sidecar
from telemetry.emulator import EmulatorServer


def span_names(request: trace_service_pb2.ExportTraceServiceRequest) -> list[str]:
    return [
        span.name for rs in request.resource_spans for ss in rs.scope_spans for span in ss.spans
    ]


async def run_one_request(emulator: EmulatorServer, tmp_path: Path, env: dict[str, str]) -> str:
    config = load_config(
        env={},
        overrides={
            "proxy": {
                "listen": "127.0.0.1:0",
                "admin_listen": "127.0.0.1:0",
                "upstream": emulator.url,
                "data_dir": tmp_path,
                "log_requests": False,
            }
        },
    )
    sidecar = Sidecar(config, env=env, components=Components())
    await sidecar.start()
    try:
        async with (
            aiohttp.ClientSession() as session,
            session.post(
                f"http://127.0.0.1:{sidecar.listen_port}/api/chat",
                json={"model": "llama3.1:8b", "messages": [{"role": "user", "content": "x"}]},
            ) as response,
        ):
            await response.read()
            return response.headers["X-Request-ID"]
    finally:
        await sidecar.stop()  # flushes the batch span processor


async def test_otlp_http(emulator: EmulatorServer, tmp_path: Path) -> None:
    received: list[trace_service_pb2.ExportTraceServiceRequest] = []

    async def traces(request: web.Request) -> web.Response:
        message = trace_service_pb2.ExportTraceServiceRequest()
        message.ParseFromString(await request.read())
        received.append(message)
        return web.Response(
            body=trace_service_pb2.ExportTraceServiceResponse().SerializeToString(),
            content_type="application/x-protobuf",
        )

    app = web.Application()
    app.router.add_post("/v1/traces", traces)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    port = runner.addresses[0][1]
    try:
        request_id = await run_one_request(
            emulator,
            tmp_path,
            {
                "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{port}",
                "OTEL_SERVICE_NAME": "sidecar-under-test",
            },
        )
    finally:
        await runner.cleanup()
    assert [n for r in received for n in span_names(r)] == ["chat llama3.1:8b"]
    resource = received[0].resource_spans[0].resource
    assert any(a.value.string_value == "sidecar-under-test" for a in resource.attributes)
    attributes = received[0].resource_spans[0].scope_spans[0].spans[0].attributes
    assert any(
        a.key == "ollama_sidecar.request_id" and a.value.string_value == request_id
        for a in attributes
    )


class Collector(trace_service_pb2_grpc.TraceServiceServicer):
    def __init__(self) -> None:
        self.received: list[trace_service_pb2.ExportTraceServiceRequest] = []

    def Export(self, request: Any, context: Any) -> Any:
        self.received.append(request)
        return trace_service_pb2.ExportTraceServiceResponse()


async def test_otlp_grpc(emulator: EmulatorServer, tmp_path: Path) -> None:
    collector = Collector()
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    trace_service_pb2_grpc.add_TraceServiceServicer_to_server(collector, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        await run_one_request(
            emulator,
            tmp_path,
            {
                "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": f"http://127.0.0.1:{port}",
                "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc",
                "OTEL_EXPORTER_OTLP_INSECURE": "true",
            },
        )
    finally:
        await asyncio.to_thread(server.stop, 1)
    assert [n for r in collector.received for n in span_names(r)] == ["chat llama3.1:8b"]
