#!/usr/bin/env bats
# SPDX-License-Identifier: MIT
# Pool metrics of a saturated pool on a unix socket; bodies in pool.bash.
# shellcheck disable=SC2034  # used by pool.bash
SOCKET=unix
load pool

@test "pool (unix): an idle pool of 2 workers: all idle, nothing waiting, the backlog, 2 starts" { t_idle_pool; }
@test "pool (unix): 20 clients on 2 workers: queue above 0, 2 busy, utilisation near 1, queue time of every request" { t_saturation; }
@test "pool (unix): a SIGSTOPped worker's request age grows scrape after scrape, and falls after SIGCONT" { t_stopped_worker; }
@test "pool (unix): a worker killed under load is counted: a death by signal, a start" { t_killed_worker; }
@test "pool (unix): hostile X-Request-Start stamps never fail a request and record nothing" { t_hostile_stamps; }
@test "pool (unix): stopping leaves no process behind, no sanitizer report" { t_pool_stop; }
