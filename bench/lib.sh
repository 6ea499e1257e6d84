# shellcheck shell=bash
# bench/lib.sh: shell functions shared by bench/run.sh (sourced, not run).
#
# Contract:
#   bench_measure FILE PAIR VARIANT ROUND BYTES_CMD -- CMD...
#       runs CMD under /usr/bin/time, then appends one tab-separated line
#       "PAIR VARIANT ROUND wall_seconds peak_rss_kib bytes" to FILE, where
#       bytes is the output of `sh -c BYTES_CMD` ("" for none: written as -1).
#       A failing CMD prints its stderr and returns 1: a benchmark of a
#       command that failed is no measurement.
#   bench_time DIR NAME CMD...
#       runs CMD under /usr/bin/time with its stdout in DIR/out.NAME and
#       stderr in DIR/err.NAME, and prints "wall_seconds peak_rss_kib"; a
#       failing CMD prints its stderr and returns 1.
#   bench_settle PSQL_FUNC
#       a settled machine before a measurement: the server checkpointed,
#       then every dirty page written out. In that order: the bench
#       server runs with fsync=off, so a checkpoint only hands its pages
#       to the page cache, and the sync after it writes them; the other
#       way round, their write-back landed on the next measured command.
#   bench_median [NUMBER...]
#       the median (the lower middle of an even count) of the numbers given
#       as arguments, or, without arguments, read from stdin separated by
#       blanks or newlines.
#   bench_gen_db PSQL_FUNC DBNAME ORDERS
#       creates DBNAME with customers and ORDERS orders (text, numeric,
#       timestamptz, jsonb) and four indexes. PSQL_FUNC is the name of a
#       function running psql with connection options, taking psql's args.
#   bench_gen_tree DIR SMALL LARGE_COUNT LARGE_MB [MEDIUM]
#       writes a deterministic tree: SMALL small text files in 200 folders,
#       MEDIUM (default 0) log files of 100 KiB-1 MiB, LARGE_COUNT large
#       files of LARGE_MB MiB each (text, logs, random, in turn).
#   bench_pg_start NAME
#       a work directory ${TMPDIR:-/var/tmp}/NAME.XXXXXX holding a throwaway
#       PostgreSQL (tests/services/pg.sh), both removed when the shell
#       exits; sets work, sock, port and pgbin, and puts pgbin first in
#       PATH (pg_dump and pg_restore of the server's version).
#   bench_age_setup DIR CONNINFO BIN
#       writes DIR/plain.json and DIR/age.json: the same database (one
#       item, "bench" at CONNINFO) backed up to DIR/repo-plain in clear and
#       to DIR/repo-age encrypted to a fixed benchmark key (C2SP's CCTV
#       X25519 vector, identity in DIR/age-key.txt), and inits both.
#   bench_age_round ROUND DIR BIN MEASURE NEW_DB DROP_DB CI
#       one round of the encryption pair: backup in clear, backup
#       encrypted, restore of each into a fresh database, each measured by
#       `MEASURE encryption VARIANT ROUND BYTES_CMD -- CMD...` (bench_measure's
#       arguments after FILE); NEW_DB creates a database and sets $d to its
#       name, DROP_DB drops it, `CI NAME` prints a database's conninfo.
#       Variants: backup_plain, backup_age, restore_plain, restore_age.
#
# Peak RSS is what GNU time reports for the child it waited for: for a
# pipeline run by `sh -c` that is the largest single process of the tree,
# not their sum.

bench_measure() {
	local file=$1 pair=$2 variant=$3 round=$4 bytes_cmd=$5
	shift 5
	[ "$1" = -- ] && shift
	local tf ef wall rss bytes
	tf=$(mktemp) ef=$(mktemp)
	if ! /usr/bin/time -f '%e %M' -o "$tf" "$@" >/dev/null 2>"$ef"; then
		echo "bench: $pair/$variant round $round failed: $*" >&2
		tail -n 20 "$ef" >&2
		rm -f "$tf" "$ef"
		return 1
	fi
	# time's own line is the last one (a command may warn before it)
	read -r wall rss < <(tail -n 1 "$tf")
	bytes=-1
	[ -n "$bytes_cmd" ] && bytes=$(sh -c "$bytes_cmd")
	printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$pair" "$variant" "$round" "$wall" "$rss" "$bytes" >> "$file"
	rm -f "$tf" "$ef"
}

