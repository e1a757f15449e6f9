#!/usr/bin/env bats
# SPDX-License-Identifier: MIT
# Integration tests against the nginx front end; bodies in common.bash.
# shellcheck disable=SC2034  # used by common.bash
SERVER=nginx
load common

@test "nginx: GET / is 200 Hello, Prometheus! as text/plain" { t_get_root; }
@test "nginx: HEAD / is 200 text/plain" { t_head_root; }
@test "nginx: unknown path is 404" { t_unknown_path; }
@test "nginx: POST / is 405 with Allow" { t_post_root; }
@test "nginx: only /metrics reaches the metrics worker" { t_routing; }
@test "nginx: /metrics is valid 0.0.4 text with the three families" { t_metrics_page; }
@test "nginx: /metrics speaks OpenMetrics when Accept asks for it" { t_openmetrics; }
@test "nginx: ab load is counted exactly once per request" { t_exact_count; }
@test "nginx: stamps X-Request-Start: the queue-time histogram counts every request" { t_queue_stamped; }
@test "nginx: Prometheus scrapes the same requests_total" { t_prometheus_agrees; }
@test "nginx: stopping leaves no process behind" { t_clean_stop; }
