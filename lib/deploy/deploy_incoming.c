#include "deploy_incoming.h"

#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "deploy_lock.h"
#include "deploy_state.h"
#include "envfile.h"
#include "fsutil.h"
#include "interrupt.h"
#include "log.h"
#include "randhex.h"
#include "transport.h"
#include "xalloc.h"
#include "zstream.h"

#define WALK_DEPTH_MAX 32

static const char *base_name(const char *p)
{
	const char *s = strrchr(p, '/');

	return s ? s + 1 : p;
}

/* A configured path (relative to app_dir, or absolute) as it is named in
 * the bundle: the same relative path, or the base name of an absolute one. */
static char *bundle_name(const char *configured, const char *suffix)
{
	struct strbuf sb = STRBUF_INIT;

	if (configured[0] == '/')
		configured = base_name(configured);
	while (!strncmp(configured, "./", 2))
		configured += 2;
	strbuf_addf(&sb, "%s%s", configured, suffix);
	return strbuf_detach(&sb, NULL);
}

/* ---- the archive ---- */

/* An entry's name made relative ("./a" -> "a", "./" and "" -> ""), or an
 * error naming it when it could leave the extraction root. */
static int clean_name(const char *source, const char *name, struct strbuf *out, struct errbuf *e)
{
	switch (fs_path_inside(name, out)) {
	case FS_PATH_ABSOLUTE:
		return errbuf_set(e, BL_EUSAGE, "bundle %s: entry \"%s\": an absolute path; only paths inside the bundle are allowed",
				  source, name);
	case FS_PATH_DOTDOT:
		return errbuf_set(e, BL_EUSAGE, "bundle %s: entry \"%s\": a \"..\" component; only paths inside the bundle are allowed",
				  source, name);
	case FS_PATH_EMPTY:  /* the root, like "./": skipped by the caller */
	case FS_PATH_INSIDE:
		break;
	}
	return 0;
}

static const char *kind_name(mode_t type)
{
	switch (type) {
	case AE_IFLNK: return "a symlink";
	case AE_IFCHR: return "a character device";
	case AE_IFBLK: return "a block device";
	case AE_IFIFO: return "a fifo";
	case AE_IFSOCK: return "a socket";
	default: return "not a regular file or directory";
	}
}

static int archive_failed(const char *source, struct archive *a, struct errbuf *e)
{
	const char *msg = archive_error_string(a);

	return errbuf_set(e, BL_EUSAGE, "bundle %s: not a readable tar archive: %s", source,
			  msg ? msg : "read error");
}

static int extract_entries(const char *source, struct archive *rd, struct archive *dw,
			   struct errbuf *e)
{
	struct strbuf name = STRBUF_INIT;
	struct archive_entry *ent;
	long n = 0;
	int rc = 0, r;

	for (;;) {
		const char *raw;
		mode_t type;

		if (interrupt_signal) {
			rc = interrupt_check_what(e, "bundle %s", source);
			break;
		}
		r = archive_read_next_header(rd, &ent);
		if (r == ARCHIVE_EOF)
			break;
		if (r < ARCHIVE_WARN) {
			rc = archive_failed(source, rd, e);
			break;
		}
		raw = archive_entry_pathname(ent);
		if (!raw) {
			rc = errbuf_set(e, BL_EUSAGE, "bundle %s: entry %ld has no name", source, n + 1);
			break;
		}
		if (++n > DEPLOY_INCOMING_ENTRIES_MAX) {
			rc = errbuf_set(e, BL_EUSAGE, "bundle %s: more than %d entries", source,
					DEPLOY_INCOMING_ENTRIES_MAX);
			break;
		}
		if ((rc = clean_name(source, raw, &name, e)))
			break;
		type = archive_entry_filetype(ent);
		if (archive_entry_hardlink(ent)) {
			rc = errbuf_set(e, BL_EUSAGE, "bundle %s: entry \"%s\": a hard link; only regular files and directories are allowed",
					source, raw);
			break;
		}
		if (type != AE_IFREG && type != AE_IFDIR) {
			rc = errbuf_set(e, BL_EUSAGE, "bundle %s: entry \"%s\": %s; only regular files and directories are allowed",
					source, raw, kind_name(type));
			break;
		}
		if (type == AE_IFREG && archive_entry_size(ent) > DEPLOY_INCOMING_FILE_MAX) {
			rc = errbuf_set(e, BL_EUSAGE, "bundle %s: entry \"%s\": %lld bytes, more than the %lld a bundle file may have",
					source, raw, (long long)archive_entry_size(ent),
					DEPLOY_INCOMING_FILE_MAX);
			break;
		}
		if (!name.len)
			continue; /* the root itself ("./") */
		archive_entry_set_pathname(ent, name.buf);
		archive_entry_set_perm(ent, type == AE_IFDIR ? 0700 : 0600);
		if (archive_write_header(dw, ent) < ARCHIVE_WARN) {
			rc = errbuf_set(e, BL_EFAIL, "bundle %s: cannot extract \"%s\": %s", source, raw,
					archive_error_string(dw) ? archive_error_string(dw) : "write error");
			break;
		}
		if (type == AE_IFREG && archive_entry_size(ent) > 0) {
			const void *buf;
			size_t size;
			la_int64_t off;

			while ((r = archive_read_data_block(rd, &buf, &size, &off)) == ARCHIVE_OK) {
				if (archive_write_data_block(dw, buf, size, off) < ARCHIVE_OK) {
					rc = errbuf_set(e, BL_EFAIL, "bundle %s: cannot extract \"%s\": %s", source,
							raw, archive_error_string(dw) ?
							archive_error_string(dw) : "write error");
					goto out;
				}
			}
			if (r != ARCHIVE_EOF) {
				rc = archive_failed(source, rd, e);
				break;
			}
		}
		if (archive_write_finish_entry(dw) < ARCHIVE_WARN) {
			rc = errbuf_set(e, BL_EFAIL, "bundle %s: cannot extract \"%s\": %s", source, raw,
					archive_error_string(dw) ? archive_error_string(dw) : "write error");
			break;
		}
	}
out:
	strbuf_release(&name);
	return rc;
}

