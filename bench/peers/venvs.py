"""Private virtualenvs for the peer servers, one per peer under bench/.peers/<peer>/venv.

Each is installed on first use from its pinned requirements files in bench/ and rebuilt when
those files change; the project's own venv is never touched. `install.json` beside the venv
records what was installed and how long it took, and is written only once pip succeeded, so
a half-installed venv is never taken for a ready one.
"""

import hashlib
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent.parent
PEERS_DIR = BENCH / ".peers"
INSTALL_TIMEOUT = 1800

# Each peer: (requirements file, install with --no-deps), in order.
REQUIREMENTS = {
    "mlserver": [("requirements-mlserver.txt", False), ("requirements-mlserver-nodeps.txt", True)],
    "mlflow": [("requirements-mlflow.txt", False)],
}
# What `versions()` reports for each peer.
PACKAGES = {
    "mlserver": ["mlserver", "scikit-learn", "lightgbm", "xgboost-cpu", "numpy"],
    "mlflow": ["mlflow", "scikit-learn", "lightgbm", "xgboost-cpu", "numpy"],
}


class NotInstalled(Exception):
    """The peer's venv could not be installed; the message says why, in one line."""


def peer_dir(peer: str) -> Path:
    return PEERS_DIR / peer


def bin_dir(peer: str) -> Path:
    return peer_dir(peer) / "venv" / "bin"


def python(peer: str) -> Path:
    return bin_dir(peer) / "python"


def _digest(peer: str) -> str:
    sha = hashlib.sha256()
    for name, no_deps in REQUIREMENTS[peer]:
        sha.update(f"{name} {no_deps}\n".encode())
        sha.update((BENCH / name).read_bytes())
    return sha.hexdigest()


def record(peer: str) -> dict | None:
    """What install.json says, if the venv was installed from today's requirements files."""
    path = peer_dir(peer) / "install.json"
    if not path.exists() or not python(peer).exists():
        return None
    data = json.loads(path.read_text())
    return data if data.get("digest") == _digest(peer) else None


def ensure(peer: str, log=print) -> dict:
    """The peer's install record, installing its venv first if needed. Raises NotInstalled."""
    done = record(peer)
    if done:
        return done
    venv = peer_dir(peer) / "venv"
    shutil.rmtree(venv, ignore_errors=True)
    (peer_dir(peer) / "install.json").unlink(missing_ok=True)
    venv.parent.mkdir(parents=True, exist_ok=True)
    log(f"Installing {peer} into {venv.relative_to(BENCH.parent)} (first use)...")
    started = time.monotonic()
    logfile = peer_dir(peer) / "install.log"
    with open(logfile, "w") as out:
        steps = [[sys.executable, "-m", "venv", str(venv)]]
        steps.append([str(venv / "bin/python"), "-m", "pip", "install", "-q", "--upgrade", "pip"])
        for name, no_deps in REQUIREMENTS[peer]:
            extra = ["--no-deps"] if no_deps else []
            steps.append(
                [str(python(peer)), "-m", "pip", "install", *extra, "-r", str(BENCH / name)]
            )
        for step in steps:
            if not _run(step, out):
                shutil.rmtree(venv, ignore_errors=True)
                raise NotInstalled(_reason(logfile))
    data = {
        "digest": _digest(peer),
        "seconds": round(time.monotonic() - started, 1),
        "installed_at": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "versions": versions(peer),
        "size_mb": round(_size(venv) / 1e6),
    }
    (peer_dir(peer) / "install.json").write_text(json.dumps(data, indent=1) + "\n")
    log(f"Installed {peer} in {data['seconds']:.0f} s ({data['size_mb']} MB).")
    return data


def _run(command: list[str], out) -> bool:
    out.write(f"$ {' '.join(command)}\n")
    out.flush()
    try:
        done = subprocess.run(
            command, stdout=out, stderr=subprocess.STDOUT, timeout=INSTALL_TIMEOUT
        )
    except subprocess.TimeoutExpired:
        out.write(f"timed out after {INSTALL_TIMEOUT} s\n")
        return False
    return done.returncode == 0


def _reason(logfile: Path) -> str:
    lines = [line.strip() for line in logfile.read_text().splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("ERROR") or "timed out" in line]
    return (errors or lines or ["pip failed"])[-1][:200]


def _size(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file() and not f.is_symlink())


def versions(peer: str) -> dict:
    code = (
        "import importlib.metadata as m, json, sys\n"
        "out = {}\n"
        "for name in sys.argv[1:]:\n"
        "    try: out[name] = m.version(name)\n"
        "    except m.PackageNotFoundError: pass\n"
        "print(json.dumps(out))"
    )
    done = subprocess.run(
        [str(python(peer)), "-c", code, *PACKAGES[peer]], capture_output=True, text=True
    )
    return json.loads(done.stdout) if done.returncode == 0 else {}


if __name__ == "__main__":
    for name in sys.argv[1:] or list(REQUIREMENTS):
        try:
            print(name, json.dumps(ensure(name)))
        except NotInstalled as error:
            print(name, f"not installed: {error}")
