/* SPDX-License-Identifier: MIT */
/*
 * main.c — runs every unit test in its own child process and prints the
 * line `N passed, M failed`.  An argument runs only tests whose name
 * contains it.
 */
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "test.h"

int test_failures;

static const struct test *const suites[] = {names_tests, render_tests, route_tests, store_tests,
                                            fault_tests, negotiate_tests, robust_tests, http_tests,
                                            journal_tests, native_tests, protobuf_tests,
                                            scrape_tests, exemplar_tests, native_rec_tests,
                                            accept_tests, mistake_tests, beacon_tests, growth_tests,
                                            pool_tests, fold_tests};

int main(int argc, char **argv)
{
	int passed = 0, failed = 0, skipped = 0;
	/* every test's stores go under one directory, removed at the end */
	char dir[] = "/tmp/promfcgi-unit-XXXXXX", cmd[64];
	if (!mkdtemp(dir) || setenv("PROMFCGI_TEST_DIR", dir, 1) != 0)
		return 2;
	for (size_t i = 0; i < sizeof suites / sizeof suites[0]; i++) {
		for (const struct test *t = suites[i]; t->name; t++) {
			if (argc > 1 && !strstr(t->name, argv[1]))
				continue;
			fflush(NULL);
			pid_t pid = fork();
			if (pid == 0) {
				t->fn();
				fflush(NULL);
				_exit(test_failures ? 1 : 0);
			}
			int status = 0;
			waitpid(pid, &status, 0);
			int ok = pid > 0 && WIFEXITED(status) && WEXITSTATUS(status) == 0;
			if (pid > 0 && WIFEXITED(status) && WEXITSTATUS(status) == TEST_SKIP) {
				printf("ok %s # skip (see the reason above)\n", t->name);
				skipped++;
				continue;
			}
			printf("%s %s\n", ok ? "ok" : "not ok", t->name);
			if (!ok && WIFSIGNALED(status))
				printf("  # killed by signal %d\n", WTERMSIG(status));
			ok ? passed++ : failed++;
		}
	}
	snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", dir);
	printf("%d passed, %d failed, %d skipped\n", passed, failed, skipped);
	return failed ? 1 : 0;
}
