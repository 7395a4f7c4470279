"""Print the hash that names the shared virtual environment.

It covers what decides the installed packages (the dependency lists in
pyproject.toml and the pins in constraints.txt) and nothing else, so editing
tool settings in pyproject.toml does not rebuild an 11 GB environment.
"""

import hashlib
import json
import tomllib
from pathlib import Path

root = Path(__file__).resolve().parent.parent
project = tomllib.loads((root / "pyproject.toml").read_text())["project"]
deps = json.dumps([project["dependencies"], project["optional-dependencies"]], sort_keys=True)
pins = (root / "requirements" / "constraints.txt").read_text()
print(hashlib.sha256((deps + pins).encode()).hexdigest()[:16])
