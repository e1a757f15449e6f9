#!/usr/bin/env bats
# SPDX-License-Identifier: MIT
# Pool metrics of a saturated pool on a TCP socket (127.0.0.1); bodies in pool.bash.
# shellcheck disable=SC2034  # used by pool.bash
SOCKET=tcp
load pool

@test "pool (tcp): 20 clients on 2 workers of a slow route: all served, connections queue in the kernel" { t_saturation_scaffold; }
@test "pool (tcp): stopping leaves no process behind, no sanitizer report" { t_pool_stop; }
