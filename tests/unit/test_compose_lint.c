#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "compose_lint.h"
#include "tsupport.h"

/* A service that passes every rule; cases below break one thing at a time. */
#define HARDENED                                                        \
	"    image: acme/app:1\n"                                        \
	"    user: \"10001:10001\"\n"                                    \
	"    security_opt: [\"no-new-privileges:true\"]\n"               \
	"    read_only: true\n"                                          \
	"    tmpfs: [\"/tmp:size=64m\"]\n"                               \
	"    cpus: 0.5\n"                                                \
	"    mem_limit: 256m\n"                                          \
	"    healthcheck:\n"                                             \
	"      test: [\"CMD\", \"true\"]\n"                              \
	"    restart: unless-stopped\n"                                  \
	"    logging:\n"                                                 \
	"      driver: json-file\n"                                      \
	"      options: {max-size: \"10m\", max-file: \"3\"}\n"

struct run {
	int rc;
	struct compose_lint res;
	struct errbuf e;
	char rules[2048];  /* "rule@service,..." of the violations, in order */
	char allowed[512]; /* same for exempted findings */
	char warnings[512]; /* same for warnings */
};

static void lint_opts(const char *yaml, const struct compose_lint_opts *opts, struct run *r)
{
	memset(r, 0, sizeof(*r));
	r->rc = compose_lint_string(yaml, strlen(yaml), "t.yml", opts, &r->res, &r->e);
	for (size_t i = 0; i < r->res.nr; i++) {
		const struct compose_finding *f = &r->res.findings[i];
		char *dst = f->allowed ? r->allowed : f->warning ? r->warnings : r->rules;
		size_t cap = f->allowed ? sizeof(r->allowed) : f->warning ? sizeof(r->warnings) :
			     sizeof(r->rules);

		snprintf(dst + strlen(dst), cap - strlen(dst), "%s%s@%s", *dst ? "," : "",
			 f->rule, f->service ? f->service : "-");
	}
}

static void lint(const char *yaml, struct run *r)
{
	lint_opts(yaml, NULL, r);
}

/* One service "s" whose body is HARDENED with `extra` appended. */
static void lint_svc(const char *body, struct run *r)
{
	struct strbuf sb = STRBUF_INIT;

	strbuf_addf(&sb, "services:\n  s:\n%s", body);
	lint(sb.buf, r);
	strbuf_release(&sb);
}

static void done(struct run *r)
{
	compose_lint_release(&r->res);
}

START_TEST(test_hardened_is_clean)
{
	struct run r;

	lint_svc(HARDENED, &r);
	ck_assert_msg(r.rc == 0, "rc %d: %s", r.rc, r.e.msg);
	ck_assert_str_eq(r.rules, "");
	ck_assert_uint_eq(r.res.services, 1);
	ck_assert_uint_eq(r.res.violations, 0);
	done(&r);
}
END_TEST

START_TEST(test_empty_service_breaks_everything_basic)
{
	struct run r;

	lint("services:\n  web:\n    image: nginx\n", &r);
	ck_assert_int_eq(r.rc, BL_EVERIFY);
	ck_assert_str_eq(r.rules, "non-root@web,no-new-privileges@web,read-only@web,"
				  "cpu-limit@web,memory-limit@web,healthcheck@web,restart@web,"
				  "logging@web");
	ck_assert_uint_eq(r.res.violations, 8);
	ck_assert_msg(strstr(r.e.msg, "t.yml: 8 violations in 1 service"), "%s",
		      r.e.msg);
	ck_assert_msg(strstr(r.e.msg, "first: web: non-root"), "%s", r.e.msg);
	done(&r);

	/* A service with no body at all is the same as an empty one. */
	lint("services:\n  web:\n", &r);
	ck_assert_int_eq(r.rc, BL_EVERIFY);
	ck_assert_uint_eq(r.res.violations, 8);
	done(&r);
}
END_TEST

/* HARDENED without the key starting with drop_prefix (and its children),
 * with `add` appended. */
static void lint_variant(const char *drop_prefix, const char *add, struct run *r)
{
	struct strbuf sb = STRBUF_INIT;
	const char *p = HARDENED;
	int skipping = 0;

	while (*p) {
		const char *nl = strchr(p, '\n');
		size_t n = nl ? (size_t)(nl - p + 1) : strlen(p);

		if (drop_prefix && !strncmp(p, drop_prefix, strlen(drop_prefix)))
			skipping = 1;
		else if (strncmp(p, "      ", 6))
			skipping = 0;
		if (!skipping)
			strbuf_add(&sb, p, n);
		p += n;
	}
	if (add)
		strbuf_addstr(&sb, add);
	lint_svc(sb.buf, r);
	strbuf_release(&sb);
}

