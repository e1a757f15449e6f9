#!/usr/bin/env bats
# SPDX-License-Identifier: MIT
# Hostile input against the nginx front end; bodies in hostile.bash.
# shellcheck disable=SC2034  # used by hostile.bash
SERVER=nginx
load hostile

@test "nginx: hostile URLs, methods and 300 random paths: < 500, bounded series, UTF-8 labels" { t_hostile_http; }
@test "nginx: raw garbage and a ~2 GiB PARAMS length into the worker sockets: next requests 200" { t_hostile_socket; }
@test "nginx (hostile): stopping leaves no process behind, no sanitizer report" { t_hostile_stop; }
