#!/usr/bin/env bash
# One-time InfluxDB 2.x set-up for slawatch: org, bucket with retention, and a write-only
# token for the collector. Run on the InfluxDB host with the `influx` CLI configured for
# an operator account. The token is written to a root-only file that the collector's
# settings reference (influx.token: {file: /etc/slawatch/influx-token}); it is never
# printed.
set -euo pipefail
org=${SLAWATCH_INFLUX_ORG:-bureau}
bucket=${SLAWATCH_INFLUX_BUCKET:-slawatch}
retention=${SLAWATCH_INFLUX_RETENTION:-400d}   # a contract year plus the settlement quarter
token_file=${SLAWATCH_INFLUX_TOKEN_FILE:-/etc/slawatch/influx-token}

influx org list --name "$org" >/dev/null 2>&1 || influx org create --name "$org"
if ! influx bucket list --org "$org" --name "$bucket" >/dev/null 2>&1; then
    influx bucket create --org "$org" --name "$bucket" --retention "$retention"
fi
bucket_id=$(influx bucket list --org "$org" --name "$bucket" --hide-headers | awk '{print $1}')
install -d -m 0750 "$(dirname "$token_file")"
umask 077
influx auth create --org "$org" --write-bucket "$bucket_id" \
    --description "slawatch collector (write only)" --hide-headers --json \
    | python3 -c 'import json, sys; print(json.load(sys.stdin)["token"])' > "$token_file"
echo "bucket $bucket (retention $retention) ready; collector token in $token_file"
