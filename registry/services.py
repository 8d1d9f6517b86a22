"""Writes on the registry. Every change leaves an audit event; alias moves leave history rows."""

import hashlib
import os
import tempfile
from decimal import Decimal
from pathlib import Path
from typing import IO, TypedDict, Unpack

from django.conf import settings
from django.core.files import File
from django.core.files.base import ContentFile
from django.db import transaction
from django.db.models import Max

from mlservice.errors import Conflict, NotFound, ServiceError
from registry import runtimes, validation
from registry.models import Alias, AliasMove, AuditEvent, MLModel, ModelVersion, Task


class InvalidArtifact(ServiceError, code="invalid_artifact"):
    default_detail = "The model artifact was rejected."


class ArtifactTooLarge(InvalidArtifact, status_code=413, code="too_large"):
    pass


def _audit(model: MLModel, action: str, actor, version=None, **details) -> None:
    AuditEvent.objects.create(
        model=model, version=version, action=action, actor=actor, details=details
    )


def _actor(user):
    return user if user is not None and user.is_authenticated else None


@transaction.atomic
def model_create(
    *, name: str, task: str, title: str = "", description: str = "", actor=None
) -> MLModel:
    if MLModel.objects.filter(name=name).exists():
        raise ServiceError(
            "A model with that name already exists.",
            code="unique",
            fields={"name": ["A model with that name already exists."]},
        )
    if task not in Task.values:
        raise ServiceError(f"task must be one of {', '.join(Task.values)}.", code="invalid")
    model = MLModel.objects.create(
        name=name, task=task, title=title, description=description, created_by=_actor(actor)
    )
    _audit(model, "model_created", _actor(actor), name=name, task=task)
    return model


@transaction.atomic
def model_update(*, model: MLModel, actor=None, **changes) -> MLModel:
    allowed = {"title", "description", "is_archived"}
    changed = {}
    for field, value in changes.items():
        if field not in allowed:
            raise ServiceError(f"{field} cannot be changed.", code="read_only")
        if getattr(model, field) != value:
            changed[field] = value
            setattr(model, field, value)
    if changed:
        model.save(update_fields=[*changed, "updated_at"])
        action = "model_updated"
        if "is_archived" in changed:
            action = "model_archived" if changed["is_archived"] else "model_unarchived"
        _audit(model, action, _actor(actor), **changed)
    return model


def _stage_upload(upload: IO[bytes] | str | Path, max_bytes: int) -> Path:
    """Copy the upload to a private temporary file, refusing it past max_bytes while copying."""
    staging = Path(settings.MEDIA_ROOT) / "staging"
    staging.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=staging, suffix=".upload")
    path = Path(name)
    try:
        with os.fdopen(fd, "wb") as out:
            if isinstance(upload, (str, Path)):
                source = open(upload, "rb")  # noqa: SIM115 - closed below
            else:
                source = upload
                if hasattr(source, "seek"):
                    source.seek(0)
            try:
                copied = 0
                for chunk in iter(lambda: source.read(1024 * 1024), b""):
                    copied += len(chunk)
                    if copied > max_bytes:
                        raise ArtifactTooLarge(
                            f"The artifact is larger than the limit of {max_bytes:,} bytes."
                        )
                    out.write(chunk)
            finally:
                if isinstance(upload, (str, Path)):
                    source.close()
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return path


def _check_request(version: ModelVersion, artifact) -> None:
    """Refuse what is wrong before the artifact is even read: its format, stated size, and the
    version's schema, labels and input example."""
    if version.format not in runtimes.FORMATS:
        raise InvalidArtifact(
            f"format must be one of {', '.join(runtimes.FORMATS)}.", code="invalid_format"
        )
    if runtimes.FORMATS[version.format].pickle and not settings.ALLOW_PICKLE_UPLOADS:
        raise InvalidArtifact(
            f"{version.format} (pickle) uploads are turned off here (ALLOW_PICKLE_UPLOADS): "
            "loading one runs arbitrary code. Upload skops or ONNX.",
            code="pickle_not_allowed",
        )
    fields = {}
    problems = validation.schema_problems(version)
    if problems:
        fields["input_schema"] = problems
    labels = version.labels
    if version.model.task == Task.CLASSIFICATION:
        if not (
            isinstance(labels, list)
            and len(labels) >= 2
            and all(isinstance(label, str) and label for label in labels)
            and len(set(labels)) == len(labels)
        ):
            fields["labels"] = ["A classifier needs a list of two or more distinct class labels."]
    elif labels:
        fields["labels"] = [f"A {version.model.task} model has no class labels."]
    if not fields:
        errors = validation.input_errors(version.input_example, version)
        if errors:
            fields["input_example"] = [f"{k}: {v}" for k, v in errors.items()]
    if fields:
        raise ServiceError(
            "The version's metadata is invalid: " + ", ".join(fields) + ".",
            code="invalid",
            fields=fields,
        )
    max_bytes = settings.MODEL_MAX_UPLOAD_BYTES
    size = getattr(artifact, "size", None)
    if size is not None and size > max_bytes:
        raise ArtifactTooLarge(f"The artifact is larger than the limit of {max_bytes:,} bytes.")


