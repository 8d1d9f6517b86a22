"""What a shadow run keeps of the primary's answer when it is stored, so that a comparison is
one scan of an index: the primary's version, status and latency, and on how many rows the two
agree (one for a single prediction's run)."""

import io

import pytest
from django.core.management import call_command

from predictions.models import ShadowRun, compare_with_primaries
from tests.support.rollout import bare_versions, served, shadowed

pytestmark = pytest.mark.django_db


def stored(task, pairs, alice, *, primary_status="succeeded", shadow_status="succeeded"):
    """The runs stored for [(primary's output, shadow's output)] of a new model's v1 and v2."""
    v1, v2 = bare_versions(f"m-{task}", task, labels=["a", "b"])
    return [
        shadowed(
            served(v1, alice, output=mine, ms=25, status=primary_status),
            v2,
            output=theirs,
            status=shadow_status,
        )
        for mine, theirs in pairs
    ]


def labelled(label, **probabilities):
    return {"label": label, "probabilities": probabilities}


def forecast(*values):
    return {"forecast": [{"step": i + 1, "value": v} for i, v in enumerate(values)]}


def test_a_classifiers_shadow_agrees_on_the_same_label_whatever_the_probabilities(alice):
    runs = stored(
        "classification",
        [
            (labelled("a", a=0.9, b=0.1), labelled("a", a=0.51, b=0.49)),
            (labelled("a", a=0.9, b=0.1), labelled("b", a=0.2, b=0.8)),
        ],
        alice,
    )
    assert [run.agreements for run in runs] == [1, 0]


def test_a_regressors_shadow_agrees_within_the_tolerance_of_the_primarys_value(alice):
    runs = stored(
        "regression",
        [
            (10.0, 10.05),  # within 1% of 10
            (100.0, 101.5),  # 1.5 off: more than 1% of 100
            (0.5, 0.505),  # within 0.01 (absolute under 1)
            (0.5, 0.52),
        ],
        alice,
    )
    assert [run.agreements for run in runs] == [1, 0, 1, 0]


def test_the_tolerance_is_a_setting(alice, settings):
    settings.ROLLOUT_AGREEMENT_TOLERANCE = 0.02
    [run] = stored("regression", [(100.0, 101.5)], alice)
    assert run.agreements == 1


def test_a_forecasts_shadow_agrees_when_every_step_is_within_the_tolerance(alice):
    runs = stored(
        "forecast",
        [
            (forecast(100.0, 200.0), forecast(100.5, 201.0)),
            (forecast(100.0, 200.0), forecast(100.5, 205.0)),  # step 2 is off
            (forecast(100.0, 200.0), forecast(100.0)),  # shorter
        ],
        alice,
    )
    assert [run.agreements for run in runs] == [1, 0, 0]


def test_a_run_keeps_the_primarys_version_status_and_latency(alice):
    [run] = stored("regression", [(10.0, 10.0)], alice)
    assert run.primary_version == run.prediction.version
    assert (run.primary_status, run.primary_ms) == ("succeeded", pytest.approx(25.0))


def test_a_failed_shadow_neither_agrees_nor_disagrees(alice):
    [run] = stored("regression", [(10.0, None)], alice, shadow_status="failed")
    assert (run.status, run.primary_status, run.agreements) == ("failed", "succeeded", None)


def test_a_failed_primary_is_kept_as_failed_and_its_shadow_neither_agrees_nor_disagrees(alice):
    [run] = stored("regression", [(None, 5.0)], alice, primary_status="failed")
    assert (run.status, run.primary_status, run.agreements) == ("succeeded", "failed", None)
    assert run.primary_ms == pytest.approx(25.0)


def test_the_backfill_of_older_runs_keeps_what_storing_them_keeps(alice):
    runs = stored("regression", [(10.0, 10.05), (100.0, 101.5), (None, 5.0)], alice)
    runs += stored("classification", [(labelled("a"), labelled("b"))], alice)
    fields = ["primary_version", "primary_status", "primary_ms", "agreements"]
    expected = list(ShadowRun.objects.order_by("id").values_list(*fields))
    ShadowRun.objects.update(
        primary_version=None, primary_status="", primary_ms=None, agreements=None
    )
    assert compare_with_primaries(size=2) == len(runs)
    assert list(ShadowRun.objects.order_by("id").values_list(*fields)) == expected


def test_staff_judge_the_stored_runs_anew_after_changing_the_tolerance(alice, settings):
    [run] = stored("regression", [(100.0, 101.5)], alice)
    settings.ROLLOUT_AGREEMENT_TOLERANCE = 0.02
    out = io.StringIO()
    call_command("compare_shadow_runs", stdout=out)
    run.refresh_from_db()
    assert run.agreements == 1
    assert "1 shadow run(s) judged with tolerance 0.02." in out.getvalue()
