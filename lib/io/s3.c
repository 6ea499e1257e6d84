/* s3: S3 over libcurl (contract in s3.h). */
#include "s3.h"
#include "timeutil.h"
#include "xalloc.h"
#include "zstream.h"

#include <ctype.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <curl/curl.h>
#include <openssl/evp.h>

#define S3_DEFAULT_TIMEOUT_MS 30000L
#define S3_DEFAULT_RETRIES 4
#define S3_DEFAULT_RETRY_BASE_MS 500L
#define S3_RETRY_CAP_MS 10000L

struct s3_client {
	char *endpoint, *region, *bucket, *access_key, *secret_key, *session_token, *ca_file;
	struct s3_opts o;     /* points into the strings above */
	CURL *curl;
	char sigv4[160];
	char desc[600];
};

struct s3_upload {
	struct s3_client *c;
	CURL *curl;           /* its own connection: parts go up from another thread */
	char *key;
	char *upload_id;
	char **etags;         /* etags[i] for part i + 1 */
	long long *sizes;     /* sizes[i] of part i + 1 */
	int nparts, alloc;
	long long bytes;      /* sum of the parts' sizes */
};

static pthread_once_t s3_once = PTHREAD_ONCE_INIT;
static CURLcode s3_init_rc;

static void s3_global_init(void)
{
	s3_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

/* ---- pure helpers ---- */

void s3_uri_encode(struct strbuf *out, const char *s, int keep_slash)
{
	static const char hex[] = "0123456789ABCDEF";

	for (; *s; s++) {
		unsigned char ch = (unsigned char)*s;

		if (isalnum(ch) || ch == '-' || ch == '_' || ch == '.' || ch == '~' ||
		    (keep_slash && ch == '/')) {
			strbuf_addch(out, ch);
		} else {
			strbuf_addch(out, '%');
			strbuf_addch(out, hex[ch >> 4]);
			strbuf_addch(out, hex[ch & 15]);
		}
	}
}

/* Split "scheme://host[:port][/path]" into its parts; path keeps no
 * trailing '/'. */
static int split_endpoint(const char *ep, struct strbuf *scheme, struct strbuf *hostport,
			  struct strbuf *path, struct errbuf *e)
{
	const char *p, *slash;

	if (!strncasecmp(ep, "https://", 8))
		strbuf_addstr(scheme, "https");
	else if (!strncasecmp(ep, "http://", 7))
		strbuf_addstr(scheme, "http");
	else
		return errbuf_set(e, BL_EUSAGE, "repository.endpoint: expected "
				  "http(s)://host[:port], got \"%s\"", ep);
	p = strstr(ep, "://") + 3;
	slash = strchr(p, '/');
	if (slash) {
		strbuf_add(hostport, p, (size_t)(slash - p));
		strbuf_addstr(path, slash);
		while (path->len && path->buf[path->len - 1] == '/')
			strbuf_setlen(path, path->len - 1);
	} else {
		strbuf_addstr(hostport, p);
	}
	if (!hostport->len || strpbrk(hostport->buf, "?#@ "))
		return errbuf_set(e, BL_EUSAGE, "repository.endpoint: expected "
				  "http(s)://host[:port], got \"%s\"", ep);
	return 0;
}

int s3_url(const struct s3_opts *o, const char *key, const char *query, struct strbuf *url,
	   struct strbuf *host, struct errbuf *e)
{
	struct strbuf scheme = STRBUF_INIT, hp = STRBUF_INIT, path = STRBUF_INIT;
	struct strbuf def = STRBUF_INIT;
	const char *ep = o->endpoint;
	int rc;

	strbuf_reset(url);
	if (host)
		strbuf_reset(host);
	if (!ep || !*ep) {
		strbuf_addf(&def, "https://s3.%s.amazonaws.com",
			    o->region && *o->region ? o->region : "us-east-1");
		ep = def.buf;
	}
	rc = split_endpoint(ep, &scheme, &hp, &path, e);
	if (rc)
		goto out;
	if (o->path_style) {
		strbuf_addf(url, "%s://%s%s/", scheme.buf, hp.buf, path.buf);
		s3_uri_encode(url, o->bucket, 0);
		if (host)
			strbuf_addstr(host, hp.buf);
		if (key && *key) {
			strbuf_addch(url, '/');
			s3_uri_encode(url, key, 1);
		}
	} else {
		strbuf_addf(url, "%s://%s.%s%s/", scheme.buf, o->bucket, hp.buf, path.buf);
		if (host)
			strbuf_addf(host, "%s.%s", o->bucket, hp.buf);
		if (key && *key)
			s3_uri_encode(url, key, 1);
	}
	if (query && *query)
		strbuf_addf(url, "?%s", query);
out:
	strbuf_release(&scheme);
	strbuf_release(&hp);
	strbuf_release(&path);
	strbuf_release(&def);
	return rc;
}

void s3_list_query(struct strbuf *out, const char *prefix, const char *token, int max_keys)
{
	/* SigV4 wants parameters sorted by name; this libcurl signs the query
	 * exactly as given, so it is built sorted and encoded here. */
	strbuf_reset(out);
	if (token && *token) {
		strbuf_addstr(out, "continuation-token=");
		s3_uri_encode(out, token, 0);
		strbuf_addch(out, '&');
	}
	strbuf_addstr(out, "list-type=2");
	if (max_keys > 0)
		strbuf_addf(out, "&max-keys=%d", max_keys);
	strbuf_addstr(out, "&prefix=");
	s3_uri_encode(out, prefix ? prefix : "", 0);
}

static long long round_mib(long long n)
{
	return (n + S3_MIB - 1) / S3_MIB * S3_MIB;
}

long long s3_part_size(long long size_hint, long long base, int part_no)
{
	long long size;
	int flat, step, doublings;

	if (base <= 0)
		base = S3_DEFAULT_PART;
	base = round_mib(base < S3_MIN_PART ? S3_MIN_PART : base);
	if (base > S3_MAX_PART)
		base = S3_MAX_PART;
	if (size_hint > 0) {
		/* The hint fits in 80% of the parts; the rest is headroom for a
		 * stream that outgrows its estimate. */
		long long need = round_mib((size_hint + (S3_MAX_PARTS * 8 / 10) - 1) /
					   (S3_MAX_PARTS * 8 / 10));

		if (need > base)
			base = need;
		flat = S3_MAX_PARTS * 8 / 10;
		step = S3_MAX_PARTS / 50;
	} else {
		flat = S3_MAX_PARTS / 5;
		step = S3_MAX_PARTS * 8 / 100;
	}
	size = base > S3_MAX_PART ? S3_MAX_PART : base;
	if (part_no > flat) {
		doublings = 1 + (part_no - flat - 1) / step;
		while (doublings-- > 0 && size < S3_MAX_PART)
			size *= 2;
	}
	return size > S3_MAX_PART ? S3_MAX_PART : size;
}

static void xml_unescape(struct strbuf *out, const char *s, size_t n)
{
	size_t i = 0;

	while (i < n) {
		const char *semi;

		if (s[i] != '&' || !(semi = memchr(s + i, ';', n - i)) || semi - (s + i) > 10) {
			strbuf_addch(out, s[i++]);
			continue;
		}
		{
			size_t elen = (size_t)(semi - (s + i)) + 1;
			const char *ent = s + i;

			if (elen == 5 && !memcmp(ent, "&amp;", 5))
				strbuf_addch(out, '&');
			else if (elen == 4 && !memcmp(ent, "&lt;", 4))
				strbuf_addch(out, '<');
			else if (elen == 4 && !memcmp(ent, "&gt;", 4))
				strbuf_addch(out, '>');
			else if (elen == 6 && !memcmp(ent, "&quot;", 6))
				strbuf_addch(out, '"');
			else if (elen == 6 && !memcmp(ent, "&apos;", 6))
				strbuf_addch(out, '\'');
			else if (elen > 3 && ent[1] == '#') {
				char num[16];
				unsigned long cp;
				char *end;

				memcpy(num, ent + 2, elen - 3);
				num[elen - 3] = 0;
				if (num[0] == 'x' || num[0] == 'X')
					cp = strtoul(num + 1, &end, 16);
				else
					cp = strtoul(num, &end, 10);
				if (*end || cp == 0 || cp > 0x10FFFF) {
					strbuf_add(out, ent, elen);
				} else if (cp < 0x80) {
					strbuf_addch(out, (int)cp);
				} else if (cp < 0x800) {
					strbuf_addch(out, (int)(0xC0 | (cp >> 6)));
					strbuf_addch(out, (int)(0x80 | (cp & 0x3F)));
				} else if (cp < 0x10000) {
					strbuf_addch(out, (int)(0xE0 | (cp >> 12)));
					strbuf_addch(out, (int)(0x80 | ((cp >> 6) & 0x3F)));
					strbuf_addch(out, (int)(0x80 | (cp & 0x3F)));
				} else {
					strbuf_addch(out, (int)(0xF0 | (cp >> 18)));
					strbuf_addch(out, (int)(0x80 | ((cp >> 12) & 0x3F)));
					strbuf_addch(out, (int)(0x80 | ((cp >> 6) & 0x3F)));
					strbuf_addch(out, (int)(0x80 | (cp & 0x3F)));
				}
			} else {
				strbuf_add(out, ent, elen);
			}
			i += elen;
		}
	}
}

static void xml_escape(struct strbuf *out, const char *s)
{
	for (; *s; s++) {
		switch (*s) {
		case '&': strbuf_addstr(out, "&amp;"); break;
		case '<': strbuf_addstr(out, "&lt;"); break;
		case '>': strbuf_addstr(out, "&gt;"); break;
		case '"': strbuf_addstr(out, "&quot;"); break;
		default: strbuf_addch(out, *s);
		}
	}
}

/* Find the element <tag ...>...</tag> or <tag/> at or after *pos. The
 * content is returned raw (start, length); S3's documents have no nested
 * element of the same name, so the first closing tag ends it. */
static int xml_find(const char *xml, size_t len, size_t *pos, const char *tag,
		    size_t *vstart, size_t *vlen)
{
	size_t tl = strlen(tag), i = *pos;

	while (i + tl + 2 <= len) {
		const char *lt = memchr(xml + i, '<', len - i);
		size_t at, j;

		if (!lt)
			return 0;
		at = (size_t)(lt - xml);
		if (at + 1 + tl >= len)
			return 0;
		if (memcmp(xml + at + 1, tag, tl) ||
		    !strchr(" \t\r\n/>", xml[at + 1 + tl])) {
			i = at + 1;
			continue;
		}
		j = at + 1 + tl;
		while (j < len && xml[j] != '>')
			j++;
		if (j >= len)
			return 0;
		if (xml[j - 1] == '/') {  /* <tag/> */
			*vstart = j + 1;
			*vlen = 0;
			*pos = j + 1;
			return 1;
		}
		*vstart = j + 1;
		for (i = j + 1; i + tl + 3 <= len; i++) {
			if (xml[i] == '<' && xml[i + 1] == '/' && !memcmp(xml + i + 2, tag, tl) &&
			    xml[i + 2 + tl] == '>') {
				*vlen = i - *vstart;
				*pos = i + tl + 3;
				return 1;
			}
		}
		return 0;
	}
	return 0;
}

int s3_xml_next(const char *xml, size_t len, size_t *pos, const char *tag, struct strbuf *out)
{
	size_t vs, vl;

	strbuf_reset(out);
	if (!xml_find(xml, len, pos, tag, &vs, &vl))
		return 0;
	xml_unescape(out, xml + vs, vl);
	return 1;
}

time_t s3_parse_time(const char *s)
{
	long long ms = time_iso_parse_ms(s);

	return ms < 0 ? (time_t)-1 : (time_t)(ms / 1000);
}

int s3_parse_list(const char *xml, size_t len, s3_list_fn fn, void *ctx, int *truncated,
		  struct strbuf *next_token, struct errbuf *e)
{
	struct strbuf key = STRBUF_INIT, val = STRBUF_INIT;
	size_t pos = 0, vs, vl;
	int rc = 0;

	*truncated = 0;
	strbuf_reset(next_token);
	if (!memmem(xml, len, "<ListBucketResult", 17))
		return errbuf_set(e, BL_EFAIL, "unexpected answer to a list request (no "
				  "ListBucketResult)");
	while (xml_find(xml, len, &pos, "Contents", &vs, &vl)) {
		struct s3_object obj;
		size_t p = 0;

		if (!s3_xml_next(xml + vs, vl, &p, "Key", &key)) {
			rc = errbuf_set(e, BL_EFAIL, "list answer has an object without a Key");
			goto out;
		}
		obj.key = key.buf;
		p = 0;
		obj.size = s3_xml_next(xml + vs, vl, &p, "Size", &val) ? strtoll(val.buf, NULL, 10) : 0;
		p = 0;
		obj.mtime = s3_xml_next(xml + vs, vl, &p, "LastModified", &val) ?
			    s3_parse_time(val.buf) : 0;
		if (obj.mtime == (time_t)-1)
			obj.mtime = 0;
		rc = fn(ctx, &obj, e);
		if (rc)
			goto out;
	}
	pos = 0;
	if (s3_xml_next(xml, len, &pos, "IsTruncated", &val))
		*truncated = !strcmp(val.buf, "true");
	pos = 0;
	s3_xml_next(xml, len, &pos, "NextContinuationToken", next_token);
	if (*truncated && !next_token->len)
		rc = errbuf_set(e, BL_EFAIL, "list answer is truncated but has no "
				"NextContinuationToken");
out:
	strbuf_release(&key);
	strbuf_release(&val);
	return rc;
}

int s3_parse_error(const char *xml, size_t len, struct strbuf *code, struct strbuf *message)
{
	size_t pos = 0, vs, vl;

	strbuf_reset(code);
	strbuf_reset(message);
	if (!xml || !xml_find(xml, len, &pos, "Error", &vs, &vl))
		return 0;
	pos = 0;
	s3_xml_next(xml + vs, vl, &pos, "Code", code);
	pos = 0;
	s3_xml_next(xml + vs, vl, &pos, "Message", message);
	return 1;
}

/* ---- the client ---- */

/* An optional setting: absent and "" both mean unset. */
static char *dup_setting(const char *s)
{
	return xstrdup_or_null(s && *s ? s : NULL);
}

const char *s3_describe(const struct s3_client *c)
{
	return c ? c->desc : "s3";
}

int s3_client_new(const struct s3_opts *o, struct s3_client **out, struct errbuf *e)
{
	struct s3_client *c;
	struct strbuf url = STRBUF_INIT;
	int rc;

	*out = NULL;
	pthread_once(&s3_once, s3_global_init);
	if (s3_init_rc)
		return errbuf_set(e, BL_EFAIL, "s3: curl_global_init failed");
	if (!o->bucket || !*o->bucket)
		return errbuf_set(e, BL_EUSAGE, "repository.bucket: missing");
	if (!o->access_key || !*o->access_key || !o->secret_key || !*o->secret_key)
		return errbuf_set(e, BL_EUSAGE, "s3 bucket %s: no credentials", o->bucket);
	c = xcalloc(1, sizeof(*c));
	c->o = *o;
	c->region = xstrdup(o->region && *o->region ? o->region : "us-east-1");
	c->bucket = xstrdup(o->bucket);
	c->access_key = xstrdup(o->access_key);
	c->secret_key = xstrdup(o->secret_key);
	c->session_token = dup_setting(o->session_token);
	c->ca_file = dup_setting(o->ca_file);
	if (o->endpoint && *o->endpoint) {
		c->endpoint = xstrdup(o->endpoint);
		while (*c->endpoint && c->endpoint[strlen(c->endpoint) - 1] == '/')
			c->endpoint[strlen(c->endpoint) - 1] = 0;
	} else {
		strbuf_addf(&url, "https://s3.%s.amazonaws.com", c->region);
		c->endpoint = strbuf_detach(&url, NULL);
	}
	c->o.endpoint = c->endpoint;
	c->o.region = c->region;
	c->o.bucket = c->bucket;
	c->o.access_key = c->access_key;
	c->o.secret_key = c->secret_key;
	c->o.session_token = c->session_token;
	c->o.ca_file = c->ca_file;
	if (c->o.timeout_ms <= 0)
		c->o.timeout_ms = S3_DEFAULT_TIMEOUT_MS;
	if (c->o.retries < 0)
		c->o.retries = S3_DEFAULT_RETRIES;
	if (c->o.retry_base_ms <= 0)
		c->o.retry_base_ms = S3_DEFAULT_RETRY_BASE_MS;
	snprintf(c->sigv4, sizeof(c->sigv4), "aws:amz:%s:s3", c->region);
	snprintf(c->desc, sizeof(c->desc), "s3 %s bucket %s", c->endpoint, c->bucket);
	/* Reject a malformed endpoint now rather than on the first request. */
	rc = s3_url(&c->o, NULL, NULL, &url, NULL, e);
	strbuf_release(&url);
	if (rc)
		goto fail;
	c->curl = curl_easy_init();
	if (!c->curl) {
		rc = errbuf_set(e, BL_EFAIL, "%s: curl_easy_init failed", c->desc);
		goto fail;
	}
	*out = c;
	return 0;
fail:
	s3_client_free(c);
	return rc;
}

void s3_client_free(struct s3_client *c)
{
	if (!c)
		return;
	if (c->curl)
		curl_easy_cleanup(c->curl);
	free(c->endpoint);
	free(c->region);
	free(c->bucket);
	free(c->access_key);
	if (c->secret_key) {
		/* Not left in freed memory for a core dump to show. */
		memset(c->secret_key, 0, strlen(c->secret_key));
		free(c->secret_key);
	}
	free(c->session_token);
	free(c->ca_file);
	free(c);
}

/* ---- one request, with retries ---- */

struct s3_req {
	const char *method;       /* GET HEAD PUT POST DELETE */
	const char *key;          /* NULL: the bucket */
	const char *label;        /* how messages name it; NULL = key */
	int retries;              /* -1 = the client's */
	const char *query;        /* canonical, may be NULL */
	const void *body;         /* PUT/POST body, may be NULL */
	size_t body_len;
	const char *content_type;
	const char *range;        /* "bytes=a-b" */
	const char *if_match;
	char *out;                /* GET into caller memory, else into resp */
	size_t out_cap;
	/* results */
	long status;
	size_t out_len;
	int overflow;
	struct strbuf resp;
	struct strbuf etag;
	long long length;
	/* upload cursor */
	size_t sent;
};

static size_t write_cb(char *ptr, size_t size, size_t nmemb, void *ud)
{
	struct s3_req *r = ud;
	size_t n = size * nmemb;

	if (r->out && r->status / 100 == 2) {
		if (r->out_len + n > r->out_cap) {
			r->overflow = 1;
			return 0;
		}
		memcpy(r->out + r->out_len, ptr, n);
		r->out_len += n;
		return n;
	}
	if (strbuf_add(&r->resp, ptr, n))
		return 0;  /* larger than S3_RESP_MAX: abort the transfer */
	return n;
}

static size_t header_cb(char *buf, size_t size, size_t nitems, void *ud)
{
	struct s3_req *r = ud;
	size_t n = size * nitems;
	const char *v;

	if (n > 5 && !strncmp(buf, "HTTP/", 5)) {
		/* A new response (after 100-continue or a retry): reset. */
		const char *sp = memchr(buf, ' ', n);

		r->status = sp ? strtol(sp + 1, NULL, 10) : 0;
		return n;
	}
	if (n > 5 && !strncasecmp(buf, "ETag:", 5)) {
		strbuf_reset(&r->etag);
		for (v = buf + 5; v < buf + n && (*v == ' ' || *v == '\t'); v++)
			;
		strbuf_add(&r->etag, v, (size_t)(buf + n - v));
		strbuf_rtrim(&r->etag);
	} else if (n > 15 && !strncasecmp(buf, "Content-Length:", 15)) {
		r->length = strtoll(buf + 15, NULL, 10);
	}
	return n;
}

static size_t read_cb(char *ptr, size_t size, size_t nmemb, void *ud)
{
	struct s3_req *r = ud;
	size_t n = size * nmemb, left = r->body_len - r->sent;

	if (n > left)
		n = left;
	if (n)
		memcpy(ptr, (const char *)r->body + r->sent, n);
	r->sent += n;
	return n;
}

static int seek_cb(void *ud, curl_off_t off, int origin)
{
	struct s3_req *r = ud;

	if (origin != SEEK_SET || off < 0 || (size_t)off > r->body_len)
		return CURL_SEEKFUNC_FAIL;
	r->sent = (size_t)off;
	return CURL_SEEKFUNC_OK;
}

/* Content-MD5 (base64 of the binary MD5): a server that checks it refuses
 * a body that arrived short or changed, rather than storing it. */
static void md5_b64(const void *buf, size_t len, char out[32])
{
	unsigned char md[16];
	unsigned int mdlen = 0;

	EVP_Digest(buf ? buf : "", len, md, &mdlen, EVP_md5(), NULL);
	EVP_EncodeBlock((unsigned char *)out, md, 16);
}

static int transient_curl(CURLcode cc)
{
	switch (cc) {
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_CONNECT:
	case CURLE_OPERATION_TIMEDOUT:
	case CURLE_SEND_ERROR:
	case CURLE_RECV_ERROR:
	case CURLE_GOT_NOTHING:
	case CURLE_PARTIAL_FILE:
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_HTTP2:
	case CURLE_HTTP2_STREAM:
		return 1;
	default:
		return 0;
	}
}

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts))
		;
}

