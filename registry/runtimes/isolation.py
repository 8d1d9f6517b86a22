"""Validating a pickle (joblib) upload in a separate, short-lived, unprivileged process.

Unpickling runs whatever code the file names, so the process that checks an upload never does
it. It starts `python -m registry.runtimes.isolation` with a clean environment (no secrets in
it), in a session of its own that is killed past a timeout. The child limits its own memory,
CPU time and the size of files it writes, imports what it needs, becomes `nobody` if it was
started as root, and only then reads the artifact from a file descriptor it inherits, loads
it, runs the input example, tries the ONNX twin, and writes one JSON answer. That answer comes
from code the upload controlled, so it is checked like any input: the example's output against
the task, the twin as any ONNX model.

Workers still load approved pickles themselves: only staff upload them, with their sha256,
which the worker checks against the stored file before loading it.
"""

import base64
import contextlib
import json
import math
import os
import pwd
import re
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from registry.runtimes.base import ArtifactError, PathLike

_ROOT = Path(__file__).resolve().parents[2]  # the project, importable by the child
_CODE = re.compile(r"[a-z_]{1,40}")
_RUNTIME = re.compile(r"[a-z0-9_.()\- ]{1,20}")


@dataclass(frozen=True)
class IsolationLimits:
    """What the child may spend; its answer (the twin, as base64) may be `answer_bytes`."""

    timeout_seconds: float = 60
    memory_bytes: int = 2 * 1024**3
    answer_bytes: int = 512 * 1024**2


DEFAULT_LIMITS = IsolationLimits()


def run_isolated(
    path: PathLike, fmt: str, *, input_example: dict, twin: bool, limits: IsolationLimits, **spec
) -> dict:
    """`loading.check_model` of the artifact at `path`, run in a child process; the same dict."""
    request = {
        "fmt": fmt,
        "input_example": input_example,
        "twin": twin,
        "memory_bytes": limits.memory_bytes,
        "cpu_seconds": math.ceil(limits.timeout_seconds) + 1,
        "answer_bytes": limits.answer_bytes,
        **spec,
    }
    with (
        open(path, "rb") as artifact,
        tempfile.TemporaryFile() as stdin,
        tempfile.TemporaryFile() as answer,
        tempfile.TemporaryFile() as errors,
    ):
        request["fd"] = artifact.fileno()
        request["user"] = _unprivileged_user()
        stdin.write(json.dumps(request).encode())
        stdin.seek(0)
        returncode = _run_child((stdin, answer, errors), artifact.fileno(), limits)
        answer.seek(0)
        text = answer.read(limits.answer_bytes + 1)
        errors.seek(0, os.SEEK_END)
        errors.seek(max(errors.tell() - 300, 0))
        last_error = errors.read().decode(errors="replace").strip().splitlines()[-1:]
    return _checked_answer(text, returncode, fmt, last_error, input_example, **spec)


def _run_child(files: tuple, artifact_fd: int, limits: IsolationLimits) -> int:
    """Run the child on (stdin, stdout, stderr) `files` until it exits or the time is up, then
    kill what is left of its session; its exit status."""
    child = subprocess.Popen(  # noqa: S603 - our own module, with a fixed argument list
        [sys.executable, "-m", __name__],
        stdin=files[0],
        stdout=files[1],
        stderr=files[2],
        pass_fds=(artifact_fd,),
        cwd=_ROOT,
        env=_environment(),
        start_new_session=True,  # so that whatever it starts is ended with it
    )
    try:
        exited = _exited_within(child.pid, limits.timeout_seconds)
        # Not reaped yet, so its session id is still its own: nothing else can be killed.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(child.pid, signal.SIGKILL)
    finally:
        child.wait()
    if not exited:
        raise ArtifactError(
            "loading the artifact and running its example took more than "
            f"{limits.timeout_seconds:g} s",
            code="timeout",
        )
    return child.returncode


def _exited_within(pid: int, seconds: float) -> bool:
    """Whether the process exited within `seconds`, leaving it unreaped."""
    deadline = time.monotonic() + seconds
    while os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is None:
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def _environment() -> dict[str, str]:
    """Only what Python needs: the server's environment holds its secrets."""
    kept = {name: os.environ[name] for name in ("PATH", "LANG", "TZ") if name in os.environ}
    return {
        **kept,
        "PYTHONPATH": str(_ROOT),
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONNOUSERSITE": "1",
        "HOME": "/nonexistent",
        "OMP_NUM_THREADS": "1",
        "OPENBLAS_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
    }


def _unprivileged_user() -> list[int] | None:
    """[uid, gid] of `nobody`, whom the child becomes when this process is root; otherwise
    None, and it stays this user."""
    if os.geteuid() != 0:
        return None
    nobody = pwd.getpwnam("nobody")
    return [nobody.pw_uid, nobody.pw_gid]


