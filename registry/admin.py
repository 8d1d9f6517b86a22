"""The registry in the admin: upload versions with full validation, promote, roll back, audit."""

import json
from pathlib import PurePath

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import FileResponse, Http404
from django.template.defaultfilters import filesizeformat
from django.urls import path, reverse
from django.utils.html import format_html

from mlservice import parsers
from mlservice.errors import ServiceError
from mlservice.forms import ServiceForm
from registry import services
from registry.models import (
    PRODUCTION,
    Alias,
    AliasMove,
    ArtifactFormat,
    AuditEvent,
    MLModel,
    ModelVersion,
)

ALIASES = (PRODUCTION, "staging")


def per_alias(method: str, description: str) -> list:
    """One admin action per common alias, named `<method>_<alias>`, each calling
    `model_admin.<method>(request, queryset, alias)`."""

    def action_for(alias: str):
        @admin.action(description=description.format(alias=alias))
        def action(model_admin, request, queryset):
            getattr(model_admin, method)(request, queryset, alias)

        action.__name__ = f"{method}_{alias}"
        return action

    return [action_for(alias) for alias in ALIASES]


def rollback_aliases(model_admin, request, pairs) -> None:
    """Roll back each (model, alias name), reporting every outcome as an admin message."""
    for model, alias in pairs:
        try:
            moved = services.alias_rollback(
                model=model, alias=alias, actor=request.user, reason="Rolled back in the admin"
            )
            model_admin.message_user(
                request,
                f"{model.name}@{alias} rolled back to v{moved.version.number}.",
                messages.SUCCESS,
            )
        except ServiceError as exc:
            model_admin.message_user(request, f"{model.name}: {exc.detail}", messages.ERROR)


class ReadOnlyInline(admin.TabularInline):
    extra = 0
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


class VersionInline(ReadOnlyInline):
    model = ModelVersion
    fields = (
        "number",
        "format",
        "serving_runtime",
        "short_sha256",
        "size",
        "alias_names",
        "created_by",
        "created_at",
    )
    readonly_fields = fields
    ordering = ("-number",)

    @admin.display(description="sha256")
    def short_sha256(self, obj):
        return obj.sha256[:12]

    @admin.display(description="aliases")
    def alias_names(self, obj):
        return ", ".join(sorted(a.name for a in obj.aliases.all())) or "-"


class AliasInline(ReadOnlyInline):
    model = Alias
    fields = ("name", "version", "canary_version", "canary_percent", "shadows", "updated_at")
    readonly_fields = fields


@admin.register(MLModel)
class MLModelAdmin(admin.ModelAdmin):
    list_display = (
        "name",
        "title",
        "task",
        "production_version",
        "version_count",
        "is_archived",
        "updated_at",
    )
    list_filter = ("task", "is_archived")
    search_fields = ("name", "title", "description")
    readonly_fields = ("created_by", "created_at", "updated_at")
    inlines = [AliasInline, VersionInline]
    # Adds "Upload a new version" beside History.
    change_form_template = "admin/registry/mlmodel/change_form.html"
    actions = [
        *per_alias("rollback", "Roll back the {alias} alias to its previous version"),
        "archive",
        "unarchive",
    ]

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("aliases__version", "versions")

    def get_readonly_fields(self, request, obj=None):
        return (*self.readonly_fields, "name", "task") if obj else self.readonly_fields

    @admin.display(description="production")
    def production_version(self, obj):
        version = obj.production
        return f"v{version.number}" if version else "-"

    @admin.display(description="versions")
    def version_count(self, obj):
        return len(obj.versions.all())

    def save_model(self, request, obj, form, change):
        try:
            if change:
                services.model_update(
                    model=MLModel.objects.get(pk=obj.pk),
                    actor=request.user,
                    **{f: form.cleaned_data[f] for f in ("title", "description", "is_archived")},
                )
            else:
                created = services.model_create(
                    name=obj.name,
                    task=obj.task,
                    title=obj.title,
                    description=obj.description,
                    actor=request.user,
                )
                obj.pk = created.pk
        except ServiceError as exc:
            raise ValidationError(str(exc.detail)) from exc

    def rollback(self, request, queryset, alias):
        rollback_aliases(self, request, [(model, alias) for model in queryset])

    @admin.action(description="Archive (hide from users)")
    def archive(self, request, queryset):
        for model in queryset:
            services.model_update(model=model, actor=request.user, is_archived=True)

    @admin.action(description="Unarchive")
    def unarchive(self, request, queryset):
        for model in queryset:
            services.model_update(model=model, actor=request.user, is_archived=False)


