#!/usr/bin/env bats
# SPDX-License-Identifier: MIT
# Integration tests against Apache httpd 2.4 (mod_proxy_fcgi, spawn-fcgi + multiwatch pools);
# bodies in common.bash.
# shellcheck disable=SC2034  # used by common.bash
SERVER=apache
MODE=fastcgi
load common

@test "apache: GET / is 200 Hello, Prometheus! as text/plain" { t_get_root; }
@test "apache: HEAD / is 200 text/plain" { t_head_root; }
@test "apache: unknown path is 404" { t_unknown_path; }
@test "apache: POST / is 405 with Allow" { t_post_root; }
@test "apache: only /metrics reaches the metrics worker" { t_routing; }
@test "apache: /metrics is valid 0.0.4 text with the three families" { t_metrics_page; }
@test "apache: /metrics speaks OpenMetrics when Accept asks for it" { t_openmetrics; }
@test "apache: ab load is counted exactly once per request" { t_exact_count; }
@test "apache: stamps X-Request-Start: the queue-time histogram counts every request" { t_queue_stamped; }
@test "apache: Prometheus scrapes the same requests_total" { t_prometheus_agrees; }
@test "apache: stopping leaves no process behind" { t_clean_stop; }
