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
	/* no pg_wal/ in this tar: only 16 MiB puts 0/2000028 in segment 2 */
	ck_assert(bi.wal_segment_size == 16 << 20);
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

/* A tar of backup_label (start WAL file `file` for LSN 0/2000028) and one
 * pg_wal/ segment of seg_bytes (sparse; 0: none). */
static int segsize_tar(const char *dir, const char *file, long seg_bytes,
		       struct basebackup_info *bi, struct errbuf *e)
{
	char p[1024], cmd[4096], tar[1100], lab[512];
	struct strbuf out = STRBUF_INIT, err = STRBUF_INIT;
	const char *sh[] = { "sh", "-c", cmd, NULL }, *cat[] = { "cat", tar, NULL };
	int rc;

	snprintf(cmd, sizeof(cmd), "rm -rf %s/s && mkdir -p %s/s/pg_wal", dir, dir);
	ck_assert_int_eq(trun(sh, NULL, &out, &err), 0);
	snprintf(lab, sizeof(lab), "START WAL LOCATION: 0/2000028 (file %s)\n"
		 "CHECKPOINT LOCATION: 0/2000060\nSTART TIMELINE: 1\n", file);
	snprintf(p, sizeof(p), "%s/s/backup_label", dir);
	ck_assert_int_eq(twrite_file(p, lab), 0);
	snprintf(tar, sizeof(tar), "%s/seg.tar", dir);
	snprintf(cmd, sizeof(cmd), "cd %s/s && { [ %ld = 0 ] || truncate -s %ld pg_wal/%s; } && "
		 "tar --format=ustar -cf %s backup_label pg_wal", dir, seg_bytes, seg_bytes, file,
		 tar);
	ck_assert_msg(trun(sh, NULL, &out, &err) == 0, "%s", err.buf);
	basebackup_info_init(bi);
	rc = basebackup_stream(cat, NULL, count_sink, NULL, bi, e);
	strbuf_release(&out);
	strbuf_release(&err);
	return rc;
}

/* initdb --wal-segsize: the size comes from the segment -X fetch put in
 * pg_wal/, or from the label when that alone decides it. */