static long backoff_ms(const struct s3_client *c, int attempt)
{
	long ms = c->o.retry_base_ms;
	int i;

	for (i = 1; i < attempt && ms < S3_RETRY_CAP_MS; i++)
		ms *= 2;
	if (ms > S3_RETRY_CAP_MS)
		ms = S3_RETRY_CAP_MS;
	/* Jitter, so parallel clients that failed together do not retry together. */
	return ms / 2 + (long)(rand() % (int)(ms / 2 + 1));
}

/* Describe a failed answer: "403 AccessDenied: Access Denied". */
static void describe_status(struct s3_req *r, struct strbuf *out)
{
	struct strbuf code = STRBUF_INIT, msg = STRBUF_INIT;

	strbuf_addf(out, "%ld", r->status);
	if (s3_parse_error(r->resp.buf, r->resp.len, &code, &msg)) {
		strbuf_addf(out, " %s", code.buf);
		if (msg.len)
			strbuf_addf(out, ": %s", msg.buf);
	} else if (r->status == 404) {
		strbuf_addstr(out, " Not Found");
	} else if (r->status == 403) {
		strbuf_addstr(out, " Forbidden");
	} else if (r->status >= 500) {
		strbuf_addstr(out, " server error");
	}
	strbuf_release(&code);
	strbuf_release(&msg);
}

