import sys
from pathlib import Path

from ansible.utils.collection_loader._collection_finder import _AnsibleCollectionFinder

ROOT = Path(__file__).resolve().parents[2]
# The tests import the plugins by file name; the plugins import each other, and templates call the filters, by
# their collection path: Ansible's collection loader over collections/ (it links the repository as
# ansible_collections/monitoring/stack), as ansible-playbook sets it up.
_AnsibleCollectionFinder(paths=[str(ROOT / "collections")])._install()
for path in (ROOT / "tools", ROOT / "plugins/filter", ROOT / "plugins/modules", ROOT / "plugins/module_utils",
             ROOT / "plugins/plugin_utils", ROOT / "tests/lib"):
    sys.path.insert(0, str(path))
