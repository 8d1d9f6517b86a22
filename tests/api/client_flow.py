"""The user flow through the Python client generated from /api/schema/.

Run by test_generated_clients.py with the generator's private venv (the generated code needs
httpx, which the project does not): `python client_flow.py <client dir> <base url>`. Each step
asserts what a user of the generated client sees; the first failure exits non-zero.
"""

import sys
import uuid

sys.path.insert(0, sys.argv[1])
BASE_URL = sys.argv[2]

from mlservice_api_client import AuthenticatedClient, Client  # noqa: E402
from mlservice_api_client.api.auth import auth_login, auth_refresh  # noqa: E402
from mlservice_api_client.api.billing import billing_balance  # noqa: E402
from mlservice_api_client.api.models import models_list, models_schema  # noqa: E402
from mlservice_api_client.api.predictions import (  # noqa: E402
    predictions_create,
    predictions_list,
    predictions_result,
    predictions_retrieve,
)
from mlservice_api_client.api.users import users_register  # noqa: E402
from mlservice_api_client.models import (  # noqa: E402
    BatchResult,
    ClassificationOutput,
    Error,
    FeatureRow,
    ForecastOutput,
    ForecastRequest,
    LoginRequest,
    PredictionCreateRequest,
    PredictionCSVRequest,
    PredictionsListStatusItem,
    PredictionsResultFormat,
    RegisterRequest,
    SingleUseTokenRefreshRequest,
    StatusEnum,
)
from mlservice_api_client.types import File  # noqa: E402

SETOSA = {"sepal_length": 5.1, "sepal_width": 3.5, "petal_length": 1.4, "petal_width": 0.2}
CSV = "sepal_length,sepal_width,petal_length,petal_width\n5.1,3.5,1.4,0.2\n6.7,3.0,5.2,2.3\n"

anonymous = Client(base_url=BASE_URL, raise_on_unexpected_status=True)
username, password = f"gen-{uuid.uuid4().hex[:8]}", "a-long-enough-passphrase-42"

registered = users_register.sync(
    client=anonymous,
    body=RegisterRequest(username=username, password=password, email=f"{username}@example.com"),
)
assert registered.username == username, registered

tokens = auth_login.sync(client=anonymous, body=LoginRequest(username=username, password=password))
refreshed = auth_refresh.sync(
    client=anonymous, body=SingleUseTokenRefreshRequest(refresh=tokens.refresh)
)
assert refreshed.access and refreshed.refresh != tokens.refresh
user = AuthenticatedClient(base_url=BASE_URL, token=refreshed.access)

models = models_list.sync(client=user)
assert {"iris", "pricey", "demand"} <= {model.name for model in models.results}, models

schema = models_schema.sync("iris", client=user)
assert schema.json_schema.required == list(SETOSA), schema.json_schema
assert schema.json_schema.properties["sepal_length"].type_ == "number"
assert set(schema.example.to_dict()) == set(SETOSA)

submitted = predictions_create.sync_detailed(
    client=user,
    body=PredictionCreateRequest(model="iris", input_=FeatureRow.from_dict(SETOSA)),
)
assert submitted.status_code == 202, submitted.content
done = predictions_retrieve.sync(submitted.parsed.id, client=user, wait=30)
assert done.status == StatusEnum.SUCCEEDED, done
assert isinstance(done.output, ClassificationOutput) and done.output.label == "setosa"
assert abs(sum(done.output.probabilities.to_dict().values()) - 1) < 1e-6

demand = models_schema.sync("demand", client=user)
forecast_request = ForecastRequest.from_dict({**demand.example.to_dict(), "horizon": 7})
submitted = predictions_create.sync_detailed(
    client=user, body=PredictionCreateRequest(model="demand", input_=forecast_request)
)
assert submitted.status_code == 202, submitted.content
forecast = predictions_retrieve.sync(submitted.parsed.id, client=user, wait=30)
assert forecast.status == StatusEnum.SUCCEEDED, forecast
assert isinstance(forecast.output, ForecastOutput), forecast.output
assert [step.step for step in forecast.output.forecast] == [1, 2, 3, 4, 5, 6, 7]
assert all(isinstance(step.value, float) for step in forecast.output.forecast)

batch = predictions_create.sync(
    client=user,
    body=PredictionCSVRequest(
        model="iris", file=File(payload=CSV.encode(), file_name="rows.csv", mime_type="text/csv")
    ),
)
batch = predictions_retrieve.sync(batch.id, client=user, wait=30)
assert batch.status == StatusEnum.SUCCEEDED and batch.row_count == 2, batch
result = predictions_result.sync(batch.id, client=user, format_=PredictionsResultFormat.JSON)
assert isinstance(result, BatchResult), result
assert [row.label for row in result.outputs] == ["setosa", "virginica"]
csv_text = user.get_httpx_client().get(f"/api/v1/predictions/{batch.id}/result/?format=csv").text
assert csv_text.splitlines()[0].startswith(
    "sepal_length,sepal_width,petal_length,petal_width,label"
)

history = predictions_list.sync(
    client=user, model="iris", status=[PredictionsListStatusItem.SUCCEEDED]
)
assert {p.id for p in history.results} == {done.id, batch.id}, history
assert [p.id for p in predictions_list.sync(client=user, model="demand").results] == [forecast.id]
assert predictions_list.sync(client=user, model="pricey").count == 0

balance = billing_balance.sync(client=user)
assert balance.available and balance.reserved is not None

bad = predictions_create.sync_detailed(
    client=user, body=PredictionCreateRequest(model="iris", input_=FeatureRow.from_dict({}))
)
assert bad.status_code == 400 and isinstance(bad.parsed, Error), bad.content
assert "sepal_length" in str(bad.parsed.error.fields.to_dict()), bad.parsed

broke = predictions_create.sync_detailed(
    client=user, body=PredictionCreateRequest(model="pricey", input_=FeatureRow.from_dict(SETOSA))
)
assert broke.status_code == 402 and isinstance(broke.parsed, Error), broke.content
assert broke.parsed.error.code == "insufficient_credits"
assert float(broke.parsed.error.price) > float(broke.parsed.error.balance)
print("flow ok")
