/* lib/s3's pure half: the requests it builds (URLs for path-style and
 * virtual-host addressing, canonical list queries, part sizes) and the XML
 * answers it reads (ListObjectsV2 pages, errors, multipart answers). The
 * test server does not check these, so they are checked here. */
#include <stdlib.h>
#include <string.h>

#include "s3.h"
#include "tsupport.h"

static struct s3_opts opts(const char *endpoint, int path_style)
{
	struct s3_opts o;

	memset(&o, 0, sizeof(o));
	o.endpoint = endpoint;
	o.region = "eu-west-3";
	o.bucket = "my-backups";
	o.path_style = path_style;
	return o;
}

START_TEST(test_uri_encode)
{
	struct strbuf sb = STRBUF_INIT;

	s3_uri_encode(&sb, "a/b c+d=e&f%g~h_i-j.k\xc3\xa9", 1);
	ck_assert_str_eq(sb.buf, "a/b%20c%2Bd%3De%26f%25g~h_i-j.k%C3%A9");
	strbuf_reset(&sb);
	s3_uri_encode(&sb, "p/q", 0);
	ck_assert_str_eq(sb.buf, "p%2Fq");
	strbuf_release(&sb);
}
END_TEST

START_TEST(test_url_path_style)
{
	struct s3_opts o = opts("http://127.0.0.1:9000/", 1);
	struct strbuf url = STRBUF_INIT, host = STRBUF_INIT;
	struct errbuf e = ERRBUF_INIT;

	ck_assert_int_eq(s3_url(&o, "app/backups/20261127T021500Z-a1b2/db app.zst", NULL, &url,
				&host, &e), 0);
	ck_assert_str_eq(url.buf, "http://127.0.0.1:9000/my-backups/app/backups/"
			 "20261127T021500Z-a1b2/db%20app.zst");
	ck_assert_str_eq(host.buf, "127.0.0.1:9000");
	ck_assert_int_eq(s3_url(&o, NULL, "list-type=2&prefix=", &url, &host, &e), 0);
	ck_assert_str_eq(url.buf, "http://127.0.0.1:9000/my-backups?list-type=2&prefix=");
	/* An endpoint behind a path (a reverse proxy). */
	o.endpoint = "https://storage.example.net/s3/";
	ck_assert_int_eq(s3_url(&o, "k", "uploads=", &url, &host, &e), 0);
	ck_assert_str_eq(url.buf, "https://storage.example.net/s3/my-backups/k?uploads=");
	ck_assert_str_eq(host.buf, "storage.example.net");
	strbuf_release(&url);
	strbuf_release(&host);
}
END_TEST

START_TEST(test_url_virtual_host)
{
	struct s3_opts o = opts("https://s3.fr-par.scw.cloud", 0);
	struct strbuf url = STRBUF_INIT, host = STRBUF_INIT;
	struct errbuf e = ERRBUF_INIT;

	ck_assert_int_eq(s3_url(&o, "a/b", "partNumber=3&uploadId=x%2By", &url, &host, &e), 0);
	ck_assert_str_eq(url.buf, "https://my-backups.s3.fr-par.scw.cloud/a/b?partNumber=3&uploadId=x%2By");
	ck_assert_str_eq(host.buf, "my-backups.s3.fr-par.scw.cloud");
	ck_assert_int_eq(s3_url(&o, "", "list-type=2&prefix=a%2F", &url, &host, &e), 0);
	ck_assert_str_eq(url.buf, "https://my-backups.s3.fr-par.scw.cloud/?list-type=2&prefix=a%2F");
	/* No endpoint: AWS in the region. */
	o.endpoint = NULL;
	ck_assert_int_eq(s3_url(&o, "k", NULL, &url, &host, &e), 0);
	ck_assert_str_eq(url.buf, "https://my-backups.s3.eu-west-3.amazonaws.com/k");
	ck_assert_str_eq(host.buf, "my-backups.s3.eu-west-3.amazonaws.com");
	o.region = NULL;
	o.path_style = 1;
	ck_assert_int_eq(s3_url(&o, "k", NULL, &url, &host, &e), 0);
	ck_assert_str_eq(url.buf, "https://s3.us-east-1.amazonaws.com/my-backups/k");
	strbuf_release(&url);
	strbuf_release(&host);
}
END_TEST

