#!/usr/bin/env python3
"""bench/report.py RAW_TSV MIGRATE_OUT DEPLOY_OUT PREFIX [STAGES_TSV]: bench/run.sh's report.

Reads the measurements bench/run.sh took (one tab-separated line per run:
pair, variant, round, wall seconds, peak RSS KiB, output bytes or -1), the
output of bench/migrate.sh and bench/deploy.sh (or one "skipped..." line
each), and the machine facts in BENCH_* environment variables; writes
PREFIX.json and PREFIX.md with medians, min, max and the A/B ratios against
the targets of docs/BENCHMARKS.md. STAGES_TSV (pair, variant, round, stage,
milliseconds: the stage times of ballast's restores from their --json
result) becomes each variant's "stages_ms", medians with min and max. Ratios are "other / ballast" for time
(above 1: ballast is faster) and "ballast / other" for size and memory.
"""
import json
import os
import re
import statistics
import sys


def stats(values):
    return {"median": statistics.median(values), "min": min(values),
            "max": max(values), "runs": values}


def load_raw(path):
    runs = {}
    with open(path) as f:
        for line in f:
            pair, variant, _round, wall, rss, nbytes = line.rstrip("\n").split("\t")
            v = runs.setdefault(pair, {}).setdefault(variant, {"wall_s": [], "rss_kib": [], "bytes": []})
            v["wall_s"].append(float(wall))
            v["rss_kib"].append(int(rss))
            if int(nbytes) >= 0:
                v["bytes"].append(int(nbytes))
    pairs = {}
    for pair, variants in runs.items():
        pairs[pair] = {"variants": {name: {k: stats(vals) for k, vals in m.items() if vals}
                                    for name, m in variants.items()}}
    return pairs


def load_stages(path, pairs):
    by = {}
    with open(path) as f:
        for line in f:
            pair, variant, _round, stage, ms = line.rstrip("\n").split("\t")
            by.setdefault((pair, variant), {}).setdefault(stage, []).append(int(ms))
    for (pair, variant), st in by.items():
        v = pairs.get(pair, {}).get("variants", {}).get(variant)
        if v is not None:
            v["stages_ms"] = {k: stats(vals) for k, vals in st.items()}


def med(pairs, pair, variant, key):
    return pairs[pair]["variants"][variant][key]["median"]


def ratio(a, b):
    return round(a / b, 3) if b else None


def add(pairs, pair, name, value, target, met_if):
    """met_if: ">=" or "<=" against target (None: no target, reported only)."""
    p = pairs[pair]
    p.setdefault("ratios", {})[name] = value
    if target is not None and value is not None:
        met = value >= target if met_if == ">=" else value <= target
        p.setdefault("targets", []).append({"ratio": name, "value": value,
                                            "target": f"{met_if} {target}", "met": met})


def per_round(pairs, pair, name, other, variant):
    """The speed ratio of each round on its own (other / variant), in round
    order: a median ratio near 1.0 says little without its spread."""
    a = pairs[pair]["variants"][other]["wall_s"]["runs"]
    b = pairs[pair]["variants"][variant]["wall_s"]["runs"]
    pairs[pair].setdefault("per_round", {})[name] = [ratio(x, y) for x, y in zip(a, b)]


def parse_ms_script(path, a_label, b_label, a_key, b_key):
    """Medians in ms from bench/migrate.sh or bench/deploy.sh output."""
    text = open(path).read()
    if text.startswith("skipped"):
        return {"skipped": text.strip()}
    out = {"variants": {}}
    for label, key in ((a_label, a_key), (b_label, b_key)):
        m = re.search(re.escape(label) + r"[^\n]*?:\s*([\d ]+?)\s+median (\d+)", text)
        if not m:
            return {"skipped": f"could not read '{label}' from the script's output"}
        runs = [int(x) / 1000 for x in m.group(1).split()]
        out["variants"][key] = {"wall_s": stats(runs)}
        out["variants"][key]["wall_s"]["median"] = int(m.group(2)) / 1000
    out["output"] = text
    return out


