/*
 * test_route.c — routing and the folding of methods and paths into a
 * bounded set of label values.
 */
#include "../../app/route.h"
#include "test.h"

static void methods(void)
{
	CHECK(route_method("GET") == M_GET);
	CHECK(route_method("HEAD") == M_HEAD);
	CHECK(route_method("OPTIONS") == M_OPTIONS);
	CHECK(route_method("get") == M_OTHER); /* methods are case-sensitive */
	CHECK(route_method("BREW") == M_OTHER);
	CHECK(route_method("") == M_OTHER);
	CHECK(route_method(NULL) == M_OTHER);
	CHECK_STR(route_method_names[M_OTHER], "other");
}

static void paths(void)
{
	CHECK(route_path("/") == R_ROOT);
	CHECK(route_path("/?a=b") == R_ROOT);
	CHECK(route_path("//") == R_UNMATCHED);
	CHECK(route_path("/index.html") == R_UNMATCHED);
	CHECK(route_path("/%22%5C%0A") == R_UNMATCHED);
	CHECK(route_path("") == R_UNMATCHED);
	CHECK(route_path(NULL) == R_UNMATCHED);
	CHECK_STR(route_path_names[R_UNMATCHED], "unmatched");
}

static void statuses(void)
{
	CHECK(route_status(M_GET, R_ROOT) == S_200);
	CHECK(route_status(M_HEAD, R_ROOT) == S_200);
	CHECK(route_status(M_POST, R_ROOT) == S_405);
	CHECK(route_status(M_OTHER, R_ROOT) == S_405);
	CHECK(route_status(M_GET, R_UNMATCHED) == S_404);
	CHECK(route_status(M_POST, R_UNMATCHED) == S_404);
}

const struct test route_tests[] = {
    {"route/methods", methods},
    {"route/paths", paths},
    {"route/statuses", statuses},
    {NULL, NULL},
};
