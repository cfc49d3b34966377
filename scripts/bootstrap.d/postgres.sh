# PostgreSQL for the shared-state tests (`database_url`, Tests/PostgresStateTests). Sourced by
# scripts/bootstrap. The tests start their own throwaway cluster from these binaries (initdb,
# pg_ctl as the `postgres` user), so the cluster Debian's package creates and starts is stopped
# again here: nothing is left running. Does nothing when PostgreSQL is already installed.
if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
    apt_install postgresql
    if command -v pg_lsclusters >/dev/null 2>&1; then
        pg_lsclusters --no-header 2>/dev/null | while read -r version name _ status _; do
            if [ "$status" = "online" ]; then $SUDO pg_ctlcluster "$version" "$name" stop || true; fi
        done
    fi
fi
