"""RQ job functions: take an id, call one service. The delivery row holds the state."""

from webhooks import services


def send_delivery(delivery_id: str) -> None:
    services.delivery_attempt(delivery_id=delivery_id)