static void req_init(struct s3_req *r, const char *method, const char *key)
{
	memset(r, 0, sizeof(*r));
	r->method = method;
	r->key = key;
	r->retries = -1;
	strbuf_init(&r->resp, 0);
	r->resp.max = S3_RESP_MAX;
	strbuf_init(&r->etag, 0);
	r->length = -1;
}

static void req_release(struct s3_req *r)
{
	strbuf_release(&r->resp);
	strbuf_release(&r->etag);
}

/* One attempt. 0 with r->status set, or the curl error code. */
static CURLcode attempt(struct s3_client *c, CURL *h, struct s3_req *r, const char *url,
			char *cerr)
{
	struct curl_slist *hdrs = NULL;
	char line[512], hash[65];
	CURLcode cc;

	curl_easy_reset(h);
	r->status = 0;
	r->out_len = 0;
	r->overflow = 0;
	r->sent = 0;
	r->length = -1;
	strbuf_reset(&r->resp);
	strbuf_reset(&r->etag);
	cerr[0] = 0;

	/* The payload's hash is signed and checked by the server, so a body
	 * damaged on the way is refused rather than stored. */
	zhash_hex(r->body ? r->body : "", r->body ? r->body_len : 0, hash);
	snprintf(line, sizeof(line), "x-amz-content-sha256: %s", hash);
	hdrs = curl_slist_append(hdrs, line);
	if (!strcmp(r->method, "PUT")) {
		char md5[32];

		md5_b64(r->body, r->body ? r->body_len : 0, md5);
		snprintf(line, sizeof(line), "Content-MD5: %s", md5);
		hdrs = curl_slist_append(hdrs, line);
	}
	if (c->session_token) {
		struct strbuf t = STRBUF_INIT;

		strbuf_addf(&t, "x-amz-security-token: %s", c->session_token);
		hdrs = curl_slist_append(hdrs, t.buf);
		strbuf_release(&t);
	}
	if (r->range) {
		snprintf(line, sizeof(line), "Range: %s", r->range);
		hdrs = curl_slist_append(hdrs, line);
	}
	if (r->if_match) {
		snprintf(line, sizeof(line), "If-Match: %s", r->if_match);
		hdrs = curl_slist_append(hdrs, line);
	}
	if (r->content_type) {
		snprintf(line, sizeof(line), "Content-Type: %s", r->content_type);
		hdrs = curl_slist_append(hdrs, line);
	}

	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, cerr);
	curl_easy_setopt(h, CURLOPT_AWS_SIGV4, c->sigv4);
	curl_easy_setopt(h, CURLOPT_USERNAME, c->access_key);
	curl_easy_setopt(h, CURLOPT_PASSWORD, c->secret_key);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, c->o.timeout_ms);
	/* A stalled transfer fails after timeout_ms; a slow but moving one
	 * may take as long as it needs. */
	curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1L);
	curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, (c->o.timeout_ms + 999) / 1000);
	curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 1L);
	curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 2L);
	if (c->ca_file)
		curl_easy_setopt(h, CURLOPT_CAINFO, c->ca_file);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, write_cb);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, r);
	curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, header_cb);
	curl_easy_setopt(h, CURLOPT_HEADERDATA, r);
	curl_easy_setopt(h, CURLOPT_USERAGENT, "ballast/" BALLAST_VERSION);

	if (!strcmp(r->method, "HEAD")) {
		curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
	} else if (!strcmp(r->method, "PUT")) {
		curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
		curl_easy_setopt(h, CURLOPT_READFUNCTION, read_cb);
		curl_easy_setopt(h, CURLOPT_READDATA, r);
		curl_easy_setopt(h, CURLOPT_SEEKFUNCTION, seek_cb);
		curl_easy_setopt(h, CURLOPT_SEEKDATA, r);
		curl_easy_setopt(h, CURLOPT_INFILESIZE_LARGE, (curl_off_t)r->body_len);
	} else if (!strcmp(r->method, "POST")) {
		curl_easy_setopt(h, CURLOPT_POST, 1L);
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, r->body ? (const char *)r->body : "");
		curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)r->body_len);
	} else if (strcmp(r->method, "GET")) {
		curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, r->method);
	}
	cc = curl_easy_perform(h);
	if (!cc)
		curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &r->status);
	curl_slist_free_all(hdrs);
	return cc;
}

