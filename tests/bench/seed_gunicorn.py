# SPDX-License-Identifier: MIT
"""seed_gunicorn.py: gunicorn settings for the seed stack (tests/bench/seed_app.py).

child_exit tells client_python that a worker died, so its live gauge files
are dropped (multiprocess mode requires it; the recipe left it out).
"""
from prometheus_client import multiprocess

accesslog = None
loglevel = "warning"


def child_exit(server, worker):
    multiprocess.mark_process_dead(worker.pid)