class VersionOptions(TypedDict, total=False):
    """How a version is described, served and charged: stored as given."""

    metrics: dict
    notes: str
    ignore_extra_features: bool
    timeout_seconds: int
    price_per_row: Decimal


def version_create(
    *,
    model: MLModel,
    artifact: IO[bytes] | str | Path,
    format: str,
    input_schema: list[dict],
    input_example: dict,
    labels: list[str] | None = None,
    expected_sha256: str | None = None,
    actor=None,
    trusted_operator: bool = False,
    alias: str = "",
    alias_reason: str = "",
    **options: Unpack[VersionOptions],
) -> ModelVersion:
    """Validate an artifact completely, then store it under a generated name and add the row;
    with `alias`, point that alias at the new version in the same transaction.

    Nothing is saved unless the artifact loads and its input example predicts correctly; on any
    failure no row and no file remain. Pickles (joblib) execute code when loaded, so they are
    accepted only with ALLOW_PICKLE_UPLOADS on, from staff (or an operator at the command line),
    and only when the sha256 they state matches the bytes received; that check happens before
    anything is unpickled, and unpickling happens in another process (`runtimes.isolation`).
    """
    version = ModelVersion(
        model=model,
        format=format,
        input_schema=input_schema,
        input_example=input_example,
        labels=labels or None,
        created_by=_actor(actor),
        **options,
    )
    _check_request(version, artifact)
    staged = _stage_upload(artifact, settings.MODEL_MAX_UPLOAD_BYTES)
    try:
        allow_pickle = trusted_operator or bool(actor is not None and actor.is_staff)
        twin = _check_staged(staged, version, expected_sha256, allow_pickle)
        return _store_version(version, staged, twin, alias=alias, alias_reason=alias_reason)
    finally:
        staged.unlink(missing_ok=True)


def _check_staged(
    staged: Path, version: ModelVersion, expected_sha256: str | None, allow_pickle: bool
) -> bytes | None:
    """Validate the staged artifact and fill in the version's fields that come from the file;
    returns the bytes of its ONNX twin, if one agrees with it."""
    try:
        checked = runtimes.validate_artifact(
            staged,
            version.format,
            task=version.model.task,
            input_schema=version.input_schema,
            labels=version.labels,
            input_example=version.input_example,
            max_bytes=settings.MODEL_MAX_UPLOAD_BYTES,
            max_members=settings.MODEL_MAX_ARCHIVE_MEMBERS,
            max_unpacked_bytes=settings.MODEL_MAX_UNPACKED_BYTES,
            expected_sha256=(expected_sha256 or "").strip().lower() or None,
            allow_pickle=allow_pickle,
            # The ONNX fast path: a twin, if one agrees; a lag forecaster calls its regressor on
            # a few rows per step, where a twin would not pay.
            twin=settings.REGISTRY_ONNX_TWINS and not version.is_forecast,
            isolation=runtimes.IsolationLimits(
                timeout_seconds=settings.PICKLE_VALIDATION_TIMEOUT_SECONDS,
                memory_bytes=settings.PICKLE_VALIDATION_MEMORY_BYTES,
            ),
        )
    except runtimes.ArtifactError as exc:
        error_class = ArtifactTooLarge if exc.code == "too_large" else InvalidArtifact
        raise error_class(exc.message, code=exc.code) from None
    version.runtime, version.sha256 = checked["runtime"], checked["sha256"]
    version.size, version.twin_report = checked["size"], checked["twin_report"]
    return checked["twin"]


def _store_version(
    version: ModelVersion, staged: Path, twin: bytes | None, *, alias: str, alias_reason: str
) -> ModelVersion:
    """Number the version, save its files and row (and move the alias), or leave nothing."""
    model = version.model
    try:
        with transaction.atomic():
            # Lock the model row so concurrent uploads get consecutive numbers.
            MLModel.objects.select_for_update().filter(pk=model.pk).first()
            version.number = (model.versions.aggregate(n=Max("number"))["n"] or 0) + 1
            _save_files(version, staged, twin)
            version.save()
            _audit(
                model,
                "version_created",
                version.created_by,
                version=version,
                number=version.number,
                format=version.format,
                sha256=version.sha256,
                size=version.size,
            )
            if alias:
                alias_set(
                    model=model,
                    alias=alias,
                    version=version,
                    actor=version.created_by,
                    reason=alias_reason,
                )
    except BaseException:
        for name in (version.artifact.name, version.onnx_twin.name):
            if name:
                version.artifact.storage.delete(name)
        raise
    return version