/* Run r to a final answer: 2xx returns 0; other statuses and transport
 * failures, once retries are spent, become an error naming the request.
 * ok404: a 404 is an answer too (r->status tells). */
static int perform(struct s3_client *c, CURL *h, struct s3_req *r, int ok404, struct errbuf *e)
{
	struct strbuf url = STRBUF_INIT, why = STRBUF_INIT;
	char cerr[CURL_ERROR_SIZE];
	int tries = 0, rc, max = r->retries >= 0 ? r->retries : c->o.retries;
	const char *label = r->label ? r->label : r->key && *r->key ? r->key : "(bucket)";

	rc = s3_url(&c->o, r->key, r->query, &url, NULL, e);
	if (rc)
		goto out;
	for (;;) {
		CURLcode cc = attempt(c, h, r, url.buf, cerr);
		int retry;

		tries++;
		strbuf_reset(&why);
		if (cc) {
			if (r->overflow)
				strbuf_addstr(&why, "the server sent more than was asked for "
					      "(Range ignored?)");
			else
				strbuf_addf(&why, "%s", cerr[0] ? cerr : curl_easy_strerror(cc));
			retry = transient_curl(cc) && !r->overflow;
		} else if (r->status / 100 == 2 || (ok404 && r->status == 404)) {
			rc = 0;
			break;
		} else {
			describe_status(r, &why);
			retry = r->status >= 500 || r->status == 429;
		}
		if (!retry || tries > max) {
			if (tries > 1)
				strbuf_addf(&why, " (after %d attempts)", tries);
			rc = errbuf_set(e, BL_EFAIL, "%s: %s %s: %s", c->desc, r->method, label,
					why.buf);
			break;
		}
		sleep_ms(backoff_ms(c, tries));
	}
out:
	strbuf_release(&url);
	strbuf_release(&why);
	return rc;
}

