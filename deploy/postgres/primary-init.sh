#!/bin/sh
# The primary's first start (docker-entrypoint-initdb.d): the ledger's database and its
# owner, and the role the replica copies and follows the primary as; passwords from the
# stack's secrets, never written here.
set -eu
ledger_password=$(cat /run/secrets/slawatch-ledger-password)
replication_password=$(cat /run/secrets/postgres-replication-password)
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" \
  --set ledger_password="$ledger_password" \
  --set replication_password="$replication_password" <<'SQL'
CREATE ROLE slawatch LOGIN PASSWORD :'ledger_password';
CREATE DATABASE slawatch OWNER slawatch;
CREATE ROLE replicator REPLICATION LOGIN PASSWORD :'replication_password';
SQL
echo "host replication replicator all scram-sha-256" >> "$PGDATA/pg_hba.conf"
