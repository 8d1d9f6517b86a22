import json
from pathlib import Path

import onnx
import pytest

from registry import services
from registry.models import Alias, AliasMove, AuditEvent, MLModel, ModelVersion
from tests.support.api import assert_rejected, client_for, upload
from tests.support.factories import ModelVersionFactory, UserFactory
from tests.support.models import DIABETES, IRIS, linear_onnx, malicious_pickle

pytestmark = pytest.mark.django_db


class TestUploadingVersions:
    @pytest.mark.parametrize("fmt,runtime", [("skops", "sklearn"), ("onnx", "onnxruntime")])
    def test_staff_upload_a_version_stored_under_a_generated_name(
        self, staff_client, iris_model, artifacts, fmt, runtime
    ):
        path = getattr(artifacts, f"iris_{fmt}")
        response = upload(staff_client, "iris", path, fmt)
        assert response.status_code == 201, response.content
        body = response.json()
        assert body["number"] == 1 and body["format"] == fmt and body["runtime"] == runtime
        assert body["sha256"] == artifacts.sha256(path)
        assert body["size"] == path.stat().st_size
        assert body["labels"] == IRIS.labels and body["created_by"] == "staff"
        version = ModelVersion.objects.get()
        assert "final" not in version.artifact.name
        assert version.artifact.name.startswith("artifacts/iris/")
        assert Path(version.artifact.path).read_bytes() == path.read_bytes()

    def test_a_joblib_upload_is_accepted_with_its_sha256(
        self, staff_client, iris_model, artifacts, allow_pickles
    ):
        response = upload(
            staff_client,
            "iris",
            artifacts.iris_joblib,
            "joblib",
            sha256=artifacts.sha256(artifacts.iris_joblib),
        )
        assert response.status_code == 201, response.content
        assert response.json()["runtime"] == "sklearn"

    def test_versions_are_numbered_per_model_and_can_set_an_alias(
        self, staff_client, iris_model, artifacts
    ):
        upload(staff_client, "iris", artifacts.iris_skops, "skops")
        response = upload(staff_client, "iris", artifacts.iris_onnx, "onnx", alias="staging")
        assert response.json()["number"] == 2 and response.json()["aliases"] == ["staging"]

    def test_an_alias_set_at_upload_is_in_its_history_and_the_file_keeps_its_format_suffix(
        self, staff_client, iris_model, artifacts
    ):
        upload(staff_client, "iris", artifacts.iris_onnx, "onnx", alias="staging")
        move = AliasMove.objects.get()
        assert (move.alias, move.from_version, move.to_version.number) == ("staging", None, 1)
        assert move.reason == "Set at upload" and move.actor.is_staff
        assert ModelVersion.objects.get().artifact.name.endswith(".onnx")

    def test_a_regression_model_accepts_a_version_without_labels(
        self, staff_client, diabetes_model, artifacts
    ):
        response = upload(staff_client, "diabetes", artifacts.diabetes_onnx, "onnx", spec=DIABETES)
        assert response.status_code == 201, response.content
        assert response.json()["labels"] is None

    def test_it_refuses_an_artifact_over_the_size_limit(
        self, staff_client, iris_model, artifacts, settings, media_root
    ):
        settings.MODEL_MAX_UPLOAD_BYTES = 100
        assert_rejected(
            upload(staff_client, "iris", artifacts.iris_onnx, "onnx"), 413, "too_large", media_root
        )

    def test_it_refuses_a_file_whose_content_is_not_the_stated_format(
        self, staff_client, iris_model, artifacts, media_root
    ):
        error = assert_rejected(
            upload(staff_client, "iris", artifacts.iris_skops, "onnx"),
            400,
            "format_mismatch",
            media_root,
        )
        assert "onnx" in error["message"]

    def test_it_refuses_random_bytes(self, staff_client, iris_model, tmp_path, media_root):
        junk = tmp_path / "junk.onnx"
        junk.write_bytes(b"\x00garbage" * 100)
        assert_rejected(
            upload(staff_client, "iris", junk, "onnx"), 400, "format_mismatch", media_root
        )

    def test_it_refuses_an_example_that_does_not_match_the_schema(
        self, staff_client, iris_model, artifacts, media_root
    ):
        example = {**IRIS.input_example}
        del example["petal_width"]
        error = assert_rejected(
            upload(
                staff_client, "iris", artifacts.iris_onnx, "onnx", input_example=json.dumps(example)
            ),
            400,
            "invalid",
            media_root,
        )
        assert "petal_width" in " ".join(error["fields"]["input_example"])

    def test_it_refuses_a_model_that_fails_on_its_example(
        self, staff_client, iris_model, artifacts, media_root
    ):
        three = IRIS.input_schema[:3]
        example = {f["name"]: 1.0 for f in three}
        error = assert_rejected(
            upload(
                staff_client,
                "iris",
                artifacts.iris_skops,
                "skops",
                input_schema=json.dumps(three),
                input_example=json.dumps(example),
            ),
            400,
            "schema_mismatch",
            media_root,
        )
        assert "4" in error["message"] and "3" in error["message"]

    def test_it_refuses_labels_that_do_not_match_the_classifier(
        self, staff_client, iris_model, artifacts, media_root
    ):
        assert_rejected(
            upload(
                staff_client, "iris", artifacts.iris_onnx, "onnx", labels=json.dumps(["cat", "dog"])
            ),
            400,
            "labels_mismatch",
            media_root,
        )

    def test_it_refuses_a_pickle_whose_sha256_does_not_match(
        self, staff_client, iris_model, artifacts, media_root, allow_pickles
    ):
        assert_rejected(
            upload(staff_client, "iris", artifacts.iris_joblib, "joblib", sha256="0" * 64),
            400,
            "sha256_mismatch",
            media_root,
        )

    def test_it_refuses_a_pickle_without_a_stated_sha256(
        self, staff_client, iris_model, artifacts, media_root
    ):
        assert_rejected(
            upload(staff_client, "iris", artifacts.iris_joblib, "joblib"),
            400,
            "pickle_not_allowed",
            media_root,
        )

    def test_it_refuses_an_onnx_file_with_external_data(
        self, staff_client, diabetes_model, artifacts, tmp_path, media_root
    ):
        estimator = artifacts.diabetes_estimator
        model = linear_onnx(estimator.coef_, estimator.intercept_)
        inline = tmp_path / "inline.onnx"
        onnx.save_model(model, inline)
        target = tmp_path / "external.onnx"
        onnx.save_model(
            model,
            target,
            save_as_external_data=True,
            all_tensors_to_one_file=True,
            location="weights.bin",
            size_threshold=0,
        )
        assert_rejected(
            upload(staff_client, "diabetes", target, "onnx", spec=DIABETES),
            400,
            "external_data",
            media_root,
        )
        # The same weights inline are a valid upload: the refusal is about the reference.
        assert upload(staff_client, "diabetes", inline, "onnx", spec=DIABETES).status_code == 201

    def test_it_refuses_a_skops_file_with_an_unlisted_type(
        self, staff_client, iris_model, tmp_path, media_root
    ):
        import skops.io
        from sklearn.neural_network import MLPClassifier

        from registry.demo import dataset

        _, X, y = dataset("iris")
        estimator = MLPClassifier(hidden_layer_sizes=(3,), max_iter=5).fit(X, y)
        target = tmp_path / "mlp.skops"
        skops.io.dump(estimator, target)
        error = assert_rejected(
            upload(staff_client, "iris", target, "skops"), 400, "untrusted_type", media_root
        )
        assert "not on the allowlist" in error["message"]

    def test_it_refuses_an_invalid_schema_naming_the_problem(
        self, staff_client, iris_model, artifacts, media_root
    ):
        bad = [{"name": "x", "type": "text"}]
        error = assert_rejected(
            upload(
                staff_client,
                "iris",
                artifacts.iris_onnx,
                "onnx",
                input_schema=json.dumps(bad),
                input_example=json.dumps({"x": 1}),
            ),
            400,
            "invalid",
            media_root,
        )
        assert "input_schema" in error["fields"]

    def test_it_refuses_json_fields_that_are_not_json(self, staff_client, iris_model, artifacts):
        response = upload(staff_client, "iris", artifacts.iris_onnx, "onnx", input_schema="{nope")
        assert response.status_code == 400
        assert "input_schema" in response.json()["error"]["fields"]

    def test_an_unknown_model_is_404(self, staff_client, artifacts, db):
        response = upload(staff_client, "nope", artifacts.iris_onnx, "onnx")
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "model_not_found"