/* ---- operations ---- */

int s3_put(struct s3_client *c, const char *key, const void *buf, size_t len,
	   struct errbuf *e)
{
	struct s3_req r;
	int rc;

	req_init(&r, "PUT", key);
	r.body = buf;
	r.body_len = len;
	rc = perform(c, c->curl, &r, 0, e);
	req_release(&r);
	return rc;
}

int s3_head(struct s3_client *c, const char *key, int *exists, long long *size,
	    struct strbuf *etag, struct errbuf *e)
{
	struct s3_req r;
	int rc;

	*exists = 0;
	if (size)
		*size = -1;
	req_init(&r, "HEAD", key);
	rc = perform(c, c->curl, &r, 1, e);
	if (!rc && r.status != 404) {
		*exists = 1;
		if (size)
			*size = r.length;
		if (etag) {
			strbuf_reset(etag);
			strbuf_add(etag, r.etag.buf, r.etag.len);
		}
	}
	req_release(&r);
	return rc;
}

int s3_get_range(struct s3_client *c, const char *key, long long off, void *buf,
		 size_t cap, size_t *got, const char *etag, struct errbuf *e)
{
	struct s3_req r;
	char range[64];
	int rc;

	*got = 0;
	if (!cap)
		return 0;
	req_init(&r, "GET", key);
	snprintf(range, sizeof(range), "bytes=%lld-%lld", off, off + (long long)cap - 1);
	r.range = range;
	r.if_match = etag && *etag ? etag : NULL;
	r.out = buf;
	r.out_cap = cap;
	rc = perform(c, c->curl, &r, 0, e);
	if (!rc && r.status == 200 && off > 0)
		rc = errbuf_set(e, BL_EFAIL, "%s: GET %s: the server ignored the Range header",
				c->desc, key);
	if (!rc)
		*got = r.out_len;
	req_release(&r);
	return rc;
}