START_TEST(test_url_bad_endpoint)
{
	struct s3_opts o = opts("ftp://host", 1);
	struct strbuf url = STRBUF_INIT;
	struct errbuf e = ERRBUF_INIT;

	ck_assert_int_eq(s3_url(&o, "k", NULL, &url, NULL, &e), BL_EUSAGE);
	ck_assert_msg(strstr(e.msg, "repository.endpoint") && strstr(e.msg, "ftp://host"), "%s",
		      e.msg);
	o.endpoint = "http://";
	ck_assert_int_eq(s3_url(&o, "k", NULL, &url, NULL, &e), BL_EUSAGE);
	o.endpoint = "https://user@host";
	ck_assert_int_eq(s3_url(&o, "k", NULL, &url, NULL, &e), BL_EUSAGE);
	strbuf_release(&url);
}
END_TEST

START_TEST(test_list_query_sorted)
{
	struct strbuf q = STRBUF_INIT;

	s3_list_query(&q, "app/backups/", NULL, 0);
	ck_assert_str_eq(q.buf, "list-type=2&prefix=app%2Fbackups%2F");
	/* continuation-token < list-type < max-keys < prefix, as SigV4 sorts. */
	s3_list_query(&q, "p q", "1/abc+=", 50);
	ck_assert_str_eq(q.buf, "continuation-token=1%2Fabc%2B%3D&list-type=2&max-keys=50&prefix=p%20q");
	strbuf_release(&q);
}
END_TEST

START_TEST(test_part_size)
{
	long long hints[] = { -1, 0, 1, 5 * S3_MIB, 2048 * S3_MIB, 100LL * 1024 * S3_MIB,
			      3LL * 1024 * 1024 * S3_MIB };
	size_t h;

	/* Small or unknown: the default part. */
	ck_assert_int_eq(s3_part_size(-1, 0, 1), S3_DEFAULT_PART);
	ck_assert_int_eq(s3_part_size(2048 * S3_MIB, 0, 1), S3_DEFAULT_PART);
	/* Too small a configured part is raised to S3's minimum. */
	ck_assert_int_eq(s3_part_size(-1, 1, 1), S3_MIN_PART);
	ck_assert_int_eq(s3_part_size(-1, 6 * S3_MIB + 1, 1), 7 * S3_MIB);
	/* 100 GiB expected: parts big enough for 800 of them. */
	ck_assert_int_eq(s3_part_size(100LL * 1024 * S3_MIB, 0, 1), 128 * S3_MIB);

	for (h = 0; h < sizeof(hints) / sizeof(hints[0]); h++) {
		long long total = 0, prev = 0;
		int n;

		for (n = 1; n <= S3_MAX_PARTS; n++) {
			long long p = s3_part_size(hints[h], 0, n);

			ck_assert_int_ge(p, S3_MIN_PART);
			ck_assert_int_le(p, S3_MAX_PART);
			ck_assert_int_eq(p % S3_MIB, 0);
			ck_assert_int_ge(p, prev);  /* never shrinks */
			prev = p;
			total += p;
			/* The expected size fits in 80% of the parts. */
			if (hints[h] > 0 && n == S3_MAX_PARTS * 8 / 10)
				ck_assert_int_ge(total, hints[h]);
		}
		/* 1,000 parts hold 20% more than the hint (or 1 TiB unhinted). */
		ck_assert_int_ge(total, hints[h] > 0 ? hints[h] / 5 * 6 : 1024LL * 1024 * S3_MIB);
	}
	/* An unknown 2 GiB stream keeps its parts (and memory) small. */
	{
		long long total = 0;
		int n = 0;

		while (total < 2048 * S3_MIB)
			total += s3_part_size(-1, 0, ++n);
		ck_assert_int_le(s3_part_size(-1, 0, n), 16 * S3_MIB);
	}
}
END_TEST

static int collect(void *ctx, const struct s3_object *o, struct errbuf *e)
{
	struct strbuf *sb = ctx;

	strbuf_addf(sb, "%s|%lld|%lld;", o->key, o->size, (long long)o->mtime);
	return 0;
}