class TestPickleSafety:
    def test_a_malicious_pickle_with_a_wrong_sha256_never_runs(
        self, staff_client, iris_model, tmp_path, media_root
    ):
        proof = tmp_path / "pwned"
        evil = tmp_path / "evil.joblib"
        evil.write_bytes(malicious_pickle(proof))
        response = upload(staff_client, "iris", evil, "joblib", sha256="a" * 64)
        assert response.status_code == 400
        assert not proof.exists()
        assert ModelVersion.objects.count() == 0

    def test_a_malicious_pickle_from_a_non_staff_user_never_runs(
        self, user_client, user, iris_model, tmp_path, artifacts
    ):
        proof = tmp_path / "pwned"
        evil = tmp_path / "evil.joblib"
        evil.write_bytes(malicious_pickle(proof))
        response = upload(user_client, "iris", evil, "joblib", sha256=artifacts.sha256(evil))
        assert response.status_code == 403
        with pytest.raises(services.InvalidArtifact) as refused:
            services.version_create(
                model=iris_model,
                artifact=evil,
                format="joblib",
                input_schema=IRIS.input_schema,
                input_example=IRIS.input_example,
                labels=IRIS.labels,
                expected_sha256=artifacts.sha256(evil),
                actor=user,
            )
        assert refused.value.get_codes() == "pickle_not_allowed"
        assert not proof.exists()


