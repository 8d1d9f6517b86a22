from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import mixins, permissions, status, viewsets
from rest_framework.decorators import action
from rest_framework.generics import GenericAPIView
from rest_framework.response import Response
from rest_framework.views import APIView
from rest_framework_simplejwt import views as jwt_views

from accounts import services
from accounts.models import User
from accounts.serializers import (
    LoginSerializer,
    LogoutSerializer,
    PasswordChangeSerializer,
    RegisterSerializer,
    SingleUseTokenRefreshSerializer,
    UserSerializer,
    UserUpdateSerializer,
)
from accounts.throttles import (
    LoginIPThrottle,
    LoginIPUsernameThrottle,
    LoginUsernameThrottle,
    RegisterThrottle,
)


class UserViewSet(mixins.CreateModelMixin, mixins.ListModelMixin, viewsets.GenericViewSet):
    """Registration for anyone, the user list for staff, and the current user's own profile."""

    queryset = User.objects.order_by("id")
    serializer_class = UserSerializer

    def get_permissions(self):
        if self.action == "create":
            return [permissions.AllowAny()]
        if self.action == "list":
            return [permissions.IsAdminUser()]
        return [permissions.IsAuthenticated()]

    def get_throttles(self):
        return [RegisterThrottle()] if self.action == "create" else []

    @extend_schema(request=RegisterSerializer, responses={201: UserSerializer})
    def create(self, request):
        data = RegisterSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        user = services.user_create(**data.validated_data)
        return Response(UserSerializer(user).data, status=status.HTTP_201_CREATED)

    @extend_schema(methods=["GET"], responses=UserSerializer)
    @extend_schema(methods=["PATCH"], request=UserUpdateSerializer, responses=UserSerializer)
    @action(detail=False, methods=["get", "patch"])
    def me(self, request):
        if request.method == "PATCH":
            data = UserUpdateSerializer(data=request.data)
            data.is_valid(raise_exception=True)
            services.user_update(user=request.user, **data.validated_data)
        return Response(UserSerializer(request.user).data)

    @extend_schema(request=PasswordChangeSerializer, responses={204: None})
    @action(detail=False, methods=["post"], url_path="me/password")
    def password(self, request):
        data = PasswordChangeSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        services.user_change_password(user=request.user, **data.validated_data)
        return Response(status=status.HTTP_204_NO_CONTENT)


class TokenObtainPairView(jwt_views.TokenObtainPairView):
    """Log in: `{username, password}` -> `{access, refresh}`.

    Throttled per (address, username), per address, and per username from all addresses.
    """

    serializer_class = LoginSerializer
    throttle_classes = (LoginIPUsernameThrottle, LoginIPThrottle, LoginUsernameThrottle)

    def check_throttles(self, request):
        # Stop at the first limit reached: a request refused for its address must not count
        # against the username's ceiling, or one address could lock the owner out.
        for throttle in self.get_throttles():
            if not throttle.allow_request(request, self):
                self.throttled(request, throttle.wait())


class TokenRefreshView(jwt_views.TokenRefreshView):
    """Trade a refresh token for a new pair; the old refresh token stops working (rotation)."""

    serializer_class = SingleUseTokenRefreshSerializer


class LogoutEverywhereView(APIView):
    """End every refresh token of the current user (all devices); access tokens expire soon."""

    @extend_schema(request=None, responses={204: OpenApiResponse(description="Logged out.")})
    def post(self, request):
        services.user_logout_everywhere(user=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


class LogoutView(GenericAPIView):
    """Blacklist the given refresh token of the current user."""

    serializer_class = LogoutSerializer

    @extend_schema(responses={204: OpenApiResponse(description="Logged out.")})
    def post(self, request):
        data = self.get_serializer(data=request.data)
        data.is_valid(raise_exception=True)
        services.user_logout(user=request.user, refresh=data.validated_data["refresh"])
        return Response(status=status.HTTP_204_NO_CONTENT)
