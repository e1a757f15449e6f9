/*
 * route.c — routing and label folding for the hello app (see route.h).
 */
#include <string.h>

#include "route.h"

const char *const route_method_names[M_COUNT] = {
    "GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "other"};
/* "/" is the one route; everything else shares one value. */
const char *const route_path_names[R_COUNT] = {"/", "unmatched"};
const char *const route_status_codes[S_COUNT] = {"200", "404", "405"};

enum route_method route_method(const char *method)
{
	for (int m = 0; method && m < M_OTHER; m++)
		if (strcmp(method, route_method_names[m]) == 0)
			return (enum route_method)m;
	return M_OTHER;
}

enum route_path route_path(const char *uri)
{
	if (!uri)
		return R_UNMATCHED;
	size_t len = strcspn(uri, "?");
	return (len == 1 && uri[0] == '/') ? R_ROOT : R_UNMATCHED;
}

enum route_status route_status(enum route_method m, enum route_path p)
{
	if (p != R_ROOT)
		return S_404;
	return (m == M_GET || m == M_HEAD) ? S_200 : S_405;
}
