"""Drift through the API: a reference uploaded as CSV, recent inputs compared with it per
feature; a shifted feature is flagged, an unshifted one is not."""

import numpy as np
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from registry.models import AuditEvent
from tests.support.api import SETOSA, submit
from tests.support.evidence import iris_rows, upload_reference

pytestmark = pytest.mark.django_db(transaction=True)


def drift(client, **params) -> dict:
    response = client.get("/api/v1/models/iris/drift/", params)
    assert response.status_code == 200, response.content
    return response.json()


def by_feature(result: dict) -> dict:
    return {entry["feature"]: entry for entry in result["features"]}


class TestReference:
    def test_staff_upload_a_reference_and_read_its_histograms(self, staff_client, staff_user, iris):
        response = upload_reference(staff_client)
        assert response.status_code == 201, response.content
        profile = response.json()
        assert (profile["version"], profile["source"], profile["rows"]) == (2, "upload", 150)
        petal = {f["name"]: f for f in profile["features"]}["petal_length"]
        assert petal["kind"] == "numeric" and "sample" not in petal
        assert sum(petal["shares"]) == pytest.approx(1.0)
        assert len(petal["edges"]) == len(petal["shares"]) - 1
        assert np.all(np.diff(petal["edges"]) > 0)
        shown = staff_client.get("/api/v1/models/iris/versions/2/reference/").json()
        assert shown == profile
        assert AuditEvent.objects.filter(action="reference_set", actor=staff_user).count() == 1

    def test_a_reference_is_checked_like_a_batch(self, staff_client, iris):
        bad = SimpleUploadedFile("r.csv", b"sepal_length,sepal_width\n1,2\n")
        response = staff_client.post(
            "/api/v1/models/iris/versions/2/reference/", {"file": bad}, format="multipart"
        )
        assert response.status_code == 400
        assert "petal_length" in response.json()["error"]["fields"]["file"][0]

    def test_users_cannot_upload_or_read_references_or_drift(self, alice_client, iris):
        response = upload_reference(alice_client)
        assert response.status_code == 403
        assert alice_client.get("/api/v1/models/iris/drift/").status_code == 403

    def test_without_an_upload_there_is_no_stored_reference(self, staff_client, iris):
        response = staff_client.get("/api/v1/models/iris/versions/2/reference/")
        assert response.status_code == 404


class TestDrift:
    def test_a_shifted_feature_is_flagged_and_an_unshifted_one_is_not(
        self, staff_client, alice_client, iris
    ):
        assert upload_reference(staff_client).status_code == 201
        shifted = iris_rows(300, shift={"petal_length": 2.5})
        assert submit(alice_client, {"model": "iris", "inputs": shifted}).status_code == 202

        result = drift(staff_client, window="1h")
        assert result["version"] == 2 and result["reference"] == {"source": "upload", "rows": 150}
        assert result["rows_compared"] == 300 and result["enough_rows"] is True
        assert result["flagged"] == ["petal_length"]
        features = by_feature(result)
        assert features["petal_length"]["psi"] > 0.2
        assert features["petal_length"]["ks_statistic"] > 0.15
        assert features["petal_length"]["current_mean"] == pytest.approx(
            features["petal_length"]["reference_mean"] + 2.5, abs=0.01
        )
        assert features["sepal_width"]["psi"] < 0.05
        assert features["sepal_width"]["ks_statistic"] < 0.05
        assert features["sepal_width"]["flagged"] is False

    def test_single_predictions_are_compared_too(self, staff_client, alice_client, iris):
        assert upload_reference(staff_client).status_code == 201
        for row in iris_rows(150)[::2]:  # every other flower: all three species
            submit(alice_client, {"model": "iris", "input": row})
        result = drift(staff_client)
        assert result["rows_compared"] == 75 and result["flagged"] == []

    def test_too_few_inputs_give_no_verdict(self, staff_client, alice_client, iris):
        submit(alice_client, {"model": "iris", "input": SETOSA})
        result = drift(staff_client)
        assert result["enough_rows"] is False and result["flagged"] == []
        assert "psi" not in result["features"][0]

    def test_without_an_uploaded_reference_the_validation_rows_are_the_reference(
        self, staff_client, alice_client, iris
    ):
        submit(alice_client, {"model": "iris", "inputs": iris_rows(100)})
        result = drift(staff_client, version="1")
        assert result["reference"] == {"source": "validation", "rows": 256}
        assert result["version"] == 1 and result["rows_compared"] == 0

    def test_thresholds_are_settings(self, staff_client, alice_client, iris, settings):
        assert upload_reference(staff_client).status_code == 201
        submit(alice_client, {"model": "iris", "inputs": iris_rows(300, {"petal_length": 2.5})})
        settings.DRIFT_PSI_THRESHOLD = settings.DRIFT_KS_THRESHOLD = 100
        assert drift(staff_client)["flagged"] == []

    def test_a_forecast_model_has_no_features_to_compare(self, staff_client, demand):
        response = staff_client.get("/api/v1/models/demand/drift/")
        assert response.status_code == 400
        assert response.json()["error"]["code"] == "no_features"
