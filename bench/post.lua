-- wrk script: POST one iris row per request with the bench user's token.
-- Usage: TOKEN=... wrk -s bench/post.lua http://127.0.0.1:PORT/api/v1/predictions/
-- wrk reports "Non-2xx or 3xx responses" itself; the harness counts rows in the database.
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer " .. os.getenv("TOKEN")
wrk.body = '{"model": "iris", "input": {"sepal_length": 5.1, "sepal_width": 3.5, ' ..
           '"petal_length": 1.4, "petal_width": 0.2}}'
