from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status, viewsets
from rest_framework.decorators import action
from rest_framework.parsers import MultiPartParser
from rest_framework.response import Response

from mlservice.pagination import PageNumberPagination
from registry import selectors, services, validation
from registry.models import Alias, AliasMove
from registry.permissions import ReadOrStaffWrite
from registry.serializers import (
    AliasMoveInputSerializer,
    AliasMoveSerializer,
    AliasRollbackInputSerializer,
    AliasSerializer,
    AliasSplitInputSerializer,
    InputSchemaSerializer,
    MLModelCreateSerializer,
    MLModelDetailSerializer,
    MLModelSerializer,
    MLModelUpdateSerializer,
    VersionSerializer,
    VersionSummarySerializer,
    VersionUploadSerializer,
)

VERSION_PARAM = OpenApiParameter(
    "version", str, description="Version number or alias (default: production, else latest)."
)
REASON_PARAM = OpenApiParameter("reason", str, description="Why, for the alias's history.")


def _reason(request) -> str:
    return request.query_params.get("reason", "")[:2000]


class RegistryViewSet(viewsets.GenericViewSet):
    """Everyone signed in reads the registry; staff write. Nested routes name the model."""

    permission_classes = [ReadOrStaffWrite]
    lookup_value_converter = "slug"

    def model(self):
        return selectors.model_get(user=self.request.user, name=self.kwargs["model_name"])