static const struct variant {
	const char *drop;
	const char *add;
	const char *want; /* violations, "" for clean */
} variants[] = {
	/* non-root */
	{ "    user:", NULL, "non-root@s" },
	{ "    user:", "    user: \"0\"\n", "non-root@s" },
	{ "    user:", "    user: root\n", "non-root@s" },
	{ "    user:", "    user: \"0:0\"\n", "non-root@s" },
	{ "    user:", "    user: \"root:staff\"\n", "non-root@s" },
	{ "    user:", "    user: \"1000\"\n", "" },
	{ "    user:", "    user: postgres\n", "" },
	{ "    user:", "    user: \"${APP_UID}:${APP_GID}\"\n", "" },
	/* no-new-privileges and privileged */
	{ "    security_opt:", NULL, "no-new-privileges@s" },
	{ "    security_opt:", "    security_opt: [\"label:disable\"]\n", "no-new-privileges@s" },
	{ "    security_opt:", "    security_opt: [\"no-new-privileges\"]\n", "" },
	{ "    security_opt:", "    security_opt: [\"no-new-privileges=true\"]\n", "" },
	{ "    security_opt:", "    security_opt: [\"no-new-privileges:false\"]\n",
	  "no-new-privileges@s" },
	{ NULL, "    privileged: true\n", "privileged@s" },
	{ NULL, "    privileged: false\n", "" },
	/* read-only and tmpfs at /tmp */
	{ "    read_only:", NULL, "read-only@s" },
	{ "    read_only:", "    read_only: false\n", "read-only@s" },
	{ "    read_only:", "    read_only: \"${RO}\"\n", "read-only@s" },
	{ "    tmpfs:", NULL, "tmp-tmpfs@s" },
	{ "    tmpfs:", "    tmpfs: /tmp\n", "" },
	{ "    tmpfs:", "    tmpfs: [\"/run\"]\n", "tmp-tmpfs@s" },
	{ "    tmpfs:", "    volumes:\n      - type: tmpfs\n        target: /tmp\n", "" },
	{ "    tmpfs:", "    volumes: [\"scratch:/tmp\"]\n", "tmp-tmpfs@s" },
	/* limits: either syntax */
	{ "    cpus:", NULL, "cpu-limit@s" },
	{ "    mem_limit:", NULL, "memory-limit@s" },
	{ "    cpus:", "    deploy:\n      resources:\n        limits: {cpus: \"0.5\"}\n", "" },
	{ "    mem_limit:", "    deploy:\n      resources:\n        limits: {memory: 1g}\n", "" },
	{ "    mem_limit:", "    deploy:\n      resources:\n        reservations: {memory: 1g}\n",
	  "memory-limit@s" },
	/* healthcheck */
	{ "    healthcheck:", NULL, "healthcheck@s" },
	{ "    healthcheck:", "    healthcheck:\n      disable: true\n", "healthcheck@s" },
	/* restart */
	{ "    restart:", NULL, "restart@s" },
	{ "    restart:", "    restart: \"no\"\n", "restart@s" },
	{ "    restart:", "    restart: always\n", "" },
	{ "    restart:", "    restart: on-failure:3\n", "" },
	{ "    restart:", "    deploy:\n      restart_policy: {condition: any}\n", "" },
	{ "    restart:", "    deploy:\n      restart_policy: {condition: none}\n", "restart@s" },
	/* ports */
	{ NULL, "    ports: [\"80:80\", \"127.0.0.1:443:443\", \"127.0.0.2:443:8443/tcp\"]\n", "" },
	{ NULL, "    ports: [\"8080:80\"]\n", "ports@s" },
	{ NULL, "    ports: [\"127.0.0.1:5432:5432\"]\n", "ports@s" },
	{ NULL, "    ports: [\"[::1]:6379:6379\"]\n", "ports@s" },
	{ NULL, "    ports: [\"[::]:443:443\"]\n", "" },
	{ NULL, "    ports: [3000]\n", "ports@s" },
	{ NULL, "    ports: [\"8000-8001:8000-8001\"]\n", "ports@s" },
	{ NULL, "    ports: [\"${PORT}:80\"]\n", "ports@s" },
	{ NULL, "    ports:\n      - target: 80\n        published: 80\n", "" },
	{ NULL, "    ports:\n      - target: 80\n        published: \"8443\"\n", "ports@s" },
	{ NULL, "    ports:\n      - target: 80\n", "ports@s" },
	{ NULL, "    ports: [\"80:80\", \"9000:9000\", \"9001:9001\"]\n", "ports@s,ports@s" },
	{ NULL, "    network_mode: host\n", "ports@s,host-namespaces@s" },
	{ NULL, "    expose: [\"8000\"]\n", "" },
	/* container escapes */
	{ NULL, "    cap_add: [SYS_ADMIN]\n", "capabilities@s" },
	{ NULL, "    cap_add: [\"CAP_SYS_PTRACE\", NET_BIND_SERVICE]\n", "capabilities@s" },
	{ NULL, "    cap_add: [NET_BIND_SERVICE, CHOWN]\n", "" },
	{ NULL, "    cap_add: [all]\n", "capabilities@s" },
	{ NULL, "    pid: host\n", "host-namespaces@s" },
	{ NULL, "    ipc: host\n", "host-namespaces@s" },
	{ NULL, "    ipc: shareable\n", "" },
	{ NULL, "    userns_mode: host\n", "host-namespaces@s" },
	{ NULL, "    volumes: [\"/var/run/docker.sock:/var/run/docker.sock:ro\"]\n",
	  "docker-socket@s" },
	{ NULL, "    volumes:\n      - type: bind\n        source: /run/docker.sock\n"
	  "        target: /docker.sock\n", "docker-socket@s" },
	{ NULL, "    volumes: [\"/:/host\"]\n", "host-mounts@s" },
	{ NULL, "    volumes: [\"/etc/:/host-etc:ro\"]\n", "host-mounts@s" },
	{ NULL, "    volumes: [\"/srv/app/config:/config:ro\"]\n", "" },
	{ NULL, "    devices: [\"/dev/sda:/dev/sda\"]\n", "devices@s" },
	{ NULL, "    devices: []\n", "" },
};

START_TEST(test_one_rule_at_a_time)
{
	const struct variant *v = &variants[_i];
	struct run r;

	lint_variant(v->drop, v->add, &r);
	ck_assert_msg(r.rc == (*v->want ? BL_EVERIFY : 0), "variant %d (%s): rc %d: %s", _i,
		      v->add ? v->add : v->drop, r.rc, r.e.msg);
	ck_assert_msg(!strcmp(r.rules, v->want), "variant %d (%s): got '%s', want '%s'", _i,
		      v->add ? v->add : v->drop, r.rules, v->want);
	done(&r);
}
END_TEST

