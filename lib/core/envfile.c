#include "envfile.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "strbuf.h"

static int is_key_start(int c) { return isalpha(c) || c == '_'; }
static int is_key_char(int c) { return isalnum(c) || c == '_' || c == '.' || c == '-'; }

int envfile_parse(const char *text, size_t len, const char *name, json_t **out,
		  struct errbuf *e)
{
	struct strbuf key = STRBUF_INIT, val = STRBUF_INIT;
	const char *p = text, *end = text + len;
	json_t *obj = json_object();
	int line = 1, rc = 0;

	while (p < end) {
		int kline = line;

		strbuf_reset(&key);
		strbuf_reset(&val);
		while (p < end && (*p == ' ' || *p == '\t'))
			p++;
		if (p < end && (*p == '\n' || *p == '\r' || *p == '#')) {
			while (p < end && *p != '\n')
				p++;
			if (p < end) {
				p++;
				line++;
			}
			continue;
		}
		if (p == end)
			break;
		if (end - p > 7 && !strncmp(p, "export", 6) && (p[6] == ' ' || p[6] == '\t')) {
			p += 7;
			while (p < end && (*p == ' ' || *p == '\t'))
				p++;
		}
		if (p == end || !is_key_start((unsigned char)*p)) {
			rc = errbuf_set(e, BL_EUSAGE, "%s:%d: expected KEY=VALUE", name, kline);
			goto out;
		}
		while (p < end && is_key_char((unsigned char)*p))
			strbuf_addch(&key, *p++);
		while (p < end && (*p == ' ' || *p == '\t'))
			p++;
		if (p == end || *p != '=') {
			rc = errbuf_set(e, BL_EUSAGE, "%s:%d: expected '=' after %s", name, kline,
					key.buf);
			goto out;
		}
		p++;
		while (p < end && (*p == ' ' || *p == '\t'))
			p++;
		if (p < end && (*p == '\'' || *p == '"')) {
			char q = *p++;

			while (p < end && *p != q) {
				if (*p == '\n')
					line++;
				if (q == '"' && *p == '\\' && p + 1 < end) {
					p++;
					switch (*p) {
					case 'n': strbuf_addch(&val, '\n'); break;
					case 't': strbuf_addch(&val, '\t'); break;
					case 'r': strbuf_addch(&val, '\r'); break;
					default: strbuf_addch(&val, *p); break;
					}
					p++;
					continue;
				}
				strbuf_addch(&val, *p++);
			}
			if (p == end) {
				rc = errbuf_set(e, BL_EUSAGE, "%s:%d: unterminated %s quote in value of %s",
						name, kline, q == '"' ? "double" : "single", key.buf);
				goto out;
			}
			p++;
			/* Only whitespace or a comment may follow the closing quote. */
			while (p < end && (*p == ' ' || *p == '\t' || *p == '\r'))
				p++;
			if (p < end && *p != '\n' && *p != '#') {
				rc = errbuf_set(e, BL_EUSAGE, "%s:%d: unexpected text after quoted value of %s",
						name, kline, key.buf);
				goto out;
			}
			while (p < end && *p != '\n')
				p++;
		} else {
			const char *s = p;

			while (p < end && *p != '\n')
				p++;
			strbuf_add(&val, s, (size_t)(p - s));
			/* " #" starts a comment in an unquoted value. */
			for (size_t i = 0; i < val.len; i++) {
				if (val.buf[i] == '#' && i > 0 &&
				    (val.buf[i - 1] == ' ' || val.buf[i - 1] == '\t')) {
					strbuf_setlen(&val, i);
					break;
				}
			}
			strbuf_rtrim(&val);
		}
		if (p < end) {
			p++;
			line++;
		}
		json_object_set_new(obj, key.buf, json_string(val.buf));
	}
out:
	strbuf_release(&key);
	strbuf_release(&val);
	if (rc) {
		json_decref(obj);
		*out = NULL;
	} else {
		*out = obj;
	}
	return rc;
}

int envfile_read(const char *path, json_t **out, struct errbuf *e)
{
	struct strbuf sb = STRBUF_INIT;
	char buf[8192];
	FILE *f;
	size_t n;
	int rc;

	*out = NULL;
	f = fopen(path, "r");
	if (!f)
		return errbuf_errno(e, BL_EUSAGE, errno, "cannot read env file %s", path);
	while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
		strbuf_add(&sb, buf, n);
	if (ferror(f)) {
		rc = errbuf_errno(e, BL_EUSAGE, errno, "cannot read env file %s", path);
		fclose(f);
		strbuf_release(&sb);
		return rc;
	}
	fclose(f);
	rc = envfile_parse(sb.buf, sb.len, path, out, e);
	strbuf_release(&sb);
	return rc;
}
