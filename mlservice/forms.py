"""Admin forms whose object a service makes, so the admin applies the same rules as the API."""

from django import forms

from mlservice.errors import ServiceError


class ServiceForm(forms.ModelForm):
    """An admin "add" form that calls a service in clean(): the service validates and stores the
    object (`created`), and its refusal shows on the form, each problem under its field.

    Subclasses implement `create(cleaned)`; the admin binds the staff user with `for_actor`.
    """

    actor = None
    created = None
    refusal_field: str | None = None  # where a refusal that names no field is shown

    @classmethod
    def for_actor(cls, actor) -> type["ServiceForm"]:
        return type(cls.__name__, (cls,), {"actor": actor})

    def create(self, cleaned: dict):
        raise NotImplementedError

    def field_for(self, exc: ServiceError) -> str | None:
        return self.refusal_field

    def clean(self):
        cleaned = super().clean()
        self.created = None
        if self.errors:
            return cleaned
        try:
            self.created = self.create(cleaned)
        except ServiceError as exc:
            for name, problems in (exc.fields or {}).items():
                self.add_error(name if name in self.fields else None, problems)
            if not exc.fields:
                self.add_error(self.field_for(exc), str(exc.detail))
        return cleaned