/* Extract the archive into dest (an empty private directory). libarchive
 * resolves names against the working directory, so the extraction runs in
 * dest and the caller's directory is restored after. */
static int extract_archive(const char *source, const char *dest, struct errbuf *e)
{
	const int flags = ARCHIVE_EXTRACT_SECURE_NODOTDOT | ARCHIVE_EXTRACT_SECURE_SYMLINKS |
		ARCHIVE_EXTRACT_SECURE_NOABSOLUTEPATHS;
	struct archive *rd = NULL, *dw = NULL;
	int cwd = -1, moved = 0, rc = 0;

	cwd = open(".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (cwd < 0) {
		rc = errbuf_errno(e, BL_EFAIL, errno, "bundle %s: cannot open the working directory", source);
		goto out;
	}
	rd = archive_read_new();
	dw = archive_write_disk_new();
	if (!rd || !dw) {
		rc = errbuf_set(e, BL_EFAIL, "bundle %s: out of memory", source);
		goto out;
	}
	/* .tar, .tar.gz, .tgz: every other decoder would be attack surface */
	archive_read_support_format_tar(rd);
	archive_read_support_filter_gzip(rd);
	archive_write_disk_set_options(dw, flags);
	/* an absolute source stays valid after the chdir below; a relative
	 * one is opened first */
	if (archive_read_open_filename(rd, source, 65536) != ARCHIVE_OK) {
		rc = archive_failed(source, rd, e);
		goto out;
	}
	if (chdir(dest) < 0) {
		rc = errbuf_errno(e, BL_EFAIL, errno, "bundle %s: cannot enter %s", source, dest);
		goto out;
	}
	moved = 1;
	if ((rc = extract_entries(source, rd, dw, e)))
		goto out;
	if (archive_write_close(dw) != ARCHIVE_OK)
		rc = errbuf_set(e, BL_EFAIL, "bundle %s: cannot finish the extraction into %s: %s", source,
				dest, archive_error_string(dw) ? archive_error_string(dw) : "write error");
out:
	if (dw)
		archive_write_free(dw);
	if (rd)
		archive_read_free(rd);
	if (moved && fchdir(cwd) < 0 && !rc)
		rc = errbuf_errno(e, BL_EFAIL, errno, "bundle %s: cannot return to the working directory", source);
	if (cwd >= 0)
		close(cwd);
	return rc;
}

/* ---- the local tree ---- */

/* Every entry below root, parents first, refusing anything but regular
 * files and directories (lstat: a symlink is refused, never followed). */
