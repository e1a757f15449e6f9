#!/usr/bin/env bats
# SPDX-License-Identifier: MIT
# Integration tests against Caddy 2 (reverse_proxy with transport fastcgi, spawn-fcgi + multiwatch
# pools); bodies in common.bash.
# shellcheck disable=SC2034  # used by common.bash
SERVER=caddy
MODE=fastcgi
load common

@test "caddy: GET / is 200 Hello, Prometheus! as text/plain" { t_get_root; }
@test "caddy: HEAD / is 200 text/plain" { t_head_root; }
@test "caddy: unknown path is 404" { t_unknown_path; }
@test "caddy: POST / is 405 with Allow" { t_post_root; }
@test "caddy: only /metrics reaches the metrics worker" { t_routing; }
@test "caddy: /metrics is valid 0.0.4 text with the three families" { t_metrics_page; }
@test "caddy: /metrics speaks OpenMetrics when Accept asks for it" { t_openmetrics; }
@test "caddy: ab load is counted exactly once per request" { t_exact_count; }
@test "caddy: stamps X-Request-Start: the queue-time histogram counts every request" { t_queue_stamped; }
@test "caddy: Prometheus scrapes the same requests_total" { t_prometheus_agrees; }
@test "caddy: stopping leaves no process behind" { t_clean_stop; }