def _checked_answer(
    text: bytes, returncode: int, fmt: str, last_error: list[str], input_example: dict, **spec
) -> dict:
    """The child's answer, checked as untrusted input."""
    from registry.runtimes.loading import check_output

    try:
        answer = json.loads(text.splitlines()[-1])
    except (IndexError, ValueError):
        answer = None
    if not isinstance(answer, dict):
        said = f": {last_error[0][-200:]}" if last_error else ""
        raise ArtifactError(
            f"the process that loaded the {fmt} artifact ended without an answer "
            f"(exit status {returncode}){said}",
            code="load_failed",
        )
    if not answer.get("ok"):
        code, message = answer.get("code"), answer.get("message")
        code = code if isinstance(code, str) and _CODE.fullmatch(code) else "load_failed"
        message = message[:300] if isinstance(message, str) else f"the {fmt} artifact failed"
        raise ArtifactError(message, code=code)
    output = answer.get("example_output")
    if not isinstance(output, dict):
        raise ArtifactError("the example's output is not an object", code="example_failed")
    check_output(output, task=spec["task"], labels=spec["labels"], example=input_example)
    runtime = answer.get("runtime")
    if not (isinstance(runtime, str) and _RUNTIME.fullmatch(runtime)):
        raise ArtifactError("the artifact's runtime has no name", code="load_failed")
    twin, report = _checked_twin(answer, **spec)
    return {"runtime": runtime, "example_output": output, "twin": twin, "twin_report": report}


def _checked_twin(answer: dict, **spec) -> tuple[bytes | None, dict]:
    """The twin loads here as an ONNX upload would (one file, no external data), or is
    dropped."""
    from registry.runtimes.formats.onnx import OnnxPredictor

    report = answer.get("twin_report")
    report = report if isinstance(report, dict) else {}
    encoded = answer.get("twin")
    if not isinstance(encoded, str):
        return None, report
    try:
        twin = base64.b64decode(encoded, validate=True)
        OnnxPredictor(twin, **spec)
    except Exception as exc:  # an upload-controlled twin: whatever fails, it is not kept
        return None, {"kept": False, "reason": f"the twin did not load: {type(exc).__name__}"}
    return twin, report


# --- The child --------------------------------------------------------------------------------


def _limit_self(request: dict) -> None:
    import resource

    resource.setrlimit(resource.RLIMIT_AS, (request["memory_bytes"],) * 2)
    resource.setrlimit(resource.RLIMIT_CPU, (request["cpu_seconds"],) * 2)
    resource.setrlimit(resource.RLIMIT_FSIZE, (request["answer_bytes"],) * 2)
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def _prepare(twin: bool) -> None:
    """Import what loading, running and converting a model need while the interpreter's files
    are still readable: the child may become a user who cannot read them."""
    import bz2  # noqa: F401 - joblib's compressed files
    import gzip  # noqa: F401
    import lzma  # noqa: F401

    import joblib  # noqa: F401
    import sklearn.base  # noqa: F401

    import registry.runtimes.loading  # noqa: F401
    import registry.twins  # noqa: F401

    if twin:
        import skl2onnx  # noqa: F401
        import skl2onnx.common.data_types  # noqa: F401


def _become(user: list[int] | None) -> None:
    """Give up root for good, before the artifact is read."""
    if user is not None:
        uid, gid = user
        os.setgroups([])
        os.setgid(gid)
        os.setuid(uid)


def _child() -> None:
    request = json.loads(sys.stdin.buffer.read())
    _limit_self(request)
    _prepare(request["twin"])
    _become(request["user"])
    answer_fd = os.dup(1)
    os.dup2(2, 1)  # what the model's code prints must not pass for the answer
    try:
        answer = _check(request)
    except ArtifactError as exc:
        answer = {"ok": False, "code": exc.code, "message": exc.message}
    except BaseException as exc:  # noqa: BLE001 - whatever the pickle raises is an answer
        from registry.runtimes.base import describe

        answer = {"ok": False, "code": "load_failed", "message": describe(exc)}
    os.write(answer_fd, json.dumps(answer).encode() + b"\n")


def _check(request: dict) -> dict:
    from registry.runtimes.formats import FORMATS
    from registry.runtimes.loading import check_model

    spec = {key: request[key] for key in ("task", "input_schema", "labels")}
    with os.fdopen(request["fd"], "rb") as artifact:
        checked = check_model(
            FORMATS[request["fmt"]],
            artifact,
            input_example=request["input_example"],
            twin=request["twin"],
            **spec,
        )
    twin = checked["twin"]
    checked["twin"] = None if twin is None else base64.b64encode(twin).decode()
    return {"ok": True, **checked}


if __name__ == "__main__":
    _child()
