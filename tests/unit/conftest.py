import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
for path in (ROOT / "tools", ROOT / "roles/monitoring_common/filter_plugins", ROOT / "roles/monitoring_common/library",
             ROOT / "roles/node_exporter/filter_plugins", ROOT / "roles/prometheus/filter_plugins", ROOT / "roles/alertmanager/filter_plugins", ROOT / "roles/grafana/filter_plugins",
             ROOT / "roles/monitoring_common/module_utils",
             ROOT / "tests/lib"):
    sys.path.insert(0, str(path))
