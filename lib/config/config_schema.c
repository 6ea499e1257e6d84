#include "config_schema.h"

#include <stddef.h>
#include <string.h>
#include <strings.h>

#define F(k, t) { k, t, NULL, NULL, NULL, 0, 0, 0, NULL }
#define OBJ(k, f) { k, SCHEMA_OBJECT, f, NULL, NULL, 0, 0, 0, NULL }
#define ARR(k, i) { k, SCHEMA_ARRAY, NULL, i, NULL, 0, 0, 0, NULL }
#define MAP(k, i) { k, SCHEMA_MAP, NULL, i, NULL, 0, 0, 0, NULL }
#define ONE(k, v) { k, SCHEMA_STRING, NULL, NULL, v, 0, 0, 0, NULL }
#define END { NULL, SCHEMA_END, NULL, NULL, NULL, 0, 0, 0, NULL }
/* An integer that must lie in lo..hi: a value outside fails at load,
 * naming its path, instead of when a run reaches it. */
#define INT(k, lo, hi) { k, SCHEMA_INT, NULL, NULL, NULL, 1, lo, hi, NULL }

static const char *const repo_types[] = { "local", "sftp", "s3", NULL };
static const char *const transport_types[] = { "local", "ssh", "openssh", NULL };
static const char *const host_key_policies[] = { "strict", "accept-new", NULL };
static const char *const restore_sessions_modes[] = { "terminate", "wait", NULL };
static const char *const row_count_modes[] = { "exact", "estimate", "off", NULL };
static const char *const database_modes[] = { "logical", "physical", NULL };
static const char *const on_failure_modes[] = { "rollback", "none", NULL };
static const char *const data_restore_modes[] = { "never", "if-irreversible", "always", NULL };
static const char *const snapshot_modes[] = { "restore-point", NULL };
static const char *const drill_pitr_modes[] = { "latest", "off", NULL };

static const struct schema repository_fields[] = {
	ONE("type", repo_types),
	F("path", SCHEMA_STRING),
	/* sftp */
	F("host", SCHEMA_STRING),
	INT("port", 1, 65535),
	F("user", SCHEMA_STRING),
	F("key", SCHEMA_STRING),
	F("passphrase_env", SCHEMA_STRING),
	F("known_hosts", SCHEMA_STRING),
	ONE("host_key_policy", host_key_policies),
	/* s3 */
	F("endpoint", SCHEMA_STRING),
	F("region", SCHEMA_STRING),
	F("bucket", SCHEMA_STRING),
	F("prefix", SCHEMA_STRING),
	F("access_key_env", SCHEMA_STRING),
	F("secret_key_env", SCHEMA_STRING),
	F("session_token_env", SCHEMA_STRING),
	F("path_style", SCHEMA_BOOL),
	F("ca_file", SCHEMA_STRING),
	F("part_size", SCHEMA_INT),
	INT("max_keys", 1, 1000),
	/* sftp and s3 */
	INT("retries", 0, 100),
	F("timeout", SCHEMA_DURATION),
	END
};

/* ballast-backup wal-stream (lib/backup/walstream.h) */
static const struct schema wal_stream_fields[] = {
	F("slot", SCHEMA_STRING),
	F("spool_dir", SCHEMA_STRING),
	F("max_slot_lag", SCHEMA_STRING),
	F("receivewal_command", SCHEMA_STRINGS),
	F("partial_interval", SCHEMA_DURATION),
	F("stall_timeout", SCHEMA_DURATION),
	END
};

static const struct schema database_fields[] = {
	F("name", SCHEMA_STRING),
	F("conninfo", SCHEMA_STRING),
	F("password_env", SCHEMA_STRING),
	F("dump_command", SCHEMA_STRINGS),
	F("restore_command", SCHEMA_STRINGS),
	ONE("row_counts", row_count_modes),
	F("exclude_tables", SCHEMA_STRINGS),
	ONE("restore_sessions", restore_sessions_modes),
	F("restore_wait", SCHEMA_DURATION),
	F("lock_wait_timeout", SCHEMA_DURATION),
	/* the Docker container the server runs in (lib/backup/dbconn.h) */
	F("container", SCHEMA_STRING),
	/* physical: base backups and WAL for point-in-time restores (docs/pitr.md) */
	ONE("mode", database_modes),
	F("basebackup_command", SCHEMA_STRINGS),
	F("pg_bindir", SCHEMA_STRING),
	OBJ("wal_stream", wal_stream_fields),
	END
};
static const struct schema database_item = OBJ(NULL, database_fields);

