#!/bin/sh
# The streaming replica: at its first start a copy of the primary (pg_basebackup -R
# writes standby.signal and primary_conninfo, so it follows the primary), then the
# server. Promoted by hand in the failover drill (docs/deploy.md 3a).
set -eu
if [ ! -s "$PGDATA/PG_VERSION" ]; then
  PGPASSWORD=$(cat /run/secrets/postgres-replication-password)
  export PGPASSWORD
  until pg_basebackup -h postgres -U replicator -D "$PGDATA" -R -X stream --checkpoint=fast; do
    echo "primary not ready: trying again"; rm -rf "$PGDATA"; sleep 2
  done
  chmod 0700 "$PGDATA"
fi
exec postgres