START_TEST(test_healthcheck_none_and_logging)
{
	static const struct {
		const char *body;
		const char *want;
	} cases[] = {
		{ "    healthcheck:\n      test: [\"NONE\"]\n", "healthcheck@s" },
		{ "    healthcheck:\n      test: NONE\n", "healthcheck@s" },
		{ "    healthcheck:\n      interval: 5s\n", "healthcheck@s" },
		{ "    healthcheck:\n      test: curl -f http://localhost/\n", "" },
		{ "    logging: {driver: local}\n", "" },
		{ "    logging: {driver: syslog}\n", "logging@s" },
		{ "    logging: {driver: json-file}\n", "logging@s" },
		{ "    logging: {driver: json-file, options: {max-size: 10m}}\n", "logging@s" },
		{ "    logging: {options: {max-size: 10m, max-file: \"3\"}}\n", "logging@s" },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct run r;

		lint_variant(strstr(cases[i].body, "logging") ? "    logging:" : "    healthcheck:",
			     cases[i].body, &r);
		ck_assert_msg(!strcmp(r.rules, cases[i].want), "case %zu: got '%s', want '%s'",
			      i, r.rules, cases[i].want);
		done(&r);
	}
}
END_TEST

START_TEST(test_anchors_aliases_and_merge_keys)
{
	struct run r;

	/* The shape of the example's prod file: a hardening anchor merged in,
	 * a scalar anchor aliased, a list of merges where the first wins. */
	lint("x-h: &h\n"
	     "  restart: unless-stopped\n"
	     "  security_opt: [\"no-new-privileges:true\"]\n"
	     "  logging: {driver: json-file, options: {max-size: 1m, max-file: \"2\"}}\n"
	     "x-l: &l\n"
	     "  cpus: 1\n"
	     "  mem_limit: 1g\n"
	     "  restart: \"no\"\n"
	     "x-user: &u \"10001:10001\"\n"
	     "services:\n"
	     "  a:\n"
	     "    <<: [*h, *l]\n"
	     "    user: *u\n"
	     "    read_only: true\n"
	     "    tmpfs: /tmp\n"
	     "    healthcheck: {test: [\"CMD\", \"true\"]}\n"
	     "  b:\n"
	     "    <<: [*l, *h]\n"
	     "    user: *u\n"
	     "    read_only: true\n"
	     "    tmpfs: /tmp\n"
	     "    healthcheck: {test: [\"CMD\", \"true\"]}\n"
	     "  c:\n"
	     "    <<: *l\n"
	     "    restart: always\n"
	     "    security_opt: [\"no-new-privileges:true\"]\n"
	     "    logging: {driver: local}\n"
	     "    user: *u\n"
	     "    read_only: true\n"
	     "    tmpfs: /tmp\n"
	     "    healthcheck: {test: [\"CMD\", \"true\"]}\n",
	     &r);
	/* a: h's restart wins over l's; b: l's restart "no" wins;
	 * c: its own restart overrides the merged one. */
	ck_assert_msg(!strcmp(r.rules, "restart@b"), "got '%s' (%s)", r.rules, r.e.msg);
	ck_assert_uint_eq(r.res.services, 3);
	done(&r);
}
END_TEST

START_TEST(test_merge_cycle_terminates)
{
	struct run r;

	/* A merge key pointing at its own mapping: must end, whatever it says. */
	lint("services:\n  a: &a\n    image: x\n    <<: *a\n", &r);
	ck_assert(r.rc == BL_EVERIFY || r.rc == BL_EUSAGE);
	done(&r);
}
END_TEST

START_TEST(test_allow_label)
{
	struct run r;

	/* Map form, several rules, spaces and commas. */
	lint("services:\n  t:\n    image: traefik:v3\n    labels:\n"
	     "      ballast.lint.allow: \"non-root, read-only cpu-limit,memory-limit\"\n", &r);
	ck_assert_int_eq(r.rc, BL_EVERIFY);
	ck_assert_str_eq(r.rules, "no-new-privileges@t,healthcheck@t,restart@t,logging@t");
	ck_assert_str_eq(r.allowed, "non-root@t,read-only@t,cpu-limit@t,memory-limit@t");
	ck_assert_uint_eq(r.res.violations, 4);
	ck_assert_uint_eq(r.res.nr, 8);
	done(&r);

	/* List form: everything exempted is clean, and still reported. */
	lint("services:\n  t:\n    image: traefik:v3\n    labels:\n"
	     "      - traefik.enable=true\n"
	     "      - ballast.lint.allow=non-root,no-new-privileges,read-only,cpu-limit,"
	     "memory-limit,healthcheck,restart,logging\n", &r);
	ck_assert_msg(r.rc == 0, "%s", r.e.msg);
	ck_assert_uint_eq(r.res.nr, 8);
	ck_assert_uint_eq(r.res.violations, 0);
	done(&r);

	/* The exemption is per service. */
	lint("services:\n"
	     "  a:\n" HARDENED "    ports: [\"8080:80\"]\n    labels: {ballast.lint.allow: ports}\n"
	     "  b:\n" HARDENED "    ports: [\"8081:80\"]\n", &r);
	ck_assert_str_eq(r.rules, "ports@b");
	ck_assert_str_eq(r.allowed, "ports@a");
	done(&r);
}
END_TEST

START_TEST(test_allow_label_typo_is_an_error)
{
	struct run r;

	lint("services:\n  t:\n    image: x\n    labels:\n"
	     "      ballast.lint.allow: readonly\n", &r);
	ck_assert_int_eq(r.rc, BL_EUSAGE);
	ck_assert_msg(strstr(r.e.msg, "t.yml:5: services.t.labels.ballast.lint.allow: unknown rule "
				      "'readonly' (did you mean \"read-only\"?)"),
		      "%s", r.e.msg);
	done(&r);

	lint("services:\n  t:\n    image: x\n    labels: [\"ballast.lint.allow=everything\"]\n", &r);
	ck_assert_int_eq(r.rc, BL_EUSAGE);
	ck_assert_msg(strstr(r.e.msg, "unknown rule 'everything'"), "%s", r.e.msg);
	ck_assert_ptr_null(strchr(r.e.msg, '\n'));
	done(&r);
}
END_TEST