START_TEST(test_segsize)
{
	char *dir = ttmp_dir("pitrseg");
	struct basebackup_info bi;
	struct errbuf e = ERRBUF_INIT;

	/* 1 MiB segments: 0/2000028 is segment 0x20 */
	ck_assert_msg(segsize_tar(dir, "000000010000000000000020", 1 << 20, &bi, &e) == 0, "%s",
		      e.msg);
	ck_assert(bi.wal_segment_size == 1 << 20);
	basebackup_info_release(&bi);
	/* the same without the segment: the label's name decides */
	ck_assert_msg(segsize_tar(dir, "000000010000000000000020", 0, &bi, &e) == 0, "%s", e.msg);
	ck_assert(bi.wal_segment_size == 1 << 20);
	basebackup_info_release(&bi);
	/* 64 MiB */
	ck_assert_msg(segsize_tar(dir, "000000010000000000000000", 64 << 20, &bi, &e) == 0, "%s",
		      e.msg);
	ck_assert(bi.wal_segment_size == 64 << 20);
	basebackup_info_release(&bi);
	/* a segment of no valid size */
	ck_assert_int_eq(segsize_tar(dir, "000000010000000000000020", 3 << 19, &bi, &e), BL_EFAIL);
	ck_assert_msg(strstr(e.msg, "not a WAL segment size"), "%s", e.msg);
	basebackup_info_release(&bi);
	/* no segment, and a label every size from 64 MiB up agrees with */
	ck_assert_int_eq(segsize_tar(dir, "000000010000000000000000", 0, &bi, &e), BL_EFAIL);
	ck_assert_msg(strstr(e.msg, "does not tell the segment size"), "%s", e.msg);
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
	basebackup_wal_name(3, lsn, 16 << 20, name);
	ck_assert_str_eq(name, "000000030000001A000000FF");
	/* 4096 segments of 1 MiB to a log file, 64 of 64 MiB */
	basebackup_wal_name(3, lsn, 1 << 20, name);
	ck_assert_str_eq(name, "000000030000001A00000FF0");
	basebackup_wal_name(3, lsn, 64 << 20, name);
	ck_assert_str_eq(name, "000000030000001A0000003F");
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

/* The gap walarchive_gap() finds after stop among the archived names. */
static void expect_gap(const char *const *archived, const char *stop, uint64_t segsize,
		       const char *want)
{
	json_t *names = json_object();
	struct strbuf gap = STRBUF_INIT;

	for (; *archived; archived++)
		json_object_set_new(names, *archived, json_string("k"));
	walarchive_gap(names, 1, stop, segsize, 1, NULL, &gap);
	ck_assert_str_eq(gap.buf, want);
	json_decref(names);
	strbuf_release(&gap);
}

START_TEST(test_gap)
{
	json_t *names = json_pack("{s:s, s:s, s:s, s:s, s:s}",
				  "000000010000000000000003", "k", "000000010000000000000004", "k",
				  "000000010000000000000006", "k", "000000010000000000000007.partial",
				  "k", "000000020000000000000007", "k");
	struct strbuf gap = STRBUF_INIT;

	/* the backup ends in segment 3: 4 is there, 5 is not, 6 is */
	walarchive_gap(names, 1, "000000010000000000000003", 16 << 20, 1, NULL, &gap);
	ck_assert_str_eq(gap.buf, "000000010000000000000005");
	json_object_set_new(names, "000000010000000000000005", json_string("k"));
	walarchive_gap(names, 1, "000000010000000000000003", 16 << 20, 1, NULL, &gap);
	ck_assert_str_eq(gap.buf, "");
	/* nothing archived after the backup yet is not a gap */
	walarchive_gap(names, 1, "000000010000000000000009", 16 << 20, 1, NULL, &gap);
	ck_assert_str_eq(gap.buf, "");
	json_decref(names);
	/* a partial copy stands in for the newest segment only (wal-stream's
	 * partial_interval): recovery ends in it, so before a later segment
	 * it is a gap */
	expect_gap((const char *[]){ "000000010000000000000004", "000000010000000000000005.partial",
				     NULL },
		   "000000010000000000000003", 16 << 20, "");
	expect_gap((const char *[]){ "000000010000000000000004", "000000010000000000000005.partial",
				     "000000010000000000000006", NULL },
		   "000000010000000000000003", 16 << 20, "000000010000000000000005");
	expect_gap((const char *[]){ "000000010000000000000004", "000000010000000000000005.partial",
				     "000000010000000000000005", "000000010000000000000006", NULL },
		   "000000010000000000000003", 16 << 20, "");
	/* across a log file boundary (256 segments of 16 MiB) */
	expect_gap((const char *[]){ "0000000100000000000000FF", "000000010000000100000001", NULL },
		   "0000000100000000000000FE", 16 << 20, "000000010000000100000000");
	/* 1 MiB segments: 0x100 follows 0xFF in the same log file, and the
	 * log file turns after 0xFFF */
	expect_gap((const char *[]){ "0000000100000000000000FF", "000000010000000000000100",
				     "000000010000000000000101", NULL },
		   "0000000100000000000000FE", 1 << 20, "");
	expect_gap((const char *[]){ "000000010000000000000FFF", "000000010000000100000001", NULL },
		   "000000010000000000000FFE", 1 << 20, "000000010000000100000000");
	strbuf_release(&gap);
}
END_TEST

/* The gap along a timeline switch: the history of the target timeline
 * says where each timeline was left, and recovery reads each one up to the
 * segment before that point, then the next timeline's copy of it. */
static void expect_chain(const char *const *archived, const char *stop, unsigned target,
			 const char *history, const char *want)
{
	json_t *names = json_object();
	struct strbuf gap = STRBUF_INIT;

	for (; *archived; archived++)
		json_object_set_new(names, *archived, json_string("k"));
	walarchive_gap(names, 1, stop, 16 << 20, target, history, &gap);
	ck_assert_msg(!strcmp(gap.buf, want), "target %u: gap [%s], want [%s]", target, gap.buf,
		      want);
	json_decref(names);
	strbuf_release(&gap);
}

START_TEST(test_gap_timelines)
{
	/* timeline 1 left at 0/7000028 (segment 7), timeline 2 at 0/9800000 */
	const char *h2 = "1\t0/7000028\tbefore transaction 742 at 2026-12-06 10:00:00+00\n";
	const char *h3 = "# a comment\n1\t0/7000028\tno recovery target specified\n\n"
			 "2\t0/9800000\tat restore point \"before-release\"\n";
	/* the backup ends in 3; 1 goes on past the switch (the branch that
	 * was left: not read), 2 begins with its own copy of 7 */
	const char *full[] = { "000000010000000000000004", "000000010000000000000005",
			       "000000010000000000000006", "000000010000000000000007.partial",
			       "000000010000000000000008", "000000020000000000000007",
			       "000000020000000000000008", "000000020000000000000009.partial",
			       "000000030000000000000009", "00000003000000000000000A", NULL };

	expect_chain(full, "000000010000000000000003", 2, h2, "");
	expect_chain(full, "000000010000000000000003", 3, h3, "");
	/* without the history the old way: timeline 1 alone, where 7 is only
	 * a promotion's partial copy while 8 follows: recovery would end in
	 * 7, a gap */
	expect_chain(full, "000000010000000000000003", 1, NULL, "000000010000000000000007");
	/* timeline 1's 6 is needed (before the switch), its 8 is not */
	expect_chain((const char *[]){ "000000010000000000000004", "000000010000000000000005",
				       "000000020000000000000007", "000000020000000000000008",
				       NULL },
		     "000000010000000000000003", 2, h2, "000000010000000000000006");
	/* timeline 2's copy of the switch segment is needed */
	expect_chain((const char *[]){ "000000010000000000000004", "000000010000000000000005",
				       "000000010000000000000006", "000000010000000000000007",
				       "000000020000000000000008", NULL },
		     "000000010000000000000003", 2, h2, "000000020000000000000007");
	/* through two switches: timeline 3 starts at 9; 2's 8 is missing */
	expect_chain((const char *[]){ "000000010000000000000004", "000000010000000000000005",
				       "000000010000000000000006", "000000020000000000000007",
				       "000000030000000000000009", NULL },
		     "000000010000000000000003", 3, h3, "000000020000000000000008");
	/* and 3's own segments after its start */
	expect_chain((const char *[]){ "000000010000000000000004", "000000010000000000000005",
				       "000000010000000000000006", "000000020000000000000007",
				       "000000020000000000000008", "000000030000000000000009",
				       "00000003000000000000000B", NULL },
		     "000000010000000000000003", 3, h3, "00000003000000000000000A");
	/* a backup taken on timeline 1 after it was left (segment 8): the
	 * history does not pass through it; timeline 1 alone is checked */
	expect_chain(full, "000000010000000000000008", 2, h2, "");
	expect_chain((const char *[]){ "00000001000000000000000A", "000000020000000000000007",
				       NULL },
		     "000000010000000000000008", 2, h2, "000000010000000000000009");
	/* a backup that ends in the switch segment: 2's copy of it is read */
	expect_chain((const char *[]){ "000000020000000000000008", NULL },
		     "000000010000000000000007", 2, h2, "000000020000000000000007");
	/* a backup on timeline 2 and the history of 3 */
	{
		json_t *names = json_pack("{s:s, s:s}", "000000020000000000000009", "k",
					  "00000003000000000000000A", "k");
		struct strbuf gap = STRBUF_INIT;

		walarchive_gap(names, 2, "000000020000000000000008", 16 << 20, 3, h3, &gap);
		ck_assert_str_eq(gap.buf, "000000030000000000000009");
		json_decref(names);
		strbuf_release(&gap);
	}
}
END_TEST

/* What prune may remove: files wholly before the start segment, whatever
 * their timeline; never a history file, never the start segment itself. */
START_TEST(test_before)
{
	const char *from = "000000020000000100000004";

	ck_assert(walarchive_before("000000020000000100000003", from));
	ck_assert(walarchive_before("000000010000000000000FFF", from));
	/* a later timeline's file before the start: no recovery from here reads it */
	ck_assert(walarchive_before("000000030000000100000003", from));
	ck_assert(walarchive_before("000000010000000100000002.00000028.backup", from));
	ck_assert(walarchive_before("000000010000000100000003.partial", from));
	ck_assert(!walarchive_before("000000020000000100000004", from));
	ck_assert(!walarchive_before("000000010000000100000004.partial", from));
	ck_assert(!walarchive_before("000000020000000100000005", from));
	ck_assert(!walarchive_before("000000010000000200000000", from));
	ck_assert(!walarchive_before("00000002.history", from));
	ck_assert(!walarchive_before("not-a-wal-file", from));
}
END_TEST

int main(void)
{
	Suite *s = suite_create("pitr_parts");
	TCase *tc = tcase_create("pitr_parts");

	tcase_add_test(tc, test_scan_tar);
	tcase_add_test(tc, test_segsize);
	tcase_add_test(tc, test_lsn_and_names);
	tcase_add_test(tc, test_times);
	tcase_add_test(tc, test_gap);
	tcase_add_test(tc, test_gap_timelines);
	tcase_add_test(tc, test_before);
	suite_add_tcase(s, tc);
	return trun_suite(s);
}
