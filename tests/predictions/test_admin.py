"""What staff see of predictions in the admin."""

import re

import pytest

from predictions.admin import readable_seconds
from predictions.models import ModelLoad
from tests.support.api import SETOSA, submit
from tests.support.factories import BatchPredictionFactory, PredictionFactory
from tests.support.workers import run_worker

pytestmark = pytest.mark.django_db(transaction=True)

LIST_URL = "/admin/predictions/prediction/"


def list_row(page: str, prediction_id: str) -> str:
    """The changelist row of a prediction, as text: its cells joined by ' | '."""
    body = page.split("<tbody>", 1)[1].split("</tbody>", 1)[0]
    [row] = [row for row in body.split("</tr>") if f">{prediction_id[:8]}<" in row]
    cells = re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", row, re.S)
    return " | ".join(re.sub(r"<[^>]+>", "", cell).strip() for cell in cells)


def test_the_list_shows_a_short_id_the_label_the_row_count_and_the_duration(
    admin_client, alice, iris
):
    single = str(PredictionFactory(user=alice, model=iris).pk)
    batch = str(BatchPredictionFactory(user=alice, model=iris, rows=[SETOSA] * 12).pk)
    run_worker()

    page = admin_client.get(LIST_URL).content.decode()

    # The first prediction waited for the worker to load the model (a cold start).
    assert re.fullmatch(
        rf" \| {single[:8]} \| [\d: -]+ \| alice \| iris v2 \| Succeeded \| setosa \(\d+%\)"
        r" \| [\d.]+ (ms|s) \+ [\d.]+ (ms|s) load",
        list_row(page, single),
    ), list_row(page, single)
    assert re.search(r"\| 12 rows \| [\d.]+ (ms|s)$", list_row(page, batch))
    assert f'<span title="{single}">{single[:8]}</span>' in page  # the full id on hover


def test_a_value_shows_as_a_number_and_a_failure_as_its_error_code(admin_client, alice, exploding):
    value = str(PredictionFactory(user=alice, model=exploding, row={"x": 1, "y": 2.5}).pk)
    run_worker()
    failed = str(PredictionFactory(user=alice, model=exploding, row={"x": 101, "y": 2}).pk)
    run_worker()

    page = admin_client.get(LIST_URL).content.decode()

    assert "| Succeeded | 3.5 |" in list_row(page, value)
    assert "| Failed | model_error |" in list_row(page, failed)


@pytest.mark.parametrize(
    ("seconds", "shown"),
    [
        (0.0042, "4.2 ms"),
        (0.38, "380 ms"),
        (1.54, "1.5 s"),
        (125, "2 min 5 s"),
        (3780, "1 h 3 min"),
    ],
)
def test_durations_read_as_a_person_says_them(seconds, shown):
    assert readable_seconds(seconds) == shown


def test_staff_see_each_model_load_read_only(admin_client, alice_client, iris):
    submit(alice_client, {"model": "iris", "input": SETOSA})
    run_worker()
    [load] = ModelLoad.objects.all()
    page = admin_client.get("/admin/predictions/modelload/").content.decode()
    assert "iris v2" in page and readable_seconds(load.seconds) in page and load.process in page
    assert admin_client.get("/admin/predictions/modelload/add/").status_code == 403
