from __future__ import annotations

import alerts
import dashboards


def test_all_lists_exactly_the_public_names() -> None:
    for package in (alerts, dashboards):
        public = {name for name in vars(package) if not name.startswith("_")}
        public -= {"annotations"}
        modules = {name for name in public if type(getattr(package, name)).__name__ == "module"}
        assert set(package.__all__) == public - modules, package.__name__