static const struct schema volume_fields[] = {
	F("name", SCHEMA_STRING),
	F("path", SCHEMA_STRING),
	F("exclude", SCHEMA_STRINGS),
	F("before", SCHEMA_STRINGS),
	F("after", SCHEMA_STRINGS),
	END
};
static const struct schema volume_item = OBJ(NULL, volume_fields);

static const struct schema compression_fields[] = {
	INT("level", 1, 19),
	INT("threads", 0, 256),
	END
};

static const struct schema retention_fields[] = {
	INT("keep_last", 0, 1000000),
	INT("keep_hourly", 0, 1000000),
	INT("keep_daily", 0, 1000000),
	INT("keep_weekly", 0, 1000000),
	INT("keep_monthly", 0, 1000000),
	INT("keep_yearly", 0, 1000000),
	F("incomplete_grace", SCHEMA_DURATION),
	F("kept_databases", SCHEMA_DURATION),
	F("kept_volumes", SCHEMA_DURATION),
	END
};

static const char *const notify_on_values[] = { "failure", "success", NULL };
static const struct schema notify_on_item = ONE(NULL, notify_on_values);

static const struct schema notify_fields[] = {
	F("webhook", SCHEMA_STRING),
	F("ping", SCHEMA_STRING),
	ARR("on", &notify_on_item),
	F("timeout", SCHEMA_DURATION),
	END
};

/* Client-side encryption (docs/encryption.md): recipients or a passphrase
 * to write, identities to read. Key strings are checked when the
 * repository opens (lib/storage/repo_crypt.c), where the key can be named. */
static const struct schema encryption_fields[] = {
	F("recipients", SCHEMA_STRINGS),
	F("passphrase_env", SCHEMA_STRING),
	F("scrypt_work_factor", SCHEMA_INT),
	F("identity_file", SCHEMA_STRING),
	F("identity_env", SCHEMA_STRING),
	F("identity_command", SCHEMA_STRINGS),
	END
};

static const struct schema metrics_fields[] = {
	F("textfile", SCHEMA_STRING),
	END
};

static const struct schema migrations_fields[] = {
	F("dir", SCHEMA_STRING),
	F("database", SCHEMA_STRING),
	F("schema", SCHEMA_STRING),
	F("table", SCHEMA_STRING),
	F("lock_timeout", SCHEMA_DURATION),
	F("statement_timeout", SCHEMA_DURATION),
	F("lock_wait", SCHEMA_DURATION),
	F("strict_transactions", SCHEMA_BOOL),
	END
};

static const struct schema string_item = F(NULL, SCHEMA_STRING);

static const struct schema ssh_option_item = {
	NULL, SCHEMA_STRING, NULL, NULL, NULL, 0, 0, 0, config_ssh_option_refused
};

/* "ssh" (libssh2) takes key and passphrase_env; "openssh" (the system ssh
 * client) takes config_file, identity and options; the type-specific ones
 * are refused on the other type when the transport opens. */
static const struct schema transport_fields[] = {
	ONE("type", transport_types),
	F("host", SCHEMA_STRING),
	INT("port", 1, 65535),
	F("user", SCHEMA_STRING),
	F("key", SCHEMA_STRING),
	F("passphrase_env", SCHEMA_STRING),
	F("known_hosts", SCHEMA_STRING),
	ONE("host_key_policy", host_key_policies),
	F("config_file", SCHEMA_STRING),
	F("identity", SCHEMA_STRING),
	ARR("options", &ssh_option_item),
	END
};

static const struct schema health_fields[] = {
	F("url", SCHEMA_STRING),
	INT("status", 100, 599),
	F("body", SCHEMA_STRING),
	F("timeout", SCHEMA_DURATION),
	F("interval", SCHEMA_DURATION),
	F("deadline", SCHEMA_DURATION),
	F("stable_for", SCHEMA_DURATION),
	F("ca_file", SCHEMA_STRING),
	F("insecure", SCHEMA_BOOL),
	END
};
static const struct schema health_item = OBJ(NULL, health_fields);

static const struct schema hook_item = { NULL, SCHEMA_STRING_OR_STRINGS, NULL, NULL, NULL, 0, 0, 0, NULL };

/* the server a rollback to a restore point stops, restores and starts
 * (lib/deploy/deploy_pitr.c) */
static const struct schema env_pitr_fields[] = {
	F("database", SCHEMA_STRING),
	F("data_dir", SCHEMA_STRING),
	F("volume", SCHEMA_STRING),
	F("service", SCHEMA_STRING),
	F("stop_command", SCHEMA_STRINGS),
	F("start_command", SCHEMA_STRINGS),
	F("archive_wait", SCHEMA_DURATION),
	END
};

