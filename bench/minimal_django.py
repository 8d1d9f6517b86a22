"""The framework's own ceiling, for the submit benchmark: Django + DRF answering a POST with one
INSERT, nothing else (no auth, no validation, no queue, no middleware), served by the same
gunicorn settings as the project. `make bench` runs it beside the real submit endpoint.

gunicorn bench.minimal_django:application -c python:mlservice.gunicorn_conf
"""

import json
import os
import uuid

import django
from django.conf import settings

settings.configure(
    DEBUG=False,
    SECRET_KEY="bench-minimal-only",
    ALLOWED_HOSTS=["*"],
    ROOT_URLCONF=__name__,
    INSTALLED_APPS=["rest_framework"],
    MIDDLEWARE=[],
    DATABASES={
        "default": {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": os.environ["BENCH_MINIMAL_DB"],
            "USER": "postgres",
            "HOST": "127.0.0.1",
            "PORT": "5432",
            "CONN_MAX_AGE": 60,
        }
    },
    REST_FRAMEWORK={
        "DEFAULT_AUTHENTICATION_CLASSES": [],
        "DEFAULT_PERMISSION_CLASSES": [],
        "UNAUTHENTICATED_USER": None,
        "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
        "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    },
)
django.setup()

from django.core.wsgi import get_wsgi_application  # noqa: E402
from django.db import connection  # noqa: E402
from django.urls import path  # noqa: E402
from rest_framework.response import Response  # noqa: E402
from rest_framework.views import APIView  # noqa: E402

TABLE = "bench_minimal_insert"


class Insert(APIView):
    def post(self, request):
        row_id = uuid.uuid4()
        with connection.cursor() as cursor:
            cursor.execute(
                f"INSERT INTO {TABLE} (id, body) VALUES (%s, %s)",
                [row_id, json.dumps(request.data)],
            )
        return Response({"id": str(row_id), "status": "pending"}, status=202)


urlpatterns = [path("api/v1/predictions/", Insert.as_view())]
application = get_wsgi_application()
