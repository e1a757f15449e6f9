/*
 * route.h — the hello app's routes, and the folding of what a client sends
 * into a fixed, small set of label values: random URLs and made-up methods
 * cannot create series.
 */
#ifndef PROMFCGI_ROUTE_H
#define PROMFCGI_ROUTE_H

enum route_method { M_GET, M_HEAD, M_POST, M_PUT, M_DELETE, M_PATCH, M_OPTIONS, M_OTHER, M_COUNT };
enum route_path { R_ROOT, R_UNMATCHED, R_COUNT };
enum route_status { S_200, S_404, S_405, S_COUNT };

extern const char *const route_method_names[M_COUNT];
extern const char *const route_path_names[R_COUNT];
extern const char *const route_status_codes[S_COUNT];

enum route_method route_method(const char *method);
/* uri: the request target (path and query); the query is ignored. */
enum route_path route_path(const char *uri);
/* What the app answers for this method on this path. */
enum route_status route_status(enum route_method m, enum route_path p);

#endif