bench_time() {
	local dir=$1 name=$2
	shift 2
	/usr/bin/time -f '%e %M' -o "$dir/time.$name" "$@" >"$dir/out.$name" 2>"$dir/err.$name" || {
		cat "$dir/err.$name" >&2; echo "bench: $name failed: $*" >&2; return 1; }
	tail -n 1 "$dir/time.$name"
}

bench_settle() {
	"$1" -d postgres -c CHECKPOINT >/dev/null
	sync
}

bench_median() {
	if [ $# -gt 0 ]; then printf '%s\n' "$@"; else tr ' \t' '\n\n'; fi |
		grep . | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'
}

bench_gen_db() {
	local psql_=$1 db=$2 rows=$3
	"$psql_" -d postgres -c "CREATE DATABASE $db" >/dev/null
	"$psql_" -d "$db" >/dev/null <<SQL
CREATE TABLE customers (id int PRIMARY KEY, name text, email text, country text,
  plan text, created timestamptz, lifetime_value numeric(12,2));
INSERT INTO customers
SELECT g, (ARRAY['Anna','Bruno','Chloé','Dmitri','Elif','Farid','Greta','Hiro'])[1 + g % 8]
          || ' ' || (ARRAY['Martin','Schmidt','Rossi','Nowak','García','Dubois','Jansen'])[1 + (g * 7) % 7],
       'user' || g || '@' || (ARRAY['example.com','mail.org','corp.net','shop.io'])[1 + g % 4],
       (ARRAY['FR','DE','US','GB','ES','IT','NL','PL'])[1 + g % 8],
       (ARRAY['free','pro','team','enterprise'])[1 + (g * 13) % 4],
       timestamptz '2020-01-01' + (g * 431) % 157680000 * interval '1 second',
       round((random() * 10000)::numeric, 2)
FROM generate_series(1, greatest($rows / 15, 100)) g;
CREATE TABLE orders (id bigint PRIMARY KEY, customer_id int NOT NULL, status text,
  amount numeric(12,2), currency char(3), placed_at timestamptz, shipped_at timestamptz,
  note text, attrs jsonb);
INSERT INTO orders
SELECT g, (1 + (g::bigint * 7919) % greatest($rows / 15, 100))::int,
       (ARRAY['new','paid','shipped','delivered','cancelled','refunded'])[1 + (g * 31) % 6],
       round((random() * 500 + 1)::numeric, 2),
       (ARRAY['EUR','USD','GBP'])[1 + g % 3],
       ts, CASE WHEN g % 5 = 0 THEN NULL ELSE ts + (g % 72) * interval '1 hour' END,
       CASE WHEN g % 3 = 0 THEN 'deliver to ' || (ARRAY['front desk','back door','neighbour','locker'])[1 + g % 4]
                               || ', ref ' || substr(md5(g::text), 1, 10)
            ELSE '' END,
       jsonb_build_object('sku', 'SKU-' || lpad((g % 50000)::text, 6, '0'), 'qty', 1 + g % 7,
                          'gift', g % 11 = 0, 'channel', (ARRAY['web','app','store','phone'])[1 + g % 4],
                          'tags', jsonb_build_array('t' || g % 13, 't' || g % 17),
                          'session', 's-' || (g / 3) % 400000, 'device', (ARRAY['ios','android','desktop'])[1 + g % 3])
FROM (SELECT g, timestamptz '2023-01-01' + g * interval '7 seconds' + (random() * 5) * interval '1 second' AS ts
      FROM generate_series(1, $rows) g) s;
CREATE INDEX ON orders (customer_id);
CREATE INDEX ON orders (placed_at);
CREATE INDEX ON orders (status, currency);
CREATE INDEX ON customers (email);
VACUUM ANALYZE;
SQL
}

bench_gen_tree() {
	local dir=$1 small=$2 nlarge=$3 large_mb=$4 medium=${5:-0}
	rm -rf "$dir"
	mkdir -p "$dir"
	python3 - "$dir" "$small" "$nlarge" "$large_mb" "$medium" <<'EOF'
import os, random, sys
root, small, nlarge, large_mb, medium = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
rng = random.Random(20261127)
words = [''.join(rng.choice('abcdefghijklmnopqrstuvwxyz') for _ in range(rng.randint(2, 10)))
         for _ in range(5000)]
def text(n):
    out, size = [], 0
    while size < n:
        line = ' '.join(rng.choice(words) for _ in range(rng.randint(4, 16))) + '\n'
        out.append(line); size += len(line)
    return ''.join(out)[:n].encode()
def logs(n):
    out, size, t = [], 0, 1700000000
    while size < n:
        t += rng.randint(0, 3)
        line = '%d level=%s req=%08x dur=%dms path=/%s/%s\n' % (
            t, rng.choice(['info', 'warn', 'debug']), rng.getrandbits(32),
            rng.randint(1, 900), rng.choice(words), rng.choice(words))
        out.append(line); size += len(line)
    return ''.join(out)[:n].encode()
for i in range(small):
    d = os.path.join(root, 'small', 'd%03d' % (i % 200))
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, 'f%05d.txt' % i), 'wb') as f:
        f.write(text(rng.randint(200, 12000)))
