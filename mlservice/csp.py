"""Content-Security-Policy on the pages people open (settings.CONTENT_SECURITY_POLICY)."""

from csp.middleware import CSPMiddleware
from django.conf import settings


class ContentSecurityPolicyMiddleware(CSPMiddleware):
    """django-csp's middleware, leaving the excluded prefixes (the JSON API, probes, metrics)
    alone before any work: django-csp builds the policy for every response first and only then
    checks the prefix, which costs the API's hot path more than the rest of its middleware."""

    def __init__(self, get_response):
        super().__init__(get_response)
        self.excluded = tuple(settings.CONTENT_SECURITY_POLICY.get("EXCLUDE_URL_PREFIXES", ()))

    def __call__(self, request):
        if request.path_info.startswith(self.excluded):
            return self.get_response(request)
        return super().__call__(request)
