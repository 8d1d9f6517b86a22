"""Evidence for operators: quality and PSI gauges on /metrics, and the dashboard's charts."""

from datetime import UTC, datetime, time, timedelta

import pytest
from django.db.models import F
from django.utils import timezone

from evidence import monitoring, quality
from evidence.models import Feedback
from predictions.models import Prediction
from registry import demo
from registry.models import ModelVersion
from tests.support.api import SETOSA, VIRGINICA, labels, scrape, submit
from tests.support.evidence import feedback, iris_rows, upload_reference
from tests.support.workers import finished, run_worker

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def evidence(alice_client, staff_client, iris):
    """Two iris predictions with feedback (one right, one wrong) and a shifted batch."""
    assert upload_reference(staff_client).status_code == 201
    ids = [
        submit(alice_client, {"model": "iris", "input": r}).json()["id"]
        for r in (SETOSA, VIRGINICA)
    ]
    submit(alice_client, {"model": "iris", "inputs": iris_rows(300, {"petal_length": 2.5})})
    run_worker()
    assert feedback(alice_client, ids[0], "setosa").status_code == 201
    assert feedback(alice_client, ids[1], "versicolor").status_code == 201


def test_metrics_carry_quality_and_drift_gauges(client, evidence):
    samples = scrape(client)
    quality = samples["mlservice_quality"]
    assert quality[labels(model="iris", version="2", metric="accuracy")] == 0.5
    assert labels(model="iris", version="2", metric="log_loss") in quality
    psi = samples["mlservice_drift_psi"]
    assert psi[labels(model="iris", version="2", feature="petal_length")] > 0.2
    assert psi[labels(model="iris", version="2", feature="sepal_width")] < 0.05
    flagged = samples["mlservice_drift_flagged"]
    assert flagged == {labels(model="iris", version="2", feature="petal_length"): 1}


def test_the_dashboard_draws_quality_per_day_and_psi_per_feature(admin_client, evidence):
    page = admin_client.get("/admin/dashboard/?days=7")
    assert page.status_code == 200
    html = page.content.decode()
    assert "<title>Accuracy per day, from feedback</title>" in html
    assert '<div class="chart" id="chart-psi">' in html
    assert "iris v2 petal_length" in html and "iris v2 sepal_width" in html
    assert html.count('<svg xmlns="http://www.w3.org/2000/svg" role="img"') == 5


def test_without_evidence_the_dashboard_says_so(admin_client, iris):
    html = admin_client.get("/admin/dashboard/?days=7").content.decode()
    assert 'id="no-quality"' in html and 'id="no-drift"' in html


class TestQualityPerDay:
    """The dashboard's quality per day keeps settled days in the cache, as the operations
    rollups do, and gives the same numbers as reading the feedback directly."""

    today = property(lambda self: timezone.now().date())

    def made_days_ago(self, client, body, days: int) -> str:
        """A finished prediction, moved back `days` days, as if made then."""
        prediction = finished(client, body)
        shift = timedelta(days=days)
        Prediction.objects.filter(pk=prediction["id"]).update(
            created_at=F("created_at") - shift,
            started_at=F("started_at") - shift,
            finished_at=F("finished_at") - shift,
        )
        return prediction["id"]

    def chart(self, title: str, label: str) -> dict:
        charts = monitoring.daily_quality(self.today - timedelta(days=6), self.today)
        return charts.get(title, {}).get(label, {})

    def direct(self, metric: str, model: str) -> dict:
        """The metric of each day with feedback, read from the rows without any rollup."""
        version = ModelVersion.objects.get(model__name=model, aliases__name="production")
        values = {}
        for back in range(7):
            day = self.today - timedelta(days=back)
            until = datetime.combine(day + timedelta(days=1), time(), tzinfo=UTC)
            totals = quality.quality_for(version, timedelta(days=1), until=until).totals
            if totals.count:
                values[day] = getattr(totals, metric)
        return values

    def test_rollups_match_the_feedback_through_late_feedback_and_corrections(
        self, alice_client, staff_client, iris, diabetes
    ):
        made = {  # days ago -> (prediction, truth): setosa and virginica are predicted
            5: [
                (self.made_days_ago(alice_client, {"model": "iris", "input": r}, 5), t)
                for r, t in ((SETOSA, "setosa"), (VIRGINICA, "setosa"))
            ],
            3: [
                (self.made_days_ago(alice_client, {"model": "iris", "input": r}, 3), t)
                for r, t in ((SETOSA, "setosa"), (VIRGINICA, "virginica"))
            ],
            0: [
                (self.made_days_ago(alice_client, {"model": "iris", "input": r}, 0), t)
                for r, t in ((SETOSA, "versicolor"), (VIRGINICA, "virginica"))
            ],
        }
        example = demo.DEMO_MODELS["diabetes"].input_example
        regressions = [
            self.made_days_ago(alice_client, {"model": "diabetes", "input": example}, days)
            for days in (4, 4, 0)
        ]
        for pairs in made.values():
            for pk, truth in pairs:
                assert feedback(alice_client, pk, truth).status_code == 201
        for pk, truth in zip(regressions, (100.0, 200.0, 150.0), strict=True):
            assert feedback(alice_client, pk, truth).status_code == 201
        day = {back: self.today - timedelta(days=back) for back in range(7)}

        first = self.chart("Accuracy", "iris v2")
        assert first == {day[5]: 0.5, day[3]: 1.0, day[0]: 0.5}
        assert first == self.direct("accuracy", "iris")
        assert self.chart("MAE", "diabetes v1") == self.direct("mae", "diabetes")

        # A staff correction on a settled day renews that day's rollup, and only that one.
        url = f"/api/v1/predictions/{made[5][1][0]}/feedback/"
        assert staff_client.put(url, {"truth": "virginica"}, format="json").status_code == 200
        # So does feedback arriving late on a settled day.
        late = self.made_days_ago(alice_client, {"model": "iris", "input": SETOSA}, 3)
        assert feedback(alice_client, late, "virginica").status_code == 201

        second = self.chart("Accuracy", "iris v2")
        assert second == {day[5]: 1.0, day[3]: 2 / 3, day[0]: 0.5}
        assert second == self.direct("accuracy", "iris")
        assert self.chart("MAE", "diabetes v1") == self.direct("mae", "diabetes")

    def test_settled_days_are_read_once_and_today_stays_live(self, alice_client, iris):
        old = self.made_days_ago(alice_client, {"model": "iris", "input": SETOSA}, 2)
        new = self.made_days_ago(alice_client, {"model": "iris", "input": SETOSA}, 0)
        for pk in (old, new):
            assert feedback(alice_client, pk, "setosa").status_code == 201
        two_days_ago = self.today - timedelta(days=2)
        assert self.chart("Accuracy", "iris v2") == {two_days_ago: 1.0, self.today: 1.0}

        # Rows changed behind the services' back: only today's value follows them.
        Feedback.objects.update(truth_label="virginica")
        assert self.chart("Accuracy", "iris v2") == {two_days_ago: 1.0, self.today: 0.0}
        assert self.direct("accuracy", "iris") == {two_days_ago: 0.0, self.today: 0.0}
