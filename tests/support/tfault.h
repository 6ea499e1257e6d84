/*
 * tfault: helpers for the fault suites (tests/faults/): a seeded random
 * source whose seed is printed for replay, iteration counts overridable
 * from the environment, scratch projects on a local or an S3 repository,
 * and direct access to the repository through repo.h to see what the
 * commands leave behind.
 *
 * Contract: as tbackup.h, every helper asserts on failure. The random
 * source is one sequence per process: ft_seed() first, then ft_rand().
 */
#ifndef BALLAST_TFAULT_H
#define BALLAST_TFAULT_H

#include <jansson.h>

#include "tbackup.h"

struct repo;

/* Seed from $BALLAST_FAULT_SEED, else the clock; printed so a failure can
 * be replayed exactly. */
unsigned long long ft_seed(const char *suite);
/* Restart the sequence at seed, silently: fixtures that must be the same
 * on every run (a volume's bytes) whatever the suite's seed. */
void ft_reseed(unsigned long long seed);
/* xorshift64*: the same sequence for the same seed on every machine. */
unsigned long long ft_rand(void);
/* Uniform in [0, n); n > 0. */
long long ft_below(long long n);
/* $var as a positive count (iterations a soak may raise), else dflt. */
int ft_count(const char *var, int dflt);
/* A scratch project on repository spec (a JSON object, stolen; NULL: a
 * local repository in <dir>/repo), with the given "databases" and "volumes"
 * JSON (volumes may be NULL). */
void ft_proj(struct proj *p, const char *tag, json_t *spec, const char *dbs, const char *vols);
/* An S3 repository spec under a fresh prefix of the test bucket (new
 * reference); the credentials travel by environment variable names, set
 * here for this process and handed to the children through ft_env
 * ("NAME=value" entries) and ftb(). */
json_t *ft_spec_s3(const char *tag);
extern const char *ft_env[];
/* The project's repository, opened the way the binaries open it. */
struct repo *ft_repo(const struct proj *p);
/* Temporary objects under the project, as the repository lists them. */
int ft_tmp_objects(const struct proj *p);
/* A volume directory under dir: n small text files in nested directories,
 * a symlink, and one incompressible file of big bytes (so archiving and
 * storing it takes a moment). Returns the "volumes" JSON (caller frees). */
char *ft_volume(const char *dir, int n, long big);
/* ballast-backup with the S3 credentials in its environment. */
#define ftb(p, out, err, ...) bb_env(p, ft_env, out, err, __VA_ARGS__, (const char *)NULL)

#endif