class TestReadingTheRegistry:
    def test_users_list_models_with_aliases_and_the_production_summary(
        self, user_client, iris_model, artifacts
    ):
        v1 = ModelVersionFactory(model=iris_model)
        services.alias_set(model=iris_model, alias="production", version=v1)
        response = user_client.get("/api/v1/models/")
        assert response.status_code == 200
        body = response.json()
        assert body["count"] == 1 and body["next"] is None
        model = body["results"][0]
        assert model["name"] == "iris" and model["task"] == "classification"
        assert model["aliases"] == {"production": 1}
        assert model["production"]["number"] == 1 and model["production"]["format"] == "skops"

    def test_a_model_detail_lists_its_versions(self, user_client, iris_model, artifacts):
        ModelVersionFactory(model=iris_model)
        ModelVersionFactory(model=iris_model, format="onnx")
        body = user_client.get("/api/v1/models/iris/").json()
        assert [v["number"] for v in body["versions"]] == [2, 1]
        assert body["production"] is None

    def test_a_version_detail_shows_schema_labels_example_and_metrics(
        self, user_client, iris_model, artifacts
    ):
        ModelVersionFactory(model=iris_model, format="onnx", metrics={"accuracy": 0.97})
        body = user_client.get("/api/v1/models/iris/versions/1/").json()
        assert body["input_schema"] == IRIS.input_schema
        assert body["labels"] == IRIS.labels
        assert body["input_example"] == IRIS.input_example
        assert body["metrics"] == {"accuracy": 0.97}
        assert user_client.get("/api/v1/models/iris/versions/9/").status_code == 404

    def test_the_schema_endpoint_gives_json_schema_and_an_example(
        self, user_client, iris_model, artifacts
    ):
        v1 = ModelVersionFactory(model=iris_model, format="onnx")
        services.alias_set(model=iris_model, alias="production", version=v1)
        body = user_client.get("/api/v1/models/iris/schema/").json()
        assert body["model"] == "iris" and body["version"] == 1
        schema = body["json_schema"]
        assert schema["type"] == "object" and schema["additionalProperties"] is False
        assert schema["required"] == IRIS.feature_names
        assert schema["properties"]["sepal_length"] == {
            "type": "number",
            "minimum": 0,
            "maximum": 50,
        }
        assert body["example"] == IRIS.input_example and body["labels"] == IRIS.labels

    def test_the_schema_endpoint_takes_a_version_or_alias(self, user_client, iris_model, artifacts):
        ModelVersionFactory(model=iris_model, format="onnx")
        ModelVersionFactory(model=iris_model)
        assert user_client.get("/api/v1/models/iris/schema/").json()["version"] == 2
        assert user_client.get("/api/v1/models/iris/schema/?version=1").json()["version"] == 1
        missing = user_client.get("/api/v1/models/iris/schema/?version=staging")
        assert missing.status_code == 404

    @pytest.mark.parametrize(
        "ref,message",
        [
            ("9", "Model 'iris' has no version 9."),
            ("99999999999999999999", "Model 'iris' has no version 99999999999999999999."),
            ("\u00b3", "Model 'iris' has no alias '\u00b3'."),
            ("canary", "Model 'iris' has no alias 'canary'."),
        ],
    )
    def test_a_version_that_is_not_there_is_named_in_a_404(
        self, user_client, iris_model, artifacts, ref, message
    ):
        ModelVersionFactory(model=iris_model, format="onnx")
        response = user_client.get(f"/api/v1/models/iris/schema/?version={ref}")
        assert response.status_code == 404
        assert response.json()["error"] == {"code": "version_not_found", "message": message}

    def test_archived_models_are_hidden_from_users_but_not_staff(
        self, user_client, staff_client, iris_model
    ):
        iris_model.is_archived = True
        iris_model.save()
        assert user_client.get("/api/v1/models/").json()["count"] == 0
        assert user_client.get("/api/v1/models/iris/").status_code == 404
        assert user_client.get("/api/v1/models/iris/schema/").status_code == 404
        assert staff_client.get("/api/v1/models/").json()["count"] == 1
        assert staff_client.get("/api/v1/models/iris/").status_code == 200

    def test_anonymous_users_get_401(self, api_client, iris_model):
        assert api_client.get("/api/v1/models/").status_code == 401


