"""The top room: sidecar wiring and every CLI entry point; the only room that imports
receipts/, exporters/, dashboards/ and alerts/."""
