#include "metrics.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "strbuf.h"
#include "xalloc.h"

#define METRICS_MAX 512

struct series {
	char *key;   /* name{labels} */
	char *name;
	char *help;
	char *type;
	double value;
};

void metrics_label_escape(const char *v, char *buf, size_t n)
{
	size_t o = 0;

	for (; v && *v && o + 3 < n; v++) {
		if (*v == '\\' || *v == '"') {
			buf[o++] = '\\';
			buf[o++] = *v;
		} else if (*v == '\n') {
			buf[o++] = '\\';
			buf[o++] = 'n';
		} else {
			buf[o++] = *v;
		}
	}
	buf[o] = '\0';
}

static struct series *find(struct series *s, size_t n, const char *key)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(s[i].key, key))
			return &s[i];
	return NULL;
}

static const char *meta_for(struct series *s, size_t n, const char *name, int help)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(s[i].name, name) && (help ? s[i].help : s[i].type))
			return help ? s[i].help : s[i].type;
	return NULL;
}

/* Read the series already in the file (missing file: none). */
static int load(const char *path, struct series *s, size_t *n, struct errbuf *e)
{
	char line[2048];
	char *help_name = NULL, *help = NULL, *type_name = NULL, *type = NULL;
	FILE *f = fopen(path, "r");

	*n = 0;
	if (!f)
		return errno == ENOENT ? 0 : errbuf_errno(e, BL_EFAIL, errno, "metrics: cannot read %s", path);
	while (fgets(line, sizeof(line), f) && *n < METRICS_MAX) {
		char *sp, *nm;
		size_t l = strlen(line);

		while (l && (line[l - 1] == '\n' || line[l - 1] == '\r'))
			line[--l] = '\0';
		if (!strncmp(line, "# HELP ", 7) || !strncmp(line, "# TYPE ", 7)) {
			int is_help = line[2] == 'H';
			char *rest = line + 7, *end = strchr(rest, ' ');

			if (!end)
				continue;
			*end = '\0';
			if (is_help) {
				free(help_name);
				free(help);
				help_name = xstrdup(rest);
				help = xstrdup(end + 1);
			} else {
				free(type_name);
				free(type);
				type_name = xstrdup(rest);
				type = xstrdup(end + 1);
			}
			continue;
		}
		if (!*line || line[0] == '#')
			continue;
		sp = strrchr(line, ' ');
		if (!sp)
			continue;
		*sp = '\0';
		s[*n].key = xstrdup(line);
		nm = xstrdup(line);
		nm[strcspn(nm, "{")] = '\0';
		s[*n].name = nm;
		s[*n].value = strtod(sp + 1, NULL);
		s[*n].help = help_name && !strcmp(help_name, nm) ? xstrdup(help) : NULL;
		s[*n].type = type_name && !strcmp(type_name, nm) ? xstrdup(type) : NULL;
		(*n)++;
	}
	fclose(f);
	free(help_name);
	free(help);
	free(type_name);
	free(type);
	return 0;
}

static int cmp_key(const void *a, const void *b)
{
	const struct series *x = a, *y = b;

	return strcmp(x->key, y->key);
}

int metrics_update(const char *path, const struct metric_sample *smp, size_t ns,
		   struct errbuf *e)
{
	struct series *s = NULL;
	struct strbuf out = STRBUF_INIT, tmp = STRBUF_INIT;
	const char *last = "";
	size_t n = 0;
	int rc = 0, fd = -1;

	if (!path || !*path)
		return 0;
	s = xcalloc(METRICS_MAX + ns, sizeof(*s));
	rc = load(path, s, &n, e);
	if (rc)
		goto out;
	for (size_t i = 0; i < ns; i++) {
		struct strbuf key = STRBUF_INIT;
		struct series *cur;

		strbuf_addstr(&key, smp[i].name);
		if (smp[i].labels && *smp[i].labels)
			strbuf_addf(&key, "{%s}", smp[i].labels);
		cur = find(s, n, key.buf);
		if (!cur) {
			cur = &s[n++];
			cur->key = strbuf_detach(&key, NULL);
			cur->name = xstrdup(smp[i].name);
			cur->value = 0;
		} else {
			strbuf_release(&key);
		}
		cur->value = smp[i].add ? cur->value + smp[i].value : smp[i].value;
		free(cur->help);
		free(cur->type);
		cur->help = xstrdup_or_null(smp[i].help);
		cur->type = xstrdup_or_null(smp[i].type);
	}
	if (n) /* qsort(NULL, 0) is undefined */
		qsort(s, n, sizeof(*s), cmp_key);
	for (size_t i = 0; i < n; i++) {
		if (strcmp(last, s[i].name)) {
			const char *h = meta_for(s, n, s[i].name, 1), *t = meta_for(s, n, s[i].name, 0);

			if (h)
				strbuf_addf(&out, "# HELP %s %s\n", s[i].name, h);
			if (t)
				strbuf_addf(&out, "# TYPE %s %s\n", s[i].name, t);
			last = s[i].name;
		}
		strbuf_addf(&out, "%s %.17g\n", s[i].key, s[i].value);
	}
	strbuf_addf(&tmp, "%s.tmp-%d", path, (int)getpid());
	fd = open(tmp.buf, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	/* node_exporter reads it as another user, whatever our umask */
	if (fd >= 0 && fchmod(fd, 0644) != 0) {
		close(fd);
		fd = -1;
	}
	if (fd < 0) {
		rc = errbuf_errno(e, BL_EFAIL, errno, "metrics: cannot write %s", tmp.buf);
		goto out;
	}
	if (write(fd, out.buf, out.len) != (ssize_t)out.len || fsync(fd) != 0) {
		rc = errbuf_errno(e, BL_EFAIL, errno, "metrics: cannot write %s", tmp.buf);
		close(fd);
		unlink(tmp.buf);
		goto out;
	}
	close(fd);
	if (rename(tmp.buf, path) != 0) {
		rc = errbuf_errno(e, BL_EFAIL, errno, "metrics: cannot rename %s to %s", tmp.buf, path);
		unlink(tmp.buf);
	}
out:
	for (size_t i = 0; i < n; i++) {
		free(s[i].key);
		free(s[i].name);
		free(s[i].help);
		free(s[i].type);
	}
	free(s);
	strbuf_release(&out);
	strbuf_release(&tmp);
	return rc;
}
