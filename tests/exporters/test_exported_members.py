import exporters


def test_all_exports_resolve_and_are_sorted() -> None:
    assert sorted(exporters.__all__) == exporters.__all__
    for name in exporters.__all__:
        assert getattr(exporters, name) is not None
    assert "GpuMonitor" in exporters.__all__
