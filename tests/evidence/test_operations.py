"""Evidence for operators: quality and PSI gauges on /metrics, and the dashboard's charts."""

import pytest

from tests.support.api import SETOSA, VIRGINICA, labels, scrape, submit
from tests.support.evidence import feedback, iris_rows, upload_reference
from tests.support.workers import run_worker

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
