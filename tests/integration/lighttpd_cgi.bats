#!/usr/bin/env bats
# SPDX-License-Identifier: MIT
# Integration tests against lighttpd in CGI mode (mod_cgi, deploy/lighttpd-cgi.conf.in: one process
# per request, the same hello.fcgi and metrics.fcgi); bodies in common.bash.
# shellcheck disable=SC2034  # used by common.bash
SERVER=lighttpd
MODE=cgi
load common
# A CGI request is a fork + exec: a lighter load than the FastCGI files' 20,000.
CGI_REQUESTS=${PROMFCGI_CGI_REQUESTS:-1000}

@test "lighttpd (CGI): GET / is 200 Hello, Prometheus! as text/plain" { t_get_root; }
@test "lighttpd (CGI): HEAD / is 200 text/plain" { t_head_root; }
@test "lighttpd (CGI): unknown path is 404" { t_unknown_path; }
@test "lighttpd (CGI): POST / is 405 with Allow" { t_post_root; }
@test "lighttpd (CGI): only /metrics reaches the metrics program" { t_routing; }
@test "lighttpd (CGI): /metrics is valid 0.0.4 text with the three families" { t_metrics_page; }
@test "lighttpd (CGI): /metrics speaks OpenMetrics when Accept asks for it" { t_openmetrics; }
@test "lighttpd (CGI): ab -c 8 is counted exactly once per request" { t_exact_count "$CGI_REQUESTS" 8; }
@test "lighttpd (CGI): Prometheus scrapes the same requests_total" { t_prometheus_agrees; }
@test "lighttpd (CGI): stopping leaves no process behind" { t_clean_stop; }