class TestManagingModels:
    def test_staff_create_update_and_archive_a_model_with_audit(self, staff_client, staff_user):
        created = staff_client.post(
            "/api/v1/models/", {"name": "churn", "task": "classification", "title": "Churn"}
        )
        assert created.status_code == 201 and created.json()["versions"] == []
        updated = staff_client.patch("/api/v1/models/churn/", {"title": "Customer churn"})
        assert updated.json()["title"] == "Customer churn"
        assert staff_client.delete("/api/v1/models/churn/").status_code == 204
        assert MLModel.objects.get(name="churn").is_archived is True
        actions = list(AuditEvent.objects.order_by("id").values_list("action", "actor__username"))
        assert actions == [
            ("model_created", "staff"),
            ("model_updated", "staff"),
            ("model_archived", "staff"),
        ]

    def test_a_duplicate_model_name_is_400(self, staff_client, iris_model):
        response = staff_client.post("/api/v1/models/", {"name": "iris", "task": "regression"})
        assert response.status_code == 400 and "name" in response.json()["error"]["fields"]

    def test_every_write_is_403_for_ordinary_users(self, user_client, iris_model, artifacts):
        ModelVersionFactory(model=iris_model, format="onnx")
        writes = [
            user_client.post("/api/v1/models/", {"name": "x", "task": "regression"}),
            user_client.patch("/api/v1/models/iris/", {"title": "mine"}),
            user_client.delete("/api/v1/models/iris/"),
            upload(user_client, "iris", artifacts.iris_onnx, "onnx"),
            user_client.put("/api/v1/models/iris/aliases/production/", {"version": 1}),
            user_client.post("/api/v1/models/iris/aliases/production/rollback/", {}),
        ]
        assert [r.status_code for r in writes] == [403] * 6
        assert {r.json()["error"]["code"] for r in writes} == {"permission_denied"}
        assert ModelVersion.objects.count() == 1 and not Alias.objects.exists()


