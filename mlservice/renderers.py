"""The API's JSON renderer."""

import orjson
from rest_framework import renderers
from rest_framework.utils.encoders import JSONEncoder

_OPTIONS = orjson.OPT_NON_STR_KEYS | orjson.OPT_PASSTHROUGH_DATETIME


class JSONRenderer(renderers.JSONRenderer):
    """DRF's compact JSON, encoded by orjson: `json`'s encoder is slow on the detail of a large
    batch. What orjson does not encode itself (datetimes, so they read as DRF writes them;
    Decimal; lazy strings) goes through DRF's encoder; an indented rendering (`; indent=` in
    Accept) is left to DRF."""

    def render(self, data, accepted_media_type=None, renderer_context=None):
        if data is None or self.get_indent(accepted_media_type, renderer_context or {}):
            return super().render(data, accepted_media_type, renderer_context)
        return orjson.dumps(data, default=JSONEncoder().default, option=_OPTIONS)
