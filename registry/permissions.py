from rest_framework import permissions


class ReadOrStaffWrite(permissions.BasePermission):
    """Any signed-in user reads; only staff change the registry."""

    def has_permission(self, request, view):
        if not (request.user and request.user.is_authenticated):
            return False
        return request.method in permissions.SAFE_METHODS or request.user.is_staff
