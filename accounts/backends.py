from axes.backends import AxesStandaloneBackend


class LoginLimitBackend(AxesStandaloneBackend):
    """django-axes' lockout check, run before the password check (settings.AUTHENTICATION_BACKENDS).

    Without a request (the test client's login(), a shell session) there is no client to count,
    so there is nothing to refuse; axes itself would raise instead.
    """

    def authenticate(self, request, username=None, password=None, **kwargs):
        if request is None:
            return None
        return super().authenticate(request, username, password, **kwargs)
