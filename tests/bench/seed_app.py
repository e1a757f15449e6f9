# SPDX-License-Identifier: MIT
"""seed_app.py: the seed recipe (Flask + prometheus_client) done right, as
the peer `make bench` compares promfcgi with.

The seed tutorial's three bugs are mended, so the comparison is with a
correct stack, not a broken one:
  - the metrics app is mounted beside Flask with DispatcherMiddleware (the
    recipe replaced app.wsgi_app with make_wsgi_app(), so / served metrics);
  - request_duration_seconds is observed for every request;
  - active_requests is decremented in teardown_request, which also runs when
    a view raises (after_request does not).
Labels match promfcgi's hello (method, route, code), and it runs in
client_python's multiprocess mode (PROMETHEUS_MULTIPROC_DIR) under gunicorn,
as a multi-worker deployment must.  Run with /usr/bin/python3 (Debian's
packages), e.g.
  PROMETHEUS_MULTIPROC_DIR=DIR gunicorn -w 2 -c tests/bench/seed_gunicorn.py \
      --chdir tests/bench seed_app:app
"""
import time

from flask import Flask, g, request
from prometheus_client import (CollectorRegistry, Counter, Gauge, Histogram,
                               make_wsgi_app, multiprocess)
from werkzeug.middleware.dispatcher import DispatcherMiddleware

METHODS = {"GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"}

requests_total = Counter("requests_total", "Total number of requests.",
                         ["method", "route", "code"])
request_duration = Histogram("request_duration_seconds",
                             "Duration of requests in seconds.", ["method", "route"])
# livesum: the sum over live workers, like promfcgi's gauge.
active_requests = Gauge("active_requests", "Number of requests in flight.",
                        multiprocess_mode="livesum")

app = Flask(__name__)


def labels():
    method = request.method if request.method in METHODS else "other"
    route = "/" if request.path == "/" else "unmatched"
    return method, route


@app.before_request
def before():
    g.start = time.perf_counter()
    active_requests.inc()


@app.after_request
def after(response):
    method, route = labels()
    requests_total.labels(method, route, str(response.status_code)).inc()
    request_duration.labels(method, route).observe(time.perf_counter() - g.start)
    return response


@app.teardown_request
def teardown(_exc):
    # Runs after every request, also when the view raised: the gauge never stays up.
    if "start" in g:
        active_requests.dec()


@app.route("/")
def index():
    return "Hello, Prometheus!\n"


def metrics_app():
    # A fresh registry per scrape source: in multiprocess mode the collector
    # reads every worker's files; the default registry would only see this one.
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)
    return make_wsgi_app(registry=registry)


# Mounted beside the Flask app, not over it.
app.wsgi_app = DispatcherMiddleware(app.wsgi_app, {"/metrics": metrics_app()})
