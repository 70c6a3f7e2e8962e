-- GET with a bearer token from the TOKEN environment variable (used by bench/run.py).
wrk.headers["Authorization"] = "Bearer " .. os.getenv("TOKEN")