START_TEST(test_writable_paths)
{
	struct run r;

	lint_svc(HARDENED
		 "    labels: {ballast.lint.writable: /app/downloads}\n"
		 "    volumes:\n"
		 "      - downloads:/app/downloads\n"
		 "      - downloads:/app/downloads/sub\n"
		 "      - config:/app/config:ro\n"
		 "      - cache:/app/cache\n"
		 "      - ./logs:/var/log/app:rw\n"
		 "      - type: volume\n"
		 "        source: models\n"
		 "        target: /models\n"
		 "        read_only: true\n"
		 "      - /anon\n",
		 &r);
	/* /tmp (the tmpfs), /app/cache, /var/log/app and the anonymous /anon. */
	ck_assert_str_eq(r.rules, "writable-paths@s,writable-paths@s,writable-paths@s,"
				  "writable-paths@s");
	ck_assert_msg(strstr(r.res.findings[0].problem, "/app/cache"), "%s",
		      r.res.findings[0].problem);
	ck_assert_msg(strstr(r.res.findings[3].problem, "writable tmpfs at /tmp"), "%s",
		      r.res.findings[3].problem);
	done(&r);

	/* Several allowed paths; the tmpfs allowed explicitly. */
	lint_svc(HARDENED
		 "    labels: [\"ballast.lint.writable=/app/downloads, /tmp\"]\n"
		 "    volumes: [\"downloads:/app/downloads\"]\n",
		 &r);
	ck_assert_msg(r.rc == 0, "%s", r.rules);
	done(&r);

	/* "/app/downloads" does not allow "/app/downloads2". */
	lint_svc(HARDENED
		 "    labels: [\"ballast.lint.writable=/app/downloads,/tmp\"]\n"
		 "    volumes: [\"x:/app/downloads2\"]\n",
		 &r);
	ck_assert_str_eq(r.rules, "writable-paths@s");
	done(&r);
}
END_TEST

START_TEST(test_pg_data_volume)
{
	static const struct {
		const char *svc;
		const char *want;
	} cases[] = {
		{ "    image: postgres:15\n    volumes: [\"postgres_data:/var/lib/postgresql/data\"]\n", "" },
		{ "    image: postgres:15\n", "pg-data-volume@db" },
		{ "    image: docker.io/library/postgres:15-alpine\n    volumes: [\"./pg:/var/lib/postgresql/data\"]\n",
		  "pg-data-volume@db" },
		{ "    image: postgres\n    volumes: [\"/var/lib/postgresql/data\"]\n", "pg-data-volume@db" },
		{ "    image: postgres:15\n    volumes: [\"pgroot:/var/lib/postgresql\"]\n", "" },
		{ "    image: postgres:15\n    environment: {PGDATA: /data/pg}\n    volumes: [\"postgres_data:/var/lib/postgresql/data\"]\n",
		  "pg-data-volume@db" },
		{ "    image: postgres:15\n    environment: [\"PGDATA=/data/pg\"]\n    volumes: [\"d:/data\"]\n", "" },
		{ "    image: postgis/postgis:15-3.4\n", "pg-data-volume@db" },
		{ "    image: mypostgres-exporter:1\n", "" },
		{ "    image: redis:7\n", "" },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct strbuf sb = STRBUF_INIT;
		struct run r;

		strbuf_addf(&sb, "services:\n  db:\n%s    labels: {ballast.lint.allow: \"non-root,"
			    "no-new-privileges,read-only,cpu-limit,memory-limit,healthcheck,restart,"
			    "logging\"}\n", cases[i].svc);
		lint(sb.buf, &r);
		ck_assert_msg(!strcmp(r.rules, cases[i].want), "case %zu: got '%s' want '%s' (%s)",
			      i, r.rules, cases[i].want, r.e.msg);
		done(&r);
		strbuf_release(&sb);
	}
}
END_TEST

START_TEST(test_lines_point_at_the_problem)
{
	struct run r;

	lint("# comment\n"
	     "services:\n"
	     "  web:\n"
	     "    image: x:1\n"
	     "    user: root\n"
	     "    ports:\n"
	     "      - \"80:80\"\n"
	     "      - \"8080:8080\"\n"
	     "    labels: {ballast.lint.allow: \"no-new-privileges,read-only,cpu-limit,"
	     "memory-limit,healthcheck,restart,logging\"}\n", &r);
	ck_assert_str_eq(r.rules, "non-root@web,ports@web");
	ck_assert_int_eq(r.res.findings[0].line, 5);
	ck_assert_int_eq(r.res.findings[r.res.nr - 1].line, 8);
	/* Missing keys point at the service. */
	ck_assert_int_eq(r.res.findings[1].line, 3);
	done(&r);
}
END_TEST

START_TEST(test_unlintable_files)
{
	static const struct {
		const char *yaml;
		const char *msg;
	} cases[] = {
		{ "services:\n  a: [\n", "t.yml:3:1: invalid YAML" },
		{ "", "t.yml: empty file" },
		{ "- a\n- b\n", "t.yml:1: expected a mapping at the top level" },
		{ "version: \"3\"\n", "services: expected a mapping of services" },
		{ "services: [a, b]\n", "t.yml:1: services: expected a mapping" },
		{ "services:\n  a: nginx\n", "t.yml:2: services.a: expected a mapping" },
		{ "services:\n  a:\n    extends: {service: b}\n  b:\n    image: x\n",
		  "services.a.extends: not resolved" },
		{ "services:\n  a:\n    image: x\n    user: a\n    user: root\n",
		  "t.yml:5: duplicate key 'user' (first at line 4)" },
		{ "x: &x {restart: always}\ny: &y {restart: \"no\"}\nservices:\n  a:\n    <<: *x\n    <<: *y\n",
		  "t.yml:6: duplicate key '<<' (first at line 5)" },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct run r;

		lint(cases[i].yaml, &r);
		ck_assert_msg(r.rc == BL_EUSAGE, "case %zu: rc %d: %s", i, r.rc, r.e.msg);
		ck_assert_msg(strstr(r.e.msg, cases[i].msg), "case %zu: '%s' lacks '%s'", i,
			      r.e.msg, cases[i].msg);
		ck_assert_ptr_null(strchr(r.e.msg, '\n'));
		done(&r);
	}
}
END_TEST