def _save_files(version: ModelVersion, staged: Path, twin: bytes | None) -> None:
    with open(staged, "rb") as handle:
        version.artifact.save("upload", File(handle), save=False)
    if twin is not None:
        version.onnx_twin.save("twin.onnx", ContentFile(twin), save=False)
        version.twin_sha256 = hashlib.sha256(twin).hexdigest()


@transaction.atomic
def version_set_price(*, version: ModelVersion, price_per_row: Decimal, actor=None) -> ModelVersion:
    """Change what a version charges per row; predictions already submitted keep their cost."""
    if price_per_row < 0:
        raise ServiceError(
            "The price must be 0 or more.", fields={"price_per_row": ["Must be 0 or more."]}
        )
    old = ModelVersion.objects.filter(pk=version.pk).values_list("price_per_row", flat=True)[0]
    if old != price_per_row:
        ModelVersion.objects.filter(pk=version.pk).update(price_per_row=price_per_row)
        version.price_per_row = price_per_row
        _audit(
            version.model,
            "version_price_changed",
            _actor(actor),
            version=version,
            number=version.number,
            old=str(old),
            new=str(price_per_row),
        )
    return version


# --- Aliases: every change is one audited move, and the move before it can be rolled back ---


def _no_change(alias: str, message: str):
    return Conflict(f"Alias {alias!r}: {message}", code="alias_unchanged")


def _versions_by_number(model: MLModel, state: dict) -> dict[int, ModelVersion]:
    canary = state["canary"] or {}
    numbers = {state["version"], *state["shadows"], canary.get("version")} - {None}
    return {v.number: v for v in model.versions.filter(number__in=numbers)}


def _normalized(state: dict) -> dict:
    """A version serves an alias one way at a time: the primary or its canary is never also a
    shadow, and a split to the primary itself is no split."""
    canary = state["canary"]
    if canary and canary["version"] == state["version"]:
        canary = None
    serving = {state["version"], canary["version"] if canary else None}
    shadows = sorted({n for n in state["shadows"] if n not in serving})
    return {"version": state["version"], "shadows": shadows, "canary": canary}


@transaction.atomic
def _alias_move(*, model: MLModel, alias: str, kind: str, actor, reason: str, change) -> Alias:
    """The one writer of aliases: lock the alias, compute its new state from the current one
    (`change(state or None) -> state`), store it with an AliasMove and an AuditEvent."""
    current = (
        Alias.objects.select_for_update(of=("self",))
        .select_related("version", "canary_version")
        .filter(model=model, name=alias)
        .first()
    )
    before = current.state() if current else None
    after = _normalized(change(before))
    versions = _versions_by_number(model, after)
    if current is None:
        current = Alias(model=model, name=alias)
    previous = current.version if current.pk else None
    current.version = versions[after["version"]]
    canary = after["canary"]
    current.canary_version = versions[canary["version"]] if canary else None
    current.canary_percent = canary["percent"] if canary else 0
    current.updated_by = _actor(actor)
    current.save()
    current.shadows.set([versions[n] for n in after["shadows"]])
    move = AliasMove.objects.create(
        model=model,
        alias=alias,
        kind=kind,
        from_version=previous,
        to_version=current.version,
        from_state=before,
        to_state=after,
        actor=_actor(actor),
        reason=reason,
    )
    _audit(
        model,
        f"alias_{kind}",
        move.actor,
        version=current.version,
        alias=alias,
        from_version=previous.number if previous else None,
        to_version=current.version.number,
        from_state=before,
        to_state=after,
        reason=reason,
    )
    return current


def _of_model(model: MLModel, version: ModelVersion) -> int:
    if version.model_id != model.pk:
        raise ServiceError(f"Version {version.number} is not a version of {model.name}.")
    return version.number


def _alias_edit(*, model: MLModel, alias: str, kind: str, actor, reason: str, edit) -> Alias:
    """A move of an alias that must exist already: `edit(state) -> state` changes its state."""

    def change(state):
        if state is None:
            raise NotFound(f"Model {model.name!r} has no alias {alias!r}.", code="alias_not_found")
        return edit(state)

    return _alias_move(
        model=model, alias=alias, kind=kind, actor=actor, reason=reason, change=change
    )


def alias_set(
    *,
    model: MLModel,
    alias: str,
    version: ModelVersion,
    actor=None,
    reason: str = "",
    kind: str = AliasMove.Kind.SET,
) -> Alias:
    """Point the alias at `version`; its shadows and split stay, except where that version was
    one of them (promoting a candidate ends its test)."""
    number = _of_model(model, version)

    def change(state):
        kept = state or {"shadows": [], "canary": None}
        return {**kept, "version": number}

    return _alias_move(
        model=model, alias=alias, kind=kind, actor=actor, reason=reason, change=change
    )