START_TEST(test_parse_list)
{
	const char *xml =
		"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
		"<ListBucketResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
		"<Name>my-backups</Name><Prefix>app/</Prefix><KeyCount>2</KeyCount>"
		"<MaxKeys>2</MaxKeys><IsTruncated>true</IsTruncated>"
		"<Contents><Key>app/a&amp;b &lt;1&gt;</Key>"
		"<LastModified>2026-11-27T02:15:00.000Z</LastModified>"
		"<ETag>&quot;d41d8cd98f00b204e9800998ecf8427e&quot;</ETag><Size>0</Size>"
		"<StorageClass>STANDARD</StorageClass></Contents>\n"
		"<Contents>\n  <Key>app/caf&#233;/&#x41;</Key>\n  <Size>12345678901</Size>\n"
		"  <LastModified>1970-01-02T00:00:00Z</LastModified>\n</Contents>"
		"<NextContinuationToken>1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM=</NextContinuationToken>"
		"<KeyMarker></KeyMarker></ListBucketResult>";
	struct strbuf sb = STRBUF_INIT, tok = STRBUF_INIT;
	struct errbuf e = ERRBUF_INIT;
	int trunc = -1;

	ck_assert_int_eq(s3_parse_list(xml, strlen(xml), collect, &sb, &trunc, &tok, &e), 0);
	ck_assert_str_eq(sb.buf, "app/a&b <1>|0|1795745700;app/caf\xc3\xa9/A|12345678901|86400;");
	ck_assert_int_eq(trunc, 1);
	ck_assert_str_eq(tok.buf, "1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM=");

	/* The last page; an empty page. */
	strbuf_reset(&sb);
	xml = "<ListBucketResult><IsTruncated>false</IsTruncated><Contents><Key>x</Key>"
	      "<Size>3</Size></Contents></ListBucketResult>";
	ck_assert_int_eq(s3_parse_list(xml, strlen(xml), collect, &sb, &trunc, &tok, &e), 0);
	ck_assert_int_eq(trunc, 0);
	ck_assert_str_eq(sb.buf, "x|3|0;");
	ck_assert_uint_eq(tok.len, 0);
	strbuf_reset(&sb);
	xml = "<ListBucketResult><Name>b</Name><IsTruncated>false</IsTruncated></ListBucketResult>";
	ck_assert_int_eq(s3_parse_list(xml, strlen(xml), collect, &sb, &trunc, &tok, &e), 0);
	ck_assert_uint_eq(sb.len, 0);

	/* Garbage, a truncated page without a token, an object without a key. */
	xml = "<html>oops</html>";
	ck_assert_int_eq(s3_parse_list(xml, strlen(xml), collect, &sb, &trunc, &tok, &e), BL_EFAIL);
	xml = "<ListBucketResult><IsTruncated>true</IsTruncated></ListBucketResult>";
	ck_assert_int_eq(s3_parse_list(xml, strlen(xml), collect, &sb, &trunc, &tok, &e), BL_EFAIL);
	ck_assert_msg(strstr(e.msg, "NextContinuationToken") != NULL, "%s", e.msg);
	xml = "<ListBucketResult><Contents><Size>1</Size></Contents></ListBucketResult>";
	ck_assert_int_eq(s3_parse_list(xml, strlen(xml), collect, &sb, &trunc, &tok, &e), BL_EFAIL);
	/* Cut off in the middle of an element: no read past the end. */
	xml = "<ListBucketResult><Contents><Key>abc";
	ck_assert_int_eq(s3_parse_list(xml, strlen(xml), collect, &sb, &trunc, &tok, &e), 0);
	strbuf_release(&sb);
	strbuf_release(&tok);
}
END_TEST

