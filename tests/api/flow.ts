// The user flow, typed with the definitions openapi-typescript generates from /api/schema/
// (./schema.d.ts, written next to a copy of this file by the test). `tsc --noEmit` must accept
// it: every body, answer and error below is a generated type, none is `unknown`.
import type { components, operations, paths } from "./schema";

type Schemas = components["schemas"];
type Json<Op extends keyof operations, S extends number> = operations[Op]["responses"] extends {
  [K in S]: { content: { "application/json": infer T } };
}
  ? T
  : never;

const base = "http://localhost:8000";

async function call<T>(path: keyof paths | string, init: RequestInit): Promise<T> {
  const response = await fetch(base + path, init);
  return (await response.json()) as T;
}

function json(body: unknown, token?: string): RequestInit {
  const headers: Record<string, string> = { "Content-Type": "application/json" };
  if (token) headers.Authorization = `Bearer ${token}`;
  return { method: "POST", headers, body: JSON.stringify(body) };
}

export async function flow(): Promise<string> {
  const register: Schemas["RegisterRequest"] = {
    username: "ts-user",
    email: "ts@example.com",
    password: "a-long-enough-passphrase-42",
  };
  const user = await call<Json<"users_register", 201>>("/api/v1/users/", json(register));
  const login: Schemas["LoginRequest"] = { username: user.username, password: register.password };
  const pair = await call<Schemas["TokenPair"]>("/api/v1/auth/token/", json(login));
  const fresh = await call<Json<"auth_refresh", 200>>(
    "/api/v1/auth/token/refresh/",
    json({ refresh: pair.refresh }),
  );
  const token = fresh.access;
  const auth = { headers: { Authorization: `Bearer ${token}` } };

  const models = await call<Json<"models_list", 200>>("/api/v1/models/", auth);
  const schema = await call<Json<"models_schema", 200>>(
    `/api/v1/models/${models.results[0].name}/schema/`,
    auth,
  );
  const required: string[] = schema.json_schema.required;
  const row: Schemas["RowInput"] = schema.example;

  const submit: Schemas["PredictionCreateRequest"] = { model: "iris", input: row };
  const accepted = await call<Json<"predictions_create", 202>>(
    "/api/v1/predictions/",
    json(submit, token),
  );
  const done = await call<Json<"predictions_retrieve", 200>>(
    `/api/v1/predictions/${accepted.id}/?wait=30`,
    auth,
  );
  let label = "";
  const output = done.output;
  if (output && !Array.isArray(output) && "label" in output) {
    const probability: number = output.probabilities[output.label];
    label = `${output.label} ${probability}`;
  }
  const demand: Schemas["ForecastRequest"] = { horizon: 7, history: [1, 2, 3], history_end: "2025-12-30" };
  const planned = await call<Json<"predictions_create", 202>>(
    "/api/v1/predictions/",
    json({ model: "demand", input: demand }, token),
  );
  const forecast = await call<Json<"predictions_retrieve", 200>>(
    `/api/v1/predictions/${planned.id}/?wait=30`,
    auth,
  );
  let steps: [number, number, string | undefined][] = [];
  const planOutput = forecast.output;
  if (planOutput && !Array.isArray(planOutput) && "forecast" in planOutput) {
    steps = planOutput.forecast.map((s) => [s.step, s.value, s.timestamp]);
  }
  const result = await call<Schemas["BatchResult"]>(
    `/api/v1/predictions/${accepted.id}/result/`,
    auth,
  );
  const values = result.outputs.map((o) =>
    "value" in o ? o.value : "label" in o ? o.label : o.forecast.length,
  );

  const history = await call<Json<"predictions_list", 200>>(
    "/api/v1/predictions/?status=succeeded&model=iris",
    auth,
  );
  const statuses: Schemas["StatusEnum"][] = history.results.map((p) => p.status);
  const balance = await call<Json<"billing_balance", 200>>("/api/v1/billing/balance/", auth);

  const invalid = await call<Json<"predictions_create", 400>>(
    "/api/v1/predictions/",
    json({ model: "iris", input: {} }, token),
  );
  const fields = invalid.error.fields;
  const broke = await call<Json<"predictions_create", 402>>(
    "/api/v1/predictions/",
    json({ model: "pricey", input: row }, token),
  );
  const shortBy: [string | undefined, string | undefined] = [broke.error.price, broke.error.balance];
  const limited = await call<Json<"predictions_create", 429>>("/api/v1/predictions/", auth);
  const retryAfter: number | undefined = limited.error.retry_after;

  return JSON.stringify([required, label, steps, values, statuses, balance.available, fields, shortBy, retryAfter]);
}