class JSONTextField(forms.CharField):
    """A textarea holding JSON; the cleaned value is the parsed object."""

    widget = forms.Textarea(attrs={"rows": 4, "cols": 80, "style": "font-family: monospace"})

    def prepare_value(self, value):
        # Initial data is the parsed object (a previous version's schema); what the user typed
        # comes back as text and is shown as typed. A list shows one item per line.
        if value is None or isinstance(value, str):
            return value
        if isinstance(value, list) and value:
            return "[\n" + ",\n".join(f"  {json.dumps(item)}" for item in value) + "\n]"
        return json.dumps(value)

    def to_python(self, value):
        value = super().to_python(value)
        if value in ("", None):
            return None
        try:
            return parsers.loads(value)  # the API's rule: no NaN, NUL or unpaired surrogate
        except json.JSONDecodeError as exc:
            raise ValidationError(f"Not valid JSON: {exc.msg} (line {exc.lineno}).") from exc
        except ValueError as exc:
            raise ValidationError(f"Not valid JSON: {exc}") from exc


class VersionUploadForm(ServiceForm):
    """Uploading a version runs the whole validation (load, example prediction) in clean()."""

    artifact = forms.FileField(
        help_text="skops, ONNX, LightGBM text, XGBoost JSON/UBJSON, Prophet JSON or joblib "
        "file (stored under a new name)."
    )
    format = forms.ChoiceField(choices=ArtifactFormat.choices)
    input_schema = JSONTextField(
        help_text='Ordered features, e.g. [{"name": "age", "type": "number", "minimum": 0}]. '
        'A forecast model: {"max_horizon": 30, "frequency": "D"}, plus "lags": [1, 7] and '
        '"calendar": ["day_of_week"] for a regressor run on lags.'
    )
    input_example = JSONTextField(
        help_text='One row, e.g. {"age": 42}. A forecast model: one request, e.g. {"horizon": 7}.'
    )
    labels = JSONTextField(required=False, help_text='Classifiers: ["setosa", "versicolor"]')
    metrics = JSONTextField(required=False, help_text='Free JSON, e.g. {"accuracy": 0.97}')
    sha256 = forms.CharField(
        required=False,
        max_length=64,
        help_text="Required for joblib (pickle executes code when loaded): the SHA-256 you "
        "computed for this file, e.g. with `sha256sum`.",
    )
    alias = forms.SlugField(required=False, help_text="Optionally point this alias at it.")

    class Meta:
        model = ModelVersion
        fields = (
            "model",
            "format",
            "notes",
            "ignore_extra_features",
            "timeout_seconds",
            "price_per_row",
        )

    refusal_field = "artifact"

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["price_per_row"].required = False  # empty: free

    def create(self, cleaned: dict) -> ModelVersion:
        return services.version_create(
            model=cleaned["model"],
            artifact=cleaned["artifact"],
            format=cleaned["format"],
            input_schema=cleaned["input_schema"],
            input_example=cleaned["input_example"],
            labels=cleaned.get("labels"),
            metrics=cleaned.get("metrics") or {},
            notes=cleaned.get("notes", ""),
            expected_sha256=cleaned.get("sha256") or None,
            ignore_extra_features=cleaned.get("ignore_extra_features", False),
            timeout_seconds=cleaned.get("timeout_seconds") or 60,
            price_per_row=cleaned.get("price_per_row") or 0,
            actor=self.actor,
            alias=cleaned.get("alias") or "",
            alias_reason="Set at upload in the admin",
        )