for i in range(medium):
    d = os.path.join(root, 'medium')
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, 'm%03d.log' % i), 'wb') as f:
        f.write(logs(rng.randint(100 << 10, 1 << 20)))
os.makedirs(os.path.join(root, 'large'), exist_ok=True)
chunk = 1 << 20
kinds = ['text', 'logs', 'random']
for i in range(nlarge):
    kind = kinds[i % 3]
    with open(os.path.join(root, 'large', 'big%d.%s' % (i, kind)), 'wb') as f:
        for _ in range(large_mb):
            if kind == 'random':
                f.write(rng.randbytes(chunk))
            elif kind == 'logs':
                f.write(logs(chunk))
            else:
                f.write(text(chunk))
EOF
}

bench_age_setup() {
	local dir=$1 ci=$2 bin=$3 v
	# a benchmark key, not a secret: the C2SP CCTV X25519 test vector
	printf '%s\n' AGE-SECRET-KEY-1EGTZVFFV20835NWYV6270LXYVK2VKNX2MMDKWYKLMGR48UAWX40Q2P2LM0 > "$dir/age-key.txt"
	for v in plain age; do
		cat > "$dir/$v.json" <<JSON
{ "project": "bench", "state_dir": "$dir/state-$v",
  "repository": { "type": "local", "path": "$dir/repo-$v" },
  "compression": { "level": 3, "threads": 0 },
  $( [ "$v" = age ] && echo '"encryption": { "recipients": ["age1xmwwc06ly3ee5rytxm9mflaz2u56jjj36s0mypdrwsvlul66mv4q47ryef"], "identity_file": "age-key.txt" },' || true)
  "databases": [ { "name": "bench", "conninfo": "$ci" } ] }
JSON
		"$bin" --config "$dir/$v.json" -q init >/dev/null
	done
}

bench_age_round() {
	local round=$1 dir=$2 bin=$3 measure=$4 new_db=$5 drop_db=$6 ci=$7 v
	for v in plain age; do
		"$measure" encryption "backup_$v" "$round" \
			"find $dir/repo-$v -name db-bench.dump.zst -printf '%T@ %s\n' | sort -n | tail -n 1 | cut -d' ' -f2" -- \
			"$bin" --config "$dir/$v.json" -q run
	done
	for v in plain age; do
		"$new_db"
		"$measure" encryption "restore_$v" "$round" "" -- \
			"$bin" --config "$dir/$v.json" -q restore --latest --db bench --target "$("$ci" "$d")"
		"$drop_db"
	done
}

bench_top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

bench_pg_start() {
	work=$(mktemp -d "${TMPDIR:-/var/tmp}/$1.XXXXXX")
	chmod 755 "$work"
	trap '"$bench_top/tests/services/pg.sh" stop "$work/pg" >/dev/null 2>&1 || true; rm -rf "$work"' EXIT
	# No autovacuum: a restored database of a gigabyte crosses its
	# thresholds while pg_restore is still building indexes, and its worker
	# then competes with whichever variant it happens to meet, which is
	# noise in an A/B and not either tool's cost.
	PG_EXTRA_OPTS="${PG_EXTRA_OPTS:-} -c autovacuum=off" \
		"$bench_top/tests/services/pg.sh" start "$work/pg" >/dev/null
	sock=$(cat "$work/pg/host"); port=$(cat "$work/pg/port"); pgbin=$(cat "$work/pg/bindir")
	export PATH="$pgbin:$PATH"
}
