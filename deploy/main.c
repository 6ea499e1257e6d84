#include "commands.h"

static const struct cli_command commands[] = {
	{ "deploy", cmd_deploy, "snapshot, pull, migrate, up and verify a release",
	  "deploy ENV --release TAG [--dry-run] [--lock-wait SECONDS]" },
	{ "rollback", cmd_rollback, "go back to the previous (or a given) release",
	  "rollback ENV [--to RELEASE]" },
	{ "plan", cmd_plan, "print the steps and commands a deploy would run",
	  "plan ENV --release TAG" },
	{ "status", cmd_status, "current release, images, schema version, last backup, lock",
	  "status ENV" },
	{ "history", cmd_history, "past deploys and rollbacks of an environment",
	  "history ENV" },
	{ "lock", cmd_lock, "show, take or release the deploy lock",
	  "lock ENV status|acquire -m MSG|release [--force]" },
	{ "check", cmd_check, "run the preflight checks only",
	  "check ENV" },
	{ "lint", cmd_lint, "check a compose file against the hardening rules",
	  "lint ENV|--file COMPOSE" },
	{ "tag-for-ref", cmd_tag_for_ref, "print the image tag a git ref deploys as",
	  "tag-for-ref REF" },
	{ "env-for-ref", cmd_env_for_ref, "print the environment a git ref deploys to",
	  "env-for-ref REF" },
	{ NULL, NULL, NULL, NULL }
};

int main(int argc, char **argv)
{
	return cli_main("ballast-deploy",
			"Deploy a release of a Docker Compose stack to an environment, and roll it back, schema and data included.",
			commands, argc, argv);
}