START_TEST(test_files)
{
	struct compose_lint res = COMPOSE_LINT_INIT;
	struct errbuf e = ERRBUF_INIT;
	char *dir = ttmp_dir("lint");
	struct strbuf path = STRBUF_INIT, big = STRBUF_INIT;

	strbuf_addf(&path, "%s/none.yml", dir);
	ck_assert_int_eq(compose_lint_file(path.buf, NULL, &res, &e), BL_EUSAGE);
	ck_assert_msg(strstr(e.msg, path.buf) && strstr(e.msg, "No such file"), "%s", e.msg);
	compose_lint_release(&res);

	/* Too large: refused before parsing, memory stays bounded. */
	strbuf_reset(&path);
	strbuf_addf(&path, "%s/big.yml", dir);
	strbuf_addstr(&big, "services:\n  a:\n    image: x\n");
	while (big.len <= COMPOSE_LINT_MAX_BYTES)
		strbuf_addstr(&big, "# padding padding padding padding padding padding padding\n");
	ck_assert_int_eq(twrite_file(path.buf, big.buf), 0);
	ck_assert_int_eq(compose_lint_file(path.buf, NULL, &res, &e), BL_EUSAGE);
	ck_assert_msg(strstr(e.msg, "too large"), "%s", e.msg);
	compose_lint_release(&res);

	/* The worked example: prod is clean apart from its three labelled
	 * exemptions (traefik runs as root and reads the Docker socket, etl's
	 * /tmp); dev and qa are not. */
	strbuf_reset(&path);
	strbuf_addstr(&path, BALLAST_SOURCE_DIR "/examples/audit_app/docker-compose.prod.yml");
	ck_assert_msg(compose_lint_file(path.buf, NULL, &res, &e) == 0, "%s", e.msg);
	ck_assert_uint_eq(res.services, 6);
	ck_assert_uint_eq(res.violations, 0);
	ck_assert_uint_eq(res.nr, 3);
	compose_lint_release(&res);
	ck_assert_int_eq(compose_lint_file(BALLAST_SOURCE_DIR
					   "/examples/audit_app/docker-compose.dev.yml", NULL, &res, &e),
			 BL_EVERIFY);
	ck_assert_uint_eq(res.services, 6);
	compose_lint_release(&res);

	strbuf_release(&path);
	strbuf_release(&big);
	ttmp_rm(dir);
	free(dir);
}
END_TEST

START_TEST(test_format_and_json)
{
	struct run r;
	struct strbuf sb = STRBUF_INIT;
	json_t *o, *f0;

	lint("services:\n  web:\n    image: x\n    labels: {ballast.lint.allow: \"no-new-privileges,"
	     "cpu-limit,memory-limit,healthcheck,restart,logging\"}\n    user: root\n"
	     "    read_only: true\n", &r);
	ck_assert_str_eq(r.rules, "non-root@web,tmp-tmpfs@web");
	compose_lint_format(&r.res, &sb);
	ck_assert_msg(strstr(sb.buf, "t.yml:5: web: non-root: runs as root (user: \"root\")\n"
				     "    fix: run as an unprivileged uid:gid"), "%s", sb.buf);
	ck_assert_msg(strstr(sb.buf, "web: restart: no restart policy: a crash or a reboot leaves "
				     "it down (allowed by label ballast.lint.allow)\n"), "%s", sb.buf);
	ck_assert_msg(strstr(sb.buf, "t.yml:3: web: image-tag: image \"x\" has no tag (:latest) "
				     "(warning)\n    fix: pin a version tag"), "%s", sb.buf);
	ck_assert_msg(strstr(sb.buf, "t.yml: 2 violations in 1 service, 1 warning (6 allowed by "
				     "label)\n"), "%s", sb.buf);

	o = compose_lint_json(&r.res);
	ck_assert_str_eq(json_string_value(json_object_get(o, "file")), "t.yml");
	ck_assert_int_eq(json_integer_value(json_object_get(o, "violations")), 2);
	ck_assert_int_eq(json_integer_value(json_object_get(o, "allowed")), 6);
	ck_assert(json_is_false(json_object_get(o, "clean")));
	ck_assert_int_eq(json_integer_value(json_object_get(o, "warnings")), 1);
	ck_assert_uint_eq(json_array_size(json_object_get(o, "findings")), 9);
	f0 = json_array_get(json_object_get(o, "findings"), 8);
	ck_assert_str_eq(json_string_value(json_object_get(f0, "severity")), "warning");
	ck_assert_str_eq(json_string_value(json_object_get(f0, "rule")), "image-tag");
	f0 = json_array_get(json_object_get(o, "findings"), 0);
	ck_assert_str_eq(json_string_value(json_object_get(f0, "severity")), "error");
	ck_assert_str_eq(json_string_value(json_object_get(f0, "file")), "t.yml");
	ck_assert_str_eq(json_string_value(json_object_get(f0, "rule")), "non-root");
	ck_assert_str_eq(json_string_value(json_object_get(f0, "service")), "web");
	ck_assert_int_eq(json_integer_value(json_object_get(f0, "line")), 5);
	ck_assert(json_is_false(json_object_get(f0, "allowed")));
	ck_assert_ptr_nonnull(json_string_value(json_object_get(f0, "fix")));
	json_decref(o);
	done(&r);

	strbuf_reset(&sb);
	lint_svc(HARDENED, &r);
	compose_lint_format(&r.res, &sb);
	ck_assert_str_eq(sb.buf, "t.yml: clean, 1 service checked\n");
	o = compose_lint_json(&r.res);
	ck_assert(json_is_true(json_object_get(o, "clean")));
	json_decref(o);
	done(&r);
	strbuf_release(&sb);
}
END_TEST