# What a new version takes over from the model's latest one when uploaded from the model page.
CARRIED_OVER = (
    "format",
    "input_schema",
    "input_example",
    "labels",
    "ignore_extra_features",
    "timeout_seconds",
    "price_per_row",
)


def artifact_filename(version: ModelVersion) -> str:
    """`iris-v3.skops`: the model, the version and the stored file's extension."""
    return f"{version.model.name}-v{version.number}{PurePath(version.artifact.name).suffix}"


@admin.register(ModelVersion)
class ModelVersionAdmin(admin.ModelAdmin):
    list_display = (
        "__str__",
        "format",
        "serving_runtime",
        "alias_names",
        "price_per_row",
        "size",
        "created_by",
        "created_at",
    )
    list_filter = ("format", "runtime", "model")
    search_fields = ("model__name", "sha256", "notes")
    list_select_related = ("model", "created_by")
    actions = [
        *per_alias("promote", "Promote to {alias}"),
        *per_alias("shadow", "Shadow {alias}: also run its predictions, for comparison"),
        *per_alias("end_test", "End the test on {alias} (shadow or canary split)"),
    ]
    readonly_fields = (
        "model",
        "number",
        "artifact_download",
        "format",
        "runtime",
        "serving_runtime",
        "twin_summary",
        "twin_report",
        "sha256",
        "size",
        "pretty_schema",
        "labels",
        "input_example",
        "metrics",
        "notes",
        "ignore_extra_features",
        "timeout_seconds",
        "created_by",
        "created_at",
    )
    exclude = ("input_schema",)

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("aliases")

    def get_urls(self):
        download = self.admin_site.admin_view(self.artifact_view)
        return [
            path("<int:object_id>/artifact/", download, name="registry_modelversion_artifact"),
            *super().get_urls(),
        ]

    def artifact_view(self, request, object_id: int):
        """The stored artifact as a download, to staff who may view versions; it is served
        from here because uploaded files are not public (MEDIA_URL serves nothing)."""
        version = ModelVersion.objects.select_related("model").filter(pk=object_id).first()
        if version is None:
            raise Http404("No such model version.")
        if not self.has_view_permission(request, version):
            raise PermissionDenied
        try:
            handle = version.artifact.open("rb")
        except FileNotFoundError:
            raise Http404(f"The artifact of {version} is missing from storage.") from None
        return FileResponse(
            handle,
            as_attachment=True,
            filename=artifact_filename(version),
            content_type="application/octet-stream",
        )

    def get_changeform_initial_data(self, request):
        """A new version of a model starts from its latest version's schema, labels, example
        and serving settings (`?model=<id>`, the model page's "Upload a new version")."""
        initial = super().get_changeform_initial_data(request)
        model_id = str(initial.get("model", ""))
        model = MLModel.objects.filter(pk=model_id).first() if model_id.isdigit() else None
        previous = model.latest_version() if model else None
        if previous is not None:
            initial.update({field: getattr(previous, field) for field in CARRIED_OVER})
            # PostgreSQL's jsonb keeps keys in its own order; show them in the schema's.
            example = previous.input_example
            if isinstance(example, dict):
                initial["input_example"] = {
                    **{name: example[name] for name in previous.feature_names if name in example},
                    **example,
                }
        return initial

    def get_form(self, request, obj=None, change=False, **kwargs):
        if obj is None:
            return VersionUploadForm.for_actor(request.user)
        return super().get_form(request, obj, change=change, **kwargs)

    def get_readonly_fields(self, request, obj=None):
        return self.readonly_fields if obj else ()

    def get_exclude(self, request, obj=None):
        return self.exclude if obj else None

    def get_fields(self, request, obj=None):
        if obj is None:
            return (
                "model",
                "artifact",
                "format",
                "input_schema",
                "input_example",
                "labels",
                "metrics",
                "notes",
                "sha256",
                "ignore_extra_features",
                "timeout_seconds",
                "price_per_row",
                "alias",
            )
        # A saved version is read-only except for its price.
        return (*self.readonly_fields, "price_per_row")

    def save_model(self, request, obj, form, change):
        if change:
            services.version_set_price(
                version=obj, price_per_row=form.cleaned_data["price_per_row"], actor=request.user
            )
            return
        # The version was created (validated and stored, its alias moved) by the form's clean().
        obj.pk, obj.number = form.created.pk, form.created.number

    def save_related(self, request, form, formsets, change):
        pass

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description="artifact")
    def artifact_download(self, obj):
        url = reverse("admin:registry_modelversion_artifact", args=[obj.pk])
        return format_html(
            '<a href="{}" download>Download {}</a> ({})',
            url,
            artifact_filename(obj),
            filesizeformat(obj.size),
        )

    @admin.display(description="ONNX twin")
    def twin_summary(self, obj):
        report = obj.twin_report or {}
        return report.get("summary") or report.get("reason") or "No twin was tried."

    @admin.display(description="input schema")
    def pretty_schema(self, obj):
        return format_html("<pre>{}</pre>", json.dumps(obj.input_schema, indent=2))

    @admin.display(description="aliases")
    def alias_names(self, obj):
        return ", ".join(sorted(a.name for a in obj.aliases.all())) or "-"

    def promote(self, request, queryset, alias):
        # An alias points at one version, so promoting several at once means nothing.
        if queryset.count() != 1:
            self.message_user(request, "Select exactly one version to promote.", messages.ERROR)
            return
        reason = "Promoted in the admin"
        self._each(request, queryset, alias, services.alias_set, "is now", reason=reason)

    def shadow(self, request, queryset, alias):
        self._each(request, queryset, alias, services.alias_shadow_add, "now shadows")

    def end_test(self, request, queryset, alias):
        self._each(request, queryset, alias, services.alias_test_end, "is no longer tried on")

    def _each(self, request, queryset, alias, service, done: str, reason="In the admin") -> None:
        """Apply an alias service to each selected version, reporting every outcome."""
        for version in queryset.select_related("model"):
            try:
                service(
                    model=version.model,
                    alias=alias,
                    version=version,
                    actor=request.user,
                    reason=reason,
                )
                self.message_user(request, f"{version} {done} {alias}.", messages.SUCCESS)
            except ServiceError as exc:
                self.message_user(request, f"{version}: {exc.detail}", messages.ERROR)


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class ActionsOnlyAdmin(admin.ModelAdmin):
    """Rows the service writes: staff read them and run the list's actions, never add or edit."""

    def get_readonly_fields(self, request, obj=None):
        return self.fields or ()

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        # Needed for actions to show; the change form itself has no editable fields.
        return obj is None and request.user.is_staff


@admin.register(AliasMove)
class AliasMoveAdmin(ReadOnlyAdmin):
    list_display = (
        "created_at",
        "model",
        "alias",
        "kind",
        "from_version",
        "to_version",
        "actor",
        "reason",
    )
    list_filter = ("kind", "alias", "model")
    search_fields = ("model__name", "alias", "reason", "actor__username")
    list_select_related = ("model", "from_version", "to_version", "actor")
    date_hierarchy = "created_at"


@admin.register(Alias)
class AliasAdmin(ActionsOnlyAdmin, ReadOnlyAdmin):
    list_display = ("model", "name", "version", "updated_by", "updated_at")
    list_filter = ("name",)
    search_fields = ("model__name", "name")
    list_select_related = ("model", "version", "updated_by")
    actions = ["rollback"]

    @admin.action(description="Roll back to the previous version")
    def rollback(self, request, queryset):
        pairs = [(alias.model, alias.name) for alias in queryset.select_related("model")]
        rollback_aliases(self, request, pairs)


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyAdmin):
    list_display = ("created_at", "model", "action", "version", "actor")
    list_filter = ("action", "model")
    search_fields = ("model__name", "actor__username")
    list_select_related = ("model", "version", "actor")
    date_hierarchy = "created_at"
