/* Migration file names, the no-transaction directive, the statement
 * splitter and the error-position line mapper on arbitrary bytes. The first
 * line of the input is used as a file name, the rest as SQL. Checks the
 * splitter's invariant: statements lie inside the text, in order; and that
 * a dbmate/goose section keeps the text's line count. Also runs the
 * transaction-control and single-statement scans. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "migration.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct errbuf e = ERRBUF_INIT;
	struct strbuf name = STRBUF_INIT, first = STRBUF_INIT;
	struct migration_stmt *st = NULL;
	enum migration_kind kind;
	uint64_t version;
	size_t n = 0, nl;
	char *text = malloc(size + 1);

	if (!text)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	nl = strcspn(text, "\n");
	if (nl < size) {
		text[nl] = '\0';
		migration_parse_name(text, &version, &name, &kind, &e);
		migration_parse_version(text, "version", &version, &e);
		migration_valid_name(text);
		text[nl] = '\n';
	}
	migration_no_transaction(text);
	migration_first_line(text, &first);
	if (migration_split(text, strlen(text), &st, &n, &e) == 0) {
		size_t prev_end = 0;

		for (size_t i = 0; i < n; i++) {
			if (st[i].start < prev_end || st[i].start + st[i].len > strlen(text))
				abort();
			prev_end = st[i].start + st[i].len;
		}
		free(st);
	}
	{
		struct strbuf w = STRBUF_INIT, sect = STRBUF_INIT;
		unsigned line;
		size_t lines = 0;
		int present;

		migration_tx_control(text, strlen(text), &line, &w, &e);
		migration_single_no_tx(text, strlen(text), &w, &e);
		migration_detect_format(text);
		for (const char *p = text; *p; p++)
			lines += *p == '\n';
		for (int f = MIGRATION_DBMATE; f <= MIGRATION_GOOSE; f++)
			for (int k = MIGRATION_UP; k <= MIGRATION_DOWN; k++) {
				size_t got = 0;

				migration_section(text, f, (enum migration_kind)k, &sect, &present);
				for (size_t i = 0; i < sect.len; i++)
					got += sect.buf[i] == '\n';
				if (got != lines && !(present && got == lines + 1 && lines == 0))
					abort();
			}
		strbuf_release(&w);
		strbuf_release(&sect);
	}
	migration_line_at(text, strlen(text), (long)(size % 97), 1);
	strbuf_release(&name);
	strbuf_release(&first);
	free(text);
	return 0;
}