START_TEST(test_parse_error)
{
	const char *xml = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>NoSuchBucket</Code>"
			  "<Message>The specified bucket does not exist</Message>"
			  "<BucketName>nope</BucketName><RequestId>4442587FB7D0A2F9</RequestId></Error>";
	struct strbuf code = STRBUF_INIT, msg = STRBUF_INIT;

	ck_assert_int_eq(s3_parse_error(xml, strlen(xml), &code, &msg), 1);
	ck_assert_str_eq(code.buf, "NoSuchBucket");
	ck_assert_str_eq(msg.buf, "The specified bucket does not exist");
	/* CompleteMultipartUpload can fail inside a 200. */
	xml = "<Error><Code>InternalError</Code><Message>We encountered an internal error. "
	      "Please try again.</Message></Error>";
	ck_assert_int_eq(s3_parse_error(xml, strlen(xml), &code, &msg), 1);
	ck_assert_str_eq(code.buf, "InternalError");
	xml = "<CompleteMultipartUploadResult><Location>http://x/b/k</Location><Bucket>b</Bucket>"
	      "<Key>k</Key><ETag>\"3858f62230ac3c915f300c664312c11f-9\"</ETag>"
	      "</CompleteMultipartUploadResult>";
	ck_assert_int_eq(s3_parse_error(xml, strlen(xml), &code, &msg), 0);
	ck_assert_int_eq(s3_parse_error("", 0, &code, &msg), 0);
	/* <ErrorDocument> is not <Error>. */
	xml = "<WebsiteConfiguration><ErrorDocument><Key>e.html</Key></ErrorDocument></WebsiteConfiguration>";
	ck_assert_int_eq(s3_parse_error(xml, strlen(xml), &code, &msg), 0);
	strbuf_release(&code);
	strbuf_release(&msg);
}
END_TEST

START_TEST(test_xml_next)
{
	const char *xml = "<InitiateMultipartUploadResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
			  "<Bucket>b</Bucket><Key>k</Key><UploadIdMarker/>"
			  "<UploadId>VXBsb2FkIElEIGZvciA2aWWpbmcncyBteS1tb3ZpZS5tMnRzIHVwbG9hZA</UploadId>"
			  "</InitiateMultipartUploadResult>";
	struct strbuf v = STRBUF_INIT;
	size_t pos = 0;

	ck_assert_int_eq(s3_xml_next(xml, strlen(xml), &pos, "UploadId", &v), 1);
	ck_assert_str_eq(v.buf, "VXBsb2FkIElEIGZvciA2aWWpbmcncyBteS1tb3ZpZS5tMnRzIHVwbG9hZA");
	pos = 0;
	ck_assert_int_eq(s3_xml_next(xml, strlen(xml), &pos, "UploadIdMarker", &v), 1);
	ck_assert_uint_eq(v.len, 0);
	pos = 0;
	ck_assert_int_eq(s3_xml_next(xml, strlen(xml), &pos, "Upload", &v), 0);
	/* Successive elements of one name. */
	xml = "<a><K>1</K><K>2</K></a>";
	pos = 0;
	ck_assert_int_eq(s3_xml_next(xml, strlen(xml), &pos, "K", &v), 1);
	ck_assert_str_eq(v.buf, "1");
	ck_assert_int_eq(s3_xml_next(xml, strlen(xml), &pos, "K", &v), 1);
	ck_assert_str_eq(v.buf, "2");
	ck_assert_int_eq(s3_xml_next(xml, strlen(xml), &pos, "K", &v), 0);
	/* Unknown or broken entities stay as they are. */
	xml = "<K>&bogus; &#0; &#xZZ; & &amp</K>";
	pos = 0;
	ck_assert_int_eq(s3_xml_next(xml, strlen(xml), &pos, "K", &v), 1);
	ck_assert_str_eq(v.buf, "&bogus; &#0; &#xZZ; & &amp");
	strbuf_release(&v);
}
END_TEST

START_TEST(test_parse_time)
{
	ck_assert_int_eq(s3_parse_time("2026-11-27T02:15:00.000Z"), 1795745700);
	ck_assert_int_eq(s3_parse_time("1970-01-01T00:00:00Z"), 0);
	ck_assert_int_eq(s3_parse_time("yesterday"), -1);
	ck_assert_int_eq(s3_parse_time(NULL), -1);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("s3");
	TCase *tc = tcase_create("pure");

	tcase_add_test(tc, test_uri_encode);
	tcase_add_test(tc, test_url_path_style);
	tcase_add_test(tc, test_url_virtual_host);
	tcase_add_test(tc, test_url_bad_endpoint);
	tcase_add_test(tc, test_list_query_sorted);
	tcase_add_test(tc, test_part_size);
	tcase_add_test(tc, test_parse_list);
	tcase_add_test(tc, test_parse_error);
	tcase_add_test(tc, test_xml_next);
	tcase_add_test(tc, test_parse_time);
	suite_add_tcase(s, tc);
	return trun_suite(s);
}
