/* The pieces of point-in-time restore that need no server: the base
 * backup tar scanner (lib/pg/basebackup) on tars made by tar(1), a
 * backup_manifest whose checksum does not match, target times, WAL file
 * names and the archive's gap check. */
#include <jansson.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "basebackup.h"
#include "pitr.h"
#include "strbuf.h"
#include "timeutil.h"
#include "tsupport.h"
#include "walarchive.h"

static const char label[] =
	"START WAL LOCATION: 0/2000028 (file 000000010000000000000002)\n"
	"CHECKPOINT LOCATION: 0/2000060\n"
	"BACKUP METHOD: streamed\n"
	"BACKUP FROM: primary\n"
	"START TIME: 2026-12-05 18:21:33 UTC\n"
	"LABEL: ballast app\n"
	"START TIMELINE: 1\n";

static long long sunk;

static int count_sink(void *ctx, const void *buf, size_t len, struct errbuf *e)
{
	(void)ctx;
	(void)buf;
	(void)e;
	sunk += (long long)len;
	return 0;
}

/* A manifest as PostgreSQL writes it: the last line is the SHA-256 of
 * every line before it. damage != 0 changes a byte after the hash. */
static void write_manifest(const char *path, int damage)
{
	struct strbuf m = STRBUF_INIT;
	unsigned char d[32];
	unsigned int n = 0;
	char hex[65];

	strbuf_addstr(&m, "{ \"PostgreSQL-Backup-Manifest-Version\": 1,\n\"Files\": [\n"
		      "{ \"Path\": \"backup_label\", \"Size\": 224 }\n],\n\"WAL-Ranges\": [\n"
		      "{ \"Timeline\": 1, \"Start-LSN\": \"0/2000028\", \"End-LSN\": \"0/2000100\" }\n"
		      "],\n");
	EVP_Digest(m.buf, m.len, d, &n, EVP_sha256(), NULL);
	for (unsigned i = 0; i < 32; i++)
		snprintf(hex + 2 * i, 3, "%02x", d[i]);
	if (damage)
		m.buf[10] ^= 1;
	strbuf_addf(&m, "\"Manifest-Checksum\": \"%s\"}\n", hex);
	ck_assert_int_eq(twrite_file(path, m.buf), 0);
	strbuf_release(&m);
}

/* A cluster-like tar: backup_label, PG_VERSION, a big file, the manifest
 * last (where pg_basebackup injects it). */
static void make_tar(const char *dir, int with_manifest, int damage, char *tarpath, size_t n)
{
	char p[1024], cmd[4096];
	struct strbuf out = STRBUF_INIT, err = STRBUF_INIT;
	const char *argv[] = { "sh", "-c", cmd, NULL };

	snprintf(p, sizeof(p), "%s/c", dir);
	mkdir(p, 0700);
	snprintf(p, sizeof(p), "%s/c/backup_label", dir);
	ck_assert_int_eq(twrite_file(p, label), 0);
	snprintf(p, sizeof(p), "%s/c/PG_VERSION", dir);
	ck_assert_int_eq(twrite_file(p, "15\n"), 0);
	snprintf(p, sizeof(p), "%s/c/backup_manifest", dir);
	write_manifest(p, damage);
	snprintf(tarpath, n, "%s/base.tar", dir);
	snprintf(cmd, sizeof(cmd), "cd %s/c && mkdir -p base/1 && head -c 3000000 /dev/urandom > "
		 "base/1/1259 && tar --format=ustar -cf %s backup_label PG_VERSION base %s",
		 dir, tarpath, with_manifest ? "backup_manifest" : "");
	ck_assert_msg(trun(argv, NULL, &out, &err) == 0, "%s", err.buf);
	strbuf_release(&out);
	strbuf_release(&err);
}

START_TEST(test_scan_tar)
{
	char *dir = ttmp_dir("pitrparts"), tar[1200];
	const char *argv[] = { "cat", tar, NULL };
	struct basebackup_info bi;
	struct errbuf e = ERRBUF_INIT;
	struct stat st;

	make_tar(dir, 1, 0, tar, sizeof(tar));
	basebackup_info_init(&bi);
	sunk = 0;
	ck_assert_msg(basebackup_stream(argv, NULL, count_sink, NULL, &bi, &e) == 0, "%s", e.msg);
	ck_assert_int_eq(stat(tar, &st), 0);
	/* every byte passes through unchanged */
	ck_assert_int_eq(sunk, (long long)st.st_size);
	ck_assert_str_eq(bi.start_lsn, "0/2000028");
	ck_assert_str_eq(bi.checkpoint_lsn, "0/2000060");
	ck_assert_str_eq(bi.stop_lsn, "0/2000100");
	ck_assert_str_eq(bi.start_wal, "000000010000000000000002");
	ck_assert_str_eq(bi.start_time, "2026-12-05 18:21:33 UTC");
	ck_assert_str_eq(bi.pg_version, "15");
	ck_assert_int_eq(bi.timeline, 1);
	ck_assert_int_eq(bi.manifest, 1);
	ck_assert_str_eq(bi.label.buf, label);
	basebackup_info_release(&bi);

	/* the manifest's content changed under its checksum */
	make_tar(dir, 1, 1, tar, sizeof(tar));
	basebackup_info_init(&bi);
	ck_assert_int_eq(basebackup_stream(argv, NULL, count_sink, NULL, &bi, &e), BL_EVERIFY);
	ck_assert_ptr_nonnull(strstr(e.msg, "backup_manifest: checksum mismatch"));
	basebackup_info_release(&bi);

	/* no manifest: accepted, the stop LSN unknown */
	make_tar(dir, 0, 0, tar, sizeof(tar));
	basebackup_info_init(&bi);
	ck_assert_int_eq(basebackup_stream(argv, NULL, count_sink, NULL, &bi, &e), 0);
	ck_assert_int_eq(bi.manifest, 0);
	ck_assert_str_eq(bi.stop_lsn, "");
	basebackup_info_release(&bi);

	/* not a tar at all */
	snprintf(tar, sizeof(tar), "%s/c/PG_VERSION", dir);
	basebackup_info_init(&bi);
	ck_assert_int_eq(basebackup_stream(argv, NULL, count_sink, NULL, &bi, &e), BL_EFAIL);
	basebackup_info_release(&bi);
	ttmp_rm(dir);
	free(dir);
}
END_TEST