class TestAliases:
    def test_moving_an_alias_records_who_when_from_to_and_why(
        self, staff_client, iris_model, artifacts
    ):
        ModelVersionFactory(model=iris_model)
        ModelVersionFactory(model=iris_model, format="onnx")
        first = staff_client.put(
            "/api/v1/models/iris/aliases/production/", {"version": 1, "reason": "first release"}
        )
        assert first.status_code == 200 and first.json()["version"] == 1
        second = staff_client.put(
            "/api/v1/models/iris/aliases/production/", {"version": 2, "reason": "onnx is faster"}
        )
        assert second.json()["version"] == 2
        history = staff_client.get("/api/v1/models/iris/aliases/production/history/").json()
        assert [
            (m["from_version"], m["to_version"], m["reason"], m["actor"])
            for m in history["results"]
        ] == [
            (1, 2, "onnx is faster", "staff"),
            (None, 1, "first release", "staff"),
        ]

    def test_rollback_moves_the_alias_back_in_one_action(self, staff_client, iris_model, artifacts):
        v1 = ModelVersionFactory(model=iris_model)
        v2 = ModelVersionFactory(model=iris_model, format="onnx")
        services.alias_set(model=iris_model, alias="production", version=v1)
        services.alias_set(model=iris_model, alias="production", version=v2)
        response = staff_client.post(
            "/api/v1/models/iris/aliases/production/rollback/", {"reason": "v2 misbehaves"}
        )
        assert response.status_code == 200 and response.json()["version"] == 1
        latest = AliasMove.objects.first()
        assert (latest.kind, latest.from_version, latest.to_version) == ("rollback", v2, v1)
        assert user_visible_production(staff_client) == 1

    def test_rollback_with_no_earlier_version_is_409(self, staff_client, iris_model, artifacts):
        v1 = ModelVersionFactory(model=iris_model)
        services.alias_set(model=iris_model, alias="production", version=v1)
        response = staff_client.post("/api/v1/models/iris/aliases/production/rollback/", {})
        assert response.status_code == 409
        assert response.json()["error"]["code"] == "nothing_to_roll_back"

    def test_moving_an_alias_to_a_missing_version_is_404(self, staff_client, iris_model):
        response = staff_client.put("/api/v1/models/iris/aliases/production/", {"version": 7})
        assert response.status_code == 404
        assert not AliasMove.objects.exists()

    def test_alias_history_rows_cannot_be_changed_or_deleted(self, iris_model, artifacts):
        v1 = ModelVersionFactory(model=iris_model)
        services.alias_set(model=iris_model, alias="production", version=v1)
        move = AliasMove.objects.get()
        move.reason = "rewritten"
        with pytest.raises(Exception, match="immutable"):
            move.save()
        with pytest.raises(Exception, match="immutable"):
            move.delete()

    def test_audit_events_cannot_be_changed_or_deleted(self, iris_model, artifacts):
        ModelVersionFactory(model=iris_model)
        event = AuditEvent.objects.get(action="version_created")
        event.details = {}
        with pytest.raises(Exception, match="immutable"):
            event.save()
        with pytest.raises(Exception, match="immutable"):
            event.delete()
        assert AuditEvent.objects.get(pk=event.pk).details["number"] == 1

    def test_a_versions_artifact_and_schema_never_change(self, iris_model, artifacts):
        version = ModelVersionFactory(model=iris_model)
        version.input_schema = [{"name": "x", "type": "number"}]
        with pytest.raises(Exception, match="never change"):
            version.save()
        version.refresh_from_db()
        version.notes = "notes may change"
        version.save()


def user_visible_production(client):
    return client.get("/api/v1/models/iris/").json()["aliases"]["production"]


def test_another_staff_member_sees_the_same_registry(iris_model, artifacts):
    other = client_for(UserFactory(is_staff=True))
    ModelVersionFactory(model=iris_model)
    assert other.get("/api/v1/models/iris/").json()["versions"][0]["number"] == 1