int s3_delete(struct s3_client *c, const char *key, struct errbuf *e)
{
	struct s3_req r;
	struct strbuf code = STRBUF_INIT, msg = STRBUF_INIT;
	int rc;

	req_init(&r, "DELETE", key);
	rc = perform(c, c->curl, &r, 1, e);
	/* A missing key is fine, a missing bucket is not. */
	if (!rc && r.status == 404 && s3_parse_error(r.resp.buf, r.resp.len, &code, &msg) &&
	    !strcmp(code.buf, "NoSuchBucket"))
		rc = errbuf_set(e, BL_EFAIL, "%s: DELETE %s: 404 NoSuchBucket: %s", c->desc, key,
				msg.buf);
	strbuf_release(&code);
	strbuf_release(&msg);
	req_release(&r);
	return rc;
}

int s3_list(struct s3_client *c, const char *prefix, s3_list_fn fn, void *ctx,
	    struct errbuf *e)
{
	struct strbuf q = STRBUF_INIT, token = STRBUF_INIT, next = STRBUF_INIT;
	struct s3_req r;
	int rc = 0, truncated = 1, pages = 0;

	while (truncated) {
		req_init(&r, "GET", NULL);
		s3_list_query(&q, prefix, token.len ? token.buf : NULL, c->o.max_keys);
		r.query = q.buf;
		rc = perform(c, c->curl, &r, 0, e);
		if (!rc) {
			rc = s3_parse_list(r.resp.buf, r.resp.len, fn, ctx, &truncated, &next, e);
			if (rc && !strstr(e->msg, c->desc))
				errbuf_prefix(e, "%s: list %s: ", c->desc, prefix);
		}
		req_release(&r);
		if (rc)
			break;
		/* A server that repeats its token would make this loop forever. */
		if (truncated && token.len && !strcmp(token.buf, next.buf)) {
			rc = errbuf_set(e, BL_EFAIL, "%s: list %s: the server returned the same "
					"continuation token twice", c->desc, prefix);
			break;
		}
		strbuf_reset(&token);
		strbuf_add(&token, next.buf, next.len);
		pages++;
	}
	strbuf_release(&q);
	strbuf_release(&token);
	strbuf_release(&next);
	return rc;
}