START_TEST(test_lsn_and_names)
{
	uint64_t lsn;
	char name[BASEBACKUP_WAL_NAME];

	ck_assert_int_eq(basebackup_lsn_parse("0/2000028", &lsn), 0);
	ck_assert(lsn == 0x2000028);
	ck_assert_int_eq(basebackup_lsn_parse("1A/FF000000", &lsn), 0);
	basebackup_wal_name(3, lsn, name);
	ck_assert_str_eq(name, "000000030000001A000000FF");
	ck_assert_int_ne(basebackup_lsn_parse("0/20x", &lsn), 0);
	ck_assert_int_ne(basebackup_lsn_parse("", &lsn), 0);

	ck_assert(walarchive_name_valid("000000010000000000000002"));
	ck_assert(walarchive_name_valid("000000010000000000000002.partial"));
	ck_assert(walarchive_name_valid("000000010000000000000002.00000028.backup"));
	ck_assert(walarchive_name_valid("00000002.history"));
	ck_assert(!walarchive_name_valid("00000001000000000000000g"));
	ck_assert(!walarchive_name_valid("../../etc/passwd"));
	ck_assert(!walarchive_name_valid("RECOVERYXLOG"));
	ck_assert(!walarchive_name_valid(""));
}
END_TEST

START_TEST(test_times)
{
	ck_assert(time_iso_parse_ms("2026-12-05T18:30:00Z") == 1796495400000LL);
	ck_assert(time_iso_parse_ms("2026-12-05 18:30:00.250Z") == 1796495400250LL);
	ck_assert(time_iso_parse_ms("2026-12-05 19:30:00+01:00") == 1796495400000LL);
	ck_assert(time_iso_parse_ms("2026-12-05T13:30:00-05") == 1796495400000LL);
	/* no zone: the server's TimeZone would decide, so it is refused */
	ck_assert(time_iso_parse_ms("2026-12-05 18:30:00") < 0);
	ck_assert(time_iso_parse_ms("2026-13-05 18:30:00Z") < 0);
	ck_assert(time_iso_parse_ms("yesterday") < 0);
}
END_TEST

START_TEST(test_gap)
{
	json_t *names = json_pack("{s:s, s:s, s:s, s:s, s:s}",
				  "000000010000000000000003", "k", "000000010000000000000004", "k",
				  "000000010000000000000006", "k", "000000010000000000000007.partial",
				  "k", "000000020000000000000007", "k");
	struct strbuf gap = STRBUF_INIT;

	/* the backup ends in segment 3: 4 is there, 5 is not, 6 is */
	walarchive_gap(names, 1, "000000010000000000000003", &gap);
	ck_assert_str_eq(gap.buf, "000000010000000000000005");
	json_object_set_new(names, "000000010000000000000005", json_string("k"));
	walarchive_gap(names, 1, "000000010000000000000003", &gap);
	ck_assert_str_eq(gap.buf, "");
	/* nothing archived after the backup yet is not a gap */
	walarchive_gap(names, 1, "000000010000000000000009", &gap);
	ck_assert_str_eq(gap.buf, "");
	/* across a log file boundary (256 segments of 16 MiB) */
	json_decref(names);
	names = json_pack("{s:s, s:s}", "0000000100000000000000FF", "k",
			  "000000010000000100000001", "k");
	walarchive_gap(names, 1, "0000000100000000000000FE", &gap);
	ck_assert_str_eq(gap.buf, "000000010000000100000000");
	json_decref(names);
	strbuf_release(&gap);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("pitr_parts");
	TCase *tc = tcase_create("pitr_parts");

	tcase_add_test(tc, test_scan_tar);
	tcase_add_test(tc, test_lsn_and_names);
	tcase_add_test(tc, test_times);
	tcase_add_test(tc, test_gap);
	suite_add_tcase(s, tc);
	return trun_suite(s);
}
