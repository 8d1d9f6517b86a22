from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers
from rest_framework_simplejwt.serializers import TokenObtainPairSerializer, TokenRefreshSerializer

from accounts import services
from accounts.models import User


@extend_schema_field({"type": "string", "format": "idn-email"})
class EmailField(serializers.EmailField):
    """Django's validator accepts internationalised domain names, which `email` excludes."""


class StaffUsernameField(serializers.SlugRelatedField):
    """The username of the staff member who did something, shown to staff only: null for other
    users, and when the serializer has no request in its context."""

    def __init__(self, **kwargs):
        kwargs.setdefault("help_text", "Shown to staff only; null for other users.")
        super().__init__(slug_field="username", read_only=True, allow_null=True, **kwargs)

    def get_attribute(self, instance):
        request = self.context.get("request")
        if request is None or not request.user.is_staff:
            return None
        return super().get_attribute(instance)


class UserSerializer(serializers.ModelSerializer):
    email = EmailField(read_only=True)

    class Meta:
        model = User
        fields = ("id", "username", "email", "is_staff", "date_joined")
        read_only_fields = fields


class RegisterSerializer(serializers.Serializer):
    username = serializers.RegexField(
        r"^[\w.@+-]+\Z",
        max_length=150,
        error_messages={"invalid": "Use letters, digits and @/./+/-/_ only."},
    )
    email = EmailField(max_length=254)
    password = serializers.CharField(
        write_only=True, max_length=128, style={"input_type": "password"}
    )


class UserUpdateSerializer(serializers.Serializer):
    email = EmailField(max_length=254)


class PasswordChangeSerializer(serializers.Serializer):
    old_password = serializers.CharField(write_only=True, max_length=128)
    new_password = serializers.CharField(write_only=True, max_length=128)


class LogoutSerializer(serializers.Serializer):
    refresh = serializers.CharField(max_length=4096)


class SingleUseTokenRefreshSerializer(TokenRefreshSerializer):
    """Refresh with rotation where each refresh token works once, even under concurrency."""

    def validate(self, attrs):
        return services.refresh_token_rotate(refresh=self.token_class(attrs["refresh"]))


class LoginSerializer(TokenObtainPairSerializer):
    """Log in: the refresh token starts a new chain, which ends a refresh lifetime from now."""

    @classmethod
    def get_token(cls, user):
        return services.refresh_token_for_login(user)