def main():
    raw, migrate_out, deploy_out, prefix = sys.argv[1:5]
    env = os.environ
    pairs = load_raw(raw)
    if len(sys.argv) > 5:
        load_stages(sys.argv[5], pairs)

    bk = "backup"
    for other in ("pg_dump_Fc", "pg_dump_zstd", "pg_dump_Fd_j"):
        add(pairs, bk, f"speed_{other}_over_ballast",
            ratio(med(pairs, bk, other, "wall_s"), med(pairs, bk, "ballast", "wall_s")),
            {"pg_dump_Fc": 2.0, "pg_dump_zstd": 1.0}.get(other), ">=")
    # the floor: the server's COPY out through pg_dump, nothing compressed
    # or written; no backup built on pg_dump can be faster
    if "pg_dump_floor" in pairs.get(bk, {}).get("variants", {}):
        add(pairs, bk, "speed_pg_dump_floor_over_ballast",
            ratio(med(pairs, bk, "pg_dump_floor", "wall_s"), med(pairs, bk, "ballast", "wall_s")), None, ">=")
    add(pairs, bk, "size_ballast_over_pg_dump_Fc",
        ratio(med(pairs, bk, "ballast", "bytes"), med(pairs, bk, "pg_dump_Fc", "bytes")), 0.75, "<=")
    add(pairs, bk, "size_ballast_over_pg_dump_zstd",
        ratio(med(pairs, bk, "ballast", "bytes"), med(pairs, bk, "pg_dump_zstd", "bytes")), None, "<=")
    add(pairs, bk, "ballast_rss_mib", round(med(pairs, bk, "ballast", "rss_kib") / 1024, 1), 100, "<=")

    rs = "restore"
    add(pairs, rs, "speed_pg_restore_over_ballast",
        ratio(med(pairs, rs, "pg_restore", "wall_s"), med(pairs, rs, "ballast", "wall_s")), 1.0, ">=")
    add(pairs, rs, "speed_pg_restore_j_over_ballast_jobs",
        ratio(med(pairs, rs, "pg_restore_j", "wall_s"), med(pairs, rs, "ballast_jobs", "wall_s")), 1.0, ">=")
    per_round(pairs, rs, "speed_pg_restore_over_ballast", "pg_restore", "ballast")
    per_round(pairs, rs, "speed_pg_restore_j_over_ballast_jobs", "pg_restore_j", "ballast_jobs")
    # pg_restore with the checks ballast makes, done by hand: sha256sum -c
    # of the dump first, count(*) of every table after (no target: it says
    # what ballast's verification costs against an operator's own)
    if "pg_restore_checked" in pairs[rs]["variants"]:
        add(pairs, rs, "speed_pg_restore_checked_over_ballast",
            ratio(med(pairs, rs, "pg_restore_checked", "wall_s"), med(pairs, rs, "ballast", "wall_s")),
            None, ">=")
        per_round(pairs, rs, "speed_pg_restore_checked_over_ballast", "pg_restore_checked", "ballast")
    # the swap restore costs a second copy and its checks, not a multiple;
    # its rename step alone must stay under a second (#17)
    add(pairs, rs, "speed_pg_restore_over_ballast_swap",
        ratio(med(pairs, rs, "pg_restore", "wall_s"), med(pairs, rs, "ballast_swap", "wall_s")), None, ">=")
    add(pairs, rs, "swap_step_seconds", med(pairs, rs, "swap_step", "wall_s"), 1.0, "<=")

    add(pairs, "volume", "speed_tar_zstd_over_ballast",
        ratio(med(pairs, "volume", "tar_zstd", "wall_s"), med(pairs, "volume", "ballast", "wall_s")), 1.0, ">=")
    add(pairs, "volume", "size_ballast_over_tar_zstd",
        ratio(med(pairs, "volume", "ballast", "bytes"), med(pairs, "volume", "tar_zstd", "bytes")), None, "<=")
    add(pairs, "volume_restore", "speed_tar_x_over_ballast",
        ratio(med(pairs, "volume_restore", "tar_x", "wall_s"), med(pairs, "volume_restore", "ballast", "wall_s")),
        None, ">=")
    # ballast syncs the restored tree before swapping it in; tar -x leaves
    # it in the page cache. The like-for-like durability comparison is the
    # target (#23):
    add(pairs, "volume_restore", "speed_tar_x_sync_over_ballast",
        ratio(med(pairs, "volume_restore", "tar_x_sync", "wall_s"),
              med(pairs, "volume_restore", "ballast", "wall_s")), 1.0, ">=")

    add(pairs, "memory", "rss_4x_over_1x",
        ratio(med(pairs, "memory", "ballast_4x", "rss_kib"), med(pairs, "memory", "ballast_1x", "rss_kib")), 1.10, "<=")
    add(pairs, "memory", "ballast_4x_rss_mib", round(med(pairs, "memory", "ballast_4x", "rss_kib") / 1024, 1), 100, "<=")

    # encryption (#21): age over clear, same database, same run
    en = "encryption"
    for op in ("backup", "restore"):
        add(pairs, en, f"time_{op}_age_over_plain",
            ratio(med(pairs, en, f"{op}_age", "wall_s"), med(pairs, en, f"{op}_plain", "wall_s")), 1.05, "<=")
        add(pairs, en, f"rss_{op}_age_minus_plain_mib",
            round((med(pairs, en, f"{op}_age", "rss_kib") - med(pairs, en, f"{op}_plain", "rss_kib")) / 1024, 2),
            2.0, "<=")

    pairs["migrate"] = parse_ms_script(migrate_out, "ballast-migrate ms", "alembic ms", "ballast", "alembic")
    if "variants" in pairs["migrate"]:
        add(pairs, "migrate", "speed_alembic_over_ballast",
            ratio(med(pairs, "migrate", "alembic", "wall_s"), med(pairs, "migrate", "ballast", "wall_s")), 3.0, ">=")
    pairs["deploy"] = parse_ms_script(deploy_out, "ballast-deploy (one ssh connection) ms",
                                      "shell script (one ssh per step) ms", "ballast", "ssh_per_step")
    if "variants" in pairs["deploy"]:
        add(pairs, "deploy", "speed_ssh_per_step_over_ballast",
            ratio(med(pairs, "deploy", "ssh_per_step", "wall_s"), med(pairs, "deploy", "ballast", "wall_s")), 3.0, ">=")

    doc = {
        "date": env["BENCH_DATE"], "host": env["BENCH_HOST"], "mode": env["BENCH_MODE"],
        "rounds": int(env["BENCH_ROUNDS"]),
        "machine": {"cores": int(env["BENCH_CORES"]), "memory_bytes": int(env["BENCH_MEM"]),
                    "cpu": env["BENCH_CPU"], "load_average_at_end": env["BENCH_LOAD"],
                    "postgres": env["BENCH_POSTGRES"], "pg_dump": env["BENCH_PG_DUMP"],
                    "zstd": env["BENCH_ZSTD"], "tar": env["BENCH_TAR"], "ballast": env["BENCH_BALLAST"]},
        "data": {"orders": int(env["BENCH_ORDERS"]), "database_bytes": int(env["BENCH_DBBYTES"]),
                 "database_4x_bytes": int(env["BENCH_DB4BYTES"]),
                 "volume_files": int(env["BENCH_TREEFILES"]), "volume_bytes": int(env["BENCH_TREEBYTES"])},
        "pairs": pairs,
    }
    with open(prefix + ".json", "w") as f:
        json.dump(doc, f, indent=1)
        f.write("\n")

    md = [f"# bench/run.sh results, {doc['date']}, {doc['host']} ({doc['mode']} mode)", ""]
    mc = doc["machine"]
    md += [f"Machine: {mc['cores']} cores ({mc['cpu']}), {mc['memory_bytes'] / 2**30:.1f} GiB RAM, "
           f"load average at the end {mc['load_average_at_end']}.",
           f"{mc['postgres']}; {mc['pg_dump']}; {mc['zstd']}; {mc['tar']}; {mc['ballast']}.",
           f"Data: database {doc['data']['database_bytes']} bytes ({doc['data']['orders']} orders; "
           f"the 4x one {doc['data']['database_4x_bytes']} bytes), volume {doc['data']['volume_files']} files, "
           f"{doc['data']['volume_bytes']} bytes.",
           f"{doc['rounds']} rounds, the variants of a pair in turn in each round. "
           "Wall seconds and peak RSS (largest process, /usr/bin/time) as median [min-max].", ""]
    md += ["| pair | variant | wall s | peak RSS MiB | output bytes |", "| --- | --- | --- | --- | --- |"]
    for pair, p in pairs.items():
        if "skipped" in p:
            md.append(f"| {pair} | {p['skipped']} | | | |")
            continue
        for name, v in p["variants"].items():
            w = v["wall_s"]
            cells = [f"{w['median']:.2f} [{w['min']:.2f}-{w['max']:.2f}]"]
            r = v.get("rss_kib")
            cells.append(f"{r['median'] / 1024:.1f} [{r['min'] / 1024:.1f}-{r['max'] / 1024:.1f}]" if r else "")
            by = v.get("bytes")
            cells.append(f"{by['median']:.0f}" if by else "")
            md.append(f"| {pair} | {name} | " + " | ".join(cells) + " |")
    md += ["", "Stage times of ballast's restores (their --json `timings`), ms, median [min-max]:", "",
           "| pair | variant | stage | ms |", "| --- | --- | --- | --- |"]
    for pair, p in pairs.items():
        for name, v in p.get("variants", {}).items():
            for stage, s in v.get("stages_ms", {}).items():
                md.append(f"| {pair} | {name} | {stage} | {s['median']:.0f} [{s['min']}-{s['max']}] |")
    md += ["", "| pair | ratio | value | target | met | per round |", "| --- | --- | --- | --- | --- | --- |"]
    for pair, p in pairs.items():
        targets = {t["ratio"]: t for t in p.get("targets", [])}
        for name, value in p.get("ratios", {}).items():
            t = targets.get(name)
            rounds = ", ".join(str(x) for x in p.get("per_round", {}).get(name, []))
            md.append(f"| {pair} | {name} | {value} | {t['target'] if t else ''} | "
                      f"{('yes' if t['met'] else 'NO') if t else ''} | {rounds} |")
    with open(prefix + ".md", "w") as f:
        f.write("\n".join(md) + "\n")


if __name__ == "__main__":
    main()
