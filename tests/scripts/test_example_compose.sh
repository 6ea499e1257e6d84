#!/usr/bin/env bash
# The audit_app example's compose files are valid compose: docker-compose
# (Debian's package, scripts/deps.sh) accepts each with its example env
# file, resolves the image variables from it, and refuses a file without
# them (the ${VAR:?} guards).
. "$(dirname "$0")/lib.sh"
ex=$S/examples/audit_app
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT

if ! command -v docker-compose >/dev/null 2>&1; then
	echo "FAIL: docker-compose is not installed (scripts/deps.sh installs it)" >&2
	exit 1
fi

# Run from an empty directory so no stray .env or compose file is picked up;
# keep docker-compose from looking at the caller's environment's values.
cd "$tmp"
clean_env=(env -u BACKEND_IMAGE -u FRONTEND_IMAGE -u ETL_IMAGE -u POSTGRES_PASSWORD
	   -u FRONTEND_HOST -u BACKEND_HOST -u LETSENCRYPT_EMAIL -u DOCKERHUB_NAMESPACE)
for env in dev qa prod; do
	f=$ex/docker-compose.$env.yml
	envf=$ex/.env.$env.example
	[ -f "$f" ] || t_fail "missing $f"
	[ -f "$envf" ] || t_fail "missing $envf"
	t_run 0 "${clean_env[@]}" docker-compose -f "$f" --env-file "$envf" config -q
	# Every variable the issue names is in the example env file.
	for v in FRONTEND_HOST BACKEND_HOST LETSENCRYPT_EMAIL POSTGRES_PASSWORD DOCKERHUB_NAMESPACE; do
		grep -q "^$v=" "$envf" && t_ok || t_fail "$envf does not set $v"
	done
	t_run 0 "${clean_env[@]}" docker-compose -f "$f" --env-file "$envf" config
	cfg=$t_out
	tag=$env; [ "$env" = prod ] && tag=latest
	t_contains "$cfg" "image: acme/audit-app-backend:$tag" "$env backend image from $envf"
	t_contains "$cfg" "image: acme/audit-app-etl:$tag" "$env etl image"
	t_contains "$cfg" "postgres_data:/var/lib/postgresql/data" "$env postgres_data volume"
	# ballast-deploy's override wins over the env file, as compose promises.
	t_run 0 "${clean_env[@]}" BACKEND_IMAGE=acme/audit-app-backend:v9.9.9 \
		docker-compose -f "$f" --env-file "$envf" config
	t_contains "$t_out" "image: acme/audit-app-backend:v9.9.9" "$env BACKEND_IMAGE override"
	# Without the image variables compose refuses, naming the variable.
	grep -v '_IMAGE=' "$envf" > "$tmp/noimg.env"
	t_run 1 "${clean_env[@]}" docker-compose -f "$f" --env-file "$tmp/noimg.env" config -q
	t_contains "$t_err" "BACKEND_IMAGE" "$env without BACKEND_IMAGE"
done

# prod publishes only 80 and 443, and only Traefik does.
t_run 0 "${clean_env[@]}" docker-compose -f "$ex/docker-compose.prod.yml" --env-file "$ex/.env.prod.example" config
published=$(printf '%s\n' "$t_out" | grep -oE 'published: [0-9]+' | awk '{print $2}' | tr -d "'\"" | sort -n | tr '\n' ' ')
[ "$published" = "80 443 " ] && t_ok || t_fail "prod publishes '$published', expected '80 443 '"
t_done