static int walk(struct deploy_incoming *in, const char *rel, int depth, struct errbuf *e)
{
	struct strbuf path = STRBUF_INIT, sub = STRBUF_INIT;
	struct dirent *de;
	DIR *d;
	int rc = 0;

	strbuf_addf(&path, "%s%s%s", in->local_root, *rel ? "/" : "", rel);
	if (depth > WALK_DEPTH_MAX) {
		rc = errbuf_set(e, BL_EUSAGE, "bundle %s: %s: deeper than %d levels", in->source, rel,
				WALK_DEPTH_MAX);
		goto out;
	}
	d = opendir(path.buf);
	if (!d) {
		rc = errbuf_errno(e, BL_EFAIL, errno, "bundle %s: cannot open directory %s", in->source,
				  path.buf);
		goto out;
	}
	while ((de = readdir(d))) {
		struct stat st;

		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		strbuf_reset(&sub);
		strbuf_addf(&sub, "%s%s%s", rel, *rel ? "/" : "", de->d_name);
		strbuf_reset(&path);
		strbuf_addf(&path, "%s/%s", in->local_root, sub.buf);
		if (json_array_size(in->entries) >= DEPLOY_INCOMING_ENTRIES_MAX) {
			rc = errbuf_set(e, BL_EUSAGE, "bundle %s: more than %d entries", in->source,
					DEPLOY_INCOMING_ENTRIES_MAX);
			break;
		}
		if (lstat(path.buf, &st)) {
			rc = errbuf_errno(e, BL_EFAIL, errno, "bundle %s: cannot stat %s", in->source, path.buf);
			break;
		}
		if (S_ISDIR(st.st_mode)) {
			json_array_append_new(in->entries, json_pack("{s:s, s:b}", "path", sub.buf, "dir", 1));
			if ((rc = walk(in, sub.buf, depth + 1, e)))
				break;
		} else if (S_ISREG(st.st_mode)) {
			char hex[ZSTREAM_SHA256_HEX];
			long long size;

			if (st.st_size > DEPLOY_INCOMING_FILE_MAX) {
				rc = errbuf_set(e, BL_EUSAGE, "bundle %s: entry \"%s\": %lld bytes, more than the %lld a bundle file may have",
						in->source, sub.buf, (long long)st.st_size, DEPLOY_INCOMING_FILE_MAX);
				break;
			}
			if ((rc = zhash_file(path.buf, 1, hex, &size, e)))
				break;
			json_array_append_new(in->entries, json_pack("{s:s, s:b}", "path", sub.buf, "dir", 0));
			json_object_set_new(in->files, sub.buf, json_pack("{s:s, s:I}", "sha256", hex,
									  "size", (json_int_t)size));
		} else {
			rc = errbuf_set(e, BL_EUSAGE, "bundle %s: entry \"%s\": %s; only regular files and directories are allowed",
					in->source, sub.buf,
					kind_name(S_ISLNK(st.st_mode) ? AE_IFLNK : S_ISCHR(st.st_mode) ? AE_IFCHR :
						  S_ISBLK(st.st_mode) ? AE_IFBLK : S_ISFIFO(st.st_mode) ? AE_IFIFO :
						  S_ISSOCK(st.st_mode) ? AE_IFSOCK : 0));
			break;
		}
	}
	closedir(d);
out:
	strbuf_release(&path);
	strbuf_release(&sub);
	return rc;
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	if ((flag == FTW_DP ? rmdir(path) : unlink(path)) && errno != ENOENT)
		log_warn("cannot remove %s: %s", path, strerror(errno));
	return 0;
}

/* The local extraction: ours alone, never followed through a link. */
static void remove_local_tree(const char *dir)
{
	if (nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS) && errno != ENOENT)
		log_warn("cannot remove the temporary directory %s: %s", dir, strerror(errno));
}

int deploy_incoming_prepare(const struct deploy_env *env, const char *source,
			    struct deploy_incoming *in, struct errbuf *e)
{
	struct stat st;
	size_t i;
	json_t *v;
	int rc = 0;

