-- Load 1,000,000 finished predictions spread over the last 30 days across every model version
-- (for timing the staff dashboard and /metrics; see docs/OPERATIONS.md). Needs one user and the
-- demo models: `manage.py seed_demo_models` and `manage.py ensure_admin` first.
-- psql "$DATABASE_URL" -f bench/dashboard_1m.sql
\timing on
WITH versions AS (
    SELECT array_agg(id ORDER BY id) AS ids, array_agg(model_id ORDER BY id) AS models
    FROM registry_modelversion
), owner AS (SELECT min(id) AS id FROM accounts_user)
INSERT INTO predictions_prediction (
    id, user_id, model_id, version_id, requested_version, status, is_batch, source, row_count,
    input, output, progress, attempts, request_fingerprint, cost, created_at, started_at,
    finished_at
)
SELECT gen_random_uuid(), owner.id, versions.models[1 + i % cardinality(versions.ids)],
       versions.ids[1 + i % cardinality(versions.ids)], 'production',
       CASE WHEN i % 50 = 0 THEN 'failed' ELSE 'succeeded' END, false, 'json', 1,
       '{"x": 1}'::jsonb, '{"label": "setosa"}'::jsonb, 1.0, 1, '', 0, t.created,
       t.created + make_interval(secs => 0.005 + (i % 97) / 1000.0),
       t.created + make_interval(secs => 0.010 + (i % 97) / 1000.0 + (i % 13) / 1000.0)
FROM generate_series(1, 1000000) AS i, versions, owner,
     LATERAL (SELECT now() - make_interval(secs => i * 2.592)) AS t(created);
VACUUM ANALYZE predictions_prediction;
