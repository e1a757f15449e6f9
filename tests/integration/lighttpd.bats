#!/usr/bin/env bats
# SPDX-License-Identifier: MIT
# Integration tests against the lighttpd front end (FastCGI, spawn-fcgi + multiwatch pools); bodies
# in common.bash.
# shellcheck disable=SC2034  # used by common.bash
SERVER=lighttpd
load common

@test "lighttpd: GET / is 200 Hello, Prometheus! as text/plain" { t_get_root; }
@test "lighttpd: HEAD / is 200 text/plain" { t_head_root; }
@test "lighttpd: unknown path is 404" { t_unknown_path; }
@test "lighttpd: POST / is 405 with Allow" { t_post_root; }
@test "lighttpd: only /metrics reaches the metrics worker" { t_routing; }
@test "lighttpd: /metrics is valid 0.0.4 text with the three families" { t_metrics_page; }
@test "lighttpd: /metrics speaks OpenMetrics when Accept asks for it" { t_openmetrics; }
@test "lighttpd: ab load is counted exactly once per request" { t_exact_count; }
@test "lighttpd: cannot stamp X-Request-Start: no queue time, the other pool families all the same" { t_queue_unstamped; }
@test "lighttpd: Prometheus scrapes the same requests_total" { t_prometheus_agrees; }
@test "lighttpd: stopping leaves no process behind" { t_clean_stop; }
