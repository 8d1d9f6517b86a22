"""Client generators, installed once into a cache outside the project's venv.

openapi-python-client pins its own httpx/pydantic/ruff, so it lives in a private venv
(OPENAPI_TOOLS_DIR, default .venv-tools/ at the repository root); openapi-typescript and
TypeScript are npm packages installed under the same directory.
"""

import os
import shutil
import sys
from pathlib import Path

import pytest

from tests.support.commands import run

ROOT = Path(__file__).resolve().parents[2]
TOOLS = Path(os.environ.get("OPENAPI_TOOLS_DIR", ROOT / ".venv-tools"))
PYTHON_GENERATOR = "openapi-python-client==0.29.0"
NPM_PACKAGES = ["openapi-typescript@7.13.0", "typescript@5.9.3"]


@pytest.fixture(scope="session")
def python_tools() -> Path:
    """The private venv's bin/ directory, with openapi-python-client in it."""
    venv = TOOLS / "python"
    stamp = venv / f".{PYTHON_GENERATOR}"
    if not stamp.exists():
        shutil.rmtree(venv, ignore_errors=True)
        run(sys.executable, "-m", "venv", venv)
        run(venv / "bin/python", "-m", "pip", "install", "--quiet", PYTHON_GENERATOR)
        stamp.touch()
    return venv / "bin"


@pytest.fixture(scope="session")
def node_tools() -> Path:
    """node_modules/.bin with openapi-typescript and tsc; skipped where Node is missing."""
    if not (shutil.which("node") and shutil.which("npm")):
        pytest.skip("Node.js and npm are not installed: the TypeScript client check is skipped.")
    prefix = TOOLS / "npm"
    stamp = prefix / ("." + "+".join(NPM_PACKAGES).replace("/", "_"))
    if not stamp.exists():
        prefix.mkdir(parents=True, exist_ok=True)
        (prefix / "package.json").write_text('{"private": true}\n')
        run("npm", "install", "--silent", "--no-audit", "--no-fund", *NPM_PACKAGES, cwd=prefix)
        stamp.touch()
    return prefix / "node_modules/.bin"