def alias_promote(*, model: MLModel, alias: str, version: ModelVersion, actor=None, reason=""):
    """The candidate becomes the alias's version; its shadow or split ends with the move."""
    return alias_set(
        model=model,
        alias=alias,
        version=version,
        actor=actor,
        reason=reason or f"Promoted v{version.number}",
        kind=AliasMove.Kind.PROMOTE,
    )


@transaction.atomic
def alias_rollback(*, model: MLModel, alias: str, actor=None, reason: str = "") -> Alias:
    """Put the alias back as it was before its last move: version, shadows and split."""
    # Locked before its history is read, so concurrent moves cannot slip in between.
    Alias.objects.select_for_update(of=("self",)).filter(model=model, name=alias).first()
    last = AliasMove.objects.filter(model=model, alias=alias).order_by("-created_at", "-id").first()

    def edit(_state):
        if last is None or last.from_version_id is None:
            raise Conflict(
                f"Alias {alias!r} has no earlier version to roll back to.",
                code="nothing_to_roll_back",
            )
        # Moves recorded before shadows and splits existed had neither.
        empty = {"version": last.from_version.number, "shadows": [], "canary": None}
        return last.from_state or empty

    return _alias_edit(
        model=model,
        alias=alias,
        kind=AliasMove.Kind.ROLLBACK,
        actor=actor,
        reason=reason or f"Rollback of the last move ({last.kind if last else 'none'})",
        edit=edit,
    )


def alias_shadow_add(*, model: MLModel, alias: str, version: ModelVersion, actor=None, reason=""):
    """`version` also runs every prediction served through the alias, for comparison only."""
    number = _of_model(model, version)

    def edit(state):
        canary = (state["canary"] or {}).get("version")
        if number in (state["version"], canary) or number in state["shadows"]:
            raise _no_change(alias, f"v{number} already serves it or shadows it.")
        if len(state["shadows"]) >= settings.ROLLOUT_MAX_SHADOWS:
            raise Conflict(
                f"Alias {alias!r} has {settings.ROLLOUT_MAX_SHADOWS} shadows, the most allowed.",
                code="too_many_shadows",
            )
        return {**state, "shadows": [*state["shadows"], number]}

    kind = AliasMove.Kind.SHADOW_ADD
    return _alias_edit(model=model, alias=alias, kind=kind, actor=actor, reason=reason, edit=edit)


def alias_shadow_remove(
    *, model: MLModel, alias: str, version: ModelVersion, actor=None, reason=""
) -> Alias:
    number = _of_model(model, version)

    def edit(state):
        if number not in state["shadows"]:
            raise _no_change(alias, f"v{number} is not one of its shadows.")
        return {**state, "shadows": [n for n in state["shadows"] if n != number]}

    kind = AliasMove.Kind.SHADOW_REMOVE
    return _alias_edit(model=model, alias=alias, kind=kind, actor=actor, reason=reason, edit=edit)


def alias_split_set(
    *, model: MLModel, alias: str, version: ModelVersion, percent: float, actor=None, reason=""
) -> Alias:
    """`version` serves `percent` of the predictions sent to the alias (the canary)."""
    number = _of_model(model, version)
    if not 0 < percent < 100:
        raise ServiceError(
            "percent must be more than 0 and less than 100.",
            fields={"percent": ["Must be more than 0 and less than 100."]},
        )

    def edit(state):
        if number == state["version"]:
            raise _no_change(alias, f"v{number} already serves all of it.")
        return {**state, "canary": {"version": number, "percent": float(percent)}}

    kind = AliasMove.Kind.SPLIT_SET
    return _alias_edit(model=model, alias=alias, kind=kind, actor=actor, reason=reason, edit=edit)


def alias_split_end(*, model: MLModel, alias: str, actor=None, reason: str = "") -> Alias:
    def edit(state):
        if state["canary"] is None:
            raise _no_change(alias, "it has no split to end.")
        return {**state, "canary": None}

    kind = AliasMove.Kind.SPLIT_END
    return _alias_edit(model=model, alias=alias, kind=kind, actor=actor, reason=reason, edit=edit)


def alias_test_end(*, model: MLModel, alias: str, version: ModelVersion, actor=None, reason=""):
    """Stop trying `version` on the alias, whether it shadows it or is its canary."""
    current = Alias.objects.filter(model=model, name=alias).first()
    if current is not None and current.canary_version_id == version.pk:
        return alias_split_end(model=model, alias=alias, actor=actor, reason=reason)
    return alias_shadow_remove(
        model=model, alias=alias, version=version, actor=actor, reason=reason
    )
