/*
 * config_schema: the shape of ballast.json, as data.
 *
 * Contract: a node describes one JSON value. Objects list their fields
 * (NULL-terminated by key); maps ("environments", "images") and arrays give
 * the schema of each value in `item`. Features that need new keys add them
 * here and only here.
 */
#ifndef BALLAST_CONFIG_SCHEMA_H
#define BALLAST_CONFIG_SCHEMA_H

enum schema_type {
	SCHEMA_END = 0,
	SCHEMA_STRING,
	SCHEMA_INT,       /* integer, or a string of digits after interpolation */
	SCHEMA_BOOL,
	SCHEMA_DURATION,  /* "5s", "500ms", "0" */
	SCHEMA_OBJECT,
	SCHEMA_MAP,       /* object with free keys; values match item */
	SCHEMA_ARRAY,     /* values match item */
	SCHEMA_STRINGS,   /* array of strings */
	SCHEMA_STRING_OR_STRINGS,
	SCHEMA_BOOL_OR_ONE /* true, false, or one of oneof's strings */
};

struct schema {
	const char *key;
	enum schema_type type;
	const struct schema *fields;  /* SCHEMA_OBJECT */
	const struct schema *item;    /* SCHEMA_MAP, SCHEMA_ARRAY */
	const char *const *oneof;     /* allowed string values, NULL-terminated */
	int ranged;                   /* SCHEMA_INT: min..max apply */
	long long min, max;
	/* SCHEMA_STRING: a check of the value beyond its type; returns NULL
	 * when it is fine, else why not (the message after the field's path) */
	const char *(*check)(const char *value);
};

extern const struct schema config_schema_root;

/* The one rule for names that become part of a key or a path (project,
 * databases[].name, volumes[].name, label keys): 1 to 100 letters, digits,
 * '_', '-' or '.', and not "." or "..". */
#define CONFIG_NAME_MAX 100
int config_name_valid(const char *name);

/* The check of transport.options[] (type "openssh"), one "Key=Value" as
 * ssh -o takes it: NULL when it may be given, else why not. Options that
 * run a local command (ProxyCommand, LocalCommand, KnownHostsCommand, Match
 * exec...) belong in the ssh config file (config_file); the ones ballast
 * sets itself (the master connection, BatchMode) and host key checking
 * (host_key_policy) cannot be overridden here. */
const char *config_ssh_option_refused(const char *option);

#endif