int s3_upload_begin(struct s3_client *c, const char *key, struct s3_upload **out,
		    struct errbuf *e)
{
	struct s3_upload *u;
	struct s3_req r;
	struct strbuf id = STRBUF_INIT;
	size_t pos = 0;
	int rc;

	*out = NULL;
	req_init(&r, "POST", key);
	r.query = "uploads=";
	rc = perform(c, c->curl, &r, 0, e);
	if (!rc && !s3_xml_next(r.resp.buf, r.resp.len, &pos, "UploadId", &id))
		rc = errbuf_set(e, BL_EFAIL, "%s: POST %s?uploads: no UploadId in the answer",
				c->desc, key);
	req_release(&r);
	if (rc)
		goto out;
	u = xcalloc(1, sizeof(*u));
	if (!(u->curl = curl_easy_init())) {
		free(u);
		rc = errbuf_set(e, BL_EFAIL, "s3: out of memory");
		goto out;
	}
	u->key = xstrdup(key);
	u->c = c;
	u->upload_id = strbuf_detach(&id, NULL);
	*out = u;
out:
	strbuf_release(&id);
	return rc;
}

int s3_upload_parts(const struct s3_upload *u)
{
	return u ? u->nparts : 0;
}

int s3_upload_part(struct s3_upload *u, int part_no, const void *buf, size_t len,
		   struct errbuf *e)
{
	struct strbuf q = STRBUF_INIT, what = STRBUF_INIT;
	struct s3_req r;
	int rc;

	if (part_no != u->nparts + 1 || part_no > 10000)
		return errbuf_set(e, BL_EFAIL, "%s: upload %s: part %d out of order",
				  u->c->desc, u->key, part_no);
	strbuf_addf(&q, "partNumber=%d&uploadId=", part_no);
	s3_uri_encode(&q, u->upload_id, 0);
	strbuf_addf(&what, "%s (part %d)", u->key, part_no);
	req_init(&r, "PUT", u->key);
	r.label = what.buf;
	r.query = q.buf;
	r.body = buf;
	r.body_len = len;
	rc = perform(u->c, u->curl, &r, 0, e);
	if (rc)
		goto out;
	if (!r.etag.len) {
		rc = errbuf_set(e, BL_EFAIL, "%s: PUT %s part %d: no ETag in the answer",
				u->c->desc, u->key, part_no);
		goto out;
	}
	if (u->nparts == u->alloc) {
		int na = u->alloc ? u->alloc * 2 : 64;

		u->etags = xrealloc(u->etags, (size_t)na * sizeof(*u->etags));
		u->sizes = xrealloc(u->sizes, (size_t)na * sizeof(*u->sizes));
		u->alloc = na;
	}
	u->sizes[u->nparts] = (long long)len;
	u->etags[u->nparts++] = strbuf_detach(&r.etag, NULL);
	u->bytes += (long long)len;
out:
	req_release(&r);
	strbuf_release(&q);
	strbuf_release(&what);
	return rc;
}

static void upload_free(struct s3_upload *u)
{
	int i;

	if (!u)
		return;
	for (i = 0; i < u->nparts; i++)
		free(u->etags[i]);
	free(u->etags);
	free(u->sizes);
	if (u->curl)
		curl_easy_cleanup(u->curl);
	free(u->key);
	free(u->upload_id);
	free(u);
}

/* A part's ETag as 16 binary bytes: 0 when it is not a plain MD5 (SSE-KMS
 * and some providers use other values). */
static int etag_md5(const char *etag, unsigned char bin[16])
{
	const char *t = etag + (etag[0] == '"');

	for (int k = 0; k < 16; k++) {
		unsigned v;

		if (!isxdigit((unsigned char)t[2 * k]) || !isxdigit((unsigned char)t[2 * k + 1]) ||
		    sscanf(t + 2 * k, "%2x", &v) != 1)
			return 0;
		bin[k] = (unsigned char)v;
	}
	return t[32] == '"' || t[32] == 0;
}

/* The ETag AWS gives a completed multipart object: the MD5 of the parts'
 * binary MD5s, then "-<parts>". 0 when a part's ETag is not an MD5. */
static int multipart_etag(const struct s3_upload *u, struct strbuf *out)
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	unsigned char digest[EVP_MAX_MD_SIZE], bin[16];
	unsigned int dlen = 0;
	int ok = md && EVP_DigestInit_ex(md, EVP_md5(), NULL);

	for (int i = 0; ok && i < u->nparts; i++)
		ok = etag_md5(u->etags[i], bin) && EVP_DigestUpdate(md, bin, sizeof(bin));
	ok = ok && EVP_DigestFinal_ex(md, digest, &dlen);
	EVP_MD_CTX_free(md);
	strbuf_reset(out);
	for (unsigned int k = 0; ok && k < dlen; k++)
		strbuf_addf(out, "%02x", digest[k]);
	if (ok)
		strbuf_addf(out, "-%d", u->nparts);
	return ok;
}

