"""DRF's request cycle without the work that can be done once.

DRF builds a view's parsers, renderers, authenticators, permissions and content negotiator anew
for every request, works out the methods it allows for the `Allow` header, and parses media
types to pick a parser and a renderer. None of those objects keeps per-request state, and most
requests send exactly `application/json` and accept anything: `BuiltOnce` views build their
policies and their allowed methods once, and `ContentNegotiation` answers the usual case
without parsing (anything else is negotiated as DRF does).
"""

import functools

from rest_framework.negotiation import DefaultContentNegotiation

JSON = "application/json"
_ACCEPTS_JSON = frozenset({"*/*", JSON})


class ContentNegotiation(DefaultContentNegotiation):
    def select_parser(self, request, parsers):
        if request.content_type == JSON:
            for parser in parsers:
                if parser.media_type == JSON:
                    return parser
        return super().select_parser(request, parsers)

    def select_renderer(self, request, renderers, format_suffix=None):
        override = self.settings.URL_FORMAT_OVERRIDE
        if (
            not format_suffix
            and not (override and request.query_params.get(override))
            and request.META.get("HTTP_ACCEPT", "*/*") in _ACCEPTS_JSON
            and renderers
            and renderers[0].media_type == JSON
        ):
            return renderers[0], JSON
        return super().select_renderer(request, renderers, format_suffix)


@functools.cache
def _built(view_class, attribute: str) -> tuple:
    return tuple(policy() for policy in getattr(view_class, attribute))


class BuiltOnce:
    """A mixin for DRF views whose policies are the same for every request and action."""

    content_negotiation_class = ContentNegotiation

    @property
    def allowed_methods(self):
        # What a viewset answers depends only on its class and the route's action map.
        return _allowed_methods(type(self), tuple(getattr(self, "action_map", None) or ()))

    def get_parsers(self):
        return _built(type(self), "parser_classes")

    def get_renderers(self):
        return _built(type(self), "renderer_classes")

    def get_authenticators(self):
        return _built(type(self), "authentication_classes")

    def get_permissions(self):
        return _built(type(self), "permission_classes")

    def get_throttles(self):
        return _built(type(self), "throttle_classes")

    def get_content_negotiator(self):
        return _negotiator(type(self).content_negotiation_class)


@functools.cache
def _negotiator(negotiation_class):
    return negotiation_class()


@functools.cache
def _allowed_methods(view_class, actions: tuple) -> list[str]:
    return [
        method.upper()
        for method in view_class.http_method_names
        if method in actions or hasattr(view_class, method)
    ]