/* Two services of HARDENED, a and b, with extra lines each. */
static void lint_two(const char *a, const char *b, const struct compose_lint_opts *o,
		     struct run *r)
{
	struct strbuf sb = STRBUF_INIT;

	strbuf_addf(&sb, "services:\n  a:\n" HARDENED "%s  b:\n" HARDENED "%s", a, b);
	lint_opts(sb.buf, o, r);
	strbuf_release(&sb);
}

START_TEST(test_duplicate_ports)
{
	static const struct {
		const char *a, *b, *want;
	} cases[] = {
		{ "    ports: [\"80:80\"]\n", "    ports: [\"80:8080\"]\n", "duplicate-ports@b" },
		/* every address collides with one address; two addresses do not */
		{ "    ports: [\"80:80\"]\n", "    ports: [\"127.0.0.1:80:80\"]\n",
		  "duplicate-ports@b" },
		{ "    ports: [\"127.0.0.1:80:80\"]\n", "    ports: [\"127.0.0.2:80:80\"]\n", "" },
		{ "    ports: [\"[::1]:80:80\"]\n", "    ports: [\"[::1]:80:80\"]\n",
		  "duplicate-ports@b" },
		/* protocols are separate */
		{ "    ports: [\"443:443\"]\n", "    ports: [\"443:443/udp\"]\n", "" },
		{ "    ports: [\"443:443/udp\"]\n", "    ports: [\"443:443/udp\"]\n",
		  "duplicate-ports@b" },
		/* ranges overlap */
		{ "    ports: [\"80:80\", \"443:443\"]\n", "    ports: [\"440-450:440-450\"]\n",
		  "duplicate-ports@b" },
		{ "    ports: [\"80:80\"]\n", "    ports: [\"81-90:81-90\"]\n", "" },
		/* long syntax against short */
		{ "    ports: [\"80:80\"]\n",
		  "    ports:\n      - {target: 8080, published: 80, host_ip: 10.0.0.1}\n",
		  "duplicate-ports@b" },
		/* services of disjoint profiles never run together */
		{ "    ports: [\"80:80\"]\n    profiles: [dev]\n",
		  "    ports: [\"80:80\"]\n    profiles: [test, ci]\n", "" },
		{ "    ports: [\"80:80\"]\n    profiles: [dev, ci]\n",
		  "    ports: [\"80:80\"]\n    profiles: [ci]\n", "duplicate-ports@b" },
		{ "    ports: [\"80:80\"]\n", "    ports: [\"80:80\"]\n    profiles: [ci]\n",
		  "duplicate-ports@b" },
		/* container-only and variable ports publish no fixed host port */
		{ "    ports: [\"80\"]\n", "    ports: [\"80\"]\n", "" },
		{ "    ports: [\"${P}:80\"]\n", "    ports: [\"${P}:80\"]\n", "" },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct run r;
		char want[256];

		lint_two(cases[i].a, cases[i].b, NULL, &r);
		/* the ports rule itself reports what is not 80/443: filter it */
		snprintf(want, sizeof(want), "%s", cases[i].want);
		ck_assert_msg(!!strstr(r.rules, "duplicate-ports") == !!*want &&
			      (!*want || strstr(r.rules, want)), "case %zu: %s", i, r.rules);
		ck_assert_msg(!strstr(r.rules, "duplicate-ports@a"), "case %zu: %s", i, r.rules);
		done(&r);
	}
	/* The message names the other service, its file and line. */
	{
		struct run r;

		lint_two("    ports: [\"80:80\"]\n", "    ports: [\"80:80\"]\n", NULL, &r);
		ck_assert_int_eq(r.rc, BL_EVERIFY);
		ck_assert_uint_eq(r.res.nr, 1);
		ck_assert_str_eq(r.res.findings[0].problem, "host port 80/tcp is already published "
				 "by service a (t.yml:16): one of the containers will not start");
		done(&r);
	}
}
END_TEST

START_TEST(test_container_name)
{
	struct run r;

	lint_two("    container_name: web\n", "    container_name: web\n", NULL, &r);
	ck_assert_str_eq(r.rules, "container-name@b");
	ck_assert_msg(strstr(r.res.findings[0].problem, "already used by service a (t.yml:16)"),
		      "%s", r.res.findings[0].problem);
	done(&r);
	lint_two("    container_name: web\n", "    container_name: api\n", NULL, &r);
	ck_assert_str_eq(r.rules, "");
	done(&r);
	lint_two("    container_name: -web\n", "    container_name: \"my app\"\n", NULL, &r);
	ck_assert_str_eq(r.rules, "container-name@a,container-name@b");
	done(&r);
	lint_two("    container_name: x\n", "    container_name: \"${NAME}\"\n", NULL, &r);
	ck_assert_str_eq(r.rules, "container-name@a");
	done(&r);
	lint_two("    container_name: web\n    profiles: [a]\n",
		 "    container_name: web\n    profiles: [b]\n", NULL, &r);
	ck_assert_str_eq(r.rules, "");
	done(&r);
	/* The label exempts the second holder. */
	lint_two("    container_name: web\n",
		 "    container_name: web\n    labels: {ballast.lint.allow: container-name}\n", NULL,
		 &r);
	ck_assert_str_eq(r.rules, "");
	ck_assert_str_eq(r.allowed, "container-name@b");
	done(&r);
}
END_TEST