static const struct schema environment_fields[] = {
	OBJ("transport", transport_fields),
	F("app_dir", SCHEMA_STRING),
	F("compose_file", SCHEMA_STRING),
	F("env_file", SCHEMA_STRING),
	F("project_name", SCHEMA_STRING),
	F("compose_command", SCHEMA_STRINGS),
	MAP("images", &string_item),
	F("refs", SCHEMA_STRINGS),
	F("tag", SCHEMA_STRING),
	{ "snapshot", SCHEMA_BOOL_OR_ONE, NULL, NULL, snapshot_modes, 0, 0, 0, NULL },
	OBJ("pitr", env_pitr_fields),
	ONE("on_failure", on_failure_modes),
	ONE("data_restore", data_restore_modes),
	F("lint", SCHEMA_BOOL),
	F("lock_ttl", SCHEMA_DURATION),
	F("min_free", SCHEMA_STRING),
	ARR("health", &health_item),
	MAP("hooks", &hook_item),
	F("backup_command", SCHEMA_STRINGS),
	F("migrate_command", SCHEMA_STRINGS),
	F("config", SCHEMA_STRING),
	F("hook_timeout", SCHEMA_DURATION),
	F("compose_timeout", SCHEMA_DURATION),
	F("stop_grace", SCHEMA_DURATION),
	F("restore_stop_services", SCHEMA_STRINGS),
	F("docker_command", SCHEMA_STRINGS),
	F("migrations_dir", SCHEMA_STRING),
	INT("releases_keep", 2, 1000),
	F("immutable", SCHEMA_BOOL),
	END
};
static const struct schema environment_item = OBJ(NULL, environment_fields);

/* ballast-backup drill (lib/backup/drill.h) */
static const struct schema drill_fields[] = {
	/* where point-in-time drills extract base backups */
	F("scratch_dir", SCHEMA_STRING),
	/* a base backup item in a plain drill: recovered to the end of the
	 * archive, or only its object checked */
	ONE("pitr", drill_pitr_modes),
	END
};

static const struct schema root_fields[] = {
	F("project", SCHEMA_STRING),
	F("state_dir", SCHEMA_STRING),
	OBJ("repository", repository_fields),
	OBJ("encryption", encryption_fields),
	ARR("databases", &database_item),
	ARR("volumes", &volume_item),
	OBJ("compression", compression_fields),
	OBJ("retention", retention_fields),
	OBJ("notify", notify_fields),
	OBJ("metrics", metrics_fields),
	OBJ("drill", drill_fields),
	OBJ("migrations", migrations_fields),
	MAP("images", &string_item),
	MAP("environments", &environment_item),
	END
};

const struct schema config_schema_root = OBJ(NULL, root_fields);

int config_name_valid(const char *name)
{
	size_t n = 0;

	if (!name || !*name || !strcmp(name, ".") || !strcmp(name, ".."))
		return 0;
	for (const char *p = name; *p; p++, n++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		      (*p >= '0' && *p <= '9') || *p == '_' || *p == '-' || *p == '.'))
			return 0;
	return n <= CONFIG_NAME_MAX;
}

const char *config_ssh_option_refused(const char *option)
{
	static const char *const runs[] = {
		"ProxyCommand", "LocalCommand", "PermitLocalCommand", "KnownHostsCommand",
		"RemoteCommand", "Match", "Include", NULL
	};
	static const char *const owned[] = {
		"ControlMaster", "ControlPath", "ControlPersist", "BatchMode", "RequestTTY",
		"SessionType", "StdinNull", "ForkAfterAuthentication", "ClearAllForwardings",
		"EscapeChar", NULL
	};
	size_t n = 0;

	for (const char *p = option; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			return "expected one line \"Key=Value\" (control characters are not allowed)";
	while ((option[n] >= 'a' && option[n] <= 'z') || (option[n] >= 'A' && option[n] <= 'Z'))
		n++;
	if (!n || (option[n] != '=' && option[n] != ' ') || !option[n + 1])
		return "expected \"Key=Value\", an ssh_config(5) option as ssh -o takes it";
	for (const char *const *k = runs; *k; k++)
		if (strlen(*k) == n && !strncasecmp(option, *k, n))
			return "refused: it runs or reads commands or other config; put it in the ssh config file (config_file)";
	for (const char *const *k = owned; *k; k++)
		if (strlen(*k) == n && !strncasecmp(option, *k, n))
			return "refused: ballast sets it (one multiplexed, non-interactive connection)";
	if (n == strlen("StrictHostKeyChecking") && !strncasecmp(option, "StrictHostKeyChecking", n))
		return "refused: use host_key_policy (\"strict\" or \"accept-new\")";
	return NULL;
}
