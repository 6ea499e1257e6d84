#!/usr/bin/env bash
# (no services line: bench/run.sh starts its own throwaway PostgreSQL)
# bench/run.sh --quick end to end on tiny data: it must finish, write its
# .md and .json into --out, and the .json must hold every pair with numeric
# medians and ratios (no timing is asserted: performance lives in bench/).
# Also its usage errors: exit 2 and one line.
. "$(dirname "$0")/lib.sh"
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT

t_run 2 "$S/bench/run.sh" --frobnicate
t_lines "$t_err" 1 "unknown argument"
t_contains "$t_err" "unknown argument '--frobnicate'" "unknown argument"
t_run 2 "$S/bench/run.sh" --quick --rounds 2 --build "$B"
t_contains "$t_err" "at least 3" "--rounds 2"
t_run 2 "$S/bench/run.sh" --quick --build "$tmp/nowhere-built"
t_contains "$t_err" "bench:" "missing build directory"

t_run 0 "$S/bench/run.sh" --quick --build "$B" --out "$tmp/out"
t_contains "$t_err" "bench: wrote $tmp/out/" "run.sh --quick"
json=$(ls "$tmp/out"/*.json 2>/dev/null | head -n 1)
md=${json%.json}.md
[ -n "$json" ] && [ -s "$md" ] && t_ok || t_fail "run.sh --quick wrote no .json/.md pair in $tmp/out: $(ls "$tmp/out")"
t_contains "$(basename "${json:-none}")" "-$(hostname -s)" "result file named <date>-<host>"

if [ -n "$json" ]; then
	t_run 0 python3 - "$json" <<'EOF'
import json, numbers, sys
doc = json.load(open(sys.argv[1]))
errors = []
def num(x):
    return isinstance(x, numbers.Number) and not isinstance(x, bool)
def need(cond, what):
    if not cond:
        errors.append(what)
need(doc.get("mode") == "quick", "mode is quick")
need(doc.get("rounds", 0) >= 3, "at least 3 rounds")
m = doc.get("machine", {})
for k in ("cores", "memory_bytes"):
    need(num(m.get(k)) and m[k] > 0, f"machine.{k} positive number")
for k in ("postgres", "pg_dump", "zstd", "tar", "ballast"):
    need(isinstance(m.get(k), str) and m[k], f"machine.{k} version string")
d = doc.get("data", {})
for k in ("database_bytes", "database_4x_bytes", "volume_files", "volume_bytes"):
    need(num(d.get(k)) and d[k] > 0, f"data.{k} positive")
need(d.get("database_4x_bytes", 0) > d.get("database_bytes", 0), "4x database larger than 1x")
expected = {
    "backup": (["pg_dump_Fc", "pg_dump_zstd", "pg_dump_Fd_j", "ballast"],
               ["speed_pg_dump_Fc_over_ballast", "speed_pg_dump_zstd_over_ballast",
                "speed_pg_dump_Fd_j_over_ballast", "size_ballast_over_pg_dump_Fc", "ballast_rss_mib"]),
    "restore": (["pg_restore", "ballast", "pg_restore_j", "ballast_jobs", "ballast_swap", "swap_step"],
                ["speed_pg_restore_over_ballast", "speed_pg_restore_j_over_ballast_jobs",
                 "speed_pg_restore_over_ballast_swap", "swap_step_seconds"]),
    "volume": (["tar_zstd", "ballast"], ["speed_tar_zstd_over_ballast", "size_ballast_over_tar_zstd"]),
    "volume_restore": (["tar_x", "ballast", "tar_x_sync"],
                       ["speed_tar_x_over_ballast", "speed_tar_x_sync_over_ballast"]),
    "memory": (["ballast_1x", "ballast_4x"], ["rss_4x_over_1x"]),
    "encryption": (["backup_plain", "backup_age", "restore_plain", "restore_age"],
                   ["time_backup_age_over_plain", "time_restore_age_over_plain",
                    "rss_backup_age_minus_plain_mib", "rss_restore_age_minus_plain_mib"]),
}
pairs = doc.get("pairs", {})
for pair, (variants, ratios) in expected.items():
    p = pairs.get(pair)
    if not isinstance(p, dict):
        errors.append(f"pair {pair} missing"); continue
    for v in variants:
        w = p.get("variants", {}).get(v, {}).get("wall_s", {})
        if v == "swap_step":  # a step's time from --json, not a process: no RSS, may be 0 ms
            need(num(w.get("median")) and w["median"] >= 0, f"{pair}.{v}.wall_s.median a number")
            need(len(w.get("runs", [])) == doc.get("rounds"), f"{pair}.{v}: one run per round")
            continue
        for k in ("median", "min", "max"):
            need(num(w.get(k)) and w[k] > 0, f"{pair}.{v}.wall_s.{k} positive number")
        need(num(w.get("min")) and num(w.get("max")) and w["min"] <= w.get("median", -1) <= w["max"],
             f"{pair}.{v}: min <= median <= max")
        need(len(w.get("runs", [])) == doc.get("rounds"), f"{pair}.{v}: one run per round")
        r = p.get("variants", {}).get(v, {}).get("rss_kib", {})
        need(num(r.get("median")) and r["median"] > 0, f"{pair}.{v}.rss_kib.median positive")
    for k in ratios:
        need(num(p.get("ratios", {}).get(k)) and (p["ratios"][k] > 0 or k == "swap_step_seconds" or "_minus_" in k),
             f"{pair}.ratios.{k} positive number")
    for t in p.get("targets", []):
        need(isinstance(t.get("met"), bool), f"{pair} target {t.get('ratio')} has a met flag")
for v in ("pg_dump_Fc", "pg_dump_zstd", "pg_dump_Fd_j", "ballast"):
    b = pairs.get("backup", {}).get("variants", {}).get(v, {}).get("bytes", {})
    need(num(b.get("median")) and b["median"] > 0, f"backup.{v}.bytes.median positive")
# the per-stage profile of ballast's restores, one value per round
for pair, v, keys in (("restore", "ballast", ("verify_ms", "pg_restore_ms", "count_ms", "total_ms")),
                      ("restore", "ballast_jobs", ("verify_ms", "pg_restore_ms", "post_data_ms", "count_ms", "total_ms")),
                      ("restore", "ballast_swap", ("verify_ms", "pg_restore_ms", "prepare_ms", "swap_ms", "drop_ms", "total_ms")),
                      ("volume_restore", "ballast", ("verify_ms", "extract_ms", "sync_ms", "total_ms"))):
    st = pairs.get(pair, {}).get("variants", {}).get(v, {}).get("stages_ms", {})
    for k in keys:
        s = st.get(k, {})
        need(num(s.get("median")) and s["median"] >= 0 and len(s.get("runs", [])) == doc.get("rounds"),
             f"{pair}.{v}.stages_ms.{k}: a number per round")
    total = st.get("total_ms", {}).get("median", 0)
    need(total > 0 and all(st[k]["median"] <= total for k in keys if k in st),
         f"{pair}.{v}: no stage longer than the total")
for pair in ("migrate", "deploy"):
    need("skipped in --quick" in pairs.get(pair, {}).get("skipped", ""), f"{pair} says it was skipped in --quick")
if errors:
    print("\n".join(errors), file=sys.stderr)
    sys.exit(1)
EOF
	t_contains "$(cat "$md")" "| backup | ballast |" "markdown table"
	t_contains "$(cat "$md")" "speed_pg_dump_Fc_over_ballast" "markdown ratios"
	t_contains "$(cat "$md")" "| volume_restore | ballast | sync_ms |" "markdown stage times"
fi
t_done