	memset(in, 0, sizeof(*in));
	in->source = xstrdup(source);
	in->entries = json_array();
	in->files = json_object();
	strbuf_init(&in->dir, 0);
	strbuf_init(&in->files_dir, 0);
	in->compose_rel = bundle_name(env->compose_file, "");
	if (stat(source, &st))
		return errbuf_errno(e, BL_EUSAGE, errno, "--bundle %s", source);
	if (S_ISDIR(st.st_mode)) {
		in->local_root = xstrdup(source);
	} else if (S_ISREG(st.st_mode)) {
		struct strbuf tmp = STRBUF_INIT;
		const char *td = getenv("TMPDIR");

		strbuf_addf(&tmp, "%s/ballast-bundle-XXXXXX", td && *td ? td : "/tmp");
		if (!mkdtemp(tmp.buf)) {
			rc = errbuf_errno(e, BL_EFAIL, errno, "bundle %s: cannot create a temporary directory %s",
					  source, tmp.buf);
			strbuf_release(&tmp);
			return rc;
		}
		in->tmp_root = strbuf_detach(&tmp, NULL);
		in->local_root = xstrdup(in->tmp_root);
		if ((rc = extract_archive(source, in->tmp_root, e)))
			return rc;
	} else {
		return errbuf_set(e, BL_EUSAGE, "--bundle %s: expected a directory or a tar archive (.tar, .tar.gz, .tgz)",
				  source);
	}
	if ((rc = walk(in, "", 0, e)))
		return rc;
	if (!json_object_get(in->files, in->compose_rel))
		return errbuf_set(e, BL_EUSAGE, "bundle %s: compose file %s is missing (environments.%s.compose_file)",
				  source, in->compose_rel, env->name);
	if (env->env_file) {
		char *tpl = bundle_name(env->env_file, ".example");

		if (json_object_get(in->files, tpl))
			in->env_template_rel = tpl;
		else
			free(tpl);
	}
	json_array_foreach(in->entries, i, v)
		if (json_is_true(json_object_get(v, "dir")) &&
		    !strcmp(json_string_value(json_object_get(v, "path")), "migrations"))
			in->has_migrations = 1;
	return 0;
}

void deploy_incoming_path(const struct deploy_incoming *in, const char *rel, struct strbuf *out)
{
	strbuf_reset(out);
	strbuf_addf(out, "%s/%s", in->files_dir.buf, rel);
}

/* ---- on the target ---- */

int deploy_incoming_upload(struct deploy_env *env, const char *release, long long ttl_ms,
			   struct deploy_incoming *in, struct errbuf *e)
{
	struct strbuf rel = STRBUF_INIT, local = STRBUF_INIT, remote = STRBUF_INIT;
	struct transport_stat st;
	char hex[9], at[40];
	char *text = NULL;
	json_t *owner = NULL, *v;
	size_t i;
	int rc;

	/* creating app_dir would be a change outside .ballast/: preflight
	 * reports a missing one, once the lock is held */
	if ((rc = transport_stat(env->t, env->app_dir, &st, e)))
		goto out;
	if (!st.exists || !st.is_dir) {
		rc = errbuf_set(e, BL_EFAIL, "%s: app dir %s is missing", transport_describe(env->t),
				env->app_dir);
		goto out;
	}
	randhex(hex, (sizeof(hex) - 1) / 2);
	strbuf_addf(&rel, "incoming/%s-%s", release, hex);
	deploy_env_state_path(env, rel.buf, &in->dir);
	strbuf_reset(&in->files_dir);
	strbuf_addf(&in->files_dir, "%s/files", in->dir.buf);
	if ((rc = transport_mkdir_p(env->t, in->dir.buf, 0700, e)))
		goto out;
	in->staged = 1;
	deploy_now_iso(at, sizeof(at));
	owner = json_pack("{s:s, s:s, s:I, s:s, s:I, s:I, s:s, s:s, s:s}",
			  "owner", deploy_whoami(), "host", deploy_hostname(),
			  "pid", (json_int_t)getpid(), "started_at", at,
			  "started", (json_int_t)time(NULL), "ttl_s", (json_int_t)((ttl_ms + 999) / 1000),
			  "command", "deploy", "release", release, "source", in->source);
	text = json_dumps(owner, JSON_INDENT(2) | JSON_SORT_KEYS);
	strbuf_addf(&remote, "%s/owner.json", in->dir.buf);
	if (!text) {
		rc = errbuf_set(e, BL_EFAIL, "%s: cannot serialise its owner", in->dir.buf);
		goto out;
	}
	if ((rc = transport_write_file(env->t, remote.buf, text, strlen(text), 0600, e)))
		goto out;
	if ((rc = transport_mkdir_p(env->t, in->files_dir.buf, 0700, e)))
		goto out;
	json_array_foreach(in->entries, i, v) {
		const char *p = json_string_value(json_object_get(v, "path"));

		if (interrupt_signal) {
			rc = interrupt_check_what(e, "bundle %s: upload to %s", in->source, in->dir.buf);
			goto out;
		}
		deploy_incoming_path(in, p, &remote);
		if (json_is_true(json_object_get(v, "dir"))) {
			rc = transport_mkdir_p(env->t, remote.buf, 0700, e);
		} else {
			strbuf_reset(&local);
			strbuf_addf(&local, "%s/%s", in->local_root, p);
			rc = transport_put_file(env->t, local.buf, remote.buf, 0600, e);
		}
		if (rc)
			goto out;
	}
out:
	if (rc)
		errbuf_prefix(e, "bundle %s: ", in->source);
	free(text);
	json_decref(owner);
	strbuf_release(&rel);
	strbuf_release(&local);
	strbuf_release(&remote);
	return rc;
}

