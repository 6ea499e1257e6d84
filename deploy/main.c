#include "commands.h"

static const struct cli_command commands[] = {
	{ "deploy", cmd_deploy, "snapshot, pull, migrate, up and verify a release",
	  "deploy ENV --release TAG [--bundle PATH | --migrations DIR] [--lock-wait SECONDS]\n"
	  "           [--dry-run] [--allow-mutable]\n\n"
	  "With --bundle, stage the CI-built bundle under <app_dir>/.ballast/incoming/ first\n"
	  "(before the lock; nothing outside .ballast/ changes until the lock is held). Then\n"
	  "lock, preflight, snapshot, bundle (the compose and env files as deployed, kept under\n"
	  "<app_dir>/.ballast/releases/TAG/), upload migrations, pull, pin (every service's\n"
	  "image to its digest), migrate, up (from the bundle, pinned), verify, record;\n"
	  "on a failure after migrate began: schema down (or data restore), the previous\n"
	  "release's bundle up, verify. Last line and exit status: deployed (0), rolled-back or\n"
	  "rolled-back-with-restore (1), failed-needs-attention (4); aborted before any\n"
	  "change: 1 (2 for bad input, 3 when locked)." },
	{ "rollback", cmd_rollback, "go back to the previous (or a given) release",
	  "rollback ENV [--to RELEASE] [--lock-wait SECONDS]\n\n"
	  "Complete an interrupted deploy, or go back to the previous release (or RELEASE,\n"
	  "any kept one): its bundle is proven first (every file's sha256), then the schema\n"
	  "goes down to its version (restore the snapshot if refused and allowed), and compose\n"
	  "runs the bundle's compose file and env file with every image pinned to the digest\n"
	  "recorded at deploy time; verify. Exit 0 when verified, 4 when not or when the\n"
	  "bundle is incomplete or altered, 2 for a release never deployed or no longer kept." },
	{ "plan", cmd_plan, "print the steps and commands a deploy would run",
	  "plan ENV --release TAG [--bundle PATH | --migrations DIR]\n\n"
	  "Print every step and the exact command a deploy would run; runs nothing\n"
	  "(it reads state.json on the target)." },
	{ "status", cmd_status, "current release, images, schema version, last backup, lock",
	  "status ENV\n\n"
	  "Current release, images, schema version, last good backup, lock, and an\n"
	  "unfinished deploy if there is one." },
	{ "history", cmd_history, "past deploys and rollbacks of an environment",
	  "history ENV [-n COUNT]\n\n"
	  "Past deploys and rollbacks, oldest first (last 20; -n 0 for all)." },
	{ "releases", cmd_releases, "the release bundles kept on the target",
	  "releases ENV\n\n"
	  "The release bundles kept under <app_dir>/.ballast/releases/, oldest first: release,\n"
	  "current or previous, when it last ran, the last result, schema version and every\n"
	  "service's image digest. An incomplete bundle (no bundle.json) is marked: rollback\n"
	  "refuses it. environments.ENV.releases_keep (default 5) bundles stay after each\n"
	  "successful deploy: the current and the previous release's always, then the newest." },
	{ "lock", cmd_lock, "show, take or release the deploy lock",
	  "lock ENV status|acquire -m MSG [--ttl DURATION]|release [--force]\n\n"
	  "acquire takes the lock for operators (no expiry unless --ttl); release\n"
	  "frees an operator lock, or with --force a run's lock. Exit 3 when held." },
	{ "check", cmd_check, "run the preflight checks only",
	  "check ENV\n\n"
	  "Preflight only: connection, app dir, compose and env files, disk space, compose,\n"
	  "ballast binaries and schema on the target, current health; then every kept release\n"
	  "bundle's pinned images, on the target's engine or in their registry. Exit 1 when a\n"
	  "check fails, 4 when only the health check does." },
	{ "lint", cmd_lint, "check a compose file against the hardening and correctness rules",
	  "lint ENV|--file COMPOSE" },
	{ "tag-for-ref", cmd_tag_for_ref, "print the image tag a git ref deploys as",
	  "tag-for-ref REF\n\n"
	  "Print the image tag a git ref deploys as (develop -> dev, qa and release/* -> qa,\n"
	  "main -> latest, vX.Y.Z and vX.Y.Z-rc1 -> themselves, unless environments.*.refs\n"
	  "say otherwise). Exit 1 when the ref deploys nowhere, 2 when the config is broken." },
	{ "env-for-ref", cmd_env_for_ref, "print the environment a git ref deploys to",
	  "env-for-ref REF\n\n"
	  "Print the environment a git ref deploys to (develop -> dev, qa, release/* and\n"
	  "vX.Y.Z-rc1 -> qa, main and vX.Y.Z -> prod, unless environments.*.refs say\n"
	  "otherwise). Exit 1 when the ref deploys nowhere, 2 when the config is broken." },
	{ NULL, NULL, NULL, NULL }
};

int main(int argc, char **argv)
{
	return cli_main("ballast-deploy",
			"Deploy a release of a Docker Compose stack to an environment, and roll it back, schema and data included.",
			commands, argc, argv);
}
