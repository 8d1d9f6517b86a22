"""The promotion view in the admin: a candidate version beside the alias's version, and the
buttons that promote it, end its test or roll the alias back (each an audited alias move)."""

from urllib.parse import urlencode

from django.contrib import admin, messages
from django.contrib.admin.views.decorators import staff_member_required
from django.http import Http404
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.views.decorators.http import require_http_methods

from evidence.selectors import parse_window
from mlservice.errors import NotFound, ServiceError
from registry import selectors as registry_selectors
from registry import services as registry_services
from registry.models import PRODUCTION, Alias
from rollout import promotion, selectors

WINDOWS = ("1h", "24h", "7d", "30d")
DISAGREEMENTS_SHOWN = 20


@staff_member_required
@require_http_methods(["GET", "POST"])
def promotion_view(request, model_name: str):
    try:
        model = registry_selectors.model_get(user=request.user, name=model_name)
    except NotFound as exc:
        raise Http404(str(exc.detail)) from None
    alias_name = request.GET.get("alias", PRODUCTION)
    alias = (
        Alias.objects.select_related("version", "canary_version")
        .prefetch_related("shadows")
        .filter(model=model, name=alias_name)
        .first()
    )
    if request.method == "POST":
        _act(request, model, alias_name)
        # The candidate may have just been promoted or ended: show the alias afresh.
        return redirect(f"{request.path}?{urlencode({'alias': alias_name})}")
    context = {
        **admin.site.each_context(request),
        "title": f"Promotion: {model.name}@{alias_name}",
        "model": model,
        "alias": alias,
        "alias_name": alias_name,
        "windows": WINDOWS,
        "model_url": reverse("admin:registry_mlmodel_change", args=[model.pk]),
    }
    try:
        context.update(_comparison_context(request, model, alias))
    except ServiceError as exc:  # a bad window or candidate in the address
        messages.error(request, str(exc.detail))
    return TemplateResponse(request, "rollout/promotion.html", context)


def _comparison_context(request, model, alias) -> dict:
    """The candidate (the `candidate` parameter, else the alias's first one) compared with the
    alias's version; empty when the alias has nothing under test."""
    under_test = promotion.candidates(alias) if alias else []
    number = request.GET.get("candidate") or (under_test[0] if under_test else None)
    if alias is None or number is None:
        return {"candidates": under_test}
    window = request.GET.get("window") or "24h"
    length = parse_window(window)
    comparison = selectors.comparison_get(
        user=request.user,
        model_name=model.name,
        version=str(number),
        against=str(alias.version.number),
        window=length,
    )
    summary = selectors.comparison_summary(comparison)
    return {
        "candidates": under_test,
        "candidate": comparison.candidate,
        "primary": comparison.primary,
        "window": window,
        "sections": promotion.promotion_sections(comparison),
        "disagreements": selectors.disagreements(comparison, summary)[:DISAGREEMENTS_SHOWN],
    }


ACTIONS = {
    "promote": registry_services.alias_promote,
    "end_test": registry_services.alias_test_end,
}


def _act(request, model, alias_name: str) -> None:
    """Run the button's alias move and say what came of it."""
    action, reason = request.POST.get("action"), request.POST.get("reason", "")[:2000]
    fields = {"model": model, "alias": alias_name, "actor": request.user, "reason": reason}
    try:
        if action == "rollback":
            moved = registry_services.alias_rollback(**fields)
        elif action in ACTIONS:
            version = registry_selectors.version_resolve(
                user=request.user, model_name=model.name, ref=request.POST.get("candidate", "")
            )
            moved = ACTIONS[action](version=version, **fields)
        else:
            raise ServiceError("Unknown action.")
    except ServiceError as exc:
        messages.error(request, str(exc.detail))
        return
    messages.success(request, f"{model.name}@{alias_name} now: {_describe(moved.state())}.")


def _describe(state: dict) -> str:
    parts = [f"v{state['version']}"]
    if state["canary"]:
        parts.append(f"canary v{state['canary']['version']} at {state['canary']['percent']:g}%")
    if state["shadows"]:
        parts.append("shadows " + ", ".join(f"v{n}" for n in state["shadows"]))
    return "; ".join(parts)