/* Read the object back part by part (bounded buffer) and compare each
 * part's MD5 with the ETag the server gave it: for servers whose object
 * ETag is not AWS's multipart form (s3rver's is the whole object's MD5). */
static int parts_match(struct s3_upload *u, const char *etag)
{
	enum { BUF = 1 << 20 };
	unsigned char *buf = xmalloc(BUF), want[16], got[EVP_MAX_MD_SIZE];
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	struct errbuf ignore = ERRBUF_INIT;
	long long off = 0;
	unsigned int glen;
	int ok = md != NULL;

	for (int i = 0; ok && i < u->nparts; i++) {
		long long left = u->sizes[i];

		ok = etag_md5(u->etags[i], want) && EVP_DigestInit_ex(md, EVP_md5(), NULL);
		while (ok && left > 0) {
			size_t n = left < BUF ? (size_t)left : BUF, got_n = 0;

			ok = !s3_get_range(u->c, u->key, off, buf, n, &got_n, etag, &ignore) &&
			     got_n == n && EVP_DigestUpdate(md, buf, n);
			off += (long long)n;
			left -= (long long)n;
		}
		ok = ok && EVP_DigestFinal_ex(md, got, &glen) && glen == 16 && !memcmp(got, want, 16);
	}
	EVP_MD_CTX_free(md);
	free(buf);
	return ok;
}

/* Did a complete whose answer we never saw (connection lost, 5xx, or a
 * retry told NoSuchUpload because the first try had in fact finished)
 * land? An object at our key with our size whose content matches the
 * parts we sent is our upload. */
static int upload_landed(struct s3_upload *u)
{
	struct strbuf etag = STRBUF_INIT, want = STRBUF_INIT;
	struct errbuf ignore = ERRBUF_INIT;
	long long size = -1;
	int exists = 0, landed = 0;

	if (s3_head(u->c, u->key, &exists, &size, &etag, &ignore) || !exists || size != u->bytes)
		goto out;
	if (multipart_etag(u, &want)) {
		const char *t = etag.buf + (etag.buf[0] == '"');

		landed = !strncasecmp(t, want.buf, want.len) && (t[want.len] == '"' || !t[want.len]);
		if (!landed)
			landed = parts_match(u, etag.buf);
	}
out:
	strbuf_release(&etag);
	strbuf_release(&want);
	return landed;
}

int s3_upload_complete(struct s3_upload *u, struct errbuf *e)
{
	struct strbuf q = STRBUF_INIT, body = STRBUF_INIT, code = STRBUF_INIT, msg = STRBUF_INIT;
	struct s3_req r;
	int i, rc, tries = 0;

	strbuf_addstr(&q, "uploadId=");
	s3_uri_encode(&q, u->upload_id, 0);
	strbuf_addstr(&body, "<CompleteMultipartUpload xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">");
	for (i = 0; i < u->nparts; i++) {
		strbuf_addf(&body, "<Part><PartNumber>%d</PartNumber><ETag>", i + 1);
		xml_escape(&body, u->etags[i]);
		strbuf_addstr(&body, "</ETag></Part>");
	}
	strbuf_addstr(&body, "</CompleteMultipartUpload>");
	for (;;) {
		req_init(&r, "POST", u->key);
		r.query = q.buf;
		r.body = body.buf;
		r.body_len = body.len;
		r.content_type = "application/xml";
		rc = perform(u->c, u->curl, &r, 0, e);
		tries++;
		/* S3 may answer 200 and then report an error in the body. */
		if (!rc && s3_parse_error(r.resp.buf, r.resp.len, &code, &msg)) {
			int again = !strcmp(code.buf, "InternalError") ||
				    !strcmp(code.buf, "SlowDown");

			if (again && tries <= u->c->o.retries) {
				req_release(&r);
				sleep_ms(backoff_ms(u->c, tries));
				continue;
			}
			rc = errbuf_set(e, BL_EFAIL, "%s: complete upload of %s: %s: %s",
					u->c->desc, u->key, code.buf, msg.buf);
		}
		req_release(&r);
		break;
	}
	if (rc && upload_landed(u)) {
		errbuf_clear(e);
		rc = 0;
	}
	if (rc)
		s3_upload_abort(u);
	else
		upload_free(u);
	strbuf_release(&q);
	strbuf_release(&body);
	strbuf_release(&code);
	strbuf_release(&msg);
	return rc;
}

void s3_upload_abort(struct s3_upload *u)
{
	struct strbuf q = STRBUF_INIT;
	struct errbuf e = ERRBUF_INIT;
	struct s3_req r;

	if (!u)
		return;
	/* Best effort: the parts are invisible either way, and a bucket
	 * lifecycle rule (AbortIncompleteMultipartUpload) reclaims what a
	 * failed abort leaves. */
	strbuf_addstr(&q, "uploadId=");
	s3_uri_encode(&q, u->upload_id, 0);
	req_init(&r, "DELETE", u->key);
	r.query = q.buf;
	r.retries = 1;
	perform(u->c, u->curl, &r, 1, &e);
	req_release(&r);
	strbuf_release(&q);
	upload_free(u);
}