START_TEST(test_image_tag)
{
	static const struct {
		const char *image;
		int flagged;
	} cases[] = {
		{ "nginx", 1 },
		{ "nginx:latest", 1 },
		{ "ghcr.io/acme/app:stable", 1 },
		{ "localhost:5000/app", 1 },
		{ "localhost:5000/app:1.2", 0 },
		{ "nginx:1.27", 0 },
		{ "nginx@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", 0 },
		{ "nginx:latest@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", 0 },
		{ "\"${BACKEND_IMAGE}\"", 0 },
		{ "\"acme/app:${TAG:-1}\"", 0 },
		{ "\"${REGISTRY}/app:latest\"", 1 },
	};
	struct compose_lint_opts imm = { 1, NULL, NULL };

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct strbuf sb = STRBUF_INIT;
		struct run r;

		/* HARDENED without its first line (its image): a second image:
		 * key would be refused as a duplicate. */
		strbuf_addf(&sb, "services:\n  s:\n    image: %s\n%s", cases[i].image,
			    strchr(HARDENED, '\n') + 1);
		lint_opts(sb.buf, NULL, &r);
		ck_assert_msg(r.rc == 0, "case %zu: %d %s", i, r.rc, r.e.msg);
		ck_assert_msg(!strcmp(r.warnings, cases[i].flagged ? "image-tag@s" : ""),
			      "case %zu: warnings '%s'", i, r.warnings);
		done(&r);
		lint_opts(sb.buf, &imm, &r);
		ck_assert_msg(r.rc == (cases[i].flagged ? BL_EVERIFY : 0), "case %zu", i);
		ck_assert_str_eq(r.rules, cases[i].flagged ? "image-tag@s" : "");
		ck_assert_str_eq(r.warnings, "");
		done(&r);
		strbuf_release(&sb);
	}
	/* A built image is named, not pulled: a warning even when immutable. */
	{
		struct run r;

		lint_opts("services:\n  s:\n    build: .\n    image: acme/app\n"
			  "    labels: {ballast.lint.allow: \"non-root no-new-privileges read-only "
			  "cpu-limit memory-limit healthcheck restart logging\"}\n", &imm, &r);
		ck_assert_int_eq(r.rc, 0);
		ck_assert_str_eq(r.warnings, "image-tag@s");
		done(&r);
		lint_opts("services:\n  s:\n    build: .\n"
			  "    labels: {ballast.lint.allow: \"non-root no-new-privileges read-only "
			  "cpu-limit memory-limit healthcheck restart logging\"}\n", &imm, &r);
		ck_assert_int_eq(r.rc, 0);
		ck_assert_uint_eq(r.res.nr, 8);
		done(&r);
	}
}
END_TEST

START_TEST(test_unknown_keys)
{
	struct run r;

	lint("x-common: &c\n  restrat: always\n"
	     "verison: \"3\"\n"
	     "services:\n  s:\n    <<: *c\n" HARDENED "    x-mine: 1\n    helthcheck: {}\n"
	     "    deploy:\n      resources:\n        limit: {cpus: \"1\"}\n"
	     "      x-ok: 1\n"
	     "    build: {context: ., dockerfil: Dockerfile}\n"
	     "    ports:\n      - {target: 80, publised: 80}\n"
	     "    volumes:\n      - {type: volume, source: d, target: /d, readonly: true}\n"
	     "networks:\n  n: {drivr: bridge}\nvolumes:\n  d: {external: true, nam: x}\n", &r);
	ck_assert_int_eq(r.rc, BL_EVERIFY);
	ck_assert_str_eq(r.rules, "unknown-key@-,unknown-key@-,unknown-key@-,unknown-key@s,"
			 "unknown-key@s,unknown-key@s,unknown-key@s,unknown-key@s,"
			 "unknown-key@s,ports@s");
	ck_assert_str_eq(r.res.findings[0].problem, "verison: unknown key (compose refuses the file)");
	ck_assert_str_eq(r.res.findings[0].fix, "did you mean \"version\"? (extensions start with x-)");
	ck_assert_int_eq(r.res.findings[0].line, 3);
	ck_assert_ptr_null(r.res.findings[0].service);
	ck_assert_str_eq(r.res.findings[1].problem, "networks.n.drivr: unknown key (compose "
			 "refuses the file)");
	ck_assert_str_eq(r.res.findings[2].problem, "volumes.d.nam: unknown key (compose refuses "
			 "the file)");
	/* the merged key is reported where it is written */
	ck_assert_str_eq(r.res.findings[3].problem, "services.s.restrat: unknown key (compose "
			 "refuses the file)");
	ck_assert_int_eq(r.res.findings[3].line, 2);
	ck_assert_str_eq(r.res.findings[3].fix, "did you mean \"restart\"? (extensions start with x-)");
	ck_assert_str_eq(r.res.findings[4].problem, "services.s.helthcheck: unknown key (compose "
			 "refuses the file)");
	ck_assert_str_eq(r.res.findings[5].problem, "services.s.deploy.resources.limit: unknown key "
			 "(compose refuses the file)");
	ck_assert_str_eq(r.res.findings[6].problem, "services.s.build.dockerfil: unknown key "
			 "(compose refuses the file)");
	ck_assert_str_eq(r.res.findings[7].problem, "services.s.ports.publised: unknown key "
			 "(compose refuses the file)");
	ck_assert_str_eq(r.res.findings[8].problem, "services.s.volumes.readonly: unknown key "
			 "(compose refuses the file)");
	done(&r);
	/* Far from every known key: no guess. */
	lint_svc(HARDENED "    frobnicate: 1\n", &r);
	ck_assert_str_eq(r.rules, "unknown-key@s");
	ck_assert_str_eq(r.res.findings[0].fix, "remove it, or prefix it with x- if it is an "
			 "extension for another tool");
	done(&r);
}
END_TEST

