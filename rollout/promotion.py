"""What the promotion view shows: a candidate beside the alias's version, in sections.

`promotion_sections` returns the sections in order, each a title and rows of (what, candidate,
primary): shadow runs, traffic served, quality from feedback (evidence) on each version's own
predictions and on the predictions both answered; another kind of evidence adds its own
function to SECTIONS and shows up in the view.
"""

from collections.abc import Callable

from django.utils import timezone

from evidence import quality
from registry.models import Alias
from rollout import selectors
from rollout.selectors import Comparison


def _percent(rate: float | None) -> str:
    return "-" if rate is None else f"{rate:.1%}"


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f} ms"


def shadow_section(comparison: Comparison, summary: dict) -> dict:
    shadow = summary["shadow"]
    latency, errors = shadow["latency_ms"], shadow["error_rate"]
    return {
        "title": "Shadow runs: the same predictions",
        "rows": [
            ("Runs (skipped)", f"{shadow['runs']} ({shadow['skipped']})", ""),
            (
                "Agreement with the answers users got",
                f"{_percent(shadow['agreement_rate'])} of {shadow['compared']}",
                "",
            ),
            ("Error rate", _percent(errors["version"]), _percent(errors["against"])),
            ("Latency p50", _ms(latency["version"]["p50"]), _ms(latency["against"]["p50"])),
            ("Latency p95", _ms(latency["version"]["p95"]), _ms(latency["against"]["p95"])),
        ],
    }


def served_section(comparison: Comparison, summary: dict) -> dict:
    mine, theirs = summary["served"]["version"], summary["served"]["against"]
    return {
        "title": "Traffic served through the alias (a canary split's shares)",
        "rows": [
            ("Predictions", mine["predictions"], theirs["predictions"]),
            ("Error rate", _percent(mine["error_rate"]), _percent(theirs["error_rate"])),
            ("Latency p50", _ms(mine["latency_ms"]["p50"]), _ms(theirs["latency_ms"]["p50"])),
            ("Latency p95", _ms(mine["latency_ms"]["p95"]), _ms(theirs["latency_ms"]["p95"])),
        ],
    }


def _figure(value) -> str:
    return "-" if value is None else f"{value:.4g}"


def quality_section(comparison: Comparison, summary: dict) -> dict:
    """Each version's quality on the predictions it served in the window that have feedback."""
    until = timezone.now()
    mine, theirs = (
        quality.quality_for(v, until - comparison.since, until=until).as_dict()
        for v in (comparison.candidate, comparison.primary)
    )
    skipped = ("version", "task", "since", "until", "feedback", "classes")
    names = [name for name in mine if name not in skipped]
    return {
        "title": "Quality on its own predictions with feedback",
        "rows": [
            ("Predictions with feedback", mine["feedback"], theirs["feedback"]),
            *[
                (name, _figure(mine[name]), _figure(theirs[name]))
                for name in names
                if name != "classes"
            ],
        ],
    }


def shared_quality_section(comparison: Comparison, summary: dict) -> dict:
    shared = summary["quality_on_shared"]
    return {
        "title": "Quality on the same predictions (shadow runs with feedback)",
        "rows": [
            ("Predictions with feedback", shared["count"], shared["count"]),
            *[
                (name, _figure(value), _figure(shared["against"][name]))
                for name, value in shared["version"].items()
            ],
        ],
    }


# Each takes (comparison, summary) and returns {"title", "rows": [(what, candidate, primary)]}.
SECTIONS: dict[str, Callable[[Comparison, dict], dict]] = {
    "shadow": shadow_section,
    "served": served_section,
    "quality": quality_section,
    "quality_on_shared": shared_quality_section,
}


def promotion_sections(comparison: Comparison) -> dict[str, dict]:
    summary = selectors.comparison_summary(comparison)
    return {name: section(comparison, summary) for name, section in SECTIONS.items()}


def candidates(alias: Alias) -> list[int]:
    """The versions under test on an alias: its canary, then its shadows."""
    numbers = sorted(v.number for v in alias.shadows.all())
    if alias.canary_version_id:
        numbers.insert(0, alias.canary_version.number)
    return numbers
