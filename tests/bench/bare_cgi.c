/* SPDX-License-Identifier: MIT */
/*
 * bare_cgi.c — the CGI baseline for `make bench`: the classic libfcgi
 * program (fcgi_stdio.h, FCGI_Accept, which serves one CGI request when not
 * started as a FastCGI worker), with app/hello.c's answers and no metrics.
 * promfcgi's hello run as CGI is measured against it: whatever it costs
 * beyond this is the price of the metrics.
 *
 * Routing as hello does in CGI: the path is PATH_INFO, empty meaning "/".
 */
#include <fcgi_stdio.h>
#include <stdlib.h>
#include <string.h>

int main(void)
{
	while (FCGI_Accept() >= 0) {
		const char *method = getenv("REQUEST_METHOD"), *path = getenv("PATH_INFO");
		int get = method && strcmp(method, "GET") == 0, head = method && strcmp(method, "HEAD") == 0;
		const char *status = "200 OK", *extra = "", *body = "Hello, Prometheus!\n";
		if (path && path[0] && strcmp(path, "/") != 0)
			status = "404 Not Found", body = "Not Found\n";
		else if (!get && !head)
			status = "405 Method Not Allowed", extra = "Allow: GET, HEAD\r\n",
			body = "Method Not Allowed\n";
		printf("Status: %s\r\n%sContent-Type: text/plain; charset=utf-8\r\nContent-Length: %u\r\n\r\n",
		       status, extra, (unsigned)strlen(body));
		if (!head)
			fputs(body, stdout);
	}
	return 0;
}