int deploy_incoming_env_missing(const struct deploy_env *env, const struct deploy_incoming *in,
				json_t *missing, struct errbuf *e)
{
	struct strbuf path = STRBUF_INIT;
	json_t *tpl = NULL, *v;
	const char *k;
	int rc;

	if (!in->env_template_rel)
		return 0;
	strbuf_addf(&path, "%s/%s", in->local_root, in->env_template_rel);
	rc = envfile_read(path.buf, &tpl, e);
	if (!rc)
		json_object_foreach(tpl, k, v)
			if (!json_object_get(env->envvars, k))
				json_array_append_new(missing, json_string(k));
	json_decref(tpl);
	strbuf_release(&path);
	return rc;
}

static int remove_remote(struct deploy_env *env, const char *path, struct errbuf *e)
{
	const char *argv[] = { "rm", "-rf", "--", path, NULL };
	int rc, status = 0;

	rc = transport_run(env->t, argv, NULL, NULL, NULL, NULL, &status, 60000, e);
	if (!rc && status)
		rc = errbuf_set(e, BL_EFAIL, "%s: cannot remove %s (rm exited with status %d)",
				transport_describe(env->t), path, status);
	return rc;
}

int deploy_incoming_remove(struct deploy_env *env, struct deploy_incoming *in, struct errbuf *e)
{
	int rc;

	if (!in->staged)
		return 0;
	rc = remove_remote(env, in->dir.buf, e);
	if (!rc)
		in->staged = 0;
	return rc;
}

int deploy_incoming_clean(struct deploy_env *env, const struct deploy_incoming *own,
			  json_t *removed, struct errbuf *e)
{
	struct strbuf dir = STRBUF_INIT, out = STRBUF_INIT, path = STRBUF_INIT, text = STRBUF_INIT;
	struct transport_stat st;
	char *tok, *save = NULL;
	int rc;

	deploy_env_state_path(env, "incoming", &dir);
	rc = transport_list_dir(env->t, dir.buf, &out, e);
	if (rc)
		goto out;
	for (tok = strtok_r(out.buf, "\n", &save); tok; tok = strtok_r(NULL, "\n", &save)) {
		char why[256] = "";
		json_t *owner = NULL;
		int exists = 0, stale = 0;

		if (own && own->staged && !strcmp(tok, base_name(own->dir.buf)))
			continue;
		strbuf_reset(&path);
		strbuf_addf(&path, "%s/%s/owner.json", dir.buf, tok);
		strbuf_reset(&text);
		if ((rc = transport_read_file(env->t, path.buf, &text, 65536, &exists, e)))
			goto out;
		if (exists)
			owner = json_loadb(text.buf, text.len, 0, NULL);
		strbuf_reset(&path);
		strbuf_addf(&path, "%s/%s", dir.buf, tok);
		if (json_is_object(owner)) {
			json_object_del(owner, "manual");
			stale = deploy_lock_is_stale(owner, why, sizeof(why));
		} else {
			/* a run that died between mkdir and owner.json: its age decides */
			if ((rc = transport_stat(env->t, path.buf, &st, e)))
				goto out;
			stale = st.exists && (long long)(time(NULL) - st.mtime) * 1000 > env->lock_ttl_ms;
			snprintf(why, sizeof(why), "no owner, older than lock_ttl");
		}
		json_decref(owner);
		if (!stale)
			continue;
		log_warn("removing the staged upload %s (%s)", path.buf, why);
		if ((rc = remove_remote(env, path.buf, e)))
			goto out;
		json_array_append_new(removed, json_string(tok));
	}
out:
	strbuf_release(&dir);
	strbuf_release(&out);
	strbuf_release(&path);
	strbuf_release(&text);
	return rc;
}

void deploy_incoming_release(struct deploy_incoming *in)
{
	if (!in)
		return;
	if (in->tmp_root)
		remove_local_tree(in->tmp_root);
	free(in->source);
	free(in->local_root);
	free(in->tmp_root);
	free(in->compose_rel);
	free(in->env_template_rel);
	json_decref(in->entries);
	json_decref(in->files);
	strbuf_release(&in->dir);
	strbuf_release(&in->files_dir);
	memset(in, 0, sizeof(*in));
}