/* In-memory files for includes: name, text, ... NULL. */
static int read_mem(void *ctx, const char *path, struct strbuf *out, size_t max, int *exists,
		    struct errbuf *e)
{
	const char *const *f = ctx;

	(void)max;
	(void)e;
	*exists = 0;
	for (; *f; f += 2) {
		if (!strcmp(*f, path)) {
			*exists = 1;
			strbuf_addstr(out, f[1]);
		}
	}
	return 0;
}

START_TEST(test_include)
{
	static const char *const files[] = {
		"proj/db/db.yml", "services:\n  db:\n" HARDENED "    container_name: web\n"
				  "    ports: [\"127.0.0.1:5432:5432\"]\n    restrat: always\n",
		"proj/cache.yml", "include:\n  - path: ./db/../db/db.yml\n",
		"proj/loop/a.yml", "include: [b.yml]\nservices: {}\n",
		"proj/loop/b.yml", "include: [./a.yml]\n",
		"proj/dup.yml", "services:\n  web:\n" HARDENED,
		NULL
	};
	struct compose_lint_opts o = { 0, read_mem, (void *)files };
	struct run r;

	memset(&r, 0, sizeof(r));
	/* The included services are linted with their own file and lines, and
	 * take part in the project-wide checks. */
	r.rc = compose_lint_string("include:\n  - cache.yml\nservices:\n  web:\n" HARDENED
				   "    container_name: web\n    ports: [\"5432:5432\"]\n",
				   strlen("include:\n  - cache.yml\nservices:\n  web:\n" HARDENED
					  "    container_name: web\n    ports: [\"5432:5432\"]\n"),
				   "proj/compose.yml", &o, &r.res, &r.e);
	ck_assert_int_eq(r.rc, BL_EVERIFY);
	ck_assert_uint_eq(r.res.services, 2);
	ck_assert_uint_eq(r.res.nr, 5);
	ck_assert_str_eq(r.res.findings[0].rule, "ports");
	ck_assert_str_eq(r.res.findings[1].file, "proj/db/db.yml");
	ck_assert_str_eq(r.res.findings[1].rule, "unknown-key");
	ck_assert_int_eq(r.res.findings[1].line, 18);
	ck_assert_str_eq(r.res.findings[2].rule, "ports");
	ck_assert_str_eq(r.res.findings[3].rule, "duplicate-ports");
	ck_assert_str_eq(r.res.findings[3].service, "db");
	ck_assert_int_eq(r.res.findings[3].line, 17);
	ck_assert_msg(strstr(r.res.findings[3].problem, "by service web (proj/compose.yml:19)"),
		      "%s", r.res.findings[3].problem);
	ck_assert_str_eq(r.res.findings[4].rule, "container-name");
	done(&r);

	static const struct {
		const char *yaml, *msg;
	} bad[] = {
		{ "include: [loop/a.yml]\n", "proj/loop/b.yml:1: include: proj/loop/a.yml is included "
		  "again (a cycle: proj/x.yml -> proj/loop/a.yml -> proj/loop/b.yml -> "
		  "proj/loop/a.yml)" },
		{ "include:\n  - none.yml\n", "proj/x.yml:2: include: proj/none.yml: no such file" },
		{ "include: [\"oci://docker.io/acme/app:1\"]\n", "a remote include is not followed" },
		{ "include:\n  - path: [a.yml, b.yml]\n", "a path list of 2 files is merged as "
		  "overrides" },
		{ "include: [dup.yml]\nservices:\n  web:\n" HARDENED, "proj/dup.yml:2: services.web: "
		  "already defined in proj/x.yml:3" },
		{ "include: cache.yml\n", "proj/x.yml:1: include: expected a list of files" },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		memset(&r, 0, sizeof(r));
		r.rc = compose_lint_string(bad[i].yaml, strlen(bad[i].yaml), "proj/x.yml", &o,
					   &r.res, &r.e);
		ck_assert_msg(r.rc == BL_EUSAGE, "case %zu: rc %d: %s", i, r.rc, r.e.msg);
		ck_assert_msg(strstr(r.e.msg, bad[i].msg), "case %zu: '%s' lacks '%s'", i,
			      r.e.msg, bad[i].msg);
		done(&r);
	}
}
END_TEST

START_TEST(test_rules_table)
{
	const struct compose_rule *r = compose_lint_rules();
	size_t n = 0;

	for (; r[n].id; n++)
		ck_assert_ptr_nonnull(r[n].summary);
	ck_assert_uint_eq(n, 22);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("compose_lint");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, test_hardened_is_clean);
	tcase_add_test(tc, test_empty_service_breaks_everything_basic);
	tcase_add_loop_test(tc, test_one_rule_at_a_time, 0,
			    (int)(sizeof(variants) / sizeof(variants[0])));
	tcase_add_test(tc, test_healthcheck_none_and_logging);
	tcase_add_test(tc, test_anchors_aliases_and_merge_keys);
	tcase_add_test(tc, test_merge_cycle_terminates);
	tcase_add_test(tc, test_allow_label);
	tcase_add_test(tc, test_allow_label_typo_is_an_error);
	tcase_add_test(tc, test_writable_paths);
	tcase_add_test(tc, test_pg_data_volume);
	tcase_add_test(tc, test_lines_point_at_the_problem);
	tcase_add_test(tc, test_unlintable_files);
	tcase_add_test(tc, test_files);
	tcase_add_test(tc, test_format_and_json);
	tcase_add_test(tc, test_duplicate_ports);
	tcase_add_test(tc, test_container_name);
	tcase_add_test(tc, test_image_tag);
	tcase_add_test(tc, test_unknown_keys);
	tcase_add_test(tc, test_include);
	tcase_add_test(tc, test_rules_table);
	suite_add_tcase(s, tc);
	return trun_suite(s);
}
