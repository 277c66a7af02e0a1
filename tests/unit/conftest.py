import importlib
import sys
from pathlib import Path

from ansible.utils.collection_loader._collection_finder import _AnsibleCollectionFinder

ROOT = Path(__file__).resolve().parents[2]
# The plugins import each other relative to their collection package, and templates call the filters by FQCN:
# Ansible's collection loader over collections/ (it links the repository as ansible_collections/monitoring/stack),
# as ansible-playbook sets it up. The tests name each plugin module by its file name (import monitoring_common):
# that name is the collection's module itself, so a monkeypatch reaches the code Ansible runs.
_AnsibleCollectionFinder(paths=[str(ROOT / "collections")])._install()
for kind in ("module_utils", "plugin_utils", "filter", "modules"):
    for path in sorted((ROOT / "plugins" / kind).glob("*.py")):
        sys.modules.setdefault(path.stem, importlib.import_module(f"ansible_collections.monitoring.stack.plugins.{kind}.{path.stem}"))
for path in (ROOT / "tools", ROOT / "tests/lib"):
    sys.path.insert(0, str(path))