class MLModelViewSet(RegistryViewSet):
    """Models in the registry. Everyone signed in reads; staff create, edit and archive."""

    serializer_class = MLModelSerializer
    lookup_field = "name"

    def get_queryset(self):
        return selectors.models_for(self.request.user)

    def get_object(self):
        return selectors.model_get(user=self.request.user, name=self.kwargs["name"])

    def list(self, request):
        page = self.paginate_queryset(self.get_queryset())
        return self.get_paginated_response(MLModelSerializer(page, many=True).data)

    @extend_schema(responses=MLModelDetailSerializer)
    def retrieve(self, request, name=None):
        model = selectors.model_detail(user=request.user, name=name)
        return Response(MLModelDetailSerializer(model).data)

    @extend_schema(request=MLModelCreateSerializer, responses={201: MLModelDetailSerializer})
    def create(self, request):
        data = MLModelCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        model = services.model_create(actor=request.user, **data.validated_data)
        return Response(MLModelDetailSerializer(model).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=MLModelUpdateSerializer, responses=MLModelDetailSerializer)
    def partial_update(self, request, name=None):
        data = MLModelUpdateSerializer(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        model = services.model_update(
            model=self.get_object(), actor=request.user, **data.validated_data
        )
        return Response(MLModelDetailSerializer(model).data)

    @extend_schema(responses={204: None}, description="Archive the model (hidden from users).")
    def destroy(self, request, name=None):
        services.model_update(model=self.get_object(), actor=request.user, is_archived=True)
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(parameters=[VERSION_PARAM], responses=InputSchemaSerializer)
    @action(detail=True, methods=["get"], url_path="schema")
    def input_schema(self, request, name=None):
        """The input a version expects, as JSON Schema, with an example row (a forecast
        model: an example request)."""
        version = selectors.version_or_latest(
            user=request.user, model_name=name, ref=request.query_params.get("version")
        )
        return Response(
            {
                "model": version.model.name,
                "version": version.number,
                "json_schema": validation.json_schema(version),
                "example": version.input_example,
                "labels": version.labels,
            }
        )


class ModelVersionViewSet(RegistryViewSet):
    """The versions of one model. Uploading a version is staff-only."""

    serializer_class = VersionSerializer
    lookup_field = "number"
    lookup_value_converter = "int"
    parser_classes = [MultiPartParser]  # an upload carries the artifact file

    def get_queryset(self):
        return selectors.versions_of(self.model())

    @extend_schema(responses=VersionSummarySerializer(many=True))
    def list(self, request, model_name=None):
        page = self.paginate_queryset(self.get_queryset())
        return self.get_paginated_response(VersionSummarySerializer(page, many=True).data)

    def retrieve(self, request, model_name=None, number=None):
        version = selectors.version_resolve(
            user=request.user, model_name=model_name, ref=int(number)
        )
        return Response(VersionSerializer(version, context=self.get_serializer_context()).data)

    @extend_schema(
        request=VersionUploadSerializer,
        responses={201: VersionSerializer},
        description="Multipart: the artifact `file` and its metadata; `input_schema`, "
        "`input_example`, `labels` and `metrics` are fields of JSON text.",
    )
    def create(self, request, model_name=None):
        data = VersionUploadSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        fields = dict(data.validated_data)
        version = services.version_create(
            model=self.model(),
            artifact=fields.pop("artifact"),
            expected_sha256=fields.pop("sha256"),
            actor=request.user,
            alias_reason="Set at upload",
            **fields,
        )
        context = self.get_serializer_context()
        return Response(
            VersionSerializer(version, context=context).data, status=status.HTTP_201_CREATED
        )


class AliasViewSet(RegistryViewSet):
    """Aliases (`production`, `staging`, ...): where they point, moving them, rolling back."""

    serializer_class = AliasSerializer
    lookup_field = "alias"
    # A model has a few aliases: their list is whole; only the history pages.
    pagination_class = None

    def get_queryset(self):
        return (
            Alias.objects.filter(model=self.model())
            .select_related("version", "canary_version", "updated_by")
            .prefetch_related("shadows")
        )

    def list(self, request, model_name=None):
        context = self.get_serializer_context()
        return Response(AliasSerializer(self.get_queryset(), many=True, context=context).data)

    def _answer(self, moved: Alias) -> Response:
        alias = self.get_queryset().get(pk=moved.pk)
        return Response(AliasSerializer(alias, context=self.get_serializer_context()).data)

    def _version(self, number):
        return selectors.version_resolve(
            user=self.request.user, model_name=self.kwargs["model_name"], ref=int(number)
        )

    def _move(self, service, input_serializer=AliasMoveInputSerializer, **extra) -> Response:
        """Validate the body, resolve its version, call the alias service, answer the alias."""
        data = input_serializer(data=self.request.data)
        data.is_valid(raise_exception=True)
        fields = dict(data.validated_data)
        version = self._version(fields.pop("version"))
        moved = service(
            model=version.model,
            alias=self.kwargs["alias"],
            version=version,
            actor=self.request.user,
            **fields,
            **extra,
        )
        return self._answer(moved)

    @extend_schema(request=AliasMoveInputSerializer, responses=AliasSerializer)
    @action(detail=True, methods=["post"], url_path="shadows", url_name="shadows")
    def add_shadow(self, request, model_name=None, alias=None):
        """Add a shadow version: it also runs every prediction served through the alias; its
        answers are stored for comparison, never returned or charged."""
        return self._move(services.alias_shadow_add)

    @extend_schema(parameters=[REASON_PARAM], request=None, responses=AliasSerializer)
    @action(
        detail=True, methods=["delete"], url_path="shadows/<int:number>", url_name="shadow-detail"
    )
    def remove_shadow(self, request, model_name=None, alias=None, number=None):
        """Stop a shadow version."""
        moved = services.alias_shadow_remove(
            model=self.model(),
            alias=alias,
            version=self._version(number),
            actor=request.user,
            reason=_reason(request),
        )
        return self._answer(moved)

    @extend_schema(request=AliasSplitInputSerializer, responses=AliasSerializer)
    @action(detail=True, methods=["put"], url_path="split", url_name="split")
    def set_split(self, request, model_name=None, alias=None):
        """Split the alias's traffic: `version` serves `percent` of its predictions."""
        return self._move(services.alias_split_set, AliasSplitInputSerializer)

    @extend_schema(parameters=[REASON_PARAM], request=None, responses=AliasSerializer)
    @set_split.mapping.delete
    def end_split(self, request, model_name=None, alias=None):
        """End the split: the alias's version serves all its predictions again."""
        moved = services.alias_split_end(
            model=self.model(), alias=alias, actor=request.user, reason=_reason(request)
        )
        return self._answer(moved)

    @extend_schema(request=AliasMoveInputSerializer, responses=AliasSerializer)
    @action(detail=True, methods=["post"])
    def promote(self, request, model_name=None, alias=None):
        """Make `version` the alias's version; its shadow or split ends in the same move."""
        return self._move(services.alias_promote)

    @extend_schema(request=AliasMoveInputSerializer, responses=AliasSerializer)
    def update(self, request, model_name=None, alias=None):
        return self._move(services.alias_set)

    @extend_schema(request=AliasRollbackInputSerializer, responses=AliasSerializer)
    @action(detail=True, methods=["post"])
    def rollback(self, request, model_name=None, alias=None):
        """Move the alias back to the version it pointed to before its last move."""
        data = AliasRollbackInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        moved = services.alias_rollback(
            model=self.model(),
            alias=alias,
            actor=request.user,
            reason=data.validated_data["reason"],
        )
        return self._answer(moved)

    @extend_schema(responses=AliasMoveSerializer(many=True))
    @action(detail=True, methods=["get"], pagination_class=PageNumberPagination)
    def history(self, request, model_name=None, alias=None):
        moves = AliasMove.objects.filter(model=self.model(), alias=alias).select_related(
            "from_version", "to_version", "actor"
        )
        page = self.paginate_queryset(moves)
        context = self.get_serializer_context()
        return self.get_paginated_response(
            AliasMoveSerializer(page, many=True, context=context).data
        )
